"""The runs list read through sqlite3 alone gives exactly the read model's summaries, and
gives way to the read model for whatever it cannot read."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.errors import JournalError
from charter.journal import canonical_json
from charter.journal._schema import known_revisions
from charter.runtime._rollback import rollback
from charter.testing import ScriptedReasoner, ScriptExhaustedError, call, make_agent, respond
from charter.views._runs import RunSummary, list_runs
from charter.views._summary import runs_in_file


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


def _undo(result: dict[str, int], order_id: int, amount_cents: int) -> str:
    return "reversed"


@tool(side_effect="write", compensate=_undo)
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"order_id": order_id}


ASK_BIG = {
    "id": "big-refunds",
    "effect": "ask",
    "tools": ["refund_order"],
    "when": "context.args.amount_cents > 5000",
    "reason": "refunds over $50 need a manager",
}
DENY_REFUNDS = {"id": "no-refunds", "effect": "deny", "tools": ["refund_order"], "reason": "no"}


def agent(*script: Any, rules: list[dict[str, Any]] | None = None, **charter: Any) -> Agent:
    body: dict[str, Any] = {"name": "refunder-charter", "rules": rules or [ASK_BIG]} | charter
    reasoner = ScriptedReasoner(list(script), tokens_per_step=7)
    tools = [lookup_order, refund_order]
    return make_agent(tools, reasoner, charter=Charter.model_validate(body), name="refunder")


def _update(path: Path, seq: int, payload: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE journal_records SET payload = ? WHERE seq = ?", [payload, seq])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(path: Path) -> Journal:
    """A journal holding a run of every kind the list shows."""
    opened = Journal(f"sqlite:///{path}")
    runner = Runner(opened)
    look = agent(call("lookup_order", order_id=1), respond("found"))
    runner.run(look, "completed", actor="sam")
    with pytest.raises(ScriptExhaustedError):
        runner.run(agent(call("lookup_order", order_id=1)), "failed")
    big = agent(call("refund_order", order_id=7, amount_cents=9000), respond("-"))
    assert runner.run(big, "waiting").status == "waiting"
    one_step = agent(call("lookup_order", order_id=1), respond("-"), budgets={"max_steps": 1})
    assert runner.run(one_step, "stopped").status == "stopped"
    denied = agent(call("refund_order", order_id=1, amount_cents=1), respond("-"))
    denied.charter = Charter.model_validate({"name": "strict", "rules": [DENY_REFUNDS]})
    runner.run(denied, "denied")
    twice = agent(call("lookup_order", order_id=1), call("lookup_order", order_id=2), respond("a"))
    parent = runner.run(twice, "parent")
    again = agent(call("lookup_order", order_id=1), call("lookup_order", order_id=3), respond("b"))
    runner.fork(again, parent.run_id, 2)
    refund = agent(call("refund_order", order_id=2, amount_cents=100), respond("refunded"))
    undone = runner.run(refund, "rolled back")
    rollback(opened, refund, undone.run_id, actor="oncall")
    waiting_then_undone = runner.run(big, "waiting, rolled back")
    rollback(opened, big, waiting_then_undone.run_id, actor="oncall")
    legacy = runner.run(look, "finished before outcomes were journaled")
    running = "0" * 31 + "1"
    opened.append(
        [
            (running, "run.started", {"agent": "refunder", "goal": "running", "actor": "x"}),
            (running, "step.proposed", {"step": 1, "action": {}, "tokens": {"completion": 4}}),
        ]
    )
    broken_start = runner.run(look, "damaged start")
    broken_end = runner.run(look, "damaged end")
    runner.close()
    for run_id, kind, replace in (
        (legacy.run_id, "run.finished", "outcome"),
        (broken_start.run_id, "run.started", None),
        (broken_end.run_id, "run.finished", None),
    ):
        (record,) = [r for r in opened.records(run_id) if r.kind == kind]
        if replace is None:
            _update(path, record.seq, '{"status": ' if kind == "run.started" else "[1]")
        else:
            body = {k: v for k, v in record.payload.items() if k != replace}
            _update(path, record.seq, canonical_json(body))
    return opened


def _fast(path: Path, limit: int = 50) -> list[RunSummary] | None:
    found = runs_in_file(f"sqlite:///{path}", limit=limit)
    return None if found is None else [RunSummary(**fields) for fields in found]


def test_both_reads_give_the_same_summaries_of_every_kind_of_run(
    journal: Journal, path: Path
) -> None:
    expected = list_runs(journal, limit=50)

    assert _fast(path) == expected
    assert {(r.status, r.outcome) for r in expected} == {
        ("completed", "succeeded"),
        ("completed", "denied"),
        ("completed", "rolled_back"),
        ("failed", "failed"),
        ("stopped", "stopped"),
        ("stopped", "denied"),  # a waiting run rolled back: its ask was never answered
        ("waiting", None),
        ("running", None),
        ("damaged", None),
    }
    assert sum(r.forked_from is not None for r in expected) == 1
    assert sum(r.status == "damaged" for r in expected) == 2


def test_both_reads_give_the_same_page(journal: Journal, path: Path) -> None:
    assert _fast(path, limit=3) == list_runs(journal, limit=3)
    assert _fast(path, limit=0) == [] == list_runs(journal, limit=0)


def test_a_journal_at_an_older_schema_is_left_to_the_read_model(
    journal: Journal, path: Path
) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", [known_revisions()[-2]])

    assert _fast(path) is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://charter@127.0.0.1:1/charter",
        "sqlite+pysqlite:///{path}",
        "sqlite:///{path}?timeout=5",
        "sqlite://",
    ],
)
def test_other_urls_are_left_to_the_read_model(journal: Journal, path: Path, url: str) -> None:
    assert runs_in_file(url.format(path=path), limit=5) is None


def test_a_database_that_holds_no_journal_is_left_to_the_read_model(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")

    assert _fast(other) is None


def test_random_bytes_are_left_to_the_read_model(tmp_path: Path) -> None:
    garbage = tmp_path / "journal.db"
    garbage.write_bytes(os.urandom(8192))

    assert _fast(garbage) is None


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="the file does not exist"):
        _fast(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_the_file_is_only_read(journal: Journal, path: Path) -> None:
    journal.close()
    before = path.read_bytes()
    path.chmod(0o400)
    try:
        assert _fast(path) is not None
    finally:
        path.chmod(0o600)
    assert path.read_bytes() == before
