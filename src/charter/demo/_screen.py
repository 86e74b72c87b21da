"""How ``charter demo`` looks: part headers, governed steps, receipts and verdicts.

Lines are Rich markup. A governed step shows its verdict in colour with the rule ids that
decided it (and the reason, when the call did not simply go ahead); a tool result that
carries one of the world's planted injections is pointed out, since the transcript
shortens results and would otherwise hide it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from charter._transcript import describe
from charter.demo import _injections
from charter.demo._story import Part, Verdict
from charter.journal import Record
from charter.journal._kinds import StepDecided, StepObserved, payload_as
from charter.runtime import Receipt

_VERDICT_STYLE = {
    "allow": ("green", "✓ allow"),
    "ask": ("yellow", "✋ held for approval"),
    "deny": ("red", "✗ deny"),
    "simulate": ("magenta", "◌ simulate"),
    "redact": ("magenta", "▒ redact"),
}
_PLANTED = tuple(
    text
    for name, text in vars(_injections).items()
    if name.isupper() and isinstance(text, str) and len(text) > 80
)
"""Every injection planted in the world (the long texts of :mod:`_injections`)."""


def part_header(console: Console, part: Part) -> None:
    """A rule with the part's title, then what charter does in it and why."""
    console.print()
    console.rule(f"[bold cyan]Part {part.number}. {escape(part.title)}[/]")
    console.print(Padding(f"[italic]{escape(part.why)}[/]", (0, 2)))


def note(console: Console, text: str) -> None:
    """A remark from the demo itself (not a journal record), in Rich markup."""
    console.print(Padding(f"[bold magenta]»[/] {text}", (0, 2, 0, 2)))


def planted_in(text: str) -> str | None:
    """The planted injection ``text`` carries, if any."""
    squashed = " ".join(text.split())
    for planted in _PLANTED:
        if " ".join(planted.split())[:60] in squashed:
            return planted
    return None


class Transcript:
    """Turns journal records into screen lines, remembering which steps were decided.

    A resumed run governs its held call again before it acts (the receipt is checked
    then); that second decision is shown as a re-check, not as a new proposal's.
    """

    def __init__(self) -> None:
        self._decided: set[tuple[str, int]] = set()

    def lines(self, record: Record) -> Iterable[str]:
        """The lines ``record`` merits on screen (none for most bookkeeping)."""
        if record.kind == "step.decided":
            p = payload_as(StepDecided, record.payload)
            key = (record.run_id, int(p["step"]))
            again = "re-checked on resume: " if key in self._decided else ""
            self._decided.add(key)
            style, word = _VERDICT_STYLE.get(str(p["verdict"]), ("white", str(p["verdict"])))
            rules = escape(", ".join(str(r) for r in p["rules"]))
            why = "" if p["verdict"] == "allow" else f": {escape(str(p.get('reason', '')))}"
            yield f"[dim]{p['step']:>2}   {again}[/][{style}]{word}[/] [bold]{rules}[/]{why}"
            return
        line = describe(record)
        if line is not None:
            yield line
        if record.kind == "step.observed":
            observed = payload_as(StepObserved, record.payload)
            planted = planted_in(str(observed["text"]))
            if planted is not None:
                shown = planted if len(planted) <= 220 else planted[:219] + "…"
                yield (
                    f"[dim]{observed['step']:>2}[/]   [bold red]⚠ injected instruction in this "
                    f"result[/] [red]“{escape(shown)}”[/] [dim](now in the model's context, "
                    "labelled untrusted)[/]"
                )


def receipt_table(receipt: Receipt) -> Table:
    """The approval receipt: who approved what, until when, signed by which key."""
    table = Table(
        title="[bold]approval receipt[/] (journaled as approval.granted)",
        show_header=False,
        title_justify="left",
        box=None,
        padding=(0, 2),
    )
    table.add_column(style="dim")
    table.add_column()
    signature = (
        f"Ed25519 key {receipt.key_id}, signature {receipt.signature[:16]}…"
        if receipt.signature
        else "unsigned (this journal has no signing key)"
    )
    rows = (
        ("request", receipt.request_id),
        ("approver", receipt.approver),
        ("call", f"{receipt.tool}, step {receipt.step} of run {receipt.run_id[:12]}"),
        ("args hash", f"sha256 {receipt.args_hash[:16]}… (the exact arguments approved)"),
        ("policy", receipt.policy[:16]),
        ("expires", f"{receipt.expires_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("signature", signature),
    )
    for name, value in rows:
        table.add_row(name, escape(value))
    return table


def verdict_line(verdict: Verdict) -> str:
    """``world check ✓ ...`` in green or ``world check ✗ ...`` in red."""
    mark = "[bold green]✓[/]" if verdict.ok else "[bold red]✗[/]"
    style = "green" if verdict.ok else "red"
    return f"[bold]world check[/] {mark} [{style}]{escape(verdict.text)}[/]"
