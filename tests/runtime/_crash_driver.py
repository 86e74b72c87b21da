"""Worker processes for ``test_crash_matrix.py``: one phase of a run, killed on purpose.

A worker starts a run, recovers it, or resumes it after an approval, with its own
:class:`~charter.Journal`, and SIGKILLs itself at a planned point: right after the k-th
journal record it is told about (so that record and its whole batch are committed), or
inside its n-th tool call, before or after the tool's side effect reached the world.

The world is a SQLite file that outlives the kill, one row per side effect, so the test
can count exactly how often each write happened. Every record a worker is told about is
logged before the worker may die, so the test can check that none of them was lost.

Workers are started by a forkserver, which imports their target by module name: that is
why this module is not the test module itself (pytest imports that one under a name of
its own).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Literal

from charter import Charter, FinalAnswer, Journal, Record, Runner, ToolCall, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

Phase = Literal["run", "recover", "resume"]
Where = Literal["record", "before_effect", "after_effect"]

UNCOUNTED = frozenset({"policy.version"})
"""Record kinds ``Kill.at`` does not count: journaled once per journal, not per run, so
counting them would move every later kill point between a fresh and a shared journal."""


@dataclass(frozen=True, slots=True)
class Kill:
    """Where a worker SIGKILLs itself."""

    where: Where
    """``record``: once told about a committed record; ``before_effect`` /
    ``after_effect``: inside a tool call, before or after it touched the world."""
    at: int
    """The k-th counted record, or the n-th tool call, of the worker (from 1)."""

    def __str__(self) -> str:
        return f"{self.where}@{self.at}"


@dataclass(frozen=True, slots=True)
class Job:
    """One phase of one run, for one worker."""

    url: str
    """The journal's database URL."""
    world: str
    """Path of the world's SQLite file."""
    seen: str
    """Path of the log of records the worker was told about."""
    scenario: str
    run_id: str
    phase: Phase
    kill: Kill | None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scripted agent's run."""

    script: tuple[ToolCall | FinalAnswer, ...]
    charter: Charter | None = None
    """None: everything is allowed."""

    @property
    def answer(self) -> str:
        """The answer a completed run gives."""
        last = self.script[-1]
        assert isinstance(last, FinalAnswer)
        return last.text

    @property
    def writes(self) -> list[tuple[str, int]]:
        """``(tool, order_id)`` of each write the script asks for."""
        return [
            (step.tool, int(step.args["order_id"]))
            for step in self.script
            if isinstance(step, ToolCall) and step.tool != "lookup"
        ]


class _Plan:
    """The worker's kill plan, read by the tools (one worker per process)."""

    world = ""
    kill: Kill | None = None
    tool_calls = 0


def create_world(path: str) -> None:
    """Create an empty world at ``path``."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE effects (id INTEGER PRIMARY KEY, tool TEXT NOT NULL, "
            "order_id INTEGER NOT NULL, idempotency_key TEXT UNIQUE)"
        )
        db.execute("CREATE TABLE tags (order_id INTEGER PRIMARY KEY)")


def world_effects(path: str) -> list[tuple[str, int]]:
    """``(tool, order_id)`` of every side effect that happened."""
    with closing(sqlite3.connect(path)) as db:
        effects = db.execute("SELECT tool, order_id FROM effects ORDER BY id").fetchall()
        tags = db.execute("SELECT order_id FROM tags").fetchall()
    return [(str(t), int(o)) for t, o in effects] + [("tag", int(o)) for (o,) in tags]


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _touch_world(change: Callable[[sqlite3.Connection], object] | None) -> None:
    """Commit ``change`` to the world, dying before or after it if this call is planned."""
    _Plan.tool_calls += 1
    kill = _Plan.kill
    planned = kill.where if kill is not None and kill.at == _Plan.tool_calls else None
    if planned == "before_effect":
        _die()
    if change is not None:
        with closing(sqlite3.connect(_Plan.world, timeout=10)) as db, db:
            change(db)
    if planned == "after_effect":
        _die()


@tool
def lookup(order_id: int) -> dict[str, int]:
    """Look up an order (read only)."""
    _touch_world(None)
    return {"order_id": order_id, "amount_cents": 1000 * order_id}


@tool(side_effect="write")
def pay(order_id: int, idempotency_key: str | None = None) -> dict[str, int]:
    """Pay an order; a retry under the same idempotency key pays nothing more."""
    _touch_world(
        lambda db: db.execute(
            "INSERT INTO effects (tool, order_id, idempotency_key) VALUES ('pay', ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            (order_id, idempotency_key),
        )
    )
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=None)
def ship(order_id: int) -> dict[str, int]:
    """Ship an order; cannot tell a retry from a new shipment."""
    _touch_world(
        lambda db: db.execute(
            "INSERT INTO effects (tool, order_id) VALUES ('ship', ?)", (order_id,)
        )
    )
    return {"shipped": order_id}


@tool(side_effect="write", idempotent=True)
def tag(order_id: int) -> dict[str, int]:
    """Tag an order as handled (tagging twice is tagging once)."""
    _touch_world(
        lambda db: db.execute("INSERT OR IGNORE INTO tags (order_id) VALUES (?)", (order_id,))
    )
    return {"tagged": order_id}


def _asking(tool_name: str) -> Charter:
    rule = {"id": f"{tool_name}-needs-approval", "effect": "ask", "tools": [tool_name]}
    return Charter.model_validate({"name": f"crash-{tool_name}", "rules": [rule]})


SCENARIOS = {
    "shop": Scenario(
        (
            call("lookup", order_id=1),
            call("pay", order_id=1),
            call("tag", order_id=1),
            call("lookup", order_id=2),
            call("pay", order_id=2),
            respond("paid 1 and 2"),
        )
    ),
    "blind": Scenario(
        (
            call("lookup", order_id=3),
            call("ship", order_id=3),
            call("pay", order_id=4),
            call("ship", order_id=5),
            respond("shipped 3 and 5"),
        )
    ),
    "approved-pay": Scenario(
        (
            call("lookup", order_id=6),
            call("pay", order_id=6),
            call("ship", order_id=7),
            respond("paid 6 once approved"),
        ),
        _asking("pay"),
    ),
    "approved-ship": Scenario(
        (call("ship", order_id=8), call("pay", order_id=9), respond("shipped 8 once approved")),
        _asking("ship"),
    ),
}
"""Reads, keyed writes (``pay``), an idempotent write (``tag``), writes that cannot
recognise a retry (``ship``), and a keyed and an unkeyed write that ask for approval."""


def work(job: Job) -> None:
    """The worker process's target: run ``job``'s phase with a journal of its own."""
    journal = Journal(job.url)
    try:
        drive(journal, job)
    finally:
        journal.close()


def drive(journal: Journal, job: Job) -> None:
    """Run ``job``'s phase on ``journal``, dying where its plan says."""
    _Plan.world, _Plan.kill, _Plan.tool_calls = job.world, job.kill, 0
    log = os.open(job.seen, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    counted = 0

    def on_record(record: Record) -> None:
        nonlocal counted
        os.write(log, f"{record.seq} {record.run_id} {record.kind} {record.hash}\n".encode())
        if record.kind in UNCOUNTED:
            return
        counted += 1
        if job.kill == Kill("record", counted):
            _die()

    runner = Runner(journal, on_record=on_record)
    scenario = SCENARIOS[job.scenario]
    agent = make_agent(
        [lookup, pay, ship, tag], ScriptedReasoner(scenario.script), charter=scenario.charter
    )
    try:
        match job.phase:
            case "run":
                runner.run(agent, f"crash matrix: {job.scenario}", run_id=job.run_id)
            case "recover":
                runner.recover(agent, job.run_id, actor="worker-2")
            case "resume":
                runner.resume(agent, job.run_id, actor="worker-2")
    finally:
        runner.close()
        os.close(log)
