"""``charter audit``: verify the journal's chain and signatures, sign its head, print the
public key, export records."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charter import settings
from charter.cli._errors import err_console, guarded
from charter.cli._shared import console, resolve_run_id
from charter.cli._shared import open_journal as _journal
from charter.errors import JournalError

if TYPE_CHECKING:
    from charter.journal import JournalVerifier

audit_app = typer.Typer(help="Verify, checkpoint and export the journal.", no_args_is_help=True)


@audit_app.command("verify")
@guarded
def audit_verify(
    public_keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            metavar="PATH",
            help="PEM public key checkpoints must verify with (repeat for rotated keys). "
            "Default: the local signing key, if there is one.",
        ),
    ] = None,
    expect_signed_through: Annotated[
        int | None,
        typer.Option(
            "--expect-signed-through",
            metavar="SEQ",
            min=1,
            help="Fail unless signatures cover at least records 1..SEQ (the signed head "
            "you saw last): catches checkpoints deleted after a rewrite.",
        ),
    ] = None,
) -> int:
    """Check the whole hash chain and the signed checkpoints, read-only; say which
    records a signature covers; exit 1 naming each bad record."""

    from charter.journal import load_or_create_signer, load_verifier
    from charter.journal._store import safe_url

    keys: list[JournalVerifier] = [load_verifier(path) for path in public_keys or []]
    key_path = settings.signing_key_path()
    if not keys and key_path.exists():  # never create a key just to verify
        keys = [load_or_create_signer(key_path).verifier]
    journal = _journal(read_only=True)
    nothing = journal.stored_head() is None and not journal.checkpoints()
    if nothing and next(journal.records(), None) is None:
        raise JournalError(
            f"the journal at {safe_url(journal.url)} holds no records: nothing to "
            "verify (check CHARTER_HOME or CHARTER_DATABASE_URL)"
        )
    report = journal.verify(keys)
    console.print(f"{report.checked:,} records checked (seq 1\N{EN DASH}{report.head_seq:,})")
    if report.checkpoints_checked:
        console.print(
            f"{report.checkpoints_checked} checkpoint(s) checked with key(s) "
            f"{', '.join(k.key_id for k in keys)}"
        )
    if report.checkpoints_unchecked:
        why = "stopped at too many problems" if keys else "no public key: pass --public-key"
        console.print(f"[yellow]{report.checkpoints_unchecked} checkpoint(s) unchecked[/] ({why})")
    style = "" if report.unsigned == 0 else "[yellow]"
    console.print(f"{style}{report.coverage()}", soft_wrap=True)
    ends = report.unsigned_runs
    if ends:
        named = ", ".join(f"{e.run_id[:12]} ({e.kind} at seq {e.seq:,})" for e in ends[:10])
        more = f" and {len(ends) - 10} more" if len(ends) > 10 else ""
        console.print(
            f"[yellow]suspicious:[/] {len(ends)} finished or waiting run(s) have records "
            "beyond the last signature, though charter signs each run's end as it writes "
            f"it: {named}{more}",
            soft_wrap=True,
        )
    status = 0
    if expect_signed_through is not None and report.signed_through < expect_signed_through:
        err_console.print(
            f"[red]signed head too low[/]: signatures cover records up to seq "
            f"{report.signed_through:,}, but you expected at least {expect_signed_through:,}: "
            "checkpoints were deleted or the journal was replaced by an older one",
            soft_wrap=True,
        )
        status = 1
    if report.ok:
        verdict = "chain intact" if ends or status else "journal intact"
        console.print(f"[green]{verdict}[/]: {report.checked:,} records verified")
        return status
    for problem in report.problems:
        err_console.print(f"[red]{problem.kind}[/] at seq {problem.seq}: {problem.message}")
    err_console.print(f"[red]journal TAMPERED[/]: {len(report.problems)} problem(s)")
    return 1


@audit_app.command("checkpoint")
@guarded
def audit_checkpoint() -> None:
    """Sign the journal's head now (creating the signing key if there is none)."""

    journal = _journal(signed=True)
    made = journal.checkpoint()
    if made is None:
        existing = journal.checkpoints()
        if not existing:
            console.print("journal is empty: nothing to checkpoint")
        else:
            last = existing[-1]
            console.print(
                f"head already checkpointed: seq {last.seq} hash {last.hash[:16]} key {last.key_id}"
            )
        return
    console.print(f"checkpoint: seq {made.seq} hash {made.hash[:16]} key {made.key_id}")


@audit_app.command("public-key")
@guarded
def audit_public_key() -> None:
    """Print the signing key's public key (PEM) for auditors; creates the key if needed."""

    from charter.journal import load_or_create_signer

    signer = load_or_create_signer(settings.signing_key_path())
    sys.stdout.write(signer.public_pem())


@audit_app.command("export")
@guarded
def audit_export(
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
) -> None:
    """Write journal records as JSON lines to stdout."""

    journal = _journal(read_only=True)
    selected = resolve_run_id(journal, run_id) if run_id else None
    if selected is None:
        journal.check_file()  # a damaged page must not end the export silently
    for record in journal.records(selected):
        sys.stdout.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
