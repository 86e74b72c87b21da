"""Durability and scale of governed runs, against baselines measured in the same run.

Every run is the 5-step procedure of ``step_overhead.py`` (the ``rules`` reasoner, five
calls of a trivial tool, then an answer; a signed checkpoint when the run ends):

* **durable step**: whole run time / 5 on a SQLite file journal (WAL) and on PostgreSQL,
  against the plain Python loop of ``step_overhead.py``;
* **recovery**: a child process runs the procedure and SIGKILLs itself once step 3 is
  journaled; ``Runner.recover`` then finishes the run here. Baseline: one uninterrupted run;
* **throughput**: 1,000 runs submitted at once to a thread pool (several sizes) sharing one
  runner, on an in-memory journal (non-durable) and on the SQLite file; then the 1,000
  split over one process per core, each with its own in-memory journal (independent
  non-durable workers; one process uses one core); peak RSS;
* **paused runs**: 1,000 runs stopped ``waiting`` for an approval in one process; RSS
  growth per run (baseline: per completed run), live threads, run sessions still alive.

PostgreSQL: ``--postgres-url``, else ``CHARTER_BENCH_POSTGRES_URL``, else a throwaway
server started as ``.ci/run`` does; without one, its rows are skipped and the reason
printed. Each PostgreSQL run works in a fresh schema, dropped at the end.

Usage: ``python benchmarks/durability.py [--runs N] [--postgres-url URL]``; prints a
Markdown table and writes ``benchmarks/results/durability.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import multiprocessing
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from charter import Agent, Budgets, Charter, Journal, Record, Runner, tool
from charter.journal import JournalSigner, load_or_create_signer
from charter.reasoners import RulesReasoner, RulesSpec, RuleStep
from charter.testing import make_agent
from step_overhead import PROCEDURE, STEPS, charter_loop, inline_tool, plain_loop

SQLITE_STEP_TARGET_US = 2_500
THROUGHPUT_TARGET = 1_000  # runs/s, non-durable, on a 2-core box
CONCURRENT_RUNS = 1_000
POOL_SIZES = (1, 4, 16)
THROUGHPUT_REPEATS = 3
CRASHES = 7  # recoveries per backend: each costs a child process start
CRASH_AFTER_STEP = 3
PAUSED_RUNS = 1_000


def procedure_agent() -> Agent:
    """The agent ``step_overhead.charter_loop`` runs, for recovery and throughput."""
    charter = Charter(name="bench", budgets=Budgets(max_steps=STEPS + 1))
    return make_agent([inline_tool], RulesReasoner(PROCEDURE), charter=charter)


@tool(side_effect="write", timeout_s=None)
def tag_order(order_id: int) -> str:
    """Tag an order (a write the charter asks about)."""
    return f"tagged {order_id}"


def pausing_agent() -> Agent:
    """Looks a value up, then proposes a write its charter sends to an approver."""
    charter = Charter.model_validate(
        {
            "name": "bench-approvals",
            "rules": [
                {
                    "id": "tags-need-approval",
                    "effect": "ask",
                    "tools": ["tag_order"],
                    "reason": "a person checks every tag",
                }
            ],
        }
    )
    spec = RulesSpec(
        steps=[
            RuleStep(id="s0", call="add_one", args={"x": 0}),
            RuleStep(id="s1", call="tag_order", args={"order_id": "{steps.s0.result}"}),
            RuleStep(respond="tagged"),
        ]
    )
    return make_agent([inline_tool, tag_order], RulesReasoner(spec), charter=charter)


# --- PostgreSQL --------------------------------------------------------------------------


class PostgresUnavailable(Exception):
    """No PostgreSQL to measure against; the message says why."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Generator[str]:
    """A PostgreSQL server in a temporary directory, as ``.ci/run`` starts one."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: tuple(int(n) for n in p.parent.parent.name.split(".") if n.isdigit()),
    )
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb); "
            "install Debian's postgresql or give --postgres-url"
        )
    pgbin = found[-1].parent
    as_pg: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="charter-bench-pg-"))
    try:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                user = pwd.getpwnam("charter-ci")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, which PostgreSQL refuses, and there is no charter-ci "
                    "user to run it as (.ci/run creates one)"
                ) from None
            os.chown(data, user.pw_uid, user.pw_gid)
            as_pg = ["runuser", "-u", "charter-ci", "--"]
        port = _free_port()
        server = [str(pgbin / "pg_ctl"), "-D", str(data)]
        try:
            subprocess.run(
                [*as_pg, str(pgbin / "initdb"), "-D", str(data), "-A", "trust", "-U", "charter"],
                check=True,
                capture_output=True,
            )
            options = f"-h 127.0.0.1 -p {port} -k {data}"
            log = str(data / "server.log")
            subprocess.run(
                [*as_pg, *server, "-l", log, "-w", "-o", options, "start"],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise PostgresUnavailable(
                f"cannot start a throwaway PostgreSQL: {exc} {detail.decode(errors='replace')}"
            ) from exc
        try:
            yield f"postgresql+psycopg://charter@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_pg, *server, "-m", "fast", "stop"], capture_output=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def scratch_schema(url: str) -> Generator[str]:
    """``url`` narrowed to a new schema, dropped afterwards: no benchmark row stays behind."""
    name = f"charter_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    except SQLAlchemyError as exc:
        engine.dispose()
        where = make_url(url).render_as_string(hide_password=True)
        raise PostgresUnavailable(f"cannot create a schema at {where}: {exc}") from exc
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        engine.dispose()


@contextlib.contextmanager
def postgres(given: str | None) -> Generator[tuple[str, str]]:
    """``(url, where it came from)`` of an empty PostgreSQL schema to measure on."""
    if importlib.util.find_spec("psycopg") is None:  # the driver the URLs name
        raise PostgresUnavailable("psycopg is missing: pip install 'charter[postgres]'")
    with contextlib.ExitStack() as stack:
        if given:
            source = "given URL"
        else:
            given = stack.enter_context(throwaway_postgres())
            source = "throwaway server"
        with scratch_schema(given) as url:
            yield url, source


# --- measurements ------------------------------------------------------------------------


def step_costs(runs: int, runners: dict[str, Runner]) -> dict[str, list[float]]:
    """Seconds per step of the plain loop and of a durable run on each runner."""
    samples: dict[str, list[float]] = {"plain": [], **{name: [] for name in runners}}
    for _ in range(20):  # warm-up: imports, connection pools, page cache
        plain_loop()
        for runner in runners.values():
            charter_loop(runner, inline_tool)
    for _ in range(runs):  # interleaved so machine noise hits all variants alike
        samples["plain"].append(plain_loop() / STEPS)
        for name, runner in runners.items():
            samples[name].append(charter_loop(runner, inline_tool) / STEPS)
    return samples


def commit_floor(journal: Journal, samples: int = 200) -> list[float]:
    """Seconds per bare INSERT + COMMIT in the journal's database: what durability costs
    before any charter code runs (the scratch table is dropped afterwards)."""
    conn = journal.engine.raw_connection()  # the journal's engine: its SQLite pragmas too
    cursor = conn.cursor()
    cursor.execute("CREATE TABLE bench_commit_floor (n INTEGER)")
    conn.commit()
    times: list[float] = []
    for n in range(samples):
        started = time.perf_counter()
        cursor.execute(f"INSERT INTO bench_commit_floor (n) VALUES ({n})")
        conn.commit()
        times.append(time.perf_counter() - started)
    cursor.execute("DROP TABLE bench_commit_floor")
    conn.commit()
    cursor.close()
    conn.close()
    return times


def commits_per_run(journal: Journal) -> int:
    """Appends (one commit each) the newest run made: its records of one append share a ts."""
    newest = journal.records_of_kind("run.started", limit=1)[0]
    return len({record.ts for record in journal.records(newest.run_id)})


def crash_mid_run(url: str, key: str, run_id: str) -> None:
    """Child process: run the procedure, SIGKILL itself once step 3 is journaled."""

    def die_after_step(record: Record) -> None:
        # Called once the record is committed: the crash loses nothing journaled.
        if record.kind == "step.observed" and record.payload["step"] == CRASH_AFTER_STEP:
            os.kill(os.getpid(), signal.SIGKILL)

    journal = Journal(url, signer=load_or_create_signer(Path(key)))
    Runner(journal, on_record=die_after_step).run(procedure_agent(), "benchmark", run_id=run_id)
    raise SystemExit("the run finished: the crash never happened")


def recovery_times(url: str, key: Path, crashes: int) -> tuple[list[float], list[int]]:
    """Seconds ``Runner.recover`` takes to finish runs killed mid-way, and steps each had done."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, as after a real crash
    journal = Journal(url, signer=load_or_create_signer(key))
    runner = Runner(journal)
    agent = procedure_agent()
    times: list[float] = []
    done: list[int] = []
    for _ in range(crashes):
        run_id = uuid.uuid4().hex
        child = spawn.Process(target=crash_mid_run, args=(url, str(key), run_id))
        child.start()
        child.join()
        assert child.exitcode == -signal.SIGKILL, f"child exited with {child.exitcode}"
        done.append(sum(1 for r in journal.records(run_id) if r.kind == "step.observed"))
        started = time.perf_counter()
        run = runner.recover(agent, run_id)
        times.append(time.perf_counter() - started)
        assert run.status == "completed" and run.answer == str(STEPS), run
    runner.close()
    journal.close()
    return times, done


def runs_per_second(journal: Journal, workers: int) -> float:
    """1,000 runs submitted at once to ``workers`` threads sharing one runner; closes
    ``journal``."""
    runner = Runner(journal)
    agent = procedure_agent()
    for _ in range(20):  # warm-up: policy version journaled, connections open
        runner.run(agent, "warm-up")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        started = time.perf_counter()
        futures = [pool.submit(runner.run, agent, "benchmark") for _ in range(CONCURRENT_RUNS)]
        finished = [future.result() for future in futures]
        elapsed = time.perf_counter() - started
    assert all(run.status == "completed" for run in finished)
    runner.close()
    journal.close()
    return CONCURRENT_RUNS / elapsed


def _process_share(key: str, runs: int, barrier: Any, ends: Any) -> None:
    """One process's share of the runs, on its own in-memory journal: warm up, wait for
    the others at ``barrier``, run, and report when it finished (``time.monotonic`` is one
    clock for every process on Linux)."""
    runner = Runner(Journal("sqlite://", signer=load_or_create_signer(Path(key))))
    agent = procedure_agent()
    for _ in range(20):
        runner.run(agent, "warm-up")
    barrier.wait()
    finished = [runner.run(agent, "benchmark") for _ in range(runs)]
    assert all(run.status == "completed" for run in finished)
    ends.put(time.monotonic())


def runs_per_second_processes(key: Path, processes: int) -> float:
    """1,000 runs split over ``processes`` processes (one per core), each with its own
    in-memory journal, as independent non-durable workers are run."""
    context = multiprocessing.get_context("spawn")
    barrier, ends = context.Barrier(processes + 1), context.Queue()
    share = CONCURRENT_RUNS // processes
    children = [
        context.Process(target=_process_share, args=(str(key), share, barrier, ends))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    barrier.wait()
    started = time.monotonic()
    finished = max(ends.get(timeout=600) for _ in children)
    for child in children:
        child.join()
    return share * processes / (finished - started)


def rss_bytes() -> int:
    """Resident set size now, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status (this measurement needs Linux)")


def live_sessions() -> int:
    """Run sessions (the runner's per-run state) still alive in the process."""
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "_Session")


def held_memory(runner: Runner, agent: Agent, status: str, count: int) -> tuple[int, int]:
    """RSS before and after ``count`` runs of ``agent`` that end in ``status``."""
    gc.collect()
    before = rss_bytes()
    ended = {runner.run(agent, "benchmark").status for _ in range(count)}
    assert ended == {status}, ended
    gc.collect()
    return before, rss_bytes()


# --- sections: figures for the JSON, rows for the table ----------------------------------

Row = dict[str, Any]
"""One line of the table: metric, value, baseline, ratio, target, met."""


def _row(
    metric: str,
    value: str,
    baseline: str = "",
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
) -> Row:
    rounded = None if ratio is None else round(ratio, 1) if ratio >= 1 else round(ratio, 4)
    return {
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": rounded,
        "target": target,
        "met": met,
    }


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    """Median, p90 and p99 of ``samples`` (seconds) in µs."""
    cuts = statistics.quantiles(samples, n=100)
    return {
        "median_us": _us(statistics.median(samples)),
        "p90_us": _us(cuts[89]),
        "p99_us": _us(cuts[98]),
    }


def measure_steps(
    runs: int, backends: dict[str, str], signer: JournalSigner
) -> tuple[dict[str, Any], list[Row]]:
    """Section 1: µs per durable step on each backend, and its bare commit floor."""
    journals = {name: Journal(url, signer=signer) for name, url in backends.items()}
    runners = {name: Runner(journal) for name, journal in journals.items()}
    samples = step_costs(runs, runners)
    plain = percentiles(samples.pop("plain"))
    figures: dict[str, Any] = {"runs": runs, "plain": plain}
    rows: list[Row] = []
    for name, journal in journals.items():
        runners[name].close()
        report = journal.verify()
        assert report.ok and report.checkpoints_checked > 0, report
        floor, commits = statistics.median(commit_floor(journal)), commits_per_run(journal)
        journal.close()
        cost = percentiles(samples[name])
        figures[name] = cost | {"commit_floor_us": _us(floor), "commits_per_run": commits}
        on_sqlite = name == "SQLite"
        rows.append(
            _row(
                f"µs per durable step, {name}",
                f"{cost['median_us']:,.1f} µs "
                f"(p90 {cost['p90_us']:,.1f}, p99 {cost['p99_us']:,.1f})",
                f"{plain['median_us']:,.1f} µs (plain loop)",
                cost["median_us"] / plain["median_us"],
                f"≤ {SQLITE_STEP_TARGET_US:,} µs" if on_sqlite else "",
                cost["median_us"] <= SQLITE_STEP_TARGET_US if on_sqlite else None,
            )
        )
        run_us = cost["median_us"] * STEPS
        rows.append(
            _row(
                f"floor: bare INSERT + COMMIT, {name} (ratio: its share of a run)",
                f"{_us(floor):,.1f} µs",
                f"{run_us / 1000:,.2f} ms (durable run, {commits} commits)",
                _us(floor) * commits / run_us,
            )
        )
    return figures, rows


def measure_recovery(
    backends: dict[str, str], key: Path, steps: dict[str, Any]
) -> tuple[dict[str, Any], list[Row]]:
    """Section 2: ``Runner.recover`` after a SIGKILL mid-run, against an uninterrupted run."""
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    for name, url in backends.items():
        times, done = recovery_times(url, key, CRASHES)
        took = {"median_us": _us(statistics.median(times)), "max_us": _us(max(times))}
        run_us = steps[name]["median_us"] * STEPS
        figures[name] = took | {
            "crashes": CRASHES,
            "steps_done_before_crash": sorted(set(done)),
            "uninterrupted_run_us": round(run_us, 1),
        }
        rows.append(
            _row(
                f"recovery after SIGKILL at step {max(done)} of {STEPS}, {name}",
                f"{took['median_us'] / 1000:,.2f} ms "
                f"(max {took['max_us'] / 1000:,.2f}, {CRASHES} crashes)",
                f"{run_us / 1000:,.2f} ms (uninterrupted run)",
                took["median_us"] / run_us,
            )
        )
    return figures, rows


def measure_throughput(
    tmp: Path, key: Path, signer: JournalSigner, plain_run_us: float
) -> tuple[dict[str, Any], list[Row]]:
    """Section 3: runs/s of 1,000 concurrent runs per pool size and over one process per
    core, and peak RSS."""
    plain_rate = 1e6 / plain_run_us
    rss_before = rss_bytes()
    stores: dict[str, Callable[[], str]] = {  # a fresh journal for every measurement
        "in-memory": lambda: "sqlite://",
        "SQLite file": lambda: f"sqlite:///{tmp / f'runs-{uuid.uuid4().hex}.db'}",
    }
    figures: dict[str, Any] = {"runs": CONCURRENT_RUNS, "plain_per_s": round(plain_rate)}
    rows: list[Row] = []
    for store, new_url in stores.items():
        rates = {
            workers: statistics.median(
                runs_per_second(Journal(new_url(), signer=signer), workers)
                for _ in range(THROUGHPUT_REPEATS)
            )
            for workers in POOL_SIZES
        }
        best = max(rates.values())
        durable = store == "SQLite file"
        if durable:
            baseline = figures["in-memory"]["best"]
            what = f"{baseline:,} (in-memory best)"
        else:
            baseline, what = plain_rate, f"{plain_rate:,.0f} (plain loop, 1 thread)"
        figures[store] = {
            "runs_per_s_by_threads": {str(n): round(rate) for n, rate in rates.items()},
            "best": round(best),
        }
        # One process runs on one core (the GIL): the box's figure is the row below.
        rows += [
            _row(
                f"runs/s, {CONCURRENT_RUNS:,} concurrent, {store} journal, "
                f"{workers} thread{'s' if workers > 1 else ''}"
                f"{' (best)' if rate == best else ''}",
                f"{rate:,.0f}",
                what,
                rate / baseline,
            )
            for workers, rate in rates.items()
        ]
    processes = os.cpu_count() or 1
    spread = statistics.median(
        runs_per_second_processes(key, processes) for _ in range(THROUGHPUT_REPEATS)
    )
    figures["in-memory"]["runs_per_s_by_processes"] = {str(processes): round(spread)}
    rows.append(
        _row(
            f"runs/s, {CONCURRENT_RUNS:,} runs over {processes} processes (one per core), "
            "in-memory journal each",
            f"{spread:,.0f}",
            f"{figures['in-memory']['best']:,} (in-memory, one process, best)",
            spread / figures["in-memory"]["best"],
            f"≥ {THROUGHPUT_TARGET:,}",
            spread >= THROUGHPUT_TARGET,
        )
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    figures |= {"rss_before_bytes": rss_before, "peak_rss_bytes": peak}
    rows.append(
        _row(
            "peak RSS (ru_maxrss) after the throughput runs",
            f"{peak / 2**20:,.1f} MiB",
            f"{rss_before / 2**20:,.1f} MiB (RSS before them)",
            peak / rss_before,
        )
    )
    return figures, rows


def measure_paused(url: str, key: Path) -> tuple[dict[str, Any], list[Row]]:
    """Section 4: memory, threads and sessions held by runs waiting for an approval, against
    completed runs, in one process."""
    journal = Journal(url, signer=load_or_create_signer(key))
    runner = Runner(journal)
    completing, pausing = procedure_agent(), pausing_agent()
    for _ in range(200):  # warm-up: allocator arenas, page cache, pooled connections
        runner.run(completing, "warm-up")
        runner.run(pausing, "warm-up")
    gc.collect()
    threads_before = threading.active_count()
    completed = held_memory(runner, completing, "completed", PAUSED_RUNS)
    paused = held_memory(runner, pausing, "waiting", PAUSED_RUNS)
    threads_after, sessions = threading.active_count(), live_sessions()
    runner.close()
    journal.close()
    per_paused = round((paused[1] - paused[0]) / PAUSED_RUNS)
    per_completed = round((completed[1] - completed[0]) / PAUSED_RUNS)
    figures = {
        "paused_runs": PAUSED_RUNS,
        "rss_before_paused_bytes": paused[0],
        "rss_after_paused_bytes": paused[1],
        "rss_per_paused_run_bytes": per_paused,
        "rss_per_completed_run_bytes": per_completed,
        "threads_before": threads_before,
        "threads_after": threads_after,
        "sessions_alive_after": sessions,
    }
    rows = [
        _row(
            f"RSS growth per paused run ({PAUSED_RUNS:,} waiting, SQLite)",
            f"{per_paused:,} B",
            f"{per_completed:,} B (per completed run)",
            per_paused / per_completed if per_completed > 0 else None,
            "≤ a completed run's + 1 KiB",
            per_paused <= max(per_completed, 0) + 1024,
        ),
        _row(
            "live threads after the paused runs",
            str(threads_after),
            f"{threads_before} (before)",
            threads_after / threads_before,
            "no new thread",
            threads_after <= threads_before,
        ),
        _row(
            "run sessions alive after the paused runs", str(sessions), target="0", met=sessions == 0
        ),
    ]
    return figures, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300, help="runs per step-cost variant")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CHARTER_BENCH_POSTGRES_URL"),
        help="SQLAlchemy URL of a PostgreSQL to measure on (default: "
        "$CHARTER_BENCH_POSTGRES_URL, else a throwaway server)",
    )
    args = parser.parse_args()
    load_at_start = [round(load, 2) for load in os.getloadavg()]  # other work skews the figures
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        key = Path(tmp) / "keys" / "journal.pem"
        signer = load_or_create_signer(key)
        backends = {"SQLite": f"sqlite:///{Path(tmp) / 'journal.db'}"}
        try:
            backends["PostgreSQL"], figures["postgres"] = stack.enter_context(
                postgres(args.postgres_url)
            )
        except PostgresUnavailable as exc:
            if args.postgres_url:
                raise SystemExit(f"PostgreSQL at --postgres-url unusable: {exc}") from exc
            figures["postgres"] = f"skipped: {exc}"
            print(f"PostgreSQL rows skipped: {exc}")

        figures["step"], found = measure_steps(args.runs, backends, signer)
        rows += found
        figures["recovery"], found = measure_recovery(backends, key, figures["step"])
        rows += found
        plain_run_us = figures["step"]["plain"]["median_us"] * STEPS
        figures["throughput"], found = measure_throughput(Path(tmp), key, signer, plain_run_us)
        rows += found
        figures["paused"], found = measure_paused(backends["SQLite"], key)
        rows += found

    result = {
        "benchmark": "durability",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load_at_start,
        },
        "steps_per_run": STEPS,
        "figures": figures,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "durability.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print("| metric | value | baseline | ratio | target | met? |")
    print("|---|---:|---:|---:|---|---|")
    for row in rows:
        ratio = "" if row["ratio"] is None else str(row["ratio"])
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        print(
            f"| {row['metric']} | {row['value']} | {row['baseline']} | {ratio} "
            f"| {row['target']} | {met} |"
        )


if __name__ == "__main__":
    main()
