"""The tree of delegated runs around a run, as the read model gives it."""

from __future__ import annotations

from pathlib import Path

from charter import Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import run_detail
from charter.views._tree import run_tree


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


def _delegating_run(journal: Journal) -> tuple[str, str]:
    child = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), respond("found 1")]),
        name="billing",
    )
    parent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="look up order 1"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )
    run = Runner(journal).run(parent, "look up order 1")
    started = next(r for r in journal.records(run.run_id) if r.kind == "delegate.started")
    return run.run_id, str(started.payload["child_run"])


def test_a_parent_lists_its_children_and_a_child_names_its_parent(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    parent_id, child_id = _delegating_run(journal)

    tree = run_tree(journal, parent_id)
    (child,) = tree.children
    assert (child.run_id, child.agent, child.step) == (child_id, "billing", 1)
    assert (child.status, child.outcome) == ("completed", "succeeded")
    assert tree.parent is None

    below = run_tree(journal, child_id)
    assert (below.parent, below.parent_step, below.root) == (parent_id, 1, parent_id)
    assert below.children == []
    detail = run_detail(journal, child_id)
    assert detail is not None and detail.summary.delegated_by == parent_id


def test_a_run_that_neither_delegated_nor_was_delegated_has_an_empty_tree(
    tmp_path: Path,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    agent = make_agent([lookup_order], ScriptedReasoner([respond("hi")]))
    run = Runner(journal).run(agent, "hi")
    tree = run_tree(journal, run.run_id)
    assert (tree.parent, tree.children) == (None, [])


def test_a_child_journaled_but_not_started_shows_as_starting(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    journal.append(
        [
            ("p" * 32, "run.started", {"agent": "front-desk", "goal": "x"}),
            (
                "p" * 32,
                "delegate.started",
                {"step": 1, "agent": "billing", "child_run": "c" * 32, "idempotency_key": "k"},
            ),
        ]
    )
    (child,) = run_tree(journal, "p" * 32).children
    assert child.status == "starting" and child.outcome is None
