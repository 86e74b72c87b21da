"""``charter serve`` and ``charter tokens create|list|revoke``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.cli._controls import actor_or_user
from charter.cli._errors import guarded
from charter.errors import ConfigError

if TYPE_CHECKING:
    from charter.journal import Journal

tokens_app = typer.Typer(help="API tokens of `charter serve`.", no_args_is_help=True)

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add ``serve`` and ``tokens`` to ``app``."""

    @app.command()
    @guarded
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535)] = 8700,
        agents: Annotated[
            list[Path] | None,
            typer.Option(
                "--agents",
                metavar="PATH",
                help="Agent file, or directory of *.agent.yaml files, that callers may "
                "start (repeat).",
            ),
        ] = None,
        queue: Annotated[
            bool, typer.Option(help="Hand runs to `charter worker` processes.")
        ] = False,
        allow_remote: Annotated[
            bool,
            typer.Option(help="Allow a non-loopback --host (put TLS in front of it)."),
        ] = False,
        max_body: Annotated[
            int,
            typer.Option(
                min=1, metavar="BYTES", help="Largest request body; 413 beyond (default 1 MiB)."
            ),
        ] = 1024 * 1024,
        max_streams: Annotated[
            int,
            typer.Option(min=1, help="Live event streams one token may hold open; 429 beyond."),
        ] = 8,
        stream_idle: Annotated[
            float,
            typer.Option(
                min=1, metavar="SECONDS", help="Close an event stream with nothing new this long."
            ),
        ] = 300.0,
    ) -> None:
        """Serve the HTTP API and the dashboard (loopback only unless --allow-remote)."""
        import uvicorn

        from charter.server import ServerLimits, create_app
        from charter.server._service import agent_files

        if host not in LOOPBACK and not allow_remote:
            raise ConfigError(
                f"--host {host} is not a loopback address; the service would be "
                "reachable from the network: pass --allow-remote (behind TLS) to mean it"
            )
        known = agent_files(list(agents or []))
        limits = ServerLimits(
            max_body=max_body, streams_per_token=max_streams, stream_idle_seconds=stream_idle
        )
        application = create_app(journal(), known, queue=queue, limits=limits)
        console.print(
            f"charter serving on http://{host}:{port} "
            f"({len(known)} agent(s) startable{', runs queued' if queue else ''})"
        )
        uvicorn.run(application, host=host, port=port, log_level="warning")

    @app.command()
    def openapi() -> None:
        """Print the HTTP API's OpenAPI spec (JSON); docs/openapi.json is this output."""
        import json

        from charter.journal import Journal as MemoryJournal
        from charter.server import create_app

        spec = create_app(MemoryJournal("sqlite://"), {}).openapi()
        print(json.dumps(spec, indent=2, sort_keys=True))

    @tokens_app.command("create")
    @guarded
    def create(
        name: Annotated[str, typer.Argument(help="Who the token acts as (journaled).")],
        role: Annotated[str, typer.Option(help="viewer, operator, approver or admin.")],
        actor: Annotated[
            str | None, typer.Option("--as", help="Who creates it. Default: the OS user.")
        ] = None,
    ) -> None:
        """Create an API token and print it (once: only its hash is stored)."""
        from charter.server import TokenStore

        info, secret = TokenStore(journal()).create(name, role, actor=actor_or_user(actor))
        console.print(f"token {info.token_id} for {escape(info.name)} ({info.role}):")
        print(secret)

    @tokens_app.command("list")
    @guarded
    def list_tokens() -> None:
        """List API tokens (never their secrets)."""
        from charter.server import TokenStore

        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("id", "name", "role", "created", "by", "revoked"):
            table.add_column(column, no_wrap=True)
        for t in TokenStore(journal()).tokens():
            table.add_row(
                t.token_id,
                escape(t.name),
                t.role,
                t.created_at[:19],
                escape(t.created_by),
                (t.revoked_at or "")[:19],
            )
        console.print(table)

    @tokens_app.command("revoke")
    @guarded
    def revoke(
        token_id: Annotated[str, typer.Argument(help="Token id (from `charter tokens list`).")],
        actor: Annotated[
            str | None, typer.Option("--as", help="Who revokes it. Default: the OS user.")
        ] = None,
    ) -> None:
        """Revoke an API token."""
        from charter.server import TokenStore

        TokenStore(journal()).revoke(token_id, actor=actor_or_user(actor))
        console.print(f"token {token_id} revoked")

    app.add_typer(tokens_app, name="tokens")
