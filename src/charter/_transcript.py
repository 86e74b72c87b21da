"""Human-readable lines for journal records (live progress and ``charter show``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from rich.markup import escape

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
            # Tools withheld from the model, e.g. MCP tools the lockfile does not pin.
            refused: dict[str, Any] = p.get("refused_tools") or {}
            withheld = ", ".join(f"{n} ({refused[n].get('rule')})" for n in sorted(refused))
            return (
                f"[bold]run {record.run_id}[/] agent [cyan]{escape(p['agent'])}[/] "
                f"({escape(p['reasoner']['kind'])}): {_short(p['goal'])}"
            ) + (f"\n   [red]refused[/] {escape(withheld)}" if withheld else "")
        case "step.proposed":
            action = p["action"]
            if "answer" in action:
                return f"{step}[bold]answer[/] {_short(action['answer'], 400)}"
            return f"{step}[cyan]propose[/] {escape(action['tool'])}({_short(action['args'])})"
        case "step.decided":
            line = f"{step}  {_styled(p['verdict'])} by {', '.join(p['rules'])}"
            return (
                line
                + _redactions(step, p.get("redacted"), "masked")
                + _redactions(step, p.get("restored"), "restored")
            )
        case "step.effect" if p.get("redacted"):
            return _redactions(step, p["redacted"], "masked").removeprefix("\n")
        case "step.observed":
            return f"{step}  {_styled(p['status'])} {_short(p['text'])}"
        case "run.paused":
            return f"[yellow]paused by an operator[/]: {escape(p['reason'])}"
        case "control.pause" | "control.resume" | "control.revoke" | "control.restore":
            target = p.get("tool") or p.get("agent")
            return f"[magenta]{record.kind}[/] {escape(str(target))} by {escape(p['actor'])}"
        case "approval.requested":
            return (
                f"{step}  [yellow]approval {p['request_id']} requested[/]: "
                f"{_short(p['reason'])} ({', '.join(p['rules'])})"
            )
        case "approval.granted" | "approval.denied":
            verdict = "approved" if record.kind == "approval.granted" else "denied"
            why = f": {_short(p['reason'])}" if p.get("reason") else ""
            return f"[magenta]{p['request_id']} {verdict}[/] by {escape(p['approver'])}{why}"
        case "approval.escalated":
            who = ", ".join(p["approvers"] or []) or "anyone"
            return (
                f"[yellow]{p['request_id']} escalated[/] to level {p['level'] + 1}: {escape(who)}"
            )
        case "approval.expired":
            return f"[red]{p['request_id']} expired[/] unanswered"
        case "approval.closed":
            return f"[magenta]{p['request_id']} closed[/]: {_short(p['reason'])}"
        case "approval.used":
            return f"{step}  approved by {escape(p['approver'])} ({p['request_id']})"
        case "approval.rejected":
            return f"[red]approval {p['request_id']} rejected[/]: {_short(p['reason'])}"
        case "anomaly.detected":
            return (
                f"{step}  [red]anomaly {escape(p['rule'])}[/]: {_short(p['reason'])} "
                f"→ {', '.join(p['playbook'])}"
            )
        case "budget.extended":
            return f"[magenta]budget extended[/] ({p['rule']}) by {p['request_id']}"
        case "effect.resolved":
            outcome = str(p["outcome"]).replace("_", " ")
            style = "yellow" if p["outcome"] == "happened" else "green"
            return (
                f"{step}  [{style}]in-doubt {escape(p['tool'])} {outcome}[/] "
                f"(resolved by {escape(p['actor'])})"
            )
        case "rollback.started":
            return f"[magenta]rollback started[/] by {escape(p['actor'])}"
        case (
            "rollback.compensated"
            | "rollback.irreversible"
            | "rollback.in_doubt"
            | ("rollback.failed")
        ):
            word = record.kind.removeprefix("rollback.")
            style = "green" if word == "compensated" else "red"
            return (
                f"{step}  [{style}]{word}[/] {escape(p['tool'])}"
                f"{': ' + _short(p['detail']) if p.get('detail') else ''}"
            )
        case "rollback.finished":
            outcome = "complete" if p["complete"] else "incomplete: a human must finish it"
            after = f"; run {_styled(p['outcome'])}" if p.get("outcome") else ""
            return f"[bold]rollback {outcome}[/]{after}"
        case "run.waiting":
            return f"[yellow]run waiting[/] for approval {p['request_id']}"
        case "run.recovered":
            return f"[bold]run {record.run_id} recovered[/] by {escape(p['actor'] or '?')}"
        case "run.resumed":
            return f"[bold]run {record.run_id} resumed[/] by {escape(p['actor'] or '?')}"
        case "budget.exceeded":
            return f"[yellow]budget exceeded[/]: {escape(p['reason'])} ({p['rule']})"
        case "run.finished":
            detail = f": {_short(p['error'])}" if p.get("error") else ""
            # The outcome carries the colour: a run that completed after a denial is red.
            outcome = f" ({_styled(p['outcome'])})" if p.get("outcome") else ""
            status = p["status"] if outcome else _styled(p["status"])
            return (
                f"[bold]run {status}{outcome}[/] after {p['steps']} step(s), "
                f"{p['tokens']} tokens{detail}"
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
