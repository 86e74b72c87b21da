"""A LangGraph agent's tool calls alone vs governed by charter, measured in one run.

Both variants are the same ``create_react_agent`` over the same LangChain tool, driven by
langchain-core's fake chat model playing ``--steps`` tool calls and an answer (no network,
no real model):

* ``LangGraph alone``: the prebuilt ``ToolNode``;
* ``LangGraph governed``: charter's governed ``ToolNode`` (``charter.integrations.
  langgraph``): each call decided by the charter, its arguments labelled, the decision,
  effect and observation journaled, the call's answer kept for a resume; the run opened at
  the turn's first call and finished by ``governor.invoke``. Journal in memory
  (``sqlite://``) and on a SQLite file (WAL, a signed checkpoint per run);
* the same pair with LangGraph's ``SqliteSaver`` on a file (a durable thread).

Per call: a whole run's time divided by its tool calls (start and finish included);
rounds interleaved, variants rotated, so machine noise hits all alike; the figures to read
are the difference of the medians (µs charter adds per call) and the ratio to LangGraph's
own per-step cost, in wall time and in the process's CPU time (all threads: what the work
costs, less swayed by other processes on a shared machine). Usage: ``python
benchmarks/integration_langgraph.py [--runs 60] [--steps 5]``; prints a Markdown table and
writes ``benchmarks/results/integration_langgraph.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.prebuilt import ToolNode, create_react_agent

from charter import Charter, Journal
from charter.integrations.langgraph import govern
from charter.journal import load_or_create_signer

warnings.filterwarnings("ignore", message=".*create_react_agent.*")

CHARTER = Charter.model_validate(
    {"name": "bench", "contracts": {"lookup_order": {}}, "budgets": {"max_steps": 1000}}
)


@tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id, "total": 42.0}


class ScriptedModel(FakeMessagesListChatModel):
    """The fake chat model (it cycles through its responses run after run)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def script(steps: int) -> list[BaseMessage]:
    calls: list[BaseMessage] = [
        AIMessage(
            content="",
            tool_calls=[{"name": "lookup_order", "args": {"order_id": 1000 + i}, "id": f"c{i}"}],
            usage_metadata={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110},
        )
        for i in range(steps)
    ]
    return [*calls, AIMessage(content="done")]


RunOnce = Callable[[], None]


def alone(steps: int, saver: Any = None) -> RunOnce:
    graph = create_react_agent(
        ScriptedModel(responses=script(steps)), ToolNode([lookup_order]), checkpointer=saver
    )

    def run() -> None:
        config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
        graph.invoke({"messages": [("user", "look up the orders")]}, config)

    return run


def governed(steps: int, journal: Journal, saver: Any = None) -> RunOnce:
    governor = govern([lookup_order], journal=journal, charter=CHARTER, name="bench")
    graph = create_react_agent(
        ScriptedModel(responses=script(steps)), governor.tool_node, checkpointer=saver
    )

    def run() -> None:
        config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
        governor.invoke(graph, {"messages": [("user", "look up the orders")]}, config)

    return run


def saver_at(path: Path) -> Any:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        signer = load_or_create_signer(tmp / "keys" / "journal.pem")
        file_journal = Journal(f"sqlite:///{tmp / 'journal.db'}", signer=signer)
        variants: dict[str, RunOnce] = {
            "LangGraph alone": alone(args.steps),
            "LangGraph governed, journal in memory": governed(args.steps, Journal("sqlite://")),
            "LangGraph governed, journal on a SQLite file": governed(args.steps, file_journal),
            "LangGraph + SqliteSaver alone": alone(args.steps, saver_at(tmp / "a.db")),
            "LangGraph + SqliteSaver governed, journal on a SQLite file": governed(
                args.steps, file_journal, saver_at(tmp / "b.db")
            ),
        }
        names = list(variants)
        for run in variants.values():  # warm up: imports, caches, the tables
            run()
        samples: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(args.runs):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start, start_cpu = time.perf_counter(), time.process_time()
                variants[name]()
                samples[name].append((time.perf_counter() - start) / args.steps * 1e6)
                cpu[name].append((time.process_time() - start_cpu) / args.steps * 1e6)
    median = {name: statistics.median(values) for name, values in samples.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    pairs = {
        "LangGraph governed, journal in memory": "LangGraph alone",
        "LangGraph governed, journal on a SQLite file": "LangGraph alone",
        "LangGraph + SqliteSaver governed, journal on a SQLite file": (
            "LangGraph + SqliteSaver alone"
        ),
    }
    rows: list[dict[str, Any]] = []
    print("| variant | median µs/call | added | ratio | CPU µs/call | added CPU | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        base = pairs.get(name)
        row: dict[str, Any] = {
            "variant": name,
            "median_us": round(median[name], 1),
            "median_cpu_us": round(median_cpu[name], 1),
            "baseline": base,
        }
        cells = [f"{median[name]:,.0f}", "", "1", f"{median_cpu[name]:,.0f}", "", "1"]
        if base:
            row |= {
                "added_us": round(median[name] - median[base], 1),
                "ratio": round(median[name] / median[base], 3),
                "added_cpu_us": round(median_cpu[name] - median_cpu[base], 1),
                "cpu_ratio": round(median_cpu[name] / median_cpu[base], 3),
            }
            cells[1:3] = [f"{row['added_us']:,.0f}", f"{row['ratio']:.3f}"]
            cells[4:6] = [f"{row['added_cpu_us']:,.0f}", f"{row['cpu_ratio']:.3f}"]
        rows.append(row)
        print(f"| {name} | " + " | ".join(cells) + " |")
    memory = next(r for r in rows if r["variant"] == "LangGraph governed, journal in memory")
    print(
        f"\ntargets: ≤ 300 µs added per governed call in memory: {memory['added_us']:.0f} µs "
        f"({'met' if memory['added_us'] <= 300 else 'not met'}); ≤ 15% of LangGraph's own "
        f"per-step cost: {(memory['ratio'] - 1) * 100:.1f}% "
        f"({'met' if memory['ratio'] <= 1.15 else 'not met'}); in CPU time "
        f"{memory['added_cpu_us']:.0f} µs, {(memory['cpu_ratio'] - 1) * 100:.1f}%"
    )
    result = {
        "benchmark": "integration_langgraph",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "langgraph": importlib.metadata.version("langgraph"),
        "langchain_core": importlib.metadata.version("langchain-core"),
        "load_average": list(os.getloadavg()),
        "runs": args.runs,
        "steps": args.steps,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "integration_langgraph.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
