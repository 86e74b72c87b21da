"""The effect ledger: each write's idempotency key, and the writes whose effect is unknown.

A call's idempotency key is ``run:step:attempt``. ``step`` is the step that first made
this exact call (tool and canonical arguments) in the run, and ``attempt`` counts the
times it took effect before, plus one. So a retry of a call that timed out, failed or was
interrupted carries the key of the call it retries (a tool that honours keys does it
once), while a deliberate repeat of a call that completed (one the charter's repeat rule
let through, or an approver allowed) is a new attempt with a new key.

A write that timed out is *in doubt*: it may have happened. Until it is resolved, by the
late result of the call itself (journaled as ``effect.resolved`` when it arrives), by an
operator (``charter runs resolve``), or by a retry under the same key of a tool that
recognises retries, any further call of that tool on the same target is denied (rule
``effect.in_doubt``). The target is the contract's ``targets`` arguments, or all of the
arguments when it names none.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.errors import JournalError, RunStateError
from charter.journal import Journal, Record, canonical_json
from charter.journal._kinds import (
    CallOutcome,
    EffectResolved,
    StepEffect,
    StepProposed,
    payload_as,
)
from charter.journal._lease import Lease
from charter.policy import Decision
from charter.reasoners._base import Observation
from charter.tools import Tool, ToolArgumentsError, ToolOutcomeUnknownError
from charter.tools._deadline import ToolThreads, call_within

Outcome = Literal["happened", "did_not_happen"]
IN_DOUBT_RULE = "effect.in_doubt"
"""The rule id of a call denied because an earlier write on its target is in doubt."""
RESOLVED = "effect.resolved"
"""The record kind that settles an in-doubt write: its late result, or an operator's word."""


def call_identity(tool: Tool, args: dict[str, Any]) -> str:
    """The canonical identity of a call: its tool and validated arguments."""
    return canonical_json([tool.name, args])


def target_of(tool: Tool, args: dict[str, Any]) -> str:
    """What a call acts on: the tool and its ``targets`` arguments (all of them if none)."""
    targets = tool.contract.targets
    chosen = {name: args.get(name) for name in targets} if targets else args
    return canonical_json([tool.name, chosen])


@dataclass(frozen=True, slots=True)
class Doubt:
    """A write whose effect is unknown."""

    step: int
    tool: str
    target: str
    """:func:`target_of` the call."""
    call: str
    """:func:`call_identity` of the call."""
    key: str
    """Its idempotency key."""


@dataclass(slots=True)
class EffectLedger:
    """The idempotency keys and in-doubt writes of one run."""

    first_step: dict[str, int] = field(default_factory=lambda: dict[str, int]())
    """The step that first made each call."""
    done: Counter[str] = field(default_factory=lambda: Counter[str]())
    """How many times each call took effect."""
    doubts: dict[int, Doubt] = field(default_factory=lambda: dict[int, Doubt]())
    """Unresolved in-doubt writes, by step."""

    def key(self, run_id: str, step: int, call: str) -> str:
        """The idempotency key of ``call`` made at ``step`` (see the module docstring)."""
        first = self.first_step.setdefault(call, step)
        return f"{run_id}:{first}:{self.done.get(call, 0) + 1}"

    def took_effect(self, call: str) -> None:
        """Count one completed execution of ``call``."""
        self.done[call] += 1

    def in_doubt(self, doubt: Doubt) -> None:
        """Hold ``doubt`` open until it is resolved."""
        self.doubts[doubt.step] = doubt

    def blocking(self, target: str) -> Doubt | None:
        """The oldest open doubt on ``target``, if any."""
        return next((d for _, d in sorted(self.doubts.items()) if d.target == target), None)

    def resolve(self, step: int, outcome: Outcome) -> Doubt | None:
        """Close the doubt of ``step`` (counting the call if it happened); return it."""
        doubt = self.doubts.pop(step, None)
        if doubt is not None and outcome == "happened":
            self.done[doubt.call] += 1
        return doubt

    def settle(
        self, step: int, tool: Tool, args: dict[str, Any], effect: CallOutcome
    ) -> Doubt | None:
        """Count a write that took effect, or hold one that timed out in doubt. A write
        that completed under the key of a call in doubt was a retry of it, done once:
        that doubt is resolved as happened and returned (for the caller to journal)."""
        if "idempotency_key" not in effect:
            raise KeyError("idempotency_key")  # a write's effect carries its key
        identity, key = call_identity(tool, args), str(effect["idempotency_key"])
        if effect.get("in_doubt"):
            self.in_doubt(Doubt(step, tool.name, target_of(tool, args), identity, key))
            return None
        if effect["status"] != "ok":
            return None
        retried = next((d for d in self.doubts.values() if d.key == key), None)
        if retried is None:
            self.took_effect(identity)
            return None
        return self.resolve(retried.step, "happened")

    def apply_resolutions(self, records: Iterable[Record]) -> list[Doubt]:
        """Close the doubts that ``effect.resolved`` records among ``records`` settle;
        return the ones that happened."""
        happened: list[Doubt] = []
        for record in records:
            if record.kind != RESOLVED:
                continue
            resolved = payload_as(EffectResolved, record.payload)
            outcome: Outcome = (
                "happened" if resolved.get("outcome") == "happened" else "did_not_happen"
            )
            doubt = self.resolve(int(resolved["step"]), outcome)
            if doubt is not None and outcome == "happened":
                happened.append(doubt)
        return happened

    @classmethod
    def replay(cls, records: Iterable[Record], find: Callable[[str], Tool | None]) -> EffectLedger:
        """The ledger of a journaled run, from its records in order."""
        ledger = cls()
        calls: dict[int, tuple[Tool, dict[str, Any]]] = {}
        resolutions: list[Record] = []
        for record in records:
            p = record.payload
            if record.kind == "step.proposed":
                proposed = payload_as(StepProposed, p)
                action = proposed["action"]
                if "tool" not in action:
                    continue
                tool = find(str(action["tool"]))
                if tool is None:
                    continue
                try:
                    args = tool.validate_args(action["args"]).model_dump(mode="json")
                except ToolArgumentsError:
                    continue
                calls[int(proposed["step"])] = (tool, args)
            elif record.kind == "step.effect" and int(p["step"]) in calls:
                effect = payload_as(StepEffect, p)
                tool, args = calls[int(effect["step"])]
                if tool.contract.side_effect == "read" or effect.get("status") == "simulated":
                    continue
                call, step = call_identity(tool, args), int(effect["step"])
                key = str(effect.get("idempotency_key") or ledger.key(record.run_id, step, call))
                ledger.first_step.setdefault(call, step)
                keyed = effect.copy()
                keyed["idempotency_key"] = key
                ledger.settle(step, tool, args, keyed)
            elif record.kind == RESOLVED:
                resolutions.append(record)
        ledger.apply_resolutions(resolutions)  # a late result may be journaled first
        return ledger


def recognises_retry(tool: Tool) -> bool:
    """Whether ``tool`` makes a call once however often it is retried under one key."""
    return tool.takes_key or tool.contract.idempotent


def in_doubt_denial(run_id: str, doubt: Doubt, policy: str) -> Decision:
    """The decision on a call whose target ``doubt`` still holds."""
    why = (
        f"{doubt.tool} on this target timed out at step {doubt.step} and may have happened; "
        "a repeat could do it twice. It is unblocked by the late result, or by "
        f"`charter runs resolve {run_id} {doubt.step} --happened|--did-not-happen`"
    )
    return Decision("deny", (IN_DOUBT_RULE,), why, policy)


def retried_payload(doubt: Doubt, by_step: int, agent: str) -> dict[str, Any]:
    """The ``effect.resolved`` payload of a doubt a retry under its key resolved."""
    return {
        "step": doubt.step,
        "tool": doubt.tool,
        "agent": agent,
        "idempotency_key": doubt.key,
        "outcome": "happened",
        "status": "ok",
        "actor": "charter:retry",
        "by_step": by_step,
    }


def writes_from(records: list[Record], at: int, find: Callable[[str], Tool | None]) -> list[str]:
    """The writes a run made (or may have made: in doubt) at step ``at`` or later, each
    as ``step N tool(args) status``; ``find`` tells reads (a tool it does not know is a
    write if its effect carries an idempotency key, as writes' effects do)."""
    proposals = (payload_as(StepProposed, r.payload) for r in records if r.kind == "step.proposed")
    actions: dict[int, Mapping[str, Any]] = {int(p["step"]): p["action"] for p in proposals}
    found: list[str] = []
    for record in records:
        if record.kind != "step.effect":
            continue
        p = payload_as(StepEffect, record.payload)
        if int(p["step"]) < at:
            continue
        status = "in doubt" if p.get("in_doubt") else str(p.get("status"))
        if status not in ("ok", "in doubt"):
            continue
        tool = find(str(p["tool"]))
        if tool.contract.side_effect == "read" if tool else "idempotency_key" not in p:
            continue
        args = canonical_json(actions.get(int(p["step"]), {}).get("args", {}))
        found.append(f"step {p['step']} {p['tool']}({args[:80]}) {status}")
    return found


def late_result_recorder(
    journal: Journal,
    run_id: str,
    step: int,
    tool: Tool,
    key: str,
    agent: str,
    mask: Callable[[Literal["ok", "error"], Any], tuple[Any, list[dict[str, Any]]]] | None = None,
) -> Callable[[Future[Any]], None]:
    """A callback journaling the real outcome of a timed-out write when its call returns:
    ``happened`` with its result, or ``did_not_happen`` if the tool raised (as a call that
    raises in time is not counted as done). ``mask``: masks what the charter's ``redact``
    rules name in a result (``ok``) or an error's text (``error``), as in time."""
    started = time.perf_counter()

    def record(call: Future[Any]) -> None:
        payload: dict[str, Any] = {
            "step": step,
            "tool": tool.name,
            "agent": agent,
            "idempotency_key": key,
            "actor": "charter:late-result",
            "us": int((time.perf_counter() - started) * 1e6),
        }
        try:
            result = call.result()
        except CancelledError:  # never started: the runner shut down first
            payload |= {"outcome": "did_not_happen", "status": "cancelled"}
        except ToolOutcomeUnknownError:
            return  # still unknown (its connection broke): the doubt stays for an operator
        except Exception as exc:
            error, masked = f"{type(exc).__name__}: {exc}", []
            if mask is not None:
                error, masked = mask("error", error)
            payload |= {"outcome": "did_not_happen", "status": "error", "error": error}
            payload |= {"redacted": masked} if masked else {}
        else:
            masked = []
            if tool.contract.confidentiality == "secret":
                digest = hashlib.sha256(canonical_json(result).encode()).hexdigest()
                result = {"withheld": "secret", "sha256": digest}
            elif mask is not None:
                result, masked = mask("ok", result)
            payload |= {"outcome": "happened", "status": "ok", "result": result}
            payload |= {"redacted": masked} if masked else {}
        try:
            journal.append([(run_id, RESOLVED, payload)])
        except (JournalError, TypeError, ValueError):
            # The journal is gone (the process is closing) or the result is not JSON:
            # the doubt stays open for an operator, which is the safe side.
            return

    return record


def resolve_in_doubt(
    journal: Journal, run_id: str, step: int, outcome: Outcome, *, actor: str, note: str = ""
) -> Record:
    """Journal an operator's word on an in-doubt write of run ``run_id``: it ``happened``
    (a repeat is then a repeat, for the charter's repeat rule) or ``did_not_happen`` (a
    retry may run, under the same idempotency key). Either unblocks the write's target.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run has no such step, or its effect is not in doubt, or it was
            already resolved.
    """
    from charter.runtime._history import history  # it imports this module

    records = history(journal, run_id)
    effects = [r for r in records if r.kind == "step.effect"]
    found = next(
        (r for r in effects if int(payload_as(StepEffect, r.payload)["step"]) == step), None
    )
    if found is None:
        steps = [int(payload_as(StepEffect, r.payload)["step"]) for r in effects]
        known = ", ".join(map(str, steps)) or "none"
        raise RunStateError(
            f"run {run_id} has no step {step} with an effect (steps with one: {known})"
        )
    effect = payload_as(StepEffect, found.payload)
    if not effect.get("in_doubt"):
        raise RunStateError(
            f"step {step} of run {run_id} is not in doubt (its effect is {effect['status']}); "
            "nothing to resolve"
        )
    settled = (payload_as(EffectResolved, r.payload) for r in records if r.kind == RESOLVED)
    earlier = next((p for p in settled if int(p["step"]) == step), None)
    if earlier is not None:
        raise RunStateError(
            f"step {step} of run {run_id} was already resolved by {earlier['actor']}: "
            f"{str(earlier['outcome']).replace('_', ' ')}"
        )
    payload = EffectResolved(
        step=step,
        tool=effect["tool"],
        agent=effect.get("agent", ""),
        idempotency_key=effect.get("idempotency_key"),
        outcome=outcome,
        status="resolved",
        actor=actor,
    )
    if note:
        payload["note"] = note
    # Journaled with the effect it settles: a fork's kept step is its parent's.
    (stored,) = journal.append([(found.run_id, RESOLVED, payload)])
    return stored


def call_tool(
    threads: ToolThreads,
    found: Tool,
    validated: Any,
    idempotency_key: str,
    late: Callable[[Future[Any]], None] | None = None,
    lease: Lease | None = None,
) -> tuple[Observation, CallOutcome]:
    """Call ``found`` under its contract's timeout (see :mod:`charter.tools._deadline`:
    inline when it has none or only reads, awaited on this thread when it is ``async``,
    else on one of ``threads``); a write that times out is in doubt, and ``late`` is
    called with the abandoned call's outcome when it has one (to journal its real
    outcome). ``lease``: the run's, not renewed while a read is stuck past its deadline."""
    started = time.perf_counter()
    timeout = found.contract.timeout_s
    lapsed: list[Lease] = []

    def stalled() -> None:
        if lease is not None:
            lease.lapse()
            lapsed.append(lease)

    try:
        result = call_within(threads, found, validated, idempotency_key, timeout, late, stalled)
    except FutureTimeout as exc:
        elapsed = int((time.perf_counter() - started) * 1e6)
        message = f"tool {found.name!r} did not finish within {timeout}s"
        if timeout is None:  # the tool bounds itself (an HTTP client) and said so
            message = f"tool {found.name!r} timed out: {exc}"
        in_doubt = found.contract.side_effect != "read"
        effect = CallOutcome(status="timeout", error=message, in_doubt=in_doubt, us=elapsed)
        for held in lapsed:  # it came back: the run goes on, under its lease if still held
            held.keep()
        return Observation("timeout", message), effect
    except ToolOutcomeUnknownError as exc:  # e.g. its server died mid-call
        elapsed = int((time.perf_counter() - started) * 1e6)
        in_doubt = found.contract.side_effect != "read"
        effect = CallOutcome(status="error", error=str(exc), in_doubt=in_doubt, us=elapsed)
        return Observation("error", str(exc)), effect
    except Exception as exc:
        elapsed = int((time.perf_counter() - started) * 1e6)
        message = f"{type(exc).__name__}: {exc}"
        return Observation("error", message), CallOutcome(status="error", error=message, us=elapsed)
    elapsed = int((time.perf_counter() - started) * 1e6)
    return Observation("ok", result), CallOutcome(status="ok", result=result, us=elapsed)
