"""What ``charter mcp serve`` adds to one ``tools/call``: an MCP client calling the example
ticket server through the gateway vs calling the same server directly, in the same client
process, over stdio.

Three client sessions stay open for the whole benchmark, each with its own server process
started from ``examples/mcp/tickets_server.py``:

* ``sdk direct``: the client talks to the ticket server (the floor);
* ``sdk proxy``: the client talks to a plain forwarding MCP server written with the SDK's
  low-level ``Server``, which calls the ticket server with its own client session: the
  price of a second stdio hop, with no governance;
* ``charter gateway``: the client talks to ``charter mcp serve`` (journal in memory,
  ``CHARTER_DATABASE_URL=sqlite://``), which governs each call in the session's one run
  (arguments checked, labelled, decided, journaled, the effect and observation journaled)
  and calls the ticket server with its session.

Each sample is ``CALLS`` calls of the read tool ``get_ticket``; samples are interleaved so
machine noise hits all three alike; the figures to read are the differences of medians:
gateway - direct (what a client pays), and gateway - proxy (charter's share of it). The
same loop also times charter's governed-call pipeline alone, in this process (a declared
tool, ``GovernedRun.govern`` then ``record``, journal in memory): the part of the gateway's
time that is charter's own work rather than transport.
Usage: ``python benchmarks/mcp_gateway.py [--samples 30]``; prints a Markdown table and
writes ``benchmarks/results/mcp_gateway.json``.
"""

from __future__ import annotations

import argparse
import asyncio
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


def agent_file(tmp: Path) -> Path:
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
    path = tmp / "bench.agent.yaml"
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


async def measure(tmp: Path, samples: int) -> dict[str, list[float]]:
    server = tmp / "tickets_server.py"
    tickets = str(tmp / "tickets.json")
    (tmp / "proxy.py").write_text(PROXY)
    env = dict(os.environ, CHARTER_HOME=str(tmp / "home"), CHARTER_DATABASE_URL="sqlite://")
    variants = {
        "sdk direct": StdioServerParameters(
            command=sys.executable, args=[str(server)], env={"TICKETS_FILE": tickets}
        ),
        "sdk proxy": StdioServerParameters(
            command=sys.executable, args=[str(tmp / "proxy.py"), str(server), tickets], env=env
        ),
        "charter gateway": StdioServerParameters(
            command=sys.executable,
            args=["-m", "charter", "mcp", "serve", str(agent_file(tmp)), "--as", "bench"],
            env=env,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    times["charter pipeline, in process"] = []
    governed = pipeline()
    async with (
        Client(variants["sdk direct"], cache=None) as direct,
        Client(variants["sdk proxy"], cache=None) as proxy,
        Client(variants["charter gateway"], cache=None) as gateway,
    ):
        clients = {"sdk direct": direct, "sdk proxy": proxy, "charter gateway": gateway}
        for _ in range(3):  # warm-up: imports, sessions, the run's first records
            for client in clients.values():
                await sample(client)
            governed()
        for _ in range(samples):
            for name, client in clients.items():
                times[name].append(await sample(client))
            times["charter pipeline, in process"].append(governed())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        shutil.copy(EXAMPLE / "tickets_server.py", tmp / "tickets_server.py")
        times = asyncio.run(measure(tmp, args.samples))
    floor = statistics.median(times["sdk direct"])
    hop = statistics.median(times["sdk proxy"])
    rows: list[dict[str, Any]] = []
    for name, samples in times.items():
        median = statistics.median(samples)
        if name.startswith("charter pipeline"):
            rows.append(
                {
                    "variant": name,
                    "median_us": round(median * 1e6, 1),
                    "p90_us": round(statistics.quantiles(samples, n=10)[-1] * 1e6, 1),
                    "added_vs_direct_us": None,
                    "added_vs_proxy_us": None,
                }
            )
            continue
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 1),
                "p90_us": round(statistics.quantiles(samples, n=10)[-1] * 1e6, 1),
                "added_vs_direct_us": round((median - floor) * 1e6, 1),
                "added_vs_proxy_us": round((median - hop) * 1e6, 1),
            }
        )
    result = {
        "benchmark": "mcp_gateway",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}",
        "calls_per_sample": CALLS,
        "samples": args.samples,
        "journal": "in memory (sqlite://)",
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "mcp_gateway.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | median µs/call | p90 µs/call | added vs direct µs | added vs proxy µs |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        direct, proxy = row["added_vs_direct_us"], row["added_vs_proxy_us"]
        print(
            f"| {row['variant']} | {row['median_us']} | {row['p90_us']} | "
            f"{'' if direct is None else direct} | {'' if proxy is None else proxy} |"
        )


if __name__ == "__main__":
    main()
