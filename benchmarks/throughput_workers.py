"""Charter across worker processes sharing one journal: ``throughput.py``'s process part.

Each worker opens the journal, warms up, says it is ready and waits; once all are ready
they are released together, and each starts its share of the runs at once with
``Runner.arun``. Runs/s is every run over the time from the first start to the last
finish (wall clock, one host), and the scaling ratio is 2 workers' runs/s over 1's, the
two measured in turn, round after round, each on a journal of its own made afresh (so
neither measures a journal the other grew).

Wall time alone cannot tell a second worker that found no idle core (a loaded machine)
from one that contends with the first: each measurement also reports the CPU seconds the
workers spent per run (summed over workers; flat from 1 to 2 workers when they do not
get in each other's way), the load average when it started, and how many of the
journal's appends paused, and for how long in all: waiting for the write lock, or after a
collision (``pauses``, ``paused_s``).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
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

    from charter.journal import _store

    pauses: list[float] = []
    real_sleep = _store._sleep  # pyright: ignore[reportPrivateUsage]

    def counted_sleep(seconds: float) -> None:  # each pause: a lock wait or a collision
        pauses.append(seconds)
        real_sleep(seconds)

    _store._sleep = counted_sleep  # pyright: ignore[reportPrivateUsage]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    statuses = asyncio.run(all_at_once())
    finished = time.time()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    runner.close()
    runner.journal.close()
    figures = {"started": started, "finished": finished, "statuses": statuses, "cpu_s": cpu}
    print(json.dumps(figures | {"pauses": len(pauses), "paused_s": sum(pauses)}))


def measure(
    script: str, url: str, key: Path | None, steps: int, runs: int, workers: int
) -> dict[str, float]:
    """Runs/s of ``runs`` runs shared among ``workers`` processes on the journal at
    ``url``, the workers' CPU ms per run, their pauses (lock waits, collisions), and the
    load average (1 min) when it started."""
    load = os.getloadavg()[0]
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
    return {
        "runs_per_s": share * workers / (finished - started),
        "cpu_ms_per_run": sum(figure["cpu_s"] for figure in figures) * 1000 / (share * workers),
        "pauses": sum(figure["pauses"] for figure in figures),
        "paused_s": sum(figure["paused_s"] for figure in figures),
        "load": load,
    }


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
        backends = {"SQLite file (WAL)": "sqlite"}
        if postgres_url:  # one database: its journal grows from measurement to measurement
            backends["PostgreSQL"] = postgres_url
        for name, backend in backends.items():
            samples: dict[int, list[dict[str, float]]] = {n: [] for n in WORKERS}
            failures: list[str] = []
            verified: list[dict[str, int]] = []
            for round_ in range(rounds):
                for workers in WORKERS:
                    url = backend
                    if backend == "sqlite":  # a fresh file each time
                        url = f"sqlite:///{Path(tmp) / f'journal-{round_}-{workers}.db'}"
                    try:
                        samples[workers].append(measure(script, url, key, steps, runs, workers))
                    except WorkerFailed as exc:
                        failures.append(f"{workers} workers: {exc}")
                        continue
                    if backend == "sqlite":
                        verified.append(verify(url, key))
                print(name, samples, failures, file=sys.stderr, flush=True)
            if failures:
                figures[name] = {"failures": failures, "rounds": samples}
                continue
            if backend != "sqlite":
                verified.append(verify(backend, key))
            ratios = [
                two["runs_per_s"] / one["runs_per_s"]
                for one, two in zip(samples[1], samples[2], strict=True)
            ]
            figures[name] = {
                f"{n} worker{'s' if n > 1 else ''}": {
                    "runs_per_s": round(statistics.median(s["runs_per_s"] for s in samples[n])),
                    "cpu_ms_per_run": round(
                        statistics.median(s["cpu_ms_per_run"] for s in samples[n]), 2
                    ),
                    "rounds": [
                        {field: round(value, 2) for field, value in s.items()} for s in samples[n]
                    ],
                }
                for n in WORKERS
            } | {
                "scaling_ratio": round(statistics.median(ratios), 2),
                "scaling_ratios": [round(ratio, 2) for ratio in ratios],
                "journals_verified": verified,
            }
    return figures
