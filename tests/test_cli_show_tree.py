"""``charter show`` prints a run's delegations: the run that delegated it, and the runs it
delegated with their status and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter import Journal, Runner, tool
from charter.cli import app
from charter.testing import ScriptedReasoner, call, make_agent, respond

cli = CliRunner()


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


@tool
def broken_lookup(order_id: int) -> int:
    """Look up an order, failing."""
    raise LookupError(f"no order {order_id}")


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", url)
    opened = Journal(url)
    yield opened
    opened.close()


def _delegating_run(journal: Journal, child_fails: bool = False) -> tuple[str, str]:
    name = "broken_lookup" if child_fails else "lookup_order"
    child = make_agent(
        [lookup_order, broken_lookup],
        ScriptedReasoner([call(name, order_id=1), respond("found 1")]),
        name="billing",
    )
    parent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="look up order 1"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )
    runner = Runner(journal)
    try:
        run = runner.run(parent, "look up order 1")
    finally:
        runner.close()
    started = next(r for r in journal.records(run.run_id) if r.kind == "delegate.started")
    return run.run_id, str(started.payload["child_run"])


def _show(run_id: str) -> tuple[int, str]:
    result = cli.invoke(app, ["show", run_id])
    return result.exit_code, " ".join(result.output.split())


def test_a_parent_lists_the_runs_it_delegated(journal: Journal) -> None:
    parent, child = _delegating_run(journal)

    code, shown = _show(parent)

    assert code == 0
    assert f"delegated 1 run(s): step 1 {child} billing completed succeeded" in shown
    assert "delegated by" not in shown


def test_a_child_names_its_parent_and_step(journal: Journal) -> None:
    parent, child = _delegating_run(journal)

    code, shown = _show(child[:-4])

    assert code == 0
    assert f"delegated by run {parent} at step 1" in shown
    assert "(root" not in shown  # its parent is the root
    assert "run(s):" not in shown


def test_a_failed_child_shows_its_status_and_outcome(journal: Journal) -> None:
    parent, child = _delegating_run(journal, child_fails=True)

    _, shown = _show(parent)

    assert f"step 1 {child} billing completed failed" in shown


def test_a_child_journaled_but_not_started_shows_as_starting(journal: Journal) -> None:
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

    _, shown = _show("p" * 32)

    assert f"step 1 {'c' * 32} billing starting" in shown


def test_a_run_without_delegations_prints_no_tree(journal: Journal) -> None:
    agent = make_agent([lookup_order], ScriptedReasoner([respond("hi")]))
    runner = Runner(journal)
    run_id = runner.run(agent, "hi").run_id
    runner.close()

    code, shown = _show(run_id)

    assert code == 0
    assert "delegated" not in shown


def test_a_damaged_delegation_record_is_one_line_not_a_traceback(journal: Journal) -> None:
    from tampering import damage_record

    parent, _ = _delegating_run(journal)
    damage_record(journal, "delegate.started", '{"step": 1}', run_id=parent)

    result = cli.invoke(app, ["show", parent])

    assert result.exit_code == 7
    assert "delegations unknown: a record they are read from is damaged" in result.output
    assert "Traceback" not in result.output
    assert "outcome succeeded" in result.output  # the rest reads as usual


def test_a_grandchild_names_its_parent_and_the_root(journal: Journal) -> None:
    ledger = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), respond("found 1")]),
        name="ledger",
    )
    billing = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_ledger", task="look up order 1"), respond("ok")]),
        name="billing",
        delegates={"ask_ledger": ledger},
    )
    desk = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="look up order 1"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": billing},
    )
    runner = Runner(journal)
    root = runner.run(desk, "look up order 1").run_id
    runner.close()
    (middle,) = (
        r.payload["child_run"] for r in journal.records(root) if r.kind == "delegate.started"
    )
    (bottom,) = (
        r.payload["child_run"] for r in journal.records(middle) if r.kind == "delegate.started"
    )

    _, shown = _show(bottom)
    _, between = _show(middle)

    assert f"delegated by run {middle} at step 1 (root {root})" in shown
    assert f"delegated by run {root} at step 1" in between
    assert f"step 1 {bottom} ledger completed succeeded" in between
