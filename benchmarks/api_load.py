"""Requests/s and latency of ``charter serve`` under concurrent clients, against the
framework's floor measured in the same run.

A real uvicorn server runs in a child process (so client and server do not share a GIL;
both run on this machine) over a signed SQLite file journal (WAL), on loopback. Clients are
threads of this process, each with its own keep-alive ``httpx.Client``, 1, 4 and 16 at a
time, sharing a fixed number of requests:

* **run listing**: ``GET /api/runs?limit=50`` with a viewer token, over a journal of
  2,000 completed runs (and the waiting runs below, older);
* **approval posting**: ``POST /api/approvals/{id}/approve`` with an approver token. The
  journal holds 300 runs waiting for an approval (refunds over the charter's limit); each
  concurrency level approves its own third of them, on a fresh server over a fresh copy
  of that journal, so every level starts from the same 300 pending requests. Each
  approval resumes its run on the server's run threads, so a second figure counts until
  every approved run has finished (approvals end-to-end/s);
* **baseline**: ``GET /login`` (no token: renders a small template, reads and journals
  nothing) at the same concurrency: the floor of uvicorn, FastAPI and the middleware.
  ``x baseline`` is an endpoint's time per request over the floor's (baseline requests/s
  over the endpoint's).

Listing and baseline alternate for three rounds per level, sharing the level's requests;
requests/s is the median round, latencies are pooled over the rounds. Afterwards every
approved run must have completed, every other one still be waiting, and every journal
must verify. The client threads share one core's worth of GIL, so at 16 clients the
baseline partly measures the client.

Usage: ``python benchmarks/api_load.py [--requests N]`` (N: requests per endpoint and
concurrency level, default 2,000); prints a Markdown table and writes
``benchmarks/results/api_load.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from charter import Journal, Runner
from charter.agent import load_agent
from charter.journal import load_or_create_signer
from charter.runtime._runner import history, run_state

CONCURRENCY = (1, 4, 16)
ROUNDS = 3
COMPLETED_RUNS = 2_000
WAITING_RUNS = 300
APPROVALS_PER_LEVEL = WAITING_RUNS // len(CONCURRENCY)
PAGE = 50
REQUEST_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 60.0
FINISH_TIMEOUT_S = 120.0

TOOLS_MODULE = '''
from charter import tool

@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, amount_cents: int) -> dict:
    """Refund an order."""
    return {"refund_id": order_id * 10, "order_id": order_id}


@tool
def lookup_order(order_id: int) -> dict:
    """Look an order up."""
    return {"order_id": order_id, "status": "delivered"}


toolset = [refund_order, lookup_order]
'''

AGENT = """
name: refunder
reasoner:
  kind: rules
  match: 'refund (?P<order_id>\\d+) for (?P<cents>\\d+)'
  steps:
    - id: order
      call: lookup_order
      args: {order_id: "{goal.order_id}"}
    - id: refund
      call: refund_order
      args: {order_id: "{goal.order_id}", amount_cents: "{goal.cents}"}
    - when: "{steps.refund.result.refund_id}"
      respond: "Refunded order {goal.order_id}."
    - respond: "Not refunded: {steps.refund.error}"
toolsets:
  - ref: bench_refund_tools:toolset
charter:
  name: refunds
  rules:
    - id: big-refunds
      effect: ask
      tools: [refund_order]
      when: context.args.amount_cents > 5000
      reason: refunds over $50 need a manager
"""


# --- the workspace: agent, tools, key and a pre-filled journal ---------------------------


@dataclass(frozen=True)
class Workspace:
    """A temporary directory with the agent, its tools, the signing key and the journal
    every server starts from (a copy of it)."""

    root: Path
    tokens: dict[str, str]
    """Role → bearer secret."""
    waiting: dict[str, str]
    """Approval request id → the run waiting for it."""

    @property
    def key(self) -> Path:
        return self.root / "keys" / "journal.pem"

    @property
    def template(self) -> Path:
        return self.root / "template.db"

    def copy(self, name: str) -> Path:
        """A fresh copy of the template journal (SQLite's backup: consistent with WAL)."""
        target = self.root / f"{name}.db"
        with (
            contextlib.closing(sqlite3.connect(self.template)) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        return target


def isolate(root: Path) -> None:
    """Point charter's settings at ``root`` and put the tools module on ``sys.path``."""
    os.environ["CHARTER_HOME"] = str(root / "home")
    os.environ.pop("CHARTER_DATABASE_URL", None)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def prepare(root: Path) -> Workspace:
    """Write the agent and its tools, then journal the waiting runs (oldest), the
    completed runs and the tokens, in this process."""
    (root / "bench_refund_tools.py").write_text(TOOLS_MODULE)
    (root / "refunder.agent.yaml").write_text(AGENT)
    isolate(root)
    from charter.server import TokenStore  # after CHARTER_HOME is set

    workspace = Workspace(root, {}, {})
    journal = Journal(
        f"sqlite:///{workspace.template}", signer=load_or_create_signer(workspace.key)
    )
    runner = Runner(journal)
    agent = load_agent(root / "refunder.agent.yaml")
    for order in range(WAITING_RUNS):
        run = runner.run(agent, f"refund {order + 1} for 9000", actor="bench")
        assert run.status == "waiting" and run.waiting_for, run
        workspace.waiting[run.waiting_for] = run.run_id
    for order in range(COMPLETED_RUNS):
        run = runner.run(agent, f"refund {order + 1} for 1200", actor="bench")
        assert run.status == "completed", run
    store = TokenStore(journal)
    for role in ("viewer", "approver"):
        workspace.tokens[role] = store.create(f"bench-{role}", role, actor="bench")[1]
    runner.close()
    journal.close()
    return workspace


# --- the server, in a child process ------------------------------------------------------


def serve(root: Path, db: Path, key: Path, port: int) -> None:
    """The child process: ``charter serve`` over ``db``, as its CLI builds it."""
    import uvicorn

    isolate(root)
    from charter.server import create_app
    from charter.server._service import agent_files

    journal = Journal(f"sqlite:///{db}", signer=load_or_create_signer(key))
    app = create_app(journal, agent_files([root]))
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()
    journal.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(workspace: Workspace, db: Path) -> Generator[str]:
    """The base URL of a uvicorn server over ``db`` in a child process, stopped (SIGTERM:
    runs in progress finish first; SIGKILL if it hangs) when the block ends."""
    port = _free_port()
    child = multiprocessing.get_context("spawn").Process(
        target=serve,
        args=(workspace.root, db, workspace.key, port),
        name="charter-serve",
        daemon=True,
    )
    child.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if not child.is_alive():
                raise RuntimeError(f"the server exited at start (code {child.exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in {SERVER_START_TIMEOUT_S} s")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/login", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.05)
        yield base
    finally:
        child.terminate()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join(timeout=10)
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    if child.exitcode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the server did not stop cleanly (exit code {child.exitcode})")


# --- load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One burst of requests: wall time and every request's latency (seconds)."""

    elapsed: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed


def hammer(
    base: str,
    token: str | None,
    method: str,
    paths: Sequence[str],
    clients: int,
    check: str | None = None,
) -> Load:
    """Send ``paths`` from ``clients`` threads, each with its own keep-alive connection
    (opened, and ``check`` sent once, before the clock starts); every answer must be 200."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    shares = [paths[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    ready = threading.Barrier(clients + 1, timeout=REQUEST_TIMEOUT_S)

    def client(share: Sequence[str], took: list[float]) -> None:
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
                warm = http.get(check or "/login")
                warm.raise_for_status()
                if check:
                    assert len(warm.json()) == PAGE, warm.text[:200]
                ready.wait()
                body: dict[str, str] | None = {} if method == "POST" else None
                for path in share:
                    started = time.perf_counter()
                    response = http.request(method, path, json=body)
                    took.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"{method} {path}: {response.status_code} {response.text}"
                        )
        except BaseException:
            ready.abort()
            raise

    with ThreadPoolExecutor(clients, thread_name_prefix="bench-client") as pool:
        futures = [pool.submit(client, s, t) for s, t in zip(shares, latencies, strict=True)]
        with contextlib.suppress(threading.BrokenBarrierError):  # a client's error says why
            ready.wait()
        started = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    return Load(elapsed, [t for took in latencies for t in took])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(loads: list[Load]) -> dict[str, Any]:
    """Median requests/s over ``loads`` and latency percentiles over all their requests."""
    pooled = [t for load in loads for t in load.latencies]
    cuts = statistics.quantiles(pooled, n=100)
    return {
        "requests": len(pooled),
        "requests_per_s": round(statistics.median(load.rate for load in loads), 1),
        "median_ms": _ms(statistics.median(pooled)),
        "p90_ms": _ms(cuts[89]),
        "p99_ms": _ms(cuts[98]),
    }


def finished_runs(db: Path) -> int:
    """``run.finished`` records in ``db`` (read through SQLite directly, as a monitor would)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        query = "SELECT COUNT(*) FROM journal_records WHERE kind = 'run.finished'"
        return int(conn.execute(query).fetchone()[0])


def verified(db: Path, workspace: Workspace, approved: Sequence[str] = ()) -> None:
    """The journal's chain and checkpoints verify, the runs waiting for the ``approved``
    requests have completed their refunds and the other waiting runs still wait."""
    journal = Journal(f"sqlite:///{db}", signer=load_or_create_signer(workspace.key))
    try:
        report = journal.verify()
        assert report.ok and report.checkpoints_checked > 0, report
        for request_id, run_id in workspace.waiting.items():
            records = history(journal, run_id)
            if request_id not in approved:
                assert run_state(records) == "waiting", (run_id, records[-1].kind)
                continue
            last = records[-1]
            assert last.kind == "run.finished", (run_id, last.kind)
            assert last.payload["status"] == "completed", (run_id, last.payload)
            assert str(last.payload["answer"]).startswith("Refunded order"), last.payload
    finally:
        journal.close()


# --- sections ----------------------------------------------------------------------------


def measure_listing(workspace: Workspace, requests: int) -> dict[str, Any]:
    """Run listing and the baseline, alternating, per concurrency level."""
    db = workspace.copy("listing")
    listing = f"/api/runs?limit={PAGE}"
    figures: dict[str, Any] = {}
    with server(workspace, db) as base:
        hammer(base, None, "GET", ["/login"] * 200, 4)  # warm-up: imports, template cache
        hammer(base, workspace.tokens["viewer"], "GET", [listing] * 200, 4, check=listing)
        viewer = workspace.tokens["viewer"]
        for clients in CONCURRENCY:
            floor: list[Load] = []
            runs: list[Load] = []
            for round_ in range(ROUNDS):
                count = requests // ROUNDS + (round_ < requests % ROUNDS)
                floor.append(hammer(base, None, "GET", ["/login"] * count, clients))
                runs.append(hammer(base, viewer, "GET", [listing] * count, clients, listing))
            figures[str(clients)] = {"baseline": summary(floor), "runs": summary(runs)}
    verified(db, workspace)
    return figures


def measure_approvals(workspace: Workspace) -> dict[str, Any]:
    """Approval posting per concurrency level, each on a fresh server and journal copy, and
    the time until every approved run has finished."""
    figures: dict[str, Any] = {}
    pending = list(workspace.waiting)
    for level, clients in enumerate(CONCURRENCY):
        approved = pending[level * APPROVALS_PER_LEVEL : (level + 1) * APPROVALS_PER_LEVEL]
        paths = [f"/api/approvals/{request_id}/approve" for request_id in approved]
        db = workspace.copy(f"approvals-{clients}")
        before = finished_runs(db)
        with server(workspace, db) as base:
            started = time.perf_counter()
            posted = hammer(base, workspace.tokens["approver"], "POST", paths, clients)
            deadline = time.monotonic() + FINISH_TIMEOUT_S
            while finished_runs(db) < before + len(paths):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"approved runs unfinished after {FINISH_TIMEOUT_S} s")
                time.sleep(0.01)
            end_to_end = time.perf_counter() - started
        verified(db, workspace, approved)
        figures[str(clients)] = summary([posted]) | {
            "end_to_end_s": round(end_to_end, 3),
            "end_to_end_per_s": round(len(paths) / end_to_end, 1),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requests", type=int, default=2_000, help="per endpoint, concurrency level and round"
    )
    args = parser.parse_args()
    load_at_start = [round(load, 2) for load in os.getloadavg()]  # other work skews the figures
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = prepare(Path(tmp))
        prepared = time.perf_counter() - began
        listing = measure_listing(workspace, args.requests)
        approvals = measure_approvals(workspace)

    rows: list[dict[str, Any]] = []
    for clients in CONCURRENCY:
        level = str(clients)
        floor = listing[level]["baseline"]
        measured = [
            ("GET /login (baseline)", floor),
            (f"GET /api/runs?limit={PAGE}", listing[level]["runs"]),
            ("POST /api/approvals/{id}/approve", approvals[level]),
        ]
        for endpoint, figure in measured:
            rows.append(
                {"endpoint": endpoint, "concurrency": clients}
                | {k: figure[k] for k in ("requests_per_s", "median_ms", "p90_ms", "p99_ms")}
                | {"x_baseline": round(floor["requests_per_s"] / figure["requests_per_s"], 1)}
            )
        e2e = approvals[level]["end_to_end_per_s"]
        rows.append(
            {
                "endpoint": "approvals end-to-end (until every run finished)",
                "concurrency": clients,
                "requests_per_s": e2e,
                "median_ms": None,
                "p90_ms": None,
                "p99_ms": None,
                "x_baseline": round(floor["requests_per_s"] / e2e, 1),
            }
        )
    result = {
        "benchmark": "api_load",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load_at_start,
        },
        "journal": {
            "completed_runs": COMPLETED_RUNS,
            "waiting_runs": WAITING_RUNS,
            "backend": "SQLite file (WAL), signed",
            "prepare_s": round(prepared, 1),
        },
        "requests_per_level": args.requests,
        "rounds": ROUNDS,
        "approvals_per_level": APPROVALS_PER_LEVEL,
        "listing": listing,
        "approvals": approvals,
        "rows": rows,
        "total_s": round(time.perf_counter() - began, 1),
    }
    out = Path(__file__).parent / "results" / "api_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print("| endpoint | clients | requests/s | median ms | p90 ms | p99 ms | x baseline |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [
            "" if row[k] is None else f"{row[k]:,}"
            for k in ("requests_per_s", "median_ms", "p90_ms", "p99_ms", "x_baseline")
        ]
        print(f"| {row['endpoint']} | {row['concurrency']} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
