"""``charter policy``: validate a charter and explain journaled decisions."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter._transcript import describe
from charter.cli._errors import guarded
from charter.errors import RunNotFoundError

if TYPE_CHECKING:
    from charter.journal import Journal
    from charter.journal._kinds import ProposedAction, StepDecided
    from charter.policy import Charter

policy_app = typer.Typer(help="Check charters and explain decisions.", no_args_is_help=True)


def _charter_and_tools(path: Path) -> tuple[Charter, list[Any]]:
    """The charter of an agent file (with its tools) or of a charter file (no tools)."""
    from charter._yaml import read_yaml_mapping

    if "toolsets" in read_yaml_mapping(path):
        from charter.agent import load_agent

        agent = load_agent(path)
        return agent.charter, list(agent.inventory)
    from charter.policy import load_charter

    return load_charter(path), []


def check(console: Console, path: Path, *, show_cedar: bool) -> None:
    """Validate ``path`` (agent or charter file) and print what each tool is subject to."""
    charter, tools = _charter_and_tools(path)
    console.print(
        f"[green]valid[/]: charter [bold]{escape(charter.name)}[/] v{escape(charter.version)} "
        f"(policy {charter.policy_hash}), {len(charter.rules)} rule(s)"
        f"{', raw Cedar' if charter.cedar else ''}, phase {charter.phase}"
    )
    if not tools:
        return
    table = Table("tool", "side effect", "decision", "conditional rules", "also applies")
    for item in tools:
        conditional = [
            r.id
            for r in charter.rules
            if r.when and any(fnmatch.fnmatchcase(item.name, p) for p in r.tools)
        ]
        checks = _runtime_checks(charter, item)
        if conditional or charter.cedar:
            shown = "depends on the call"
        else:
            decision = charter.decide(item)
            shown = f"{decision.verdict} ({', '.join(decision.rules)})"
            if checks and decision.verdict != "deny":
                shown += " unless a rule on the right objects"
        table.add_row(
            item.name,
            item.contract.side_effect,
            shown,
            ", ".join(conditional) or "-",
            "\n".join(checks) or "-",
        )
    console.print(table)
    if show_cedar:
        for item in tools:
            console.rule(item.name)
            console.print(escape(charter.compiled.cedar_text(item.name)), soft_wrap=True)


def _runtime_checks(charter: Charter, item: Any) -> list[str]:
    """The flow rules, rate limits, repeat rule and rollout phase that also govern calls
    of ``item``, beyond the charter's rules."""
    contract, flows = item.contract, charter.flows
    checks: list[str] = []
    if contract.side_effect == "external" and flows.confidential_to_external != "allow":
        checks.append(
            f"flow.confidential-to-external: {flows.confidential_to_external} "
            "pii or secret arguments"
        )
    if contract.side_effect != "read" and contract.targets and flows.untrusted_target != "allow":
        checks.append(
            f"flow.untrusted-target: {flows.untrusted_target} when untrusted data chooses "
            f"{', '.join(contract.targets)}"
        )
    checks.extend(
        f"rate_limits.{limit.id}: {limit.max_calls} per {limit.per_seconds:g} s"
        for limit in charter.rate_limits
        if any(fnmatch.fnmatchcase(item.name, p) for p in limit.tools)
    )
    checks.extend(
        f"redact.{rule.id}: {_describe_redact(charter, f'redact.{rule.id}')}"
        for rule in charter.redact
        if rule.covers(item.name)
    )
    checks.extend(
        f"redact.{rule.id}: gives its placeholders back into {name.split('.', 1)[1]}"
        for rule in charter.redact
        for name in rule.restore
        if name.split(".", 1)[0] == item.name
    )
    writes = contract.side_effect != "read"
    if writes and not contract.idempotent and not charter.allow_repeat_writes:
        checks.append("charter.repeat_writes: deny repeating a completed call")
    if writes and charter.phase != "autonomous":
        what = "simulated" if charter.phase == "shadow" else "an approver asked"
        checks.append(f"phase {charter.phase}: allowed calls {what}")
    return checks


def explain(console: Console, journal: Journal, run_id: str, step: int) -> None:
    """Print the decision of ``step`` in ``run_id`` and the rules behind it."""
    from charter.journal._kinds import (
        ApprovalRequested,
        StepDecided,
        StepEffect,
        StepProposed,
        payload_as,
    )

    records = list(journal.records(run_id))
    proposed = [
        p
        for p in (payload_as(StepProposed, r.payload) for r in records if r.kind == "step.proposed")
        if p["step"] == step
    ]
    if not proposed:
        raise RunNotFoundError(f"run {run_id[:12]} has no step {step}")
    decided = [
        d
        for d in (payload_as(StepDecided, r.payload) for r in records if r.kind == "step.decided")
        if d["step"] == step
    ]
    action = proposed[0]["action"]
    if not decided:
        what = "a final answer" if "answer" in action else "a call that never reached the charter"
        console.print(f"step {step} was {what}: nothing was decided")
        return
    for index, record in enumerate(decided):
        if index:  # the run waited for an approval and the call was governed again
            console.print("[dim]governed again when the run resumed:[/]")
        _explain_decision(console, journal, record, action)
    requested = (
        payload_as(ApprovalRequested, r.payload) for r in records if r.kind == "approval.requested"
    )
    request_ids = {p["request_id"] for p in requested if p.get("step") == step}
    effects = (payload_as(StepEffect, r.payload) for r in records if r.kind == "step.effect")
    for effect in effects:
        if effect.get("step") == step:
            for masked in effect.get("redacted", []):
                console.print(
                    f"  masked {escape(masked['path'] or 'the output')} of the output: "
                    f"{escape(masked['placeholder'])} (rule redact.{escape(masked['rule'])}, "
                    f"hmac {masked['digest'][:16]})"
                )
    for r in records:
        if r.kind.startswith("approval.") and r.payload.get("request_id") in request_ids:
            line = describe(r)
            if line is not None:
                console.print(f"  {line.strip()}")


def _explain_decision(
    console: Console, journal: Journal, d: StepDecided, action: ProposedAction
) -> None:
    from charter.journal._kinds import PolicyVersion, payload_as

    console.print(
        f"step {d['step']}: [bold]{escape(d['tool'])}[/]({escape(str(action.get('args', {})))})\n"
        f"verdict [bold]{d['verdict']}[/] by {', '.join(d['rules'])}: {escape(d['reason'])}\n"
        f"policy version {d['policy']}"
    )
    journaled = (
        payload_as(PolicyVersion, r.payload) for r in journal.records_of_kind("policy.version")
    )
    versions = [v for v in journaled if v["policy"] == d["policy"]]
    if not versions:
        console.print("[yellow]that policy version is not in this journal[/]")
        return
    from charter.policy import Charter
    from charter.runtime._decide import BUILT_IN_RULES

    charter = Charter.model_validate(versions[0]["charter"])
    for rule_id in d["rules"]:
        rule = next((r for r in charter.rules if r.id == rule_id), None)
        if rule is not None:
            console.print(
                f"  rule [cyan]{escape(rule.id)}[/]: {rule.effect} on {', '.join(rule.tools)}"
                f"{f' when {escape(rule.when)}' if rule.when else ''}"
                f"{f' — {escape(rule.reason)}' if rule.reason else ''}"
            )
        elif rule_id.startswith("redact."):
            console.print(
                f"  rule [cyan]{escape(rule_id)}[/]: {_describe_redact(charter, rule_id)}"
            )
        elif rule_id.startswith("tools."):
            console.print(
                f"  rule [cyan]{rule_id}[/]: tools.allow={charter.tools.allow} "
                f"tools.deny={charter.tools.deny}"
            )
        elif rule_id.startswith(("flow.", "rate_limits.", "anomaly.", "budget.")) or (
            rule_id in BUILT_IN_RULES
        ):
            console.print(f"  rule [cyan]{rule_id}[/]: built in (configured by the charter)")
        elif ":" in rule_id:  # a charter above a sub-agent's run decided it too
            above = rule_id.partition(":")[0]
            console.print(
                f"  rule [cyan]{escape(rule_id)}[/]: the charter of {escape(above)}, which "
                "delegated this run (its run's decisions explain its rules)"
            )
        elif charter.cedar:
            console.print(f"  rule [cyan]{escape(rule_id)}[/]: raw Cedar:\n{escape(charter.cedar)}")
    for record in d.get("redacted", []):
        console.print(
            f"  masked {escape(record['path'])} before the call: {escape(record['placeholder'])} "
            f"(rule redact.{escape(record['rule'])}, hmac {record['digest'][:16]})"
        )
    for record in d.get("restored", []):
        console.print(
            f"  restored {escape(record['placeholder'])} into {escape(record['arg'])} "
            f"(rule redact.{escape(record['rule'])}, hmac {record['digest'][:16]})"
        )


def _describe_redact(charter: Any, rule_id: str) -> str:
    """What the ``redact`` rule ``redact.<id>`` masks, in one line."""
    rule = next((r for r in charter.redact if f"redact.{r.id}" == rule_id), None)
    if rule is None:
        return "a redact rule this policy version does not have"
    parts = [f"on {', '.join(rule.on)} of {', '.join(rule.tools)}"]
    for name, items in (("fields", rule.fields), ("args", rule.args), ("labels", rule.labels)):
        if items:
            parts.append(f"{name} {', '.join(items)}")
    if rule.patterns:
        names = [p if isinstance(p, str) else p.name for p in rule.patterns]
        parts.append(f"patterns {', '.join(names)}")
    if rule.restore:
        parts.append(f"restore into {', '.join(rule.restore)}")
    return escape("; ".join(parts) + (f" — {rule.reason}" if rule.reason else ""))


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
    resolve: Callable[[Journal, str], str],
) -> None:
    """Add the ``policy`` commands to ``app`` (the CLI's helpers are passed in)."""

    @policy_app.command("check")
    @guarded
    def check_command(
        path: Annotated[Path, typer.Argument(help="An agent file or a charter file.")],
        cedar: Annotated[
            bool, typer.Option(help="Also print the compiled Cedar per tool.")
        ] = False,
    ) -> None:
        """Validate a charter; show each tool's decision and the rules that may change it."""
        check(console, path, show_cedar=cedar)

    @policy_app.command("explain")
    @guarded
    def explain_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        step: Annotated[int, typer.Argument(help="Step number, as `charter show` prints it.")],
    ) -> None:
        """Explain one journaled decision: verdict, matched rules, policy version."""
        opened = journal()
        explain(console, opened, resolve(opened, run_id), step)

    app.add_typer(policy_app, name="policy")
