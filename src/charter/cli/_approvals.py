"""``charter approvals list|show|approve|deny`` and ``charter runs
resume|recover|rollback|replay|fork``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.cli._controls import actor_or_user
from charter.cli._errors import guarded

if TYPE_CHECKING:
    from charter.agent import Agent
    from charter.journal import Journal, Record
    from charter.runtime import ApprovalState, Run, Runner

approvals_app = typer.Typer(help="Answer the charter's ask decisions.", no_args_is_help=True)

Actor = Annotated[str | None, typer.Option("--as", help="Your identity. Default: the OS user.")]
RequestId = Annotated[str, typer.Argument(help="Request id (apr-...; a unique prefix will do).")]
Resume = Annotated[
    bool, typer.Option(help="Continue the run now, in this process, once it is decided.")
]
Queue = Annotated[
    bool, typer.Option("--queue", help="Let `charter worker` processes continue the run.")
]
WAITING_EXIT = 3
"""Exit status of ``charter run`` / ``runs resume`` when the run waits for an approval."""


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%m-%d %H:%M:%S")


def _state_line(state: ApprovalState) -> str:
    request = state.request
    if state.status == "pending":
        who = request.approvers_at(state.level or 0)
        return (
            f"[yellow]pending[/] at level {(state.level or 0) + 1} "
            f"(approvers: {escape(', '.join(who)) if who else 'anyone'}; "
            f"expires {_when(request.deadline)})"
        )
    if state.status == "closed":
        return f"closed ({escape(str(state.closed_reason))})"
    receipt = state.receipt
    by = f" by {escape(receipt.approver)}" if receipt is not None else ""
    return f"{state.status}{by}"


def _summary(state: ApprovalState) -> str:
    """The preview's summary and warnings, as a list's line starts them."""
    preview = state.request.preview or {}
    if not preview.get("summary"):
        return ""
    warned = "".join(f" [{w}]" for w in preview.get("warnings", []))
    return f"{preview['summary']}{warned}; "


def run_outcome(console: Console, run: Run) -> int:
    """Print why a run waits; return the CLI exit status of how it ended (its outcome:
    see ``charter.cli._outcome``)."""
    if run.status == "waiting":
        console.print(
            f"[yellow]waiting for approval[/] {run.waiting_for}: "
            f"`charter approvals approve {run.waiting_for}` or "
            f"`charter approvals deny {run.waiting_for} --reason ...`"
        )
        return WAITING_EXIT
    from charter.cli._outcome import exit_status

    return 1 if run.outcome is None else exit_status(run.outcome)


_AGENT_HINT = "; pass --agent FILE"
_GATEWAY_OWNER = "mcp-gateway"
"""The lease owner of an MCP gateway session's run (the gateway's GATEWAY_OWNER; not
imported, which would load the MCP SDK into every command)."""


def register(
    app: typer.Typer,
    runs_app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
    resolve_run_id: Callable[[Journal, str], str],
    print_record: Callable[[Record], None],
) -> None:
    """Add the approval commands to ``app`` and ``resume`` to ``runs_app``."""

    def run_agent(store: Journal, run_id: str, agent_file: Path | None) -> Agent:
        """The agent of a journaled run: ``agent_file``, or the file the run started from."""
        from charter.runtime._resumption import agent_of_run

        return agent_of_run(store, run_id, agent_file=agent_file, hint=_AGENT_HINT)[0]

    def continue_run(
        store: Journal, run_id: str, agent_file: Path | None, act: Callable[[Runner, Agent], Run]
    ) -> int:
        """Load the run's agent, let ``act`` drive it with a runner, print the outcome."""
        from charter.observe import chain_listeners, telemetry_from_env
        from charter.runtime import Runner

        agent = run_agent(store, run_id, agent_file)
        telemetry = telemetry_from_env()  # OTLP when configured: resumed segments join the trace
        listener = chain_listeners(print_record, telemetry.listener if telemetry else None)
        runner = Runner(store, on_record=listener)
        try:
            return run_outcome(console, act(runner, agent))
        finally:
            runner.close()
            if telemetry is not None:
                telemetry.shutdown()

    def resume_run(
        store: Journal, run_id: str, agent_file: Path | None, actor: str, *, queue: bool = False
    ) -> int:
        from charter.journal._kinds import RunStarted, payload_as
        from charter.runtime._history import history

        started = payload_as(RunStarted, history(store, run_id)[0].payload)
        if started.get("governed_by") == "caller":
            console.print(f"run {run_id} is governed from its caller's loop: it resumes it")
            return 0
        if queue:
            return queue_resume(store, run_id, agent_file, actor)

        def act(runner: Runner, agent: Agent) -> Run:
            return runner.resume(agent, run_id, actor=actor)

        return continue_run(store, run_id, agent_file, act)

    def queue_resume(store: Journal, run_id: str, agent_file: Path | None, actor: str) -> int:
        """Hand the resume of a waiting run to the workers."""
        from charter.runtime._resumption import queue_resume as enqueue

        enqueue(store, run_id, actor, agent_file=agent_file, hint=_AGENT_HINT)
        console.print(f"queued the resume of run {run_id} for `charter worker`")
        return 0

    @approvals_app.command("list")
    @guarded
    def list_requests(
        every: Annotated[bool, typer.Option("--all", help="Include decided requests.")] = False,
    ) -> int:
        """List approval requests (pending ones unless --all), oldest first."""

        from charter.runtime import Approvals

        states = Approvals(journal()).sweep()
        shown = states if every else [s for s in states if s.status == "pending"]
        if not shown:
            console.print("no pending approval requests" if not every else "no requests")
            return 0
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        # Ids whole, never cut: `approvals approve` and `runs` take what is printed.
        for column, width in (("request", 16), ("run", 32)):
            table.add_column(column, no_wrap=True, min_width=width)
        for column in ("agent", "step", "tool", "asked"):
            table.add_column(column, no_wrap=True)
        table.add_column("status", overflow="fold", min_width=16)
        table.add_column("why", overflow="fold", min_width=16)
        for state in shown:
            r = state.request
            table.add_row(
                r.request_id,
                r.run_id,
                escape(r.agent),
                str(r.step),
                escape(r.tool),
                _when(r.requested_at),
                _state_line(state),
                escape(f"{_summary(state)}{r.reason} ({', '.join(r.rules)})"),
            )
        console.print(table)
        return 0

    @approvals_app.command("show")
    @guarded
    def show(request_id: RequestId, actor: Actor = None) -> int:
        """Show one request: what the call would do, the untrusted text behind it, its
        expiry and level, why it was asked, its answer, and whether you may decide it."""
        from charter.runtime import Approvals
        from charter.runtime._lookup import resolve_request_id
        from charter.views._approvals import age_text, approval_card

        store = journal()
        approvals = Approvals(store)
        state = approvals.get(resolve_request_id(store, request_id))
        who = actor_or_user(actor)
        card = approval_card(state, now=approvals.clock(), viewer=who)
        r = state.request
        console.print(f"[bold]{r.request_id}[/] {_state_line(state)}")
        if card.preview is not None and card.preview.summary:
            console.print(f"[bold]{escape(card.preview.summary)}[/]")
            for warning in card.preview.warnings:
                console.print(f"[red]warning:[/] {escape(warning)}")
            for fact in card.preview.facts:
                console.print(f"  {escape(fact.name)}: {escape(fact.value)}")
        elif card.preview is not None:
            console.print(f"[yellow]{escape(str(card.preview.unavailable))}[/]")
        console.print(f"step {r.step}: {escape(r.tool)}({escape(str(r.args))})")
        console.print(f"why: {escape(r.reason)} (rules {', '.join(r.rules)})")
        if r.chain:  # a sub-agent's call: the agents that led to it
            console.print(f"asked through: {escape(' -> '.join(r.chain))}")
        console.print(
            f"asked {_when(r.requested_at)} by {escape(r.requested_by)} "
            f"({age_text(card.age_seconds)} ago); expires {_when(r.deadline)}"
            + (f"; level {card.level} of {card.levels}" if card.level else "")
        )
        console.print(f"run {r.run_id} (agent {escape(r.agent)}): `charter show {r.run_id}`")
        console.print(f"policy {r.policy}, arguments sha256 {r.args_hash}")
        untrusted = r.untrusted_args
        if untrusted:
            console.print(
                f"[yellow]untrusted data may have chosen[/] {escape(', '.join(untrusted))}"
            )
        for name, items in card.evidence.items():
            for item in items:
                where = "holds its value" if item.found else "was read (value not found)"
                console.print(
                    f"  {escape(name)}: step {item.step} {escape(item.tool)} {where}: "
                    f"[italic]{escape(item.excerpt)}[/]"
                )
        if card.closed_reason:
            console.print(f"closed: {escape(card.closed_reason)}")
        if state.receipt is not None:
            rc = state.receipt
            console.print(
                f"{rc.verdict} by {escape(rc.approver)} at {_when(rc.decided_at)}"
                f"{': ' + escape(rc.reason) if rc.reason else ''}; "
                f"valid until {_when(rc.expires_at)}"
                f"{'; signed by key ' + rc.key_id if rc.signature else ''}"
            )
        if card.may_decide:
            console.print(f"{escape(who)} may decide it: `charter approvals approve|deny`")
        elif state.status == "pending":
            console.print(f"{escape(who)} cannot decide it: {escape(str(card.why_not))}")
        return 0

    @approvals_app.command("approve")
    @guarded
    def approve(
        request_id: RequestId,
        reason: Annotated[str, typer.Option(help="Why (journaled).")] = "",
        actor: Actor = None,
        resume: Resume = True,
        queue: Queue = False,
    ) -> int:
        """Approve a pending request; the receipt is journaled and signed."""

        from charter.runtime import Approvals
        from charter.runtime._lookup import resolve_request_id

        store = journal()
        full_id = resolve_request_id(store, request_id)
        receipt = Approvals(store).approve(full_id, actor_or_user(actor), reason)
        console.print(
            f"[green]approved[/] {full_id} as {escape(receipt.approver)}; "
            f"valid until {_when(receipt.expires_at)}"
        )
        if not resume:
            return 0
        return resume_run(store, receipt.run_id, None, actor_or_user(actor), queue=queue)

    @approvals_app.command("deny")
    @guarded
    def deny(
        request_id: RequestId,
        reason: Annotated[str, typer.Option(help="Why (journaled; the agent sees it).")],
        actor: Actor = None,
        resume: Resume = True,
        queue: Queue = False,
    ) -> int:
        """Deny a pending request; the run sees the denial and your reason."""

        from charter.runtime import Approvals
        from charter.runtime._lookup import resolve_request_id

        store = journal()
        full_id = resolve_request_id(store, request_id)
        receipt = Approvals(store).deny(full_id, actor_or_user(actor), reason)
        console.print(f"[red]denied[/] {full_id} as {escape(receipt.approver)}")
        if not resume:
            return 0
        return resume_run(store, receipt.run_id, None, actor_or_user(actor), queue=queue)

    @runs_app.command("resume")
    @guarded
    def resume_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        agent_file: Annotated[
            Path | None,
            typer.Option("--agent", help="Agent YAML file. Default: the one the run started from."),
        ] = None,
        actor: Actor = None,
        queue: Queue = False,
    ) -> int:
        """Continue a run whose approval request was decided or expired.

        Exit status: 0 succeeded; 1 failed; 2 bad input; 3 waiting for an approval;
        4 denied; 5 stopped or cancelled; 6 rolled back.
        """

        store = journal()
        full_id = resolve_run_id(store, run_id)
        return resume_run(store, full_id, agent_file, actor_or_user(actor), queue=queue)

    @runs_app.command("recover")
    @guarded
    def recover_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        agent_file: Annotated[
            Path | None,
            typer.Option("--agent", help="Agent YAML file. Default: the one the run started from."),
        ] = None,
        actor: Actor = None,
    ) -> int:
        """Continue a run whose process died, from the journal; never repeat a write.

        Exit status: 0 succeeded; 1 failed; 2 bad input; 3 waiting for an approval;
        4 denied; 5 stopped or cancelled; 6 rolled back.
        """

        store = journal()
        full_id = resolve_run_id(store, run_id)
        refuse_gateway_run(store, full_id)
        return continue_run(
            store,
            full_id,
            agent_file,
            lambda runner, agent: runner.recover(agent, full_id, actor=actor_or_user(actor)),
        )

    def refuse_gateway_run(store: Journal, run_id: str) -> None:
        """Raise RunStateError for the run of an MCP gateway session: `mcp recover`
        settles those (the run loop never drives them)."""
        from charter.errors import RunStateError
        from charter.journal._lease import lease_of
        from charter.runtime._history import history

        started = history(store, run_id)[0].payload
        if started.get("governed_by") != "caller":
            return
        row, _ = lease_of(store.engine, run_id)
        if row is None or row.owner != _GATEWAY_OWNER:
            return
        source = str(started.get("source") or "AGENT_FILE")
        raise RunStateError(
            f"run {run_id} is an MCP gateway session's (charter mcp serve): settle it with "
            f"`charter mcp recover {source}` once its gateway is gone"
        )

    @runs_app.command("rollback")
    @guarded
    def rollback_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        agent_file: Annotated[
            Path | None,
            typer.Option("--agent", help="Agent YAML file. Default: the one the run started from."),
        ] = None,
        actor: Actor = None,
        charter_file: Annotated[
            Path | None,
            typer.Option(
                "--charter",
                help="For a framework run: the charter whose compensations: undo its writes.",
            ),
        ] = None,
    ) -> int:
        """Undo a run's completed writes, newest first; report what cannot be undone.

        Exit status: 0 when every effect was compensated, 1 when some need a human.
        """
        from charter.runtime._rollback import refuse_fileless_caller_run, rollback

        store = journal()
        full_id = resolve_run_id(store, run_id)
        if charter_file is not None:
            from charter.runtime._caller_rollback import caller_rollback_agent

            agent = caller_rollback_agent(store, full_id, charter_file)
        else:
            if agent_file is None:
                refuse_fileless_caller_run(
                    store,
                    full_id,
                    hint="; or pass --charter FILE whose compensations: name the undo "
                    "functions, or --agent FILE",
                )
            agent = run_agent(store, full_id, agent_file)
        who = actor_or_user(actor)
        report = rollback(store, agent, full_id, actor=who, on_record=print_record)
        if not report.items:
            console.print("nothing to undo: the run changed nothing")
        return 0 if report.complete else 1

    @runs_app.command("replay")
    @guarded
    def replay_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        agent_file: Annotated[
            Path | None,
            typer.Option(
                "--agent", help="Decide under this agent's charter. Default: the run's own file."
            ),
        ] = None,
    ) -> int:
        """Re-render a run from the journal and decide each call again; nothing executes.

        Exit status: 0 when today's charter decides every step as before, 1 otherwise.
        """
        from charter.runtime._replay import replay

        store = journal()
        full_id = resolve_run_id(store, run_id)
        steps = replay(store, run_agent(store, full_id, agent_file), full_id)
        for item in steps:
            action = item.action
            what = (
                f"answer {escape(str(action['answer'])[:120])}"
                if "answer" in action
                else f"{escape(str(action.get('tool')))}({escape(str(action.get('args')))})"
            )
            console.print(f"[dim]{item.step:>2}[/] {what}")
            if item.then is None and item.now is None:
                continue
            before = (
                f"{item.then['verdict']} by {', '.join(item.then['rules'])}"
                if item.then
                else "not decided"
            )
            after = (
                f"{item.now.verdict} by {', '.join(item.now.rules)}" if item.now else "not decided"
            )
            mark = "[red]changed[/]" if item.changed else "[green]same[/]"
            console.print(f"     then {before}; now {after} {mark}")
        changed = sum(1 for item in steps if item.changed)
        console.print(f"{changed} of {len(steps)} step(s) decided differently today")
        return 1 if changed else 0

    @runs_app.command("fork")
    @guarded
    def fork_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        at: Annotated[int, typer.Option(help="Redo from this step; earlier ones are kept.")],
        agent_file: Annotated[
            Path | None,
            typer.Option("--agent", help="Continue with this agent. Default: the run's own file."),
        ] = None,
        actor: Actor = None,
        reexecute_writes: Annotated[
            bool,
            typer.Option(
                "--reexecute-writes",
                help="Let the fork make again the writes the run made from step AT on, "
                "under new idempotency keys. Without it, such a fork is refused, naming them.",
            ),
        ] = False,
    ) -> int:
        """Start a new run from a journaled run's state before step AT, and run it.

        Exit status, by the new run's outcome: as for charter run.
        """

        store = journal()
        full_id = resolve_run_id(store, run_id)
        return continue_run(
            store,
            full_id,
            agent_file,
            lambda runner, agent: runner.fork(
                agent,
                full_id,
                at,
                actor=actor_or_user(actor),
                reexecute_writes=reexecute_writes,
            ),
        )

    @runs_app.command("cancel")
    @guarded
    def cancel_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        reason: Annotated[str, typer.Option(help="Why (journaled with the cancellation).")],
        actor: Actor = None,
    ) -> int:
        """Cancel a running or waiting run; a running one stops before its next step.

        A waiting run, or a running one whose process died, ends now (its approval request
        leaves the inbox); a run driven by a live process stops before its next step, in
        that process. Its delegated children end with it. Exit status: 0 cancelled; 2 bad
        input (no such run, a run already finished, an empty reason).
        """
        from charter.runtime import Runner

        store = journal()
        full_id = resolve_run_id(store, run_id)
        runner = Runner(store, on_record=print_record)
        try:
            state = runner.cancel(full_id, actor=actor_or_user(actor), reason=reason.strip())
        finally:
            runner.close()
        if state == "waiting":
            console.print(f"cancelled run {full_id}: it was waiting for an approval and has ended")
        else:
            console.print(
                f"cancelled run {full_id}: it ends now if its process is gone, or stops "
                "before its next step in the process that drives it"
            )
        return 0

    app.add_typer(approvals_app, name="approvals")
