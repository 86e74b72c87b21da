"""CLI start-up time: `charter --help` and `charter runs` against the interpreter's own start.

Each command runs as a fresh process, interleaved with `python -c pass` in the same loop
(the baseline), so a busy machine slows both alike; the figure to read is the median of
each command minus the median of the baseline. Each process's CPU time (user + system,
from the kernel's accounting of finished children) is reported beside its wall time: on a
shared machine it varies far less than wall time, which includes waiting for a core.
`charter runs` reads a small journal (five finished runs) made in a temporary CHARTER_HOME
before the loop; its schema is already migrated, as on any machine after the first command.
The commands run with bytecode written (PYTHONDONTWRITEBYTECODE is dropped for them), as an
installed package has it: otherwise every run would compile charter's modules again.

Usage: ``python benchmarks/startup.py [--runs 15]``; prints a Markdown table and writes
``benchmarks/results/startup.json``. Target: each command within 0.3 s of the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_S = 0.3


def charter_command() -> list[str]:
    """The `charter` script beside this interpreter, as users run it; else `-m charter`."""
    script = Path(sys.executable).parent / "charter"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charter"]


def make_journal(home: Path) -> None:
    """Five finished runs of a scripted agent in ``home``'s default journal."""
    from charter import Journal, Runner, tool
    from charter.settings import database_url
    from charter.testing import ScriptedReasoner, call, make_agent, respond

    @tool
    def lookup_order(order_id: int) -> dict[str, Any]:
        """Look up an order."""
        return {"id": order_id, "status": "delivered"}

    os.environ["CHARTER_HOME"] = str(home)
    journal = Journal(database_url())
    for order in range(1040, 1045):
        script = ScriptedReasoner([call("lookup_order", order_id=order), respond("delivered")])
        run = Runner(journal).run(make_agent([lookup_order], script), f"Where is order {order}?")
        assert run.status == "completed", run.status


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="charter-startup-"))
    load_before = os.getloadavg()[0]
    try:
        make_journal(home)
        env = {**os.environ, "CHARTER_HOME": str(home)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        charter = charter_command()
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "charter --help": [*charter, "--help"],
            "charter runs": [*charter, "runs"],
        }
        for command in commands.values():  # warm the OS cache and the bytecode
            timed(command, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                wall, used = timed(command, env)
                samples[name].append(wall)
                cpu[name].append(used)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = statistics.median(samples["python -c pass"])
    base_cpu = statistics.median(cpu["python -c pass"])
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(times), 3),
            "over_python_s": round(statistics.median(times) - base, 3),
            "min_s": round(min(times), 3),
            "cpu_median_s": round(statistics.median(cpu[name]), 3),
            "cpu_over_python_s": round(statistics.median(cpu[name]) - base_cpu, 3),
        }
        for name, times in samples.items()
    ]
    load = os.getloadavg()[0]
    report = {
        "benchmark": "startup",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPython "
        f"{platform.python_version()}, load average {load_before:.1f} at the start, "
        f"{load:.1f} at the end",
        "runs": args.runs,
        "target_over_python_s": TARGET_S,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"median of {args.runs} interleaved runs; {report['machine']}")
    print("| command | median s | over `python -c pass` | CPU s | CPU over | target |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        over = row["over_python_s"]
        verdict = (
            ""
            if row["command"] == "python -c pass"
            else f"≤ {TARGET_S} s: {'met' if over <= TARGET_S else 'not met'}"
        )
        print(
            f"| `{row['command']}` | {row['median_s']:.3f} | {over:+.3f} | "
            f"{row['cpu_median_s']:.3f} | {row['cpu_over_python_s']:+.3f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
