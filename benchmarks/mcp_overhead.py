"""A governed call to a stdio MCP server through charter vs the same call made directly
with the MCP SDK's client, in the same process and run.

Both talk to one server process each, started from ``examples/mcp/tickets_server.py``,
and call its read tool ``get_ticket`` the same way:

* ``sdk direct``: ``await client.call_tool(...)`` on an open ``mcp.Client`` session (the
  floor: JSON-RPC over the server's stdin/stdout and the server's own work);
* ``charter governed``: a run of the ``rules`` reasoner calling the tool ``STEPS`` times,
  each call validated against the input schema, decided by the charter, journaled to a
  SQLite file (WAL) with a signed checkpoint per run, and sent over charter's session;
  the whole run's time divided by its calls, so starting and finishing the run count.

Samples are interleaved so machine noise hits both alike; the figure to read is the
difference of the medians. Usage: ``python benchmarks/mcp_overhead.py [--runs 40]``;
prints a Markdown table and writes ``benchmarks/results/mcp_overhead.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from charter import Journal, Runner, load_agent
from charter.integrations.mcp import close_all
from charter.journal import load_or_create_signer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mcp"
STEPS = 10


def agent_file(tmp: Path) -> Path:
    """The example's server as an agent file calling ``get_ticket`` STEPS times."""
    shutil.copy(EXAMPLE / "tickets_server.py", tmp / "tickets_server.py")
    server = {
        "server": "tickets",
        "command": sys.executable,
        "args": ["tickets_server.py"],
        "env": {"TICKETS_FILE": str(tmp / "tickets.json")},
        "defaults": {"side_effect": "read"},
        "pin": False,  # the definitions are this checkout's own
    }
    steps: list[dict[str, Any]] = [
        {"id": f"s{i}", "call": "get_ticket", "args": {"ticket_id": 89}} for i in range(STEPS)
    ]
    body = {
        "name": "mcp-bench",
        "toolsets": [{"mcp": server}],
        "reasoner": {"kind": "rules", "steps": [*steps, {"respond": "done"}]},
        "charter": {"name": "bench", "budgets": {"max_steps": STEPS + 1}},
    }
    path = tmp / "bench.agent.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        agent = load_agent(agent_file(tmp))
        signer = load_or_create_signer(tmp / "keys" / "journal.pem")
        journal = Journal(f"sqlite:///{tmp / 'journal.db'}", signer=signer)
        runner = Runner(journal)
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(tmp / "tickets_server.py")],
            env={"TICKETS_FILE": str(tmp / "tickets.json")},
        )
        direct: list[float] = []
        governed: list[float] = []

        async def sdk_calls(client: Client) -> float:
            started = time.perf_counter()
            for _ in range(STEPS):
                result = await client.call_tool("get_ticket", {"ticket_id": 89})
                assert not result.is_error
            return (time.perf_counter() - started) / STEPS

        def charter_run() -> float:
            started = time.perf_counter()
            run = runner.run(agent, "benchmark")
            elapsed = time.perf_counter() - started
            assert run.status == "completed", run.error
            return elapsed / STEPS

        async def measure() -> None:
            async with Client(params, cache=None) as client:
                for _ in range(3):  # warm-up: imports, sessions, page cache
                    await sdk_calls(client)
                    charter_run()
                for _ in range(args.runs):
                    direct.append(await sdk_calls(client))
                    governed.append(charter_run())

        asyncio.run(measure())
        runner.close()
        close_all()
        report = journal.verify()
        assert report.ok, report

    rows: list[dict[str, Any]] = []
    floor = statistics.median(direct)
    for name, samples in (("sdk direct", direct), ("charter governed", governed)):
        median = statistics.median(samples)
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 1),
                "p90_us": round(statistics.quantiles(samples, n=10)[-1] * 1e6, 1),
                "overhead_us": round((median - floor) * 1e6, 1),
            }
        )
    result = {
        "benchmark": "mcp_overhead",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "calls_per_run": STEPS,
        "runs": args.runs,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "mcp_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | median µs/call | p90 µs/call | overhead µs |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['median_us']} | {row['p90_us']} | {row['overhead_us']} |")


if __name__ == "__main__":
    main()
