"""``charter runs resolve``: an operator's word on a write whose effect is in doubt."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from charter.cli._controls import actor_or_user
from charter.cli._errors import guarded
from charter.errors import ConfigError

if TYPE_CHECKING:  # `charter --help` loads no database layer
    from charter.journal import Journal


def register(
    runs_app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
    resolve_run_id: Callable[[Journal, str], str],
) -> None:
    """Add ``resolve`` to ``runs_app``."""

    @runs_app.command("resolve")
    @guarded
    def resolve_command(
        run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")],
        step: Annotated[int, typer.Argument(help="The step whose write is in doubt.")],
        happened: Annotated[
            bool | None,
            typer.Option(
                "--happened/--did-not-happen",
                help="What you found in the world: the write took effect, or it did not.",
                show_default=False,
            ),
        ] = None,
        note: Annotated[str, typer.Option(help="What you checked (journaled).")] = "",
        actor: Annotated[
            str | None, typer.Option("--as", help="Your identity. Default: the OS user.")
        ] = None,
    ) -> None:
        """Settle a write left in doubt (it timed out, or its process died mid-call).

        Journaled with your identity. It unblocks the write's target: after
        --did-not-happen a retry may run (under the same idempotency key); after --happened
        a repeat is held to the charter's repeat rule.
        """
        from charter.runtime._ledger import resolve_in_doubt

        if happened is None:
            raise ConfigError("say what you found: --happened or --did-not-happen")
        store = journal()
        full_id = resolve_run_id(store, run_id)
        outcome = "happened" if happened else "did_not_happen"
        resolve_in_doubt(store, full_id, step, outcome, actor=actor_or_user(actor), note=note)
        console.print(f"step {step} of run {full_id}: {outcome.replace('_', ' ')}")


def replayed_start(console: Console, journal: Journal, run_id: str, *, started: bool) -> int:
    """Report the run an earlier start with the same idempotency key made, instead of
    starting another; return the exit status ``charter run`` would have given it."""
    from charter.runtime._runner import history, run_state

    if not started:
        console.print(
            f"run {run_id} was claimed with this idempotency key but has not started: its "
            "starter is starting it, or stopped first (then start with a new key)"
        )
        return 1
    records = history(journal, run_id)
    state = run_state(records)
    from charter.journal._kinds import RunFinished, payload_as

    finished = (
        payload_as(RunFinished, r.payload) for r in reversed(records) if r.kind == "run.finished"
    )
    status = next((str(f["status"]) for f in finished), state)
    console.print(
        f"run {run_id} was already started with this idempotency key; it is {status} "
        f"(`charter show {run_id}`)"
    )
    return {"completed": 0, "waiting": 3}.get(status, 1)
