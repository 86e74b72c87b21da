"""Charter against LangGraph, Pydantic AI and the OpenAI Agents SDK, measured in one run.

Every variant runs the same agent: a scripted model that, given the history so far, asks
for ``lookup_order(order_id)`` until it has looked up ``--steps`` orders, then answers;
the tool is the same trivial Python function everywhere. No network, no real model: what
is measured is what each runtime adds around a tool call.

* ``plain loop``: the scripted model and the tool in a bare Python loop (the floor);
* ``charter governed`` (the compared row, the realistic case): ``Runner`` with a charter
  holding a conditional rule on the tool (evaluated on every call), argument validation,
  labels and the hash-chained journal in memory (``Journal("sqlite://")``), the tool a
  plain function under its default timeout (30 s), so each call runs on a tool thread the
  run can stop waiting for; then the same with the tool an ``async def`` under its
  timeout (awaited on the run's own thread) and with the tool declaring no timeout
  (called inline);
* ``charter governed + durable``: the realistic case with the journal on a SQLite file
  (WAL) and a signed checkpoint after each run; on PostgreSQL too when a URL is given;
* ``LangGraph``: a ``StateGraph`` agent loop (model node → tool node → back), the model
  node returning an ``AIMessage`` with ``tool_calls``, the tool node a function calling
  the LangChain tool (its fastest form, the compared row) or the prebuilt ``ToolNode``;
  without a checkpointer, and with ``SqliteSaver`` on a file, once with charter's SQLite
  settings (WAL, ``synchronous=NORMAL``: the same durability, so the compared row) and
  once with SqliteSaver's own (WAL, Python's default ``synchronous=FULL``: an fsync per
  commit);
* ``Pydantic AI``: ``Agent`` on a ``FunctionModel``, ``run_sync``;
* ``OpenAI Agents``: ``Agent`` + ``Runner.run_sync`` on a ``Model`` subclass returning
  ``ResponseFunctionToolCall`` items, tracing disabled.

Step cost: a whole run's time divided by its tool steps (starting and finishing the run
included), rounds interleaved in a new order each round so machine noise, and what one
framework's run leaves behind for the next, hits every variant alike; median and p90.
Throughput: ``throughput.py``'s 1,000 concurrent runs of charter and LangGraph (Pydantic
AI and the OpenAI Agents SDK too with ``--throughput-all``, about two more minutes).

Usage: ``python benchmarks/frameworks.py [--quick] [--postgres-url URL|throwaway]``, in
the environment ``make bench-env`` builds (the frameworks are never charter dependencies);
prints Markdown tables and writes ``benchmarks/results/frameworks.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Framework imports stay inside the functions that build each agent, so that a throughput
# child process loads only the framework it measures and its peak RSS is that framework's.

GOAL = "Look up the orders."
FIRST_ORDER = 1000
GOVERNED_TARGET = 0.10  # charter governed step / LangGraph step
DURABLE_TARGET = 0.05  # charter durable step on SQLite / LangGraph + SqliteSaver step
GOVERNED = "charter governed (in-memory journal)"
"""The compared row: a conditional rule on the tool, the tool under its default timeout."""
DURABLE = "charter governed + durable (SQLite file)"
FRAMEWORKS = (
    "charter",
    "langgraph",
    "langgraph-checkpoint-sqlite",
    "langchain-core",
    "pydantic-ai-slim",
    "openai-agents",
    "SQLAlchemy",
)

RunOnce = Callable[[], str]
"""Runs the agent once and returns its final answer."""


def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order by its numeric id."""
    return {"order_id": order_id, "status": "shipped"}


async def alookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order by its numeric id."""
    return lookup_order(order_id)


def next_order(done: int, steps: int) -> int | None:
    """The scripted model: the next order to look up after ``done`` lookups, or None to
    answer."""
    return FIRST_ORDER + done if done < steps else None


def answer(steps: int) -> str:
    return f"Looked up {steps} orders."


# --- the agents, one builder per framework ----------------------------------------------


def plain_loop(steps: int) -> RunOnce:
    def run() -> str:
        history: list[tuple[dict[str, int], dict[str, Any]]] = []
        while (order := next_order(len(history), steps)) is not None:
            args = {"order_id": order}
            history.append((args, lookup_order(**args)))
        return answer(len(history))

    return run


class ScriptedLookups:
    """Charter reasoner: the scripted model, deciding from the turns so far (stateless,
    so one agent serves concurrent runs without keeping their contexts)."""

    kind = "scripted"

    def __init__(self, steps: int) -> None:
        from charter.reasoners import FinalAnswer, Proposal, ToolCall

        self.steps = steps
        self._done = Proposal(FinalAnswer(answer(steps)), model="scripted")
        self._proposal, self._call = Proposal, ToolCall

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": self.steps}

    def propose(self, context: Any) -> Any:
        order = next_order(len(context.turns), self.steps)
        if order is None:
            return self._done
        return self._proposal(self._call("lookup_order", {"order_id": order}), model="scripted")


CONDITIONAL_RULE = {  # evaluated on every call: no call reaches the threshold
    "id": "huge-order-ids",
    "effect": "deny",
    "tools": ["lookup_order"],
    "when": "context.args.order_id > 100000000",
}


def charter_agent(steps: int, *, tool_kind: str = "inline", realistic: bool = False) -> Any:
    """Charter's agent. ``tool_kind``: ``inline`` (the tool declares no timeout),
    ``thread`` (a plain function under the default 30 s timeout, so on a tool thread) or
    ``async`` (an ``async def`` under the default timeout, awaited on the run's thread);
    ``realistic``: the charter has a conditional rule on the tool, evaluated every call."""
    from charter import Charter, tool
    from charter.testing import make_agent

    if tool_kind == "async":
        governed = tool(alookup_order, name="lookup_order")  # type: ignore[call-overload]
    else:
        timeout = None if tool_kind == "inline" else 30.0
        governed = tool(lookup_order, timeout_s=timeout)  # type: ignore[call-overload]
    rules = [CONDITIONAL_RULE] if realistic else []
    charter = Charter.model_validate(
        {"name": "bench", "budgets": {"max_steps": steps + 1}, "rules": rules}
    )
    return make_agent([governed], ScriptedLookups(steps), charter=charter)


def charter_runner(url: str, key: Path | None) -> Any:
    """A runner on the journal at ``url``; signed checkpoints when ``key`` is given."""
    from charter import Journal, Runner
    from charter.journal import load_or_create_signer

    signer = load_or_create_signer(key) if key is not None else None
    return Runner(Journal(url, signer=signer))


def charter_run(runner: Any, agent: Any) -> RunOnce:
    def run() -> str:
        done = runner.run(agent, GOAL)
        assert done.status == "completed", done
        return str(done.answer)

    return run


def close_charter(runner: Any) -> None:
    """Close the runner and check its journal: every chain intact, checkpoints signed."""
    runner.close()
    report = runner.journal.verify()
    assert report.ok, report
    runner.journal.close()


def langgraph_graph(steps: int, checkpointer: Any = None, *, prebuilt: bool = False) -> Any:
    """The StateGraph agent loop: model node → tool node → back to the model.

    The tool node is a function calling the tool through LangChain (argument validation
    included), or with ``prebuilt`` LangGraph's ``ToolNode``, whose sync path starts a
    thread pool per call. Nodes have sync and async bodies, so ``invoke`` and ``ainvoke``
    each take their direct path.
    """
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import StructuredTool
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    def model(state: MessagesState) -> dict[str, Any]:
        done = sum(1 for message in state["messages"] if isinstance(message, ToolMessage))
        order = next_order(done, steps)
        if order is None:
            return {"messages": [AIMessage(content=answer(done))]}
        call = {"name": "lookup_order", "args": {"order_id": order}, "id": f"call_{done}"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    async def amodel(state: MessagesState) -> dict[str, Any]:
        return model(state)

    lookup = StructuredTool.from_function(func=lookup_order, coroutine=alookup_order)

    def calls(state: MessagesState) -> list[dict[str, Any]]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        return [dict(call) for call in last.tool_calls]

    def observed(call: dict[str, Any], output: Any) -> ToolMessage:
        return ToolMessage(json.dumps(output), tool_call_id=call["id"], name=call["name"])

    def tools(state: MessagesState) -> dict[str, Any]:
        return {"messages": [observed(c, lookup.invoke(c["args"])) for c in calls(state)]}

    async def atools(state: MessagesState) -> dict[str, Any]:
        return {"messages": [observed(c, await lookup.ainvoke(c["args"])) for c in calls(state)]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", RunnableLambda(model, afunc=amodel))
    graph.add_node("tools", ToolNode([lookup]) if prebuilt else RunnableLambda(tools, afunc=atools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)


def langgraph_config(steps: int, durable: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"recursion_limit": 2 * steps + 5}
    if durable:  # a new thread per run, as a new conversation
        config["configurable"] = {"thread_id": uuid.uuid4().hex}
    return config


def langgraph_run(steps: int, checkpointer: Any = None, *, prebuilt: bool = False) -> RunOnce:
    graph = langgraph_graph(steps, checkpointer, prebuilt=prebuilt)

    def run() -> str:
        config = langgraph_config(steps, checkpointer is not None)
        state = graph.invoke({"messages": [("user", GOAL)]}, config)
        return str(state["messages"][-1].content)

    return run


def sqlite_saver(path: Path, *, synchronous: str | None) -> Any:
    """A SqliteSaver on a file; ``synchronous`` overrides Python's default (FULL)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return SqliteSaver(conn)


def pydantic_ai_agent(steps: int) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    # Async model and tool: FunctionModel and tool_plain run sync functions on a worker
    # thread, so async is Pydantic AI's fastest configuration.
    async def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = sum(
            1 for message in messages for part in message.parts if isinstance(part, ToolReturnPart)
        )
        order = next_order(done, steps)
        if order is None:
            return ModelResponse(parts=[TextPart(answer(done))])
        call = ToolCallPart("lookup_order", {"order_id": order}, tool_call_id=f"call_{done}")
        return ModelResponse(parts=[call])

    agent = Agent(FunctionModel(scripted))
    agent.tool_plain(name="lookup_order")(alookup_order)
    return agent


def pydantic_ai_run(steps: int) -> RunOnce:
    agent = pydantic_ai_agent(steps)

    def run() -> str:
        return str(agent.run_sync(GOAL).output)

    return run


def openai_agents_agent(steps: int) -> Any:
    from agents import Agent, function_tool, set_tracing_disabled
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    set_tracing_disabled(True)

    class ScriptedModel(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
            items = args[1] if len(args) > 1 else kwargs["input"]
            done = 0
            if not isinstance(items, str):
                done = sum(1 for item in items if item.get("type") == "function_call_output")
            order = next_order(done, steps)
            if order is None:
                text = ResponseOutputText(type="output_text", text=answer(done), annotations=[])
                message = ResponseOutputMessage(
                    id=f"msg_{done}",
                    type="message",
                    role="assistant",
                    status="completed",
                    content=[text],
                )
                return ModelResponse(output=[message], usage=Usage(), response_id=None)
            call = ResponseFunctionToolCall(
                type="function_call",
                name="lookup_order",
                arguments=json.dumps({"order_id": order}),
                call_id=f"call_{done}",
                id=f"fc_{done}",
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("the benchmark does not stream")

    lookup = function_tool(alookup_order, name_override="lookup_order")
    return Agent(name="bench", instructions="", model=ScriptedModel(), tools=[lookup])


def openai_agents_run(steps: int) -> RunOnce:
    from agents import Runner

    agent = openai_agents_agent(steps)

    def run() -> str:
        return str(Runner.run_sync(agent, GOAL).final_output)

    return run


# --- step cost ---------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_url(given: str | None) -> Iterator[str | None]:
    """An empty PostgreSQL schema for the charter rows (``durability.py``'s helpers), or
    None when no URL was given."""
    if not given:
        yield None
        return
    from durability import PostgresUnavailable, postgres

    try:
        with postgres(None if given == "throwaway" else given) as (url, _source):
            yield url
    except PostgresUnavailable as exc:
        raise SystemExit(f"PostgreSQL unusable: {exc}") from exc


def step_variants(
    steps: int, tmp: Path, pg: str | None, stack: contextlib.ExitStack
) -> dict[str, RunOnce]:
    """Every variant's run-once callable; their resources close with ``stack``."""
    key = tmp / "keys" / "journal.pem"  # as `charter run` does: signed checkpoints
    variants: dict[str, RunOnce] = {"plain loop": plain_loop(steps)}
    # (url, signer key, tool kind): the realistic charter (a conditional rule on the tool)
    # throughout; the tool under its default timeout unless the name says otherwise.
    journals = {
        GOVERNED: ("sqlite://", None, "thread"),
        "charter governed, async tool under its timeout (in-memory)": ("sqlite://", None, "async"),
        "charter governed, tool inline without a timeout (in-memory)": (
            "sqlite://",
            None,
            "inline",
        ),
        DURABLE: (f"sqlite:///{tmp / 'charter.db'}", key, "thread"),
    }
    if pg is not None:
        journals["charter governed + durable (PostgreSQL)"] = (pg, key, "thread")
    for name, (url, signer_key, kind) in journals.items():
        runner = charter_runner(url, signer_key)
        stack.callback(close_charter, runner)
        variants[name] = charter_run(runner, charter_agent(steps, tool_kind=kind, realistic=True))
    variants["LangGraph"] = langgraph_run(steps)
    variants["LangGraph, prebuilt ToolNode"] = langgraph_run(steps, prebuilt=True)
    for name, synchronous, file in (
        ("LangGraph + SqliteSaver (WAL, synchronous=NORMAL)", "NORMAL", "normal.db"),
        ("LangGraph + SqliteSaver (its defaults: synchronous=FULL)", None, "full.db"),
    ):
        saver = sqlite_saver(tmp / file, synchronous=synchronous)
        stack.callback(saver.conn.close)
        variants[name] = langgraph_run(steps, saver)
    variants["Pydantic AI"] = pydantic_ai_run(steps)
    variants["OpenAI Agents"] = openai_agents_run(steps)
    return variants


def step_costs(variants: dict[str, RunOnce], steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per tool step of each variant, ``rounds`` runs each, interleaved."""
    expected = answer(steps)
    for _ in range(max(10, rounds // 10)):  # warm-up: imports, pools, page cache, caches
        for name, run in variants.items():
            assert run() == expected, name
    samples: dict[str, list[float]] = {name: [] for name in variants}
    # A new order each round: what a framework's run leaves behind (threads still
    # exiting, garbage) slows whatever runs next, which must not always be the same row.
    order = list(variants.items())
    shuffle = random.Random(1).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name, run in order:
            started = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - started) / steps)
    return samples


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def _ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 1) if value >= baseline else round(value / baseline, 3)


def summarise_steps(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    figures = {
        name: {
            "median_us": _us(statistics.median(times)),
            "p90_us": _us(statistics.quantiles(times, n=10)[-1]),
        }
        for name, times in samples.items()
    }
    plain = figures["plain loop"]["median_us"]
    for row in figures.values():
        row["ratio_to_plain"] = _ratio(row["median_us"], plain)
    return figures


# Which LangGraph row each charter row is compared with: in-memory with no checkpointer,
# durable with SqliteSaver at the same durability setting (PostgreSQL has no counterpart
# here: LangGraph's PostgresSaver is not installed).
COMPARED = {
    GOVERNED: "LangGraph",
    "charter governed, async tool under its timeout (in-memory)": "LangGraph",
    "charter governed, tool inline without a timeout (in-memory)": "LangGraph",
    DURABLE: "LangGraph + SqliteSaver (WAL, synchronous=NORMAL)",
}
TARGETS = {GOVERNED: GOVERNED_TARGET, DURABLE: DURABLE_TARGET}


def targets(
    figures: dict[str, dict[str, float]], samples: dict[str, list[float]]
) -> list[dict[str, Any]]:
    """Each target: the ratio of medians, and the median of the per-round ratios (both
    runs of a round are seconds apart, so a burst of load elsewhere skews it less)."""
    checked: list[dict[str, Any]] = []
    for variant, target in TARGETS.items():
        against = COMPARED[variant]
        ratio = figures[variant]["median_us"] / figures[against]["median_us"]
        paired = statistics.median(
            ours / theirs for ours, theirs in zip(samples[variant], samples[against], strict=True)
        )
        checked.append(
            {
                "variant": variant,
                "against": against,
                "ratio": round(ratio, 3),
                "paired_ratio_median": round(paired, 3),
                "target": target,
                "met": ratio <= target,
            }
        )
    return checked


# --- report ------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in FRAMEWORKS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit(
                f"{name} is not installed: run this in the benchmark environment "
                "(make bench-env, then .venv-bench/bin/python benchmarks/frameworks.py)"
            ) from None
    return found


def charter_source() -> str | None:
    """The commit charter was measured at, ``-dirty`` when its working tree had edits."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout
    return described.stdout.strip()


def print_tables(result: dict[str, Any]) -> None:
    steps = result["steps_per_run"]
    figures = result["step"]
    print(f"\nPer tool step ({steps} tool steps + an answer per run, {result['rounds']} runs):\n")
    print("| variant | median µs/step | p90 µs/step | x plain | x LangGraph (compared row) |")
    print("|---|---:|---:|---:|---:|")
    for name, row in figures.items():
        against = COMPARED.get(name)
        versus = ""
        if against is not None:
            versus = f"{row['median_us'] / figures[against]['median_us']:.3f} ({against})"
        print(
            f"| {name} | {row['median_us']:,.1f} | {row['p90_us']:,.1f} "
            f"| {row['ratio_to_plain']} | {versus} |"
        )
    print()
    for check in result["targets"]:
        met = "met" if check["met"] else "NOT met"
        print(
            f"- {check['variant']} / {check['against']}: {check['ratio']:.3f} "
            f"(median of per-round ratios {check['paired_ratio_median']:.3f}; "
            f"target ≤ {check['target']}): {met}"
        )
    if "throughput" not in result:
        return
    print(f"\nThroughput ({result['concurrent_runs']:,} concurrent {steps}-step runs):\n")
    print("| variant | concurrency | runs/s | peak RSS MiB |")
    print("|---|---|---:|---:|")
    for name, row in result["throughput"].items():
        how = row["concurrency"]
        if "runs_per_s_by_threads" in row:
            how = "threads " + ", ".join(
                f"{n}: {rate:,}" for n, rate in row["runs_per_s_by_threads"].items()
            )
        mib = row["peak_rss_bytes"] / 2**20
        print(f"| {name} | {how} | {row['runs_per_s']:,} | {mib:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, a smoke test")
    parser.add_argument("--steps", type=int, default=5, help="tool steps per run")
    parser.add_argument("--rounds", type=int, help="runs per variant (default 200, quick 40)")
    parser.add_argument("--concurrent", type=int, help="throughput runs (default 1000, quick 200)")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument(
        "--throughput-all", action="store_true", help="Pydantic AI and OpenAI Agents too"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CHARTER_BENCH_POSTGRES_URL")
        or os.environ.get("CHARTER_TEST_POSTGRES_URL"),
        help="SQLAlchemy URL of a PostgreSQL for the charter durable row, or 'throwaway' to "
        "start one as durability.py does (default: $CHARTER_BENCH_POSTGRES_URL, else "
        "$CHARTER_TEST_POSTGRES_URL; without one the row is left out)",
    )
    args = parser.parse_args()
    rounds = args.rounds or (40 if args.quick else 200)
    concurrent = args.concurrent or (200 if args.quick else 1000)
    load_at_start = [round(load, 2) for load in os.getloadavg()]  # other work skews figures
    result: dict[str, Any] = {
        "benchmark": "frameworks",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load_at_start,
        },
        "versions": versions(),
        "charter_source": charter_source(),
        "steps_per_run": args.steps,
        "rounds": rounds,
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        postgres_url(args.postgres_url) as pg,
        contextlib.ExitStack() as stack,  # closes the runners before the schema is dropped
    ):
        variants = step_variants(args.steps, Path(tmp), pg, stack)
        samples = step_costs(variants, args.steps, rounds)
    result["postgres"] = (
        "left out: no --postgres-url or CHARTER_*_POSTGRES_URL"
        if pg is None
        else "throwaway server"
        if args.postgres_url == "throwaway"
        else "given URL"
    )
    result["step"] = summarise_steps(samples)
    result["targets"] = targets(result["step"], samples)
    if not args.no_throughput:
        result["concurrent_runs"] = concurrent
        from throughput import throughput  # it imports this module's agent builders

        result["throughput"] = throughput(args.steps, concurrent, every=args.throughput_all)

    if not args.quick:  # a smoke run does not overwrite the recorded figures
        out = Path(__file__).parent / "results" / "frameworks.json"
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_tables(result)


if __name__ == "__main__":
    main()
