"""The delegation tree under ``charter show``: the run that delegated a run, and the runs
it delegated with their status and outcome (:func:`charter.views._tree.run_tree`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from charter.journal import Journal


def print_run_tree(console: Console, journal: Journal, run_id: str) -> bool:
    """Print where ``run_id`` sits among delegated runs; nothing for a run that neither
    was delegated nor delegated. Return False when a record the tree is read from is
    damaged (said in one line instead)."""
    from charter.cli._outcome import styled_outcome
    from charter.journal import DamagedRecordError
    from charter.views._tree import run_tree

    try:
        tree = run_tree(journal, run_id)
    except (DamagedRecordError, KeyError, TypeError, ValueError):
        console.print("[red]delegations unknown[/]: a record they are read from is damaged")
        return False
    if tree.parent is not None:
        root = "" if tree.root in (None, tree.parent) else f" (root {tree.root})"
        console.print(f"delegated by run {tree.parent} at step {tree.parent_step}{root}")
    if not tree.children:
        return True
    console.print(f"delegated {len(tree.children)} run(s):")
    for child in tree.children:
        outcome = f" {styled_outcome(child.outcome)}" if child.outcome is not None else ""
        console.print(
            f"  step {child.step:>2} {child.run_id} {escape(child.agent)} {child.status}{outcome}",
            soft_wrap=True,
        )
    return True
