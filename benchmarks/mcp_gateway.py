"""What ``charter mcp serve`` adds to one ``tools/call``: an MCP client calling the example
ticket server through the gateway vs calling the same server directly, in the same client
process, over stdio.

Three client sessions stay open for the whole benchmark, each with its own server process
started from ``examples/mcp/tickets_server.py``:

* ``sdk direct``: the client talks to the ticket server (the floor);
* ``sdk proxy``: the client talks to a plain forwarding MCP server written with the SDK's
  low-level ``Server``, which calls the ticket server with its own client session: the
  price of a second stdio hop as the SDK makes it, with no governance;
* ``line relay``: the client talks to a process that copies lines between its pipes and
  the ticket server's, parsing nothing: the floor of any second stdio hop (two more pipe
  writes and process wake-ups per call);
* ``charter gateway``: the client talks to ``charter mcp serve`` (journal in memory,
  ``CHARTER_DATABASE_URL=sqlite://``), which governs each call in the session's one run
  (arguments checked, labelled, decided, journaled, the effect and observation journaled)
  and calls the ticket server with its session.

Each sample is ``CALLS`` calls of the read tool ``get_ticket``; samples are interleaved so
machine noise hits every variant alike. The figure to read is what a variant adds over the
direct call: the median (and p90) over samples of the variant's time minus the direct
call's time in the same round, beside the difference of the medians. The target is the
gateway adding at most 1 ms. The same loop also times charter's governed-call pipeline
alone, in this process (a declared tool, ``GovernedRun.govern`` then ``record``, journal
in memory): the part of the gateway's time that is charter's own work rather than
transport.
Usage: ``python benchmarks/mcp_gateway.py [--samples 30] [--compare-src OTHER/src]``
(``--compare-src``: the gateway from other sources too, e.g. the previous version's, in
the same rounds); prints a Markdown table and writes ``benchmarks/results/mcp_gateway.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from mcp import Client, StdioServerParameters

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mcp"
CALLS = 20

PROXY = """
import sys, anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

tickets = {"TICKETS_FILE": sys.argv[2]}
upstream = StdioServerParameters(command=sys.executable, args=[sys.argv[1]], env=tickets)

async def main():
    async with Client(upstream, cache=None) as client:
        async def list_tools(ctx, params):
            return await client.list_tools()
        async def call_tool(ctx, params):
            return await client.call_tool(params.name, params.arguments or {})
        server = Server("proxy", on_list_tools=list_tools, on_call_tool=call_tool)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

anyio.run(main)
"""

RELAY = """
import asyncio, os, sys

async def main():
    env = dict(os.environ, TICKETS_FILE=sys.argv[2])
    server = await asyncio.create_subprocess_exec(
        sys.executable, sys.argv[1], stdin=-1, stdout=-1, env=env, limit=2**24
    )
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdin), os.fdopen(0, "rb", buffering=0)
    )
    stdout = os.fdopen(1, "wb", buffering=0)

    async def up():
        while line := await stdin.readline():
            server.stdin.write(line)

    async def down():
        while line := await server.stdout.readline():
            stdout.write(line)

    await asyncio.gather(up(), down())

asyncio.run(main())
"""
TARGET_US = 1000.0
OTHER = "charter gateway, --compare-src"


def agent_file(tmp: Path, name: str = "bench.agent.yaml") -> Path:
    """The example's server as the gateway's agent, unpinned (this checkout's own code)."""
    server = {
        "server": "tickets",
        "command": sys.executable,
        "args": ["tickets_server.py"],
        "env": {"TICKETS_FILE": str(tmp / "tickets.json")},
        "defaults": {"side_effect": "read"},
        "pin": False,
    }
    body = {
        "name": "mcp-gateway-bench",
        "toolsets": [{"mcp": server}],
        "reasoner": {"kind": "rules", "steps": [{"respond": "done"}]},
        "charter": {"name": "bench", "budgets": {"max_steps": 1_000_000}},
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(body))
    return path


async def sample(client: Client) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        result = await client.call_tool("get_ticket", {"ticket_id": 89})
        assert not result.is_error, result
    return (time.perf_counter() - started) / CALLS


def pipeline() -> Any:
    """A function timing ``CALLS`` governed calls of one run, in process (seconds per call)."""
    from charter import Charter, GovernedRun, Journal, declared_tool
    from charter.testing import ScriptedReasoner, make_agent

    tool = declared_tool("get_ticket", trust="untrusted")
    charter = Charter.model_validate({"name": "bench", "budgets": {"max_steps": 10_000_000}})
    agent = make_agent([tool], ScriptedReasoner([]), charter=charter, name="bench")
    run = GovernedRun.open(Journal("sqlite://"), agent, "benchmark")

    def timed() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            verdict = run.govern("get_ticket", {"ticket_id": 89})
            run.record(verdict, result={"customer": "lin@example.com", "subject": "order"})
        return (time.perf_counter() - started) / CALLS

    return timed


MARKERS = {
    "sdk direct": "tickets_server.py",
    "sdk proxy": "proxy.py",
    "line relay": "relay.py",
    "charter gateway": "bench.agent.yaml",
}
"""How each variant's server process is told apart (a word of its command line)."""


def tree_cpu(marker: str) -> float:
    """CPU seconds used so far by this process's child whose command line has ``marker``
    (the first such), with its own children; -1 where /proc cannot tell (not Linux)."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        kids = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
        for kid in kids:
            if marker in Path(f"/proc/{kid}/cmdline").read_bytes().decode(errors="replace"):
                return _cpu(int(kid), tick)
    except (OSError, ValueError):
        pass
    return -1.0


def _cpu(pid: int, tick: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = (int(fields[11]) + int(fields[12])) / tick
    for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        used += _cpu(int(kid), tick)
    return used


async def measure(
    tmp: Path, samples: int, cpu: dict[str, float | None], compare_src: Path | None = None
) -> dict[str, list[float]]:
    server = tmp / "tickets_server.py"
    tickets = str(tmp / "tickets.json")
    (tmp / "proxy.py").write_text(PROXY)
    (tmp / "relay.py").write_text(RELAY)
    env = dict(os.environ, CHARTER_HOME=str(tmp / "home"), CHARTER_DATABASE_URL="sqlite://")
    variants = {
        "sdk direct": StdioServerParameters(
            command=sys.executable, args=[str(server)], env={"TICKETS_FILE": tickets}
        ),
        "sdk proxy": StdioServerParameters(
            command=sys.executable, args=[str(tmp / "proxy.py"), str(server), tickets], env=env
        ),
        "line relay": StdioServerParameters(
            command=sys.executable, args=[str(tmp / "relay.py"), str(server), tickets], env=env
        ),
        "charter gateway": StdioServerParameters(
            command=sys.executable,
            args=["-m", "charter", "mcp", "serve", str(agent_file(tmp)), "--as", "bench"],
            env=env,
        ),
    }
    markers = dict(MARKERS)
    if compare_src is not None:  # the same gateway from other sources (e.g. before a change)
        other = agent_file(tmp, "other.agent.yaml")
        variants[OTHER] = StdioServerParameters(
            command=sys.executable,
            args=["-m", "charter", "mcp", "serve", str(other), "--as", "bench"],
            env=dict(env, PYTHONPATH=str(compare_src)),
        )
        markers[OTHER] = other.name
    times: dict[str, list[float]] = {name: [] for name in variants}
    times["charter pipeline, in process"] = []
    governed = pipeline()
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(Client(params, cache=None))
            for name, params in variants.items()
        }
        for _ in range(3):  # warm-up: imports, sessions, the run's first records
            for client in clients.values():
                await sample(client)
            governed()
        before = {name: tree_cpu(marker) for name, marker in markers.items()}
        for _ in range(samples):
            for name, client in clients.items():
                times[name].append(await sample(client))
            times["charter pipeline, in process"].append(governed())
        for name, marker in markers.items():
            used = tree_cpu(marker) - before[name]
            cpu[name] = used / (samples * CALLS) if before[name] >= 0 else None
    return times


def us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="also time the gateway run from this src directory (e.g. a checkout of the "
        "previous version's src/), interleaved with the others",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        shutil.copy(EXAMPLE / "tickets_server.py", tmp / "tickets_server.py")
        cpu: dict[str, float | None] = {}
        times = asyncio.run(measure(tmp, args.samples, cpu, args.compare_src))
    load_after = os.getloadavg()[0]
    direct = times["sdk direct"]
    floor = statistics.median(direct)
    rows: list[dict[str, Any]] = []
    for name, samples in times.items():
        median = statistics.median(samples)
        row: dict[str, Any] = {"variant": name, "median_us": us(median), "p90_us": us(p90(samples))}
        used = cpu.get(name)
        row["server_cpu_us"] = None if used is None else us(used)
        if name.startswith("charter pipeline"):
            row |= {"added_us": None, "added_p90_us": None, "median_minus_direct_us": None}
        else:
            added = [mine - theirs for mine, theirs in zip(samples, direct, strict=True)]
            row |= {
                "added_us": us(statistics.median(added)),
                "added_p90_us": us(p90(added)),
                "median_minus_direct_us": us(median - floor),
            }
        rows.append(row)
    gateway = next(r for r in rows if r["variant"] == "charter gateway")
    met = gateway["added_us"] <= TARGET_US
    result = {
        "benchmark": "mcp_gateway",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": {"before": round(load_before, 1), "after": round(load_after, 1)},
        "calls_per_sample": CALLS,
        "samples": args.samples,
        "journal": "in memory (sqlite://)",
        "added": "per sample: the variant's µs per call minus the direct call's in the same round",
        "server_cpu": "CPU µs per call of the variant's server processes (the one the client "
        "talks to and the ticket server behind it), from /proc",
        "target_added_us": TARGET_US,
        "target_met": met,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "mcp_gateway.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load_before:.1f} before, {load_after:.1f} after")
    print(
        "| variant | median µs/call | p90 µs/call | added µs (median) | added µs (p90) "
        "| server CPU µs/call |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [row[k] for k in ("added_us", "added_p90_us", "server_cpu_us")]
        shown = " | ".join("" if c is None else str(c) for c in cells)
        print(f"| {row['variant']} | {row['median_us']} | {row['p90_us']} | {shown} |")
    verdict = "met" if met else "NOT met"
    print(f"target: the gateway adds <= {TARGET_US:g} µs per call over the direct call: {verdict}")


if __name__ == "__main__":
    main()
