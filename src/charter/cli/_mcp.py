"""``charter mcp lock|diff|approve|serve|recover``: pin the tool definitions of an agent's
MCP servers, and serve the agent's tools as a governing MCP gateway.

``lock`` records every tool not yet pinned; ``diff`` shows what changed since (and what
looks like instructions aimed at the model); ``approve`` pins the current definitions of
changed or new tools. Approvals are journaled with their actor. ``serve`` exposes the
agent's governed tools to MCP clients (stdio, or streamable HTTP with API tokens);
``recover`` settles the runs of gateway sessions whose process stopped. A server that
cannot be reached, a bad entry or a malformed lockfile is one line on stderr and exit
status 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape

from charter.errors import ConfigError

if TYPE_CHECKING:
    from charter.integrations.mcp import Lockfile, McpServerSpec, PinCheck
    from charter.journal import Journal
    from charter.journal._kinds_platform import McpApproved

mcp_app = typer.Typer(
    help="Pin the tools of MCP servers (lock, diff, approve); serve an agent's tools as a "
    "governing MCP gateway (serve, recover).",
    no_args_is_help=True,
)

AgentFile = Annotated[Path, typer.Argument(help="Agent YAML file naming MCP toolsets.")]
AcceptFlagged = Annotated[
    bool,
    typer.Option(
        "--accept-flagged",
        help="Also pin tools whose descriptions look like instructions to the model.",
    ),
]
APPROVAL_RUN = "mcp"
"""``run_id`` of the records journaling pinned tool definitions."""


def servers_of(agent_file: Path) -> list[McpServerSpec]:
    """The MCP server entries of an agent file; ConfigError if it names none."""
    from charter._yaml import read_yaml_mapping
    from charter.integrations.mcp import load_server

    data = read_yaml_mapping(agent_file)
    toolsets = data.get("toolsets")
    items: list[Any] = cast(list[Any], toolsets) if isinstance(toolsets, list) else []
    entries: list[dict[str, Any]] = []
    for item in items:
        entry: Any = cast(dict[str, Any], item).get("mcp") if isinstance(item, dict) else None
        if isinstance(entry, dict):
            entries.append(cast(dict[str, Any], entry))
    if not entries:
        raise ConfigError(f"{agent_file}: field toolsets: names no mcp server")
    return [load_server(e, agent_file) for e in entries]


def compare(agent_file: Path) -> tuple[Lockfile, list[tuple[McpServerSpec, list[PinCheck]]]]:
    """Each server's listed tools compared with the lockfile (pin or not)."""
    from charter.integrations.mcp import Lockfile, check_names, connection_for, lock_path

    lockfile = Lockfile.read(lock_path(agent_file))
    found: list[tuple[McpServerSpec, list[PinCheck]]] = []
    for spec in servers_of(agent_file):
        listed = connection_for(spec).list_tools()
        check_names(listed, spec, str(agent_file))
        found.append((spec, [lockfile.check(spec.server, d) for d in listed]))
    return lockfile, found


def register(app: typer.Typer, console: Console, journal: Callable[[], Journal]) -> None:
    """Add ``charter mcp`` to ``app`` (the CLI's helpers are passed in)."""
    from charter.cli._errors import guarded

    app.add_typer(mcp_app, name="mcp")

    def show_flags(check: PinCheck) -> list[str]:
        from charter.integrations.mcp import poison_flags

        flags = poison_flags(check.new_definition or {})
        for flag in flags:
            console.print(f"    [red]flagged[/] {escape(flag)}", soft_wrap=True)
        return flags

    def pin(
        agent_file: Path,
        wanted: Callable[[PinCheck], bool],
        accept_flagged: bool,
        actor: str,
        verb: str,
    ) -> int:
        from charter.integrations.mcp import close_all

        try:
            lockfile, servers = compare(agent_file)
        finally:
            close_all()
        records: list[tuple[str, str, McpApproved]] = []
        held = 0
        for spec, checks in servers:
            if not checks and not lockfile.has_server(spec.server):
                lockfile.servers[spec.server] = {}  # a server with no tools is pinned empty
            for check in checks:
                if check.state == "changed" and verb == "lock":
                    console.print(
                        f"{escape(spec.server)}: {escape(check.tool)} changed since pinned: "
                        "left as is; review `charter mcp diff`, then `charter mcp approve`"
                    )
                if check.state == "pinned" or not wanted(check):
                    continue
                console.print(f"{escape(spec.server)}: {escape(check.tool)} ({check.state})")
                if show_flags(check) and not accept_flagged:
                    console.print("    not pinned: review it, then pass --accept-flagged")
                    held += 1
                    continue
                lockfile.approve(spec.server, check.new_definition or {})
                payload: McpApproved = {
                    "server": spec.server,
                    "tool": check.tool,
                    "state": check.state,
                    "old_sha256": check.old_hash,
                    "new_sha256": check.new_hash,
                    "actor": actor,
                    "command": verb,
                    "lockfile": lockfile.path.name,
                }
                records.append((APPROVAL_RUN, "mcp.approved", payload))
            if not lockfile.has_server(spec.server):
                lockfile.servers[spec.server] = {}
        if records:  # journaled first: a lockfile is never ahead of its approvals
            journal().append(records)
        lockfile.write()
        console.print(f"{len(records)} tool(s) pinned in {escape(str(lockfile.path))}")
        return 1 if held else 0

    @mcp_app.command("lock")
    @guarded
    def lock(
        agent_file: AgentFile,
        accept_flagged: AcceptFlagged = False,
        actor: Annotated[str | None, typer.Option("--as", help="Who pins (journaled).")] = None,
    ) -> int:
        """Connect to each MCP server of AGENT_FILE and pin the tools not yet pinned
        (changed ones are left to `charter mcp approve`)."""
        from charter.cli._controls import actor_or_user

        who = actor_or_user(actor)
        return pin(
            agent_file, lambda c: c.state in ("new", "unlocked"), accept_flagged, who, "lock"
        )

    @mcp_app.command("diff")
    @guarded
    def diff(agent_file: AgentFile) -> int:
        """Show each tool that differs from the lockfile, and flagged descriptions.
        Exit status 1 when something differs."""
        from charter.integrations.mcp import close_all

        try:
            lockfile, servers = compare(agent_file)
        finally:
            close_all()
        differs = 0
        for spec, checks in servers:
            listed = {c.tool for c in checks}
            for check in checks:
                if check.state == "pinned":
                    continue
                differs += 1
                console.print(f"{escape(spec.server)}: {escape(check.tool)}: {check.state}")
                console.print(f"  {escape(check.reason(lockfile.path))}", soft_wrap=True)
                for line in check.diff().splitlines():
                    style = {"+": "green", "-": "red"}.get(line[:1], "default")
                    console.print(f"  [{style}]{escape(line)}[/]", soft_wrap=True)
                show_flags(check)
            for gone in sorted(set(lockfile.servers.get(spec.server, {})) - listed):
                console.print(f"{escape(spec.server)}: {escape(gone)}: no longer offered")
        if not differs:
            console.print(f"every tool matches {escape(str(lockfile.path))}")
        return 1 if differs else 0

    @mcp_app.command("approve")
    @guarded
    def approve(
        agent_file: AgentFile,
        tool: Annotated[
            list[str] | None, typer.Option("--tool", help="Only this tool (repeatable).")
        ] = None,
        accept_flagged: AcceptFlagged = False,
        actor: Annotated[str | None, typer.Option("--as", help="Who approves (journaled).")] = None,
    ) -> int:
        """Pin the current definitions of changed and new tools (all, or --tool ones)."""
        from charter.cli._controls import actor_or_user

        who = actor_or_user(actor)
        names = set(tool or [])
        if names:
            from charter.integrations.mcp import close_all

            try:
                _, servers = compare(agent_file)
            finally:
                close_all()
            offered = {c.tool for _, checks in servers for c in checks}
            unknown = sorted(names - offered)
            if unknown:
                raise ConfigError(
                    f"--tool {', '.join(unknown)}: not offered by the servers of {agent_file}"
                )
        return pin(
            agent_file, lambda c: not names or c.tool in names, accept_flagged, who, "approve"
        )

    @mcp_app.command("serve")
    @guarded
    def serve(
        agent_file: Annotated[Path, typer.Argument(help="Agent YAML file whose tools are served.")],
        http: Annotated[
            bool, typer.Option("--http", help="Serve streamable HTTP (default: stdio).")
        ] = False,
        host: Annotated[str, typer.Option(help="HTTP: address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP: port.")] = 8701,
        allow_remote: Annotated[
            bool, typer.Option(help="HTTP: allow a non-loopback --host (put TLS in front).")
        ] = False,
        actor: Annotated[
            str | None,
            typer.Option("--as", help="stdio: who the session acts as. Default: the OS user."),
        ] = None,
        goal: Annotated[
            str | None, typer.Option(help="The goal of each session's run (trusted input).")
        ] = None,
        ask_timeout: Annotated[
            float,
            typer.Option(
                min=0,
                metavar="SECONDS",
                help="How long a call the charter asks about is held for an approval in "
                "the inbox before the client is told where to approve.",
            ),
        ] = 60.0,
    ) -> int:
        """Serve AGENT_FILE's tools as an MCP server: each client session is a governed
        run, tools/list shows what the charter can allow, every tools/call is decided and
        journaled. stdio by default (nothing but the protocol on stdout); --http on
        127.0.0.1 with `charter tokens` bearer tokens."""
        import anyio

        from charter.agent import load_agent
        from charter.cli._controls import actor_or_user
        from charter.cli._server import LOOPBACK
        from charter.cli._shared import open_journal
        from charter.integrations.mcp import close_all
        from charter.integrations.mcp._gateway import (
            DEFAULT_GOAL,
            Caller,
            Gateway,
            recover_sessions,
        )

        if http and host not in LOOPBACK and not allow_remote:
            raise ConfigError(
                f"--host {host} is not a loopback address; the gateway would be "
                "reachable from the network: pass --allow-remote (behind TLS) to mean it"
            )
        who = "" if http else actor_or_user(actor)
        journal = open_journal(signed=True)
        agent = load_agent(agent_file)
        recover_sessions(journal, agent, actor=who)
        gateway = Gateway(
            journal,
            agent,
            caller=Caller(who),
            goal=goal or DEFAULT_GOAL,
            ask_timeout=ask_timeout,
        )
        try:
            if not http:
                anyio.run(gateway.serve_stdio)
                return 0
            import uvicorn

            from charter.integrations.mcp._gateway_http import http_app

            err = Console(stderr=True)
            err.print(
                f"charter MCP gateway for agent {escape(agent.name)} on "
                f"http://{host}:{port}/mcp ({len(gateway.offered())} tool(s) offered)"
            )
            uvicorn.run(http_app(gateway, host=host), host=host, port=port, log_level="warning")
            return 0
        finally:
            close_all()

    @mcp_app.command("recover")
    @guarded
    def recover(
        agent_file: AgentFile,
        actor: Annotated[str | None, typer.Option("--as", help="Who recovers (journaled).")] = None,
    ) -> int:
        """Settle the runs of AGENT_FILE's gateway sessions whose process stopped: a write
        allowed but never recorded is journaled in doubt (`charter runs resolve`), and the
        run finishes failed. `charter mcp serve` does this as it starts."""
        from charter.agent import load_agent
        from charter.cli._controls import actor_or_user
        from charter.cli._shared import open_journal
        from charter.integrations.mcp import close_all
        from charter.integrations.mcp._gateway import recover_sessions

        try:
            settled = recover_sessions(
                open_journal(signed=True), load_agent(agent_file), actor=actor_or_user(actor)
            )
        finally:
            close_all()
        for run_id in settled:
            console.print(f"run {run_id}: settled (failed)")
        console.print(f"{len(settled)} gateway run(s) settled")
        return 0
