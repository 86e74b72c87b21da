"""Timed-out writes and their retries, in seeded random cases, on SQLite and PostgreSQL.

Each case is one run of a payments agent whose write tool (one that cannot recognise a
retry, or one that takes idempotency keys) times out on some calls and finishes late: in
time after all, just after its timeout, or long after (past the retries), paying or
failing. The agent then retries: at once, or after a pause that may let the late result
arrive first, the identical call or another amount for the same order.

After each case, once every abandoned call has returned: no payment happened twice under
one idempotency key, and none happened that the journal does not record (an ``ok``
effect, or an ``effect.resolved`` that says it happened); every timed-out write was
resolved by its late result with the outcome the world saw; no retry of a write in doubt
ran before it was resolved, unless it was the identical call under the same key of a tool
that takes keys; no step has two effects; the hash chain verifies.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.reasoners import Action, RunContext
from charter.testing import ScriptedReasoner, call, make_agent, respond

CASES = 24
TIMEOUT = 0.05


@dataclass
class World:
    """The payments that happened, and how each call of the case behaves."""

    delays: list[float] = field(default_factory=lambda: [])
    """Seconds each call (in order) takes; past TIMEOUT it is abandoned, in doubt."""
    fails: list[bool] = field(default_factory=lambda: [])
    """Whether each call (in order) fails instead of paying, when its time is up."""
    paid: list[tuple[int, int, str]] = field(default_factory=lambda: [])
    """(order, amount, idempotency key or "") of each payment made."""
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def behave(self) -> tuple[float, bool]:
        with self.lock:
            index = self.calls
            self.calls += 1
        delay = self.delays[index] if index < len(self.delays) else 0.0
        fails = self.fails[index] if index < len(self.fails) else False
        return delay, fails


world = World()


@tool(side_effect="write", timeout_s=TIMEOUT, targets=("order_id",))
def pay(order_id: int, amount: int) -> dict[str, int]:
    """Pay an order (cannot recognise a retry)."""
    delay, fails = world.behave()
    time.sleep(delay)
    if fails:
        raise RuntimeError("card declined")
    with world.lock:
        world.paid.append((order_id, amount, ""))
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=TIMEOUT, targets=("order_id",))
def pay_keyed(order_id: int, amount: int, idempotency_key: str | None = None) -> dict[str, int]:
    """Pay an order once per idempotency key."""
    assert idempotency_key is not None
    delay, fails = world.behave()
    time.sleep(delay)
    if fails:
        raise RuntimeError("card declined")
    with world.lock:
        if all(key != idempotency_key for _, _, key in world.paid):
            world.paid.append((order_id, amount, idempotency_key))
    return {"paid": order_id}


def _retry(order: int, amount: int, tool_name: str, pause: float) -> Callable[[RunContext], Action]:
    def propose(_context: RunContext) -> Action:
        time.sleep(pause)  # a pause may let the late result arrive first
        return call(tool_name, order_id=order, amount=amount)

    return propose


def _case(rng: random.Random) -> tuple[str, list[Any]]:
    tool_name = rng.choice(["pay", "pay_keyed"])
    order = rng.randint(1, 3)
    script: list[Any] = [call(tool_name, order_id=order, amount=10)]
    for _ in range(rng.randint(1, 3)):
        amount = rng.choice([10, 10, 11])  # mostly the identical call
        script.append(_retry(order, amount, tool_name, rng.choice([0.0, 0.0, 0.1, 0.3])))
    script.append(respond("done"))
    calls = len(script) - 1
    world.delays = [rng.choice([0.0, 0.07, 0.2, 0.5]) for _ in range(calls)]
    world.fails = [rng.random() < 0.25 for _ in range(calls)]
    return tool_name, script


def _wait_for_late_results(journal: Journal, run_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        records = list(journal.records(run_id))
        effects = [r.payload for r in records if r.kind == "step.effect"]
        doubts = {p["step"] for p in effects if p.get("in_doubt")}
        late = {
            r.payload["step"]
            for r in records
            if r.kind == "effect.resolved" and r.payload["actor"] == "charter:late-result"
        }
        with world.lock:
            settled = world.calls == 0 or not doubts - late
        if settled:
            return
        time.sleep(0.02)
    raise AssertionError(f"run {run_id}: a late result was never journaled")


def _check(journal: Journal, run_id: str, tool_name: str) -> None:
    records = list(journal.records(run_id))
    effects = [r.payload for r in records if r.kind == "step.effect"]
    steps = Counter(e["step"] for e in effects)
    assert max(steps.values()) == 1, "a step has two effects"
    resolved = [r.payload for r in records if r.kind == "effect.resolved"]
    happened_keys = {e["idempotency_key"] for e in effects if e["status"] == "ok"} | {
        r["idempotency_key"] for r in resolved if r["outcome"] == "happened"
    }
    with world.lock:
        paid = list(world.paid)
    # Nothing paid twice under one key; nothing paid that the journal does not record.
    if tool_name == "pay_keyed":
        keys = [key for _, _, key in paid]
        assert len(keys) == len(set(keys)), f"paid twice under one key: {paid}"
        assert set(keys) <= happened_keys, f"payments {paid} not journaled ({happened_keys})"
    else:
        assert len(paid) == len(happened_keys), f"world {paid} vs journal {happened_keys}"
    # Each late result says what the world saw: it paid iff it happened.
    for late in (r for r in resolved if r["actor"] == "charter:late-result"):
        assert (late["outcome"] == "happened") == (late["status"] == "ok")
    # No call on the order ran while an earlier write on it was in doubt, unless it was
    # the identical call under the same key of a tool that recognises retries.
    decided = {r.payload["step"]: r.payload for r in records if r.kind == "step.decided"}
    open_doubts: dict[str, int] = {}
    for record in records:
        p = record.payload
        if record.kind == "effect.resolved":
            open_doubts = {k: s for k, s in open_doubts.items() if s != p["step"]}
        elif record.kind == "step.effect":
            key = str(p["idempotency_key"])
            if p["status"] in ("ok", "error", "timeout"):
                blocking = [k for k in open_doubts if k != key or tool_name != "pay_keyed"]
                assert not blocking, f"step {p['step']} ran while {blocking} were in doubt"
                assert decided[p["step"]]["verdict"] == "allow"
            if p.get("in_doubt"):
                open_doubts[key] = int(p["step"])
    assert journal.verify().ok


@pytest.mark.parametrize("seed", range(CASES))
def test_timed_out_writes_and_their_retries_never_pay_twice(journal_url: str, seed: int) -> None:
    global world
    world = World()
    rng = random.Random(seed)
    tool_name, script = _case(rng)
    journal = Journal(journal_url)
    runner = Runner(journal, tool_workers=8)
    agent = make_agent([pay, pay_keyed], ScriptedReasoner(script))
    try:
        run = runner.run(agent, f"in-doubt case {seed}")
        assert run.status == "completed", run.error
        _wait_for_late_results(journal, run.run_id)
        _check(journal, run.run_id, tool_name)
    finally:
        runner.close()
        journal.close()
