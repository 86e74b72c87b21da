"""How the CLI shows a run's outcome: its exit status and its colour."""

from __future__ import annotations

from charter.journal._outcome import Outcome

EXIT_STATUS: dict[Outcome, int] = {
    "succeeded": 0,
    "failed": 1,
    "denied": 4,
    "stopped": 5,
    "cancelled": 5,
    "rolled_back": 6,
}
"""Exit status of a command that ran (or shows) a finished run, by its outcome."""
WAITING_EXIT = 3
"""Exit status when the run waits for an approval (or, for ``show``, has not finished)."""

OUTCOME_STYLE: dict[str, str] = {
    "succeeded": "green",
    "failed": "red",
    "denied": "red",
    "stopped": "yellow",
    "cancelled": "yellow",
    "rolled_back": "yellow",
}


def exit_status(outcome: Outcome | None) -> int:
    """The exit status for a run with ``outcome`` (None: not finished)."""
    return WAITING_EXIT if outcome is None else EXIT_STATUS[outcome]


def styled_outcome(outcome: str | None) -> str:
    """``outcome`` in Rich markup, coloured; empty for an unfinished run."""
    if not outcome:
        return ""
    style = OUTCOME_STYLE.get(outcome)
    return f"[{style}]{outcome}[/]" if style else outcome
