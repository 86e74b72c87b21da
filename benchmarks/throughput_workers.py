"""Charter across worker processes sharing one journal: ``throughput.py``'s process part.

Each worker opens the journal, warms up, says it is ready and waits; once all are ready
they are released together, and each starts its share of the runs at once with
``Runner.arun``. Runs/s is every run over the time from the first start to the last
finish (wall clock, one host), and the scaling ratio is 2 workers' runs/s over 1's, the
two measured in turn, round after round, on the same journal.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from frameworks import GOAL, charter_agent, charter_runner

WORKERS = (1, 2)


class WorkerFailed(Exception):
    """A worker process failed (its last line of error output says why)."""


def worker(url: str, steps: int, runs: int) -> None:
    """Be one worker: warm up, print ``ready``, wait for a line, run, print the figures."""
    key = os.environ.get("CHARTER_BENCH_KEY")
    runner = charter_runner(url, Path(key) if key else None)
    agent = charter_agent(steps)
    for _ in range(20):
        runner.run(agent, GOAL)
    print("ready", flush=True)
    sys.stdin.readline()

    async def all_at_once() -> list[str]:
        done = await asyncio.gather(*(runner.arun(agent, GOAL) for _ in range(runs)))
        return [run.status for run in done]

    started = time.time()
    statuses = asyncio.run(all_at_once())
    finished = time.time()
    runner.close()
    runner.journal.close()
    print(json.dumps({"started": started, "finished": finished, "statuses": statuses}))


def measure(script: str, url: str, key: Path | None, steps: int, runs: int, workers: int) -> float:
    """Runs/s of ``runs`` runs shared among ``workers`` processes on the journal at ``url``."""
    env = os.environ | ({"CHARTER_BENCH_KEY": str(key)} if key else {})
    share = runs // workers
    children = [
        subprocess.Popen(
            [
                sys.executable,
                script,
                "--worker",
                url,
                "--steps",
                str(steps),
                *("--concurrent", str(share)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    for proc in children:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.wait()
            raise SystemExit(f"a worker on {url} failed before it was ready ({line!r})")
    for proc in children:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    figures: list[dict[str, Any]] = []
    failed: list[str] = []
    for proc in children:
        out, err = proc.communicate()
        if proc.returncode != 0:  # recorded, not fatal: the other measurements go on
            failed.append(
                err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            )
        else:
            figures.append(json.loads(out.strip().splitlines()[-1]))
    if failed:
        raise WorkerFailed("; ".join(failed))
    statuses = {status for figure in figures for status in figure["statuses"]}
    assert statuses == {"completed"}, statuses
    started = min(figure["started"] for figure in figures)
    finished = max(figure["finished"] for figure in figures)
    return share * workers / (finished - started)


def verify(url: str, key: Path | None) -> dict[str, int]:
    """Verify the shared journal (raises if any chain or checkpoint fails): what it holds."""
    from charter import Journal
    from charter.journal import load_or_create_signer

    journal = Journal(url, signer=load_or_create_signer(key) if key else None)
    try:
        report = journal.verify()
        assert report.ok, report
        finished = len(journal.records_of_kind("run.finished"))
        return {"runs_finished": finished, "records_verified": report.checked}
    finally:
        journal.close()


def scaling(
    script: str, steps: int, runs: int, rounds: int, postgres_url: str | None
) -> dict[str, Any]:
    """Runs/s with 1 and 2 workers on one SQLite file journal (and PostgreSQL), and the
    scaling ratio (median of per-round ratios)."""
    figures: dict[str, Any] = {"load_average_at_start": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "keys" / "journal.pem"
        from charter.journal import load_or_create_signer

        load_or_create_signer(key)  # created once, before the workers read it
        backends = {"SQLite file (WAL)": f"sqlite:///{Path(tmp) / 'journal.db'}"}
        if postgres_url:
            backends["PostgreSQL"] = postgres_url
        for name, url in backends.items():
            rates: dict[int, list[float]] = {n: [] for n in WORKERS}
            failures: list[str] = []
            for _round in range(rounds):
                for workers in WORKERS:
                    try:
                        rates[workers].append(measure(script, url, key, steps, runs, workers))
                    except WorkerFailed as exc:
                        failures.append(f"{workers} workers: {exc}")
                print(name, rates, failures, file=sys.stderr, flush=True)
            if failures:
                figures[name] = {"failures": failures, "runs_per_s_rounds": rates}
                continue
            ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
            figures[name] = {
                f"{n} worker{'s' if n > 1 else ''}": {
                    "runs_per_s": round(statistics.median(rates[n])),
                    "runs_per_s_rounds": [round(rate) for rate in rates[n]],
                }
                for n in WORKERS
            } | {
                "scaling_ratio": round(statistics.median(ratios), 2),
                "journal_verified": verify(url, key),
            }
    return figures
