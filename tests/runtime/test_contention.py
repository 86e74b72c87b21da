"""Journal contention mid-run: a run whose append kept colliding after a write is left
unfinished and recoverable, never ended ``failed`` (which is final) after it paid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.errors import JournalContentionError
from charter.journal import Record
from charter.journal._lease import Fence
from charter.journal._store import Entry
from charter.runtime._runner import run_state
from charter.testing import ScriptedReasoner, call, make_agent, respond

payments: dict[str, int] = {}


@tool(side_effect="write")
def pay(order_id: int, idempotency_key: str | None = None) -> dict[str, int]:
    """Pay an order once per idempotency key."""
    assert idempotency_key is not None
    payments.setdefault(idempotency_key, order_id)
    return {"paid": order_id}


@pytest.fixture(autouse=True)
def _reset() -> None:
    payments.clear()


def _agent() -> Any:
    return make_agent([pay], ScriptedReasoner([call("pay", order_id=7), respond("paid")]))


def _contended(journal: Journal, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """The next ``times`` appends carrying a step.effect collide for good."""
    real = journal.append
    left = [times]

    def append(
        entries: Sequence[Entry], *, checkpoint: bool = False, fence: Fence | None = None
    ) -> list[Record]:
        if left[0] and any(kind == "step.effect" for _, kind, _ in entries):
            left[0] -= 1
            raise JournalContentionError("journal append kept colliding with other writers")
        return real(entries, checkpoint=checkpoint, fence=fence)

    monkeypatch.setattr(journal, "append", append)


@pytest.mark.parametrize("times", [1, 2], ids=["effect-stored-later", "effect-lost"])
def test_contention_after_a_write_leaves_the_run_recoverable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    _contended(journal, monkeypatch, times)

    with pytest.raises(JournalContentionError) as raised:
        Runner(journal).run(_agent(), "pay order 7")

    (started,) = journal.records_of_kind("run.started")
    records = list(journal.records(started.run_id))
    assert "run.finished" not in [r.kind for r in records]
    assert run_state(records) == "running"
    assert f"charter runs recover {started.run_id}" in str(raised.value)
    run = Runner(journal).recover(_agent(), started.run_id, actor="on-call")
    assert (run.status, run.answer) == ("completed", "paid")
    assert payments == {f"{started.run_id}:1:1": 7}  # one payment, one key
    effects = [r for r in journal.records(started.run_id) if r.kind == "step.effect"]
    assert len(effects) == 1
    assert journal.verify().ok
