"""Human-readable lines for journal records (live progress and ``charter show``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from rich.markup import escape

from charter.journal._kinds import (
    AnomalyDetected,
    ApprovalClosed,
    ApprovalEscalated,
    ApprovalExpired,
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalUsed,
    BudgetExceeded,
    BudgetExtended,
    EffectResolved,
    RollbackCompensated,
    RollbackFinished,
    RollbackStarted,
    RunFinished,
    RunPaused,
    RunRecovered,
    RunResumed,
    RunStarted,
    RunWaiting,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    payload_as,
)

if TYPE_CHECKING:
    from charter.journal import Record


_STATUS_STYLE = {
    "completed": "green",
    "ok": "green",
    "allow": "green",
    "failed": "red",
    "deny": "red",
    "denied": "red",
    "error": "red",
    "timeout": "red",
    "stopped": "yellow",
    "succeeded": "green",
    "cancelled": "yellow",
    "rolled_back": "yellow",
    "invalid_arguments": "yellow",
    "unknown_tool": "yellow",
}


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _styled(word: str) -> str:
    style = _STATUS_STYLE.get(word)
    return f"[{style}]{word}[/]" if style else word


def describe(record: Record) -> str | None:
    """One Rich-markup line for ``record``; None for records not worth a line."""
    p = record.payload
    step = f"[dim]{p.get('step', ''):>2}[/] " if "step" in p else ""
    match record.kind:
        case "run.started":
            started = payload_as(RunStarted, p)
            # Tools withheld from the model, e.g. MCP tools the lockfile does not pin.
            refused: dict[str, Any] = started.get("refused_tools") or {}
            withheld = ", ".join(f"{n} ({refused[n].get('rule')})" for n in sorted(refused))
            reasoner: dict[str, Any] = p["reasoner"]  # a record without one is damaged
            return (
                f"[bold]run {record.run_id}[/] agent [cyan]{escape(started['agent'])}[/] "
                f"({escape(reasoner['kind'])}): {_short(started['goal'])}"
            ) + (f"\n   [red]refused[/] {escape(withheld)}" if withheld else "")
        case "step.proposed":
            action = payload_as(StepProposed, p)["action"]
            if "answer" in action:
                return f"{step}[bold]answer[/] {_short(action['answer'], 400)}"
            return f"{step}[cyan]propose[/] {escape(action['tool'])}({_short(action['args'])})"
        case "step.decided":
            decided = payload_as(StepDecided, p)
            line = f"{step}  {_styled(decided['verdict'])} by {', '.join(decided['rules'])}"
            return (
                line
                + _redactions(step, decided.get("redacted"), "masked")
                + _redactions(step, decided.get("restored"), "restored")
            )
        case "step.effect" if payload_as(StepEffect, p).get("redacted"):
            masked = payload_as(StepEffect, p).get("redacted")
            return _redactions(step, masked, "masked").removeprefix("\n")
        case "step.observed":
            observed = payload_as(StepObserved, p)
            return f"{step}  {_styled(observed['status'])} {_short(observed['text'])}"
        case "run.paused":
            return f"[yellow]paused by an operator[/]: {escape(payload_as(RunPaused, p)['reason'])}"
        case "control.pause" | "control.resume" | "control.revoke" | "control.restore":
            target = p.get("tool") or p.get("agent")
            return f"[magenta]{record.kind}[/] {escape(str(target))} by {escape(p['actor'])}"
        case "approval.requested":
            requested = payload_as(ApprovalRequested, p)
            return (
                f"{step}  [yellow]approval {requested['request_id']} requested[/]: "
                f"{_short(requested['reason'])} ({', '.join(requested['rules'])})"
            )
        case "approval.granted" | "approval.denied":
            receipt = payload_as(ApprovalGranted, p)  # a denial's fields are the same
            verdict = "approved" if record.kind == "approval.granted" else "denied"
            why = f": {_short(receipt['reason'])}" if receipt.get("reason") else ""
            return (
                f"[magenta]{receipt['request_id']} {verdict}[/] "
                f"by {escape(receipt['approver'])}{why}"
            )
        case "approval.escalated":
            escalated = payload_as(ApprovalEscalated, p)
            who = ", ".join(escalated["approvers"] or []) or "anyone"
            return (
                f"[yellow]{escalated['request_id']} escalated[/] "
                f"to level {escalated['level'] + 1}: {escape(who)}"
            )
        case "approval.expired":
            return f"[red]{payload_as(ApprovalExpired, p)['request_id']} expired[/] unanswered"
        case "approval.closed":
            closed = payload_as(ApprovalClosed, p)
            return f"[magenta]{closed['request_id']} closed[/]: {_short(closed['reason'])}"
        case "approval.used":
            used = payload_as(ApprovalUsed, p)
            return f"{step}  approved by {escape(used['approver'])} ({used['request_id']})"
        case "approval.rejected":
            rejected = payload_as(ApprovalRejected, p)
            return (
                f"[red]approval {rejected['request_id']} rejected[/]: {_short(rejected['reason'])}"
            )
        case "anomaly.detected":
            anomaly = payload_as(AnomalyDetected, p)
            return (
                f"{step}  [red]anomaly {escape(anomaly['rule'])}[/]: {_short(anomaly['reason'])} "
                f"→ {', '.join(anomaly['playbook'])}"
            )
        case "budget.extended":
            extended = payload_as(BudgetExtended, p)
            return f"[magenta]budget extended[/] ({extended['rule']}) by {extended['request_id']}"
        case "effect.resolved":
            resolved = payload_as(EffectResolved, p)
            outcome = str(resolved["outcome"]).replace("_", " ")
            style = "yellow" if resolved["outcome"] == "happened" else "green"
            return (
                f"{step}  [{style}]in-doubt {escape(resolved['tool'])} {outcome}[/] "
                f"(resolved by {escape(resolved['actor'])})"
            )
        case "rollback.started":
            return (
                f"[magenta]rollback started[/] by {escape(payload_as(RollbackStarted, p)['actor'])}"
            )
        case (
            "rollback.compensated"
            | "rollback.irreversible"
            | "rollback.in_doubt"
            | ("rollback.failed")
        ):
            undone = payload_as(RollbackCompensated, p)  # every rollback.* item alike
            word = record.kind.removeprefix("rollback.")
            style = "green" if word == "compensated" else "red"
            return (
                f"{step}  [{style}]{word}[/] {escape(undone['tool'])}"
                f"{': ' + _short(undone['detail']) if undone.get('detail') else ''}"
            )
        case "rollback.finished":
            ended = payload_as(RollbackFinished, p)
            outcome = "complete" if ended["complete"] else "incomplete: a human must finish it"
            after = f"; run {_styled(str(ended.get('outcome')))}" if ended.get("outcome") else ""
            return f"[bold]rollback {outcome}[/]{after}"
        case "run.waiting":
            return f"[yellow]run waiting[/] for approval {payload_as(RunWaiting, p)['request_id']}"
        case "run.recovered":
            actor = payload_as(RunRecovered, p)["actor"]
            return f"[bold]run {record.run_id} recovered[/] by {escape(actor or '?')}"
        case "run.resumed":
            actor = payload_as(RunResumed, p)["actor"]
            return f"[bold]run {record.run_id} resumed[/] by {escape(actor or '?')}"
        case "budget.exceeded":
            exceeded = payload_as(BudgetExceeded, p)
            return f"[yellow]budget exceeded[/]: {escape(exceeded['reason'])} ({exceeded['rule']})"
        case "run.finished":
            finished = payload_as(RunFinished, p)
            detail = f": {_short(finished.get('error'))}" if finished.get("error") else ""
            # The outcome carries the colour: a run that completed after a denial is red.
            done = finished.get("outcome")
            outcome = f" ({_styled(str(done))})" if done else ""
            status = finished["status"] if outcome else _styled(finished["status"])
            return (
                f"[bold]run {status}{outcome}[/] after {finished['steps']} step(s), "
                f"{finished['tokens']} tokens{detail}"
            )
        case _:
            return None


def _redactions(step: str, records: Any, word: str) -> str:
    """A line per rule of values masked or given back: fields and placeholders, never
    the values (empty when there are none)."""
    by_rule: dict[str, list[str]] = {}
    for r in cast(list[dict[str, Any]], records or []):
        where = r.get("path", r.get("arg")) or "text"
        by_rule.setdefault(str(r["rule"]), []).append(f"{where} {r['placeholder']}")
    return "".join(
        f"\n{step}  [magenta]{word}[/] {escape(', '.join(items))} (redact.{escape(rule)})"
        for rule, items in by_rule.items()
    )
