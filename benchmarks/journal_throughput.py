"""Journal append and verify throughput, on SQLite (file, WAL) and PostgreSQL, in one run.

Appends are measured the way the runtime appends: batches of records (a read step flushes
its proposal, decision, effect and observation together; a write flushes its decision
alone before it runs), each batch one transaction that hashes every record onto the
chain. Payloads are typical step records (~300 bytes of JSON). Verify walks the whole
chain (recomputing every hash) and checks the signed checkpoints.

Usage: ``python benchmarks/journal_throughput.py [--records 20000] [--postgres URL]``
(PostgreSQL also from ``CHARTER_TEST_POSTGRES_URL``: a scratch database, whose tables
are dropped before and after). Prints
a Markdown table and writes ``benchmarks/results/journal_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from charter.journal import Journal, JournalSigner

BATCHES = (1, 4, 16)


def _payload(i: int) -> dict[str, Any]:
    return {
        "step": i % 8 + 1,
        "tool": "lookup_order",
        "agent": "support-agent",
        "verdict": "allow",
        "rules": ["tools.allow"],
        "reason": "allowed by the tool list",
        "policy": "3f9a0c1d2b4e5f60",
        "labels": {"trust": "trusted", "confidentiality": "internal"},
        "args": {"order_id": 1000 + i, "note": "x" * 64},
    }


def _empty_postgres(url: str) -> None:
    """Drop every table of the benchmark database (a scratch database: give it one)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        for table in list(tables):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()


def measure(url: str, records: int, signer: JournalSigner) -> dict[str, Any]:
    """Append ``records`` records per batch size, then verify the whole journal."""
    journal = Journal(url, signer)
    rates: dict[str, float] = {}
    written = 0
    for batch in BATCHES:
        run = f"bench-{batch}"
        batches = max(1, records // batch)
        started = time.perf_counter()
        for b in range(batches):
            journal.append([(run, "step.decided", _payload(b * batch + i)) for i in range(batch)])
        seconds = time.perf_counter() - started
        written += batches * batch
        rates[f"append_batch_{batch}"] = batches * batch / seconds
        journal.checkpoint()
    verify_seconds: list[float] = []
    for _ in range(3):
        started = time.perf_counter()
        report = journal.verify()
        verify_seconds.append(time.perf_counter() - started)
        assert report.ok, report.problems[:3]
    total = report.checked
    journal.close()
    return {
        "records": total,
        "appended": written,
        "append_records_per_s": {k: round(v) for k, v in rates.items()},
        "verify_records_per_s": round(total / statistics.median(verify_seconds)),
        "verify_seconds": round(statistics.median(verify_seconds), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="Records per batch size.")
    parser.add_argument("--postgres", default=os.environ.get("CHARTER_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    signer = JournalSigner(Ed25519PrivateKey.generate())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as scratch:
        results["sqlite"] = measure(
            f"sqlite:///{Path(scratch) / 'journal.db'}", args.records, signer
        )
    if args.postgres:
        _empty_postgres(args.postgres)
        results["postgresql"] = measure(args.postgres, args.records, signer)
        _empty_postgres(args.postgres)
    print(
        "| backend | append, 1 record per transaction | 4 per transaction | 16 per "
        "transaction | verify (hashes + checkpoints) |"
    )
    print("|---|---:|---:|---:|---:|")
    for backend, figures in results.items():
        rates = figures["append_records_per_s"]
        cells = [f"{rates[f'append_batch_{b}']:,} rec/s" for b in BATCHES]
        verify = (
            f"{figures['verify_records_per_s']:,} rec/s ({figures['records']:,} in "
            f"{figures['verify_seconds']} s)"
        )
        print(f"| {backend} | {' | '.join(cells)} | {verify} |")
    out = Path(__file__).with_name("results") / "journal_throughput.json"
    out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).date().isoformat(),
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                },
                "records_per_batch_size": args.records,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
