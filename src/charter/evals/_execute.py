"""Running a suite: each case in its own world and journal, in parallel, judged by its checks.

A case's run journals into a private in-memory journal (evals never touch production's
records, budgets or rate limits) in which the agent version is set ``autonomous``: an eval
measures what the charter itself decides, whatever phase the version is in. A failing case
never stops the suite; an error inside one (a world that cannot be set up, a reasoner that
crashes) is that case's result.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from charter._yaml import read_yaml_mapping
from charter.agent import Agent, load_agent
from charter.errors import ConfigError
from charter.evals._results import CaseResult, EvalResult
from charter.evals._suite import (
    AnswerCheck,
    Attack,
    Case,
    Expect,
    Injection,
    JournalCheck,
    ScriptStep,
    Suite,
    WorldCheck,
    cases,
    check_tools,
    world_factory,
)
from charter.journal import Journal, Record
from charter.journal._kinds import RunFinished, StepDecided, payload_as
from charter.journal._outcome import run_outcome
from charter.reasoners import Action
from charter.runtime import Controls, Runner
from charter.runtime._runner import new_run_id
from charter.testing import ScriptedReasoner, call, respond
from charter.tools import Inventory, Tool
from charter.tools._tool import IDEMPOTENCY_PARAM

ReasonerMode = Literal["agent", "script"]
"""``agent``: the agent file's own reasoner; ``script``: each case's ``script`` (what a
reasoner would propose), which evaluates the charter and tools alone."""

ApproverPolicy = Literal["none", "approve", "deny"]
"""Who answers a case's approval requests: ``none`` leaves the run waiting (the case is
judged as it stands), ``approve`` grants and ``deny`` refuses every request with a real
receipt, resuming the run each time until it finishes."""

EVAL_APPROVER = "charter:eval-approver"
"""The identity an eval's approver policy signs receipts as (never the run's starter)."""

_MAX_APPROVALS = 50
"""Requests answered per case before it is judged as it stands (a run that keeps asking)."""

Progress = Callable[[CaseResult], None]


def run_suite(
    suite: Suite,
    agent_file: Path | str,
    *,
    suite_source: str,
    reasoner: ReasonerMode = "agent",
    jobs: int = 2,
    only: str | None = None,
    progress: Progress | None = None,
    approver: ApproverPolicy = "none",
) -> EvalResult:
    """Run every case of ``suite`` (or those whose name matches the regex ``only``).

    ``approver`` answers the charter's approval requests (see :data:`ApproverPolicy`).

    Raises:
        ConfigError: the agent file is invalid, or the suite names a tool it lacks, or
            ``script`` mode is asked for and a case has no script (all before any run).
    """
    agent_file = Path(agent_file)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="charter-eval-") as scratch:
        if approver not in ("none", "approve", "deny"):
            raise ConfigError(f"approver must be none, approve or deny, not {approver!r}")
        work = _Work(suite, agent_file, Path(scratch), reasoner, approver)
        agent = work.probe()  # fails fast on a bad agent file, in a scratch world
        check_tools(suite, agent.inventory.names(), suite_source)
        selected = [c for c in cases(suite) if only is None or re.search(only, c.name)]
        if not selected:
            raise ConfigError(f"{suite_source}: no case matches {only!r}")
        if reasoner == "script":
            missing = [c.name for c in selected if c.script is None]
            if missing:
                raise ConfigError(
                    f"{suite_source}: --reasoner script needs a script for every case; "
                    f"missing: {', '.join(missing)}"
                )
        with ThreadPoolExecutor(
            max_workers=max(1, jobs), thread_name_prefix="charter-eval"
        ) as pool:
            futures = [pool.submit(work.run, index, case) for index, case in enumerate(selected)]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                if progress is not None:
                    progress(result)
    order = {case.name: index for index, case in enumerate(selected)}
    results.sort(key=lambda r: order[r.name])
    return EvalResult(
        eval_id=f"eval-{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        suite=suite.suite,
        suite_digest=suite.digest,
        agent=agent.name,
        agent_version=agent.version,
        version_id=agent.version_id,
        agent_source=str(agent_file.resolve()),
        reasoner=reasoner,
        started=started.isoformat(),
        seconds=round(time.perf_counter() - clock, 3),
        cases=tuple(results),
        approver=approver,
    )


@dataclass(frozen=True, slots=True)
class _Work:
    suite: Suite
    agent_file: Path
    scratch: Path
    mode: ReasonerMode
    approver: ApproverPolicy = "none"

    def probe(self) -> Agent:
        """The agent bound to a scratch world of its own, to check it before any case."""
        world = self.scratch / "probe-world.db"
        world_factory(self.suite.world, self.suite.suite)(world)
        return self._agent(world)

    def run(self, index: int, case: Case) -> CaseResult:
        started = time.perf_counter()
        world = self.scratch / f"{index:04d}-world.db"
        try:
            return self._run(case, world, started)
        except Exception as exc:  # one broken case never stops the suite
            return CaseResult.errored(case, f"{type(exc).__name__}: {exc}", _since(started))

    def _run(self, case: Case, world: Path, started: float) -> CaseResult:
        world_factory(self.suite.world, self.suite.suite)(world)
        if case.setup:
            with sqlite3.connect(world) as db:
                for statement in case.setup:
                    db.execute(statement)
        agent = self._agent(world)
        if self.mode == "script":
            assert case.script is not None  # checked before the suite started
            agent.reasoner = ScriptedReasoner([_scripted(step) for step in case.script])
        if case.inject:
            agent.inventory = _injected(agent.inventory, case.inject)
        journal = Journal("sqlite://")
        Controls(journal).set_phase(
            agent.name,
            agent.version_id,
            "autonomous",
            actor="charter:eval",
            reason="evals judge what the charter itself decides",
        )
        runner = Runner(journal)
        run_id = new_run_id()
        try:
            run = runner.run(agent, case.scenario.goal, actor="charter:eval", run_id=run_id)
            answered = 0
            while run.status == "waiting" and self.approver != "none":
                if answered == _MAX_APPROVALS or run.waiting_for is None:
                    break
                if self.approver == "approve":
                    runner.approvals.approve(run.waiting_for, EVAL_APPROVER, "eval approves all")
                else:
                    runner.approvals.deny(run.waiting_for, EVAL_APPROVER, "eval denies all")
                answered += 1
                run = runner.resume(agent, run_id, actor="charter:eval")
            status, answer, error = run.status, run.answer, run.error
        except Exception as exc:  # the run may have acted before it crashed: judge it
            status, answer, error = "failed", None, f"{type(exc).__name__}: {exc}"
        finally:
            runner.close()
        records = list(journal.records(run_id))
        # What the run achieved, from its records: a run that crashed has a run.finished
        # (failed) if the journal took it; "completed" alone would pass a run whose calls
        # were all refused.
        outcome = run_outcome(records) if records else None
        with sqlite3.connect(f"file:{world}?mode=ro", uri=True) as db:
            failures = _failures(case.expect, db, records, status, answer, outcome)
            evidence = _attack_evidence(case.attack, db, records, answer)
        decided = [payload_as(StepDecided, r.payload) for r in records if r.kind == "step.decided"]
        finished = next(
            (payload_as(RunFinished, r.payload) for r in records if r.kind == "run.finished"), None
        )
        return CaseResult(
            name=case.name,
            scenario=case.scenario.name,
            variant=case.variant.name if case.variant else None,
            passed=None if case.expect.empty else not failures,
            attack_succeeded=None if case.attack is None else bool(evidence),
            status=status,
            outcome=outcome,
            steps=sum(1 for r in records if r.kind == "step.proposed"),
            cost_usd=round(float(finished.get("cost_usd") or 0) if finished else 0.0, 8),
            tokens=int(finished.get("tokens") or 0) if finished else 0,
            denials=sum(1 for d in decided if d["verdict"] == "deny"),
            # Requests, not "ask" decisions: a resumed run decides the asked call again.
            approvals=sum(1 for r in records if r.kind == "approval.requested"),
            simulated=sum(1 for r in records if r.payload.get("status") == "simulated"),
            seconds=_since(started),
            failures=tuple(failures),
            attack_evidence=tuple(evidence),
            answer=answer,
            error=error if status == "failed" else None,
        )

    def _agent(self, world: Path) -> Agent:
        """The agent with every toolset bound to this case's world."""
        spec = read_yaml_mapping(self.agent_file)
        option = self.suite.world.option
        toolsets: list[dict[str, Any]] = []
        for item in cast(list[Any], spec.get("toolsets") or []):
            entry = cast(dict[str, Any], item) if isinstance(item, dict) else {"ref": item}
            options = entry.get("options")
            merged = cast(dict[str, Any], options) if isinstance(options, dict) else {}
            toolsets.append(entry | {"options": merged | {option: str(world)}})
        return load_agent(self.agent_file, overrides={"toolsets": toolsets})


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _scripted(step: ScriptStep) -> Action:
    if step.call is not None:
        return call(step.call, **step.args)
    return respond(step.respond or "")


# --- injection into tool outputs ----------------------------------------------------------------


def _injected(inventory: Inventory, injections: list[Injection]) -> Inventory:
    by_tool: dict[str, list[Injection]] = {}
    for injection in injections:
        by_tool.setdefault(injection.tool, []).append(injection)
    return Inventory(
        _inject_into(item, by_tool[item.name]) if item.name in by_tool else item
        for item in inventory
    )


def _inject_into(original: Tool, injections: list[Injection]) -> Tool:
    """``original`` whose JSON result carries ``injections``, as if its source held them."""

    def fn(**kwargs: Any) -> Any:
        key = cast(str | None, kwargs.pop(IDEMPOTENCY_PARAM, None))
        result = original.invoke(original.args_model.model_validate(kwargs), key)
        for injection in injections:
            result = plant(result, injection)
        return result

    return replace(original, fn=fn, result_adapter=None)


def plant(result: Any, injection: Injection) -> Any:
    """``result`` with ``injection``'s text planted at its ``field`` (or every string).

    Raises:
        ConfigError: ``field`` names nothing in this result.
    """
    if injection.field is None:
        return _every_string(result, injection)
    planted, hit = _at_path(result, injection.field.split("."), injection)
    if not hit:
        raise ConfigError(
            f"injection into {injection.tool}: field {injection.field!r} is not in its result"
        )
    return planted


def _apply(text: str, injection: Injection) -> str:
    if injection.mode == "replace":
        return injection.text
    if injection.mode == "prepend":
        return f"{injection.text}\n{text}"
    return f"{text}\n{injection.text}"


def _every_string(value: Any, injection: Injection) -> Any:
    if isinstance(value, str):
        return _apply(value, injection)
    if isinstance(value, dict):
        return {k: _every_string(v, injection) for k, v in cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [_every_string(v, injection) for v in cast(list[Any], value)]
    return value


def _at_path(value: object, path: list[str], injection: Injection) -> tuple[Any, bool]:
    if not path:
        if isinstance(value, str):
            return _apply(value, injection), True
        return value, False
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(value, list):
        pairs = [_at_path(v, rest, injection) for v in cast(list[Any], value)]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    mapping = cast(dict[str, Any], value) if isinstance(value, dict) else None
    if mapping is not None and head in mapping:
        inner, hit = _at_path(mapping[head], rest, injection)
        return {**mapping, head: inner}, hit
    return cast(Any, value), False


# --- checks ---------------------------------------------------------------------------------------


def _failures(
    expect: Expect,
    db: sqlite3.Connection,
    records: list[Record],
    status: str,
    answer: str | None,
    outcome: str | None = None,
) -> list[str]:
    failures: list[str] = []
    if expect.status is not None and status != expect.status:
        failures.append(f"status is {status}, expected {expect.status}")
    if expect.outcome is not None and outcome != expect.outcome:
        failures.append(f"outcome is {outcome or 'none (unfinished)'}, expected {expect.outcome}")
    failures += [m for c in expect.world if (m := _world_failure(c, db)) is not None]
    failures += [m for c in expect.journal if (m := _journal_failure(c, records)) is not None]
    if expect.answer is not None:
        failures += _answer_failures(expect.answer, answer)
    return failures


def _attack_evidence(
    attack: Attack | None, db: sqlite3.Connection, records: list[Record], answer: str | None
) -> list[str]:
    if attack is None:
        return []
    held = [c.describe() for c in attack.world if _world_failure(c, db) is None]
    held += [c.describe() for c in attack.journal if _journal_failure(c, records) is None]
    if attack.answer is not None and not _answer_failures(attack.answer, answer):
        held.append(f"answer {attack.answer.model_dump(exclude_defaults=True)}")
    return held


def _world_failure(check: WorldCheck, db: sqlite3.Connection) -> str | None:
    row = db.execute(check.sql).fetchone()
    if check.empty is not None:
        if (row is None) == check.empty:
            return None
        return f"{check.describe()}: it returned {'no rows' if row is None else 'rows'}"
    value = None if row is None else row[0]
    ok = True
    if "equals" in check.model_fields_set:
        ok = value == check.equals
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if check.at_least is not None:
        ok = ok and number is not None and number >= check.at_least
    if check.at_most is not None:
        ok = ok and number is not None and number <= check.at_most
    return None if ok else f"{check.describe()}: got {value!r}"


def _journal_failure(check: JournalCheck, records: list[Record]) -> str | None:
    found = sum(
        1
        for r in records
        if r.kind == check.record and all(r.payload.get(k) == v for k, v in check.where.items())
    )
    return None if check.holds(found) else f"{check.describe()}: found {found}"


def _answer_failures(check: AnswerCheck, answer: str | None) -> list[str]:
    text = (answer or "").lower()
    failures = [f"answer lacks {c!r}" for c in check.contains if c.lower() not in text]
    failures += [f"answer contains {c!r}" for c in check.not_contains if c.lower() in text]
    if check.matches is not None and re.search(check.matches, answer or "") is None:
        failures.append(f"answer does not match {check.matches!r}")
    return failures
