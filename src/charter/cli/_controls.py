"""``charter agents pause|resume``, ``charter tools revoke|restore``, ``charter controls``,
``charter notifications list|deliver``."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from charter._identity import normalise_identity
from charter.cli._errors import guarded
from charter.errors import ConfigError

if TYPE_CHECKING:
    from charter.journal import Journal

agents_app = typer.Typer(
    help="Steer agents: the kill switch and supervised mode.", no_args_is_help=True
)
tools_app = typer.Typer(help="Revoke and restore tools.", no_args_is_help=True)
notifications_app = typer.Typer(
    help="Notifications from anomaly playbooks (the outbox).", no_args_is_help=True
)

Actor = Annotated[str | None, typer.Option(help="Who acts (journaled). Default: the OS user.")]
Reason = Annotated[str, typer.Option(help="Why (journaled, shown in denials).")]
NewName = Annotated[
    bool,
    typer.Option(
        "--new-name", help="The name is not seen yet on purpose (no run or file knows it)."
    ),
]
AgentFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--agent-file",
        metavar="PATH",
        help="Agent file whose agent and tools count as known (repeatable).",
    ),
]


def require_known(
    store: Journal,
    files: list[Path] | None,
    *,
    agent: str | None = None,
    tool: str | None = None,
) -> None:
    """Refuse an agent or tool name no run, control or given agent file knows
    (UnknownNameError, with suggestions)."""
    from charter.runtime._names import KnownNames

    agents: list[str] = []
    tools: list[str] = []
    if files:
        from charter.agent import load_agent

        for path in files:
            loaded = load_agent(path)
            agents.append(loaded.name)
            tools += loaded.inventory.names()
    known = KnownNames.of(store, agents=agents, tools=tools)
    if tool is not None:
        known.require("tool", tool)
    if agent is not None:
        known.require("agent", agent)


def actor_or_user(actor: str | None) -> str:
    """The identity given on the command line, or the OS user's name, normalised
    (``--as "Sam "`` acts as ``sam``, the name self-approval compares).

    Raises:
        ConfigError: ``--as`` names nobody (empty once normalised).
    """
    if actor is None:
        return normalise_identity(getpass.getuser())
    who = normalise_identity(actor)
    if not who:
        raise ConfigError(f"--as {actor!r} names nobody: give the identity to act as")
    return who


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add the control commands to ``app`` (the CLI's helpers are passed in)."""

    @agents_app.command("pause")
    @guarded
    def pause(
        agent: Annotated[str, typer.Argument(help="Agent name.")],
        reason: Reason,
        actor: Actor = None,
        new_name: NewName = False,
        agent_file: AgentFiles = None,
    ) -> None:
        """Kill switch: stop every run of AGENT before its next action; start no new one."""

        from charter.runtime import Controls

        store = journal()
        if not new_name:
            require_known(store, agent_file, agent=agent)
        Controls(store).pause(agent, actor=actor_or_user(actor), reason=reason)
        console.print(f"[yellow]paused[/] {escape(agent)}: {escape(reason)}")

    @agents_app.command("resume")
    @guarded
    def resume(
        agent: Annotated[str, typer.Argument(help="Agent name.")],
        reason: Annotated[str, typer.Option(help="Why (journaled).")] = "",
        actor: Actor = None,
        agent_file: AgentFiles = None,
    ) -> None:
        """Lift a pause: AGENT may run again."""

        from charter.runtime import Controls

        store = journal()
        require_known(store, agent_file, agent=agent)
        Controls(store).resume(agent, actor=actor_or_user(actor), reason=reason)
        console.print(f"[green]resumed[/] {escape(agent)}")

    @agents_app.command("supervise")
    @guarded
    def supervise(
        agent: Annotated[str, typer.Argument(help="Agent name.")],
        reason: Reason,
        actor: Actor = None,
        new_name: NewName = False,
        agent_file: AgentFiles = None,
    ) -> None:
        """Supervised mode: every write or external call of AGENT asks an approver."""

        from charter.runtime import Controls

        store = journal()
        if not new_name:
            require_known(store, agent_file, agent=agent)
        Controls(store).supervise(agent, actor=actor_or_user(actor), reason=reason)
        console.print(f"[yellow]supervised[/] {escape(agent)}: {escape(reason)}")

    @agents_app.command("unsupervise")
    @guarded
    def unsupervise(
        agent: Annotated[str, typer.Argument(help="Agent name.")],
        reason: Annotated[str, typer.Option(help="Why (journaled).")] = "",
        actor: Actor = None,
        agent_file: AgentFiles = None,
    ) -> None:
        """Lift supervised mode: AGENT's charter alone decides again."""

        from charter.runtime import Controls

        store = journal()
        require_known(store, agent_file, agent=agent)
        Controls(store).unsupervise(agent, actor=actor_or_user(actor), reason=reason)
        console.print(f"[green]unsupervised[/] {escape(agent)}")

    @tools_app.command("revoke")
    @guarded
    def revoke(
        tool: Annotated[str, typer.Argument(help="Tool name.")],
        reason: Reason,
        agent: Annotated[str | None, typer.Option(help="Only for this agent.")] = None,
        actor: Actor = None,
        new_name: NewName = False,
        agent_file: AgentFiles = None,
    ) -> None:
        """Deny TOOL from the next step of every run on (of one agent, or all)."""

        from charter.runtime import Controls

        store = journal()
        if not new_name:
            require_known(store, agent_file, tool=tool, agent=agent)
        Controls(store).revoke(tool, actor=actor_or_user(actor), reason=reason, agent=agent)
        scope = f" for {escape(agent)}" if agent else ""
        console.print(f"[red]revoked[/] {escape(tool)}{scope}: {escape(reason)}")

    @tools_app.command("restore")
    @guarded
    def restore(
        tool: Annotated[str, typer.Argument(help="Tool name.")],
        agent: Annotated[str | None, typer.Option(help="The scope it was revoked for.")] = None,
        reason: Annotated[str, typer.Option(help="Why (journaled).")] = "",
        actor: Actor = None,
        agent_file: AgentFiles = None,
    ) -> None:
        """Undo a revocation (same --agent scope)."""

        from charter.runtime import Controls

        who = actor_or_user(actor)
        store = journal()
        require_known(store, agent_file, tool=tool, agent=agent)
        Controls(store).restore(tool, actor=who, agent=agent, reason=reason)
        console.print(f"[green]restored[/] {escape(tool)}")

    @app.command("controls")
    @guarded
    def controls() -> None:
        """List paused and supervised agents and revoked tools."""

        from charter.runtime import Controls

        state = Controls(journal()).state()
        if not state.paused and not state.revoked and not state.supervised:
            console.print("no agent paused or supervised, no tool revoked")
        for agent, reason in sorted(state.paused.items()):
            console.print(f"[yellow]paused[/] agent {escape(agent)}: {escape(reason)}")
        for agent, reason in sorted(state.supervised.items()):
            console.print(
                f"[yellow]supervised[/] agent {escape(agent)} (its writes ask an approver): "
                f"{escape(reason)}"
            )
        for (tool, scope), reason in sorted(state.revoked.items()):
            who = "all agents" if scope == "*" else escape(scope)
            console.print(f"[red]revoked[/] tool {escape(tool)} for {who}: {escape(reason)}")

    @notifications_app.command("list")
    @guarded
    def notifications_list(
        limit: Annotated[int, typer.Option(help="How many, newest last.")] = 20,
    ) -> None:
        """List notifications and whether their webhook received them."""

        from charter.runtime._outbox import Outbox

        messages = Outbox(journal()).messages()[-limit:]
        if not messages:
            console.print("no notifications")
        for m in messages:
            style = {"delivered": "green", "failed": "red", "pending": "yellow"}.get(
                m["status"], "dim"
            )
            console.print(
                f"{m['notification_id']} [{style}]{m['status']}[/] "
                f"({m['attempts']} attempt(s)) {escape(m['message'])}"
            )

    @notifications_app.command("deliver")
    @guarded
    def notifications_deliver() -> None:
        """Post pending notifications to their webhooks now (failed ones are retried)."""

        from charter.runtime._outbox import Outbox

        results = Outbox(journal()).deliver()
        if not results:
            console.print("nothing to deliver")
        for result in results:
            word = "[green]delivered[/]" if result.ok else "[red]failed[/]"
            console.print(f"{result.notification_id} {word}: {escape(result.detail)}")

    app.add_typer(agents_app, name="agents")
    app.add_typer(notifications_app, name="notifications")
    app.add_typer(tools_app, name="tools")
