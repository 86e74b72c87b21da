"""A Google ADK agent's tool calls governed by charter vs the same agent alone, same run.

One ``LlmAgent`` with a trivial tool, driven through ADK's real ``Runner.run_async`` by a
scripted ``BaseLlm`` (no network): each run is a user message, ``STEPS`` tool calls and a
final answer, on a fresh in-memory ADK session. Variants, interleaved round by round so
machine noise hits them alike:

* ``adk alone``: the Runner without plugins (the framework's own per-step cost);
* ``adk + a plugin doing nothing``: a ``BasePlugin`` with ADK's no-op callbacks (what any
  plugin costs ADK to call, charter's or not);
* ``adk + charter (memory)``: with charter's plugin, journal ``sqlite://``;
* ``adk + charter (SQLite file)``: with charter's plugin, journal on a SQLite file (WAL).

A governed run opens a charter run on its first model answer and finishes it at the end
of the invocation, so those count too: the whole run's time is divided by its tool calls.
The figures to read are the added µs per call (median of per-round differences), that
difference as a share of ADK's own per-step cost, and the time spent inside charter's
callbacks per call (measured directly, so less exposed to the machine's noise).
Targets: ≤ 300 µs added in memory, ≤ 15% of ADK's step. Usage:
``python benchmarks/integration_adk.py [--rounds 60] [--clock cpu]``; prints a Markdown
table and writes ``benchmarks/results/integration_adk[_cpu].json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types

from charter import Charter, Journal
from charter.integrations.adk import CharterPlugin, ScriptedLlm, ScriptTurn, charter_agent

STEPS = 5
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
CLOCK = [time.perf_counter]
"""What is measured: wall time, or this thread's CPU time (``--clock cpu``: on a shared
machine, other processes' load then does not count)."""
APP, USER = "bench", "u"
CHARTER = Charter.model_validate({"name": "adk-bench", "contracts": {"lookup": {}}})


def lookup(key: int) -> dict[str, Any]:
    """A trivial read."""
    return {"key": key, "value": key * 2}


class TimedPlugin(CharterPlugin):
    """charter's plugin, adding up the time spent in its callbacks (charter's own work)."""

    spent = 0.0

    async def after_model_callback(self, **kwargs: Any) -> Any:
        started = CLOCK[0]()
        try:
            return await super().after_model_callback(**kwargs)
        finally:
            TimedPlugin.spent += CLOCK[0]() - started

    async def before_tool_callback(self, **kwargs: Any) -> Any:
        started = CLOCK[0]()
        try:
            return await super().before_tool_callback(**kwargs)
        finally:
            TimedPlugin.spent += CLOCK[0]() - started

    async def after_tool_callback(self, **kwargs: Any) -> Any:
        started = CLOCK[0]()
        try:
            return await super().after_tool_callback(**kwargs)
        finally:
            TimedPlugin.spent += CLOCK[0]() - started

    async def after_run_callback(self, **kwargs: Any) -> None:
        started = CLOCK[0]()
        try:
            await super().after_run_callback(**kwargs)
        finally:
            TimedPlugin.spent += CLOCK[0]() - started


class NoopPlugin(BasePlugin):
    """A plugin with ADK's default callbacks only: ADK's cost of calling any plugin."""


def runner(journal: Journal | None, *, noop: bool = False) -> Runner:
    script: list[ScriptTurn] = [("lookup", {"key": i}) for i in range(STEPS)]
    agent = LlmAgent(
        name="bench",
        model=ScriptedLlm(script=[*script, "done"], keep_requests=False),
        instruction="Look keys up.",
        tools=[lookup],
    )
    plugins: list[BasePlugin] = [NoopPlugin("noop")] if noop else []
    if journal is not None:
        plugins.append(TimedPlugin(journal, charter_agent(agent, CHARTER)))
    app = App(name=APP, root_agent=agent, plugins=plugins)
    return Runner(app=app, session_service=InMemorySessionService())


async def one_run(target: Runner) -> tuple[float, float]:
    """Seconds per tool call of one run (session creation excluded), and of those the
    seconds spent in charter's callbacks."""
    session = await target.session_service.create_session(app_name=APP, user_id=USER)
    message = types.Content(role="user", parts=[types.Part(text="look keys up")])
    TimedPlugin.spent = 0.0
    started = CLOCK[0]()
    calls = 0
    async for event in target.run_async(user_id=USER, session_id=session.id, new_message=message):
        calls += len(event.get_function_responses())
    elapsed = CLOCK[0]() - started
    assert calls == STEPS, calls
    return elapsed / STEPS, TimedPlugin.spent / STEPS


async def measure(
    rounds: int, per_round: int, tmp: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    variants = {
        "adk alone": runner(None),
        "adk + a plugin doing nothing": runner(None, noop=True),
        "adk + charter (memory)": runner(Journal("sqlite://")),
        "adk + charter (SQLite file)": runner(Journal(f"sqlite:///{tmp / 'bench.db'}")),
    }
    for target in variants.values():  # warm-up: imports, caches, the journal's schema
        for _ in range(3):
            await one_run(target)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    inside: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, target in variants.items():
            runs = [await one_run(target) for _ in range(per_round)]
            samples[name].append(statistics.median(r[0] for r in runs) * 1e6)
            inside[name].append(statistics.median(r[1] for r in runs) * 1e6)
    return samples, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    options = parser.parse_args()
    CLOCK[0] = CLOCKS[options.clock]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        samples, inside = asyncio.run(measure(options.rounds, options.per_round, Path(tmp)))
    base = samples["adk alone"]
    rows: list[dict[str, Any]] = []
    for name, values in samples.items():
        added = [v - b for v, b in zip(values, base, strict=True)]
        rows.append(
            {
                "variant": name,
                "median_us_per_call": round(statistics.median(values), 1),
                "added_us_per_call": round(statistics.median(added), 1),
                "in_charter_us_per_call": round(statistics.median(inside[name]), 1),
                "added_share_of_adk_step": round(
                    statistics.median(a / b for a, b in zip(added, base, strict=True)), 3
                ),
            }
        )
    memory = rows[2]
    result = {
        "benchmark": "integration_adk",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "google_adk": metadata.version("google-adk"),
        "steps_per_run": STEPS,
        "clock": options.clock,
        "rounds": options.rounds,
        "runs_per_round": options.per_round,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
        "targets": {
            "added_us_in_memory_max": 300,
            "added_share_max": 0.15,
            "added_us_met": memory["added_us_per_call"] <= 300,
            "added_share_met": memory["added_share_of_adk_step"] <= 0.15,
        },
    }
    suffix = "" if options.clock == "wall" else f"_{options.clock}"
    out = Path(__file__).parent / "results" / f"integration_adk{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| variant | median µs/call | added µs/call | in charter µs/call | added / ADK step |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_us_per_call']:,.0f} | "
            f"{row['added_us_per_call']:,.0f} | {row['in_charter_us_per_call']:,.0f} | "
            f"{row['added_share_of_adk_step']:.1%} |"
        )
    print(json.dumps(result["targets"]))


if __name__ == "__main__":
    main()
