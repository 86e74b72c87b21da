"""Writes in doubt: a timed-out write blocks any repeat on its target until its late result
arrives or an operator resolves it, so a retry never makes a payment twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.errors import RunStateError
from charter.journal import Record
from charter.reasoners import RunContext, ToolCall
from charter.runtime._ledger import EffectLedger, resolve_in_doubt
from charter.testing import ScriptedReasoner, call, make_agent, respond

payments: list[tuple[int, int]] = []
hung: list[int] = []
keys: dict[str, int] = {}
release = threading.Event()
fail_late = threading.Event()


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
def pay(order_id: int, amount: int = 10) -> dict[str, int]:
    """Pay an order; the first call of a test hangs past its timeout, then pays."""
    hung.append(order_id)
    if len(hung) == 1 and not release.is_set():
        release.wait(5)
        if fail_late.is_set():
            raise RuntimeError("card declined")
    payments.append((order_id, amount))
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=0.05)
def pay_keyed(order_id: int, idempotency_key: str | None = None) -> dict[str, Any]:
    """Pay an order once per idempotency key; the first call hangs past its timeout."""
    first = not keys
    assert idempotency_key is not None
    if idempotency_key not in keys:
        keys[idempotency_key] = order_id
        payments.append((order_id, 0))
    if first and not release.is_set():
        release.wait(5)
    return {"paid": order_id, "key": idempotency_key}


refunds: list[tuple[int, Any]] = []


def _refund(*, result: Any, **args: Any) -> None:
    refunds.append((args["order_id"], result))


@tool(side_effect="write", timeout_s=0.05, compensate=_refund)
def pay_undoable(order_id: int) -> dict[str, int]:
    """Pay an order (refundable); hangs past its timeout until released."""
    release.wait(5)
    payments.append((order_id, 0))
    return {"paid": order_id}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    payments.clear()
    refunds.clear()
    hung.clear()
    keys.clear()
    release.clear()
    fail_late.clear()
    yield
    release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    r = Runner(journal)
    yield r
    release.set()
    r.close()


def _decided(journal: Journal, run_id: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == "step.decided"]


def _effects(journal: Journal, run_id: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == "step.effect"]


def _wait_for_resolution(journal: Journal, run_id: str) -> Record:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in journal.records(run_id) if r.kind == "effect.resolved"]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError("the late result was never journaled")


def test_an_identical_retry_of_a_timed_out_write_is_denied_while_in_doubt(
    runner: Runner, journal: Journal
) -> None:
    script = [call("pay", order_id=7), call("pay", order_id=7), respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    first, second = _decided(journal, run.run_id)
    assert first["verdict"] == "allow"
    assert (second["verdict"], second["rules"]) == ("deny", ["effect.in_doubt"])
    assert "charter runs resolve" in second["reason"]
    release.set()
    _wait_for_resolution(journal, run.run_id)
    assert payments == [(7, 10)]  # once: the retry never ran


def test_another_call_on_the_same_target_is_denied_and_another_target_is_not(
    runner: Runner, journal: Journal
) -> None:
    script = [
        call("pay", order_id=7),
        call("pay", order_id=7, amount=11),  # same order: could pay it twice
        call("pay", order_id=8),
        respond("done"),
    ]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay orders")

    verdicts = [(d["verdict"], d["rules"][0]) for d in _decided(journal, run.run_id)]
    assert verdicts[1] == ("deny", "effect.in_doubt")
    assert verdicts[2][0] == "allow"
    release.set()
    _wait_for_resolution(journal, run.run_id)
    assert sorted(payments) == [(7, 10), (8, 10)]


def test_a_late_result_is_journaled_and_then_the_repeat_rule_applies(
    runner: Runner, journal: Journal
) -> None:
    def after_the_late_result(context: RunContext) -> ToolCall:
        release.set()
        _wait_for_resolution(journal, context.run_id or "")
        return call("pay", order_id=7)

    script = [call("pay", order_id=7), after_the_late_result, respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    resolved = _wait_for_resolution(journal, run.run_id).payload
    assert resolved["outcome"] == "happened" and resolved["result"] == {"paid": 7}
    assert resolved["idempotency_key"] == f"{run.run_id}:1:1"
    assert resolved["actor"] == "charter:late-result"
    second = _decided(journal, run.run_id)[1]
    assert (second["verdict"], second["rules"]) == ("deny", ["charter.repeat_writes"])
    assert payments == [(7, 10)]


def test_a_late_failure_unblocks_a_retry_under_the_same_key(
    runner: Runner, journal: Journal
) -> None:
    fail_late.set()

    def after_the_late_failure(context: RunContext) -> ToolCall:
        release.set()
        _wait_for_resolution(journal, context.run_id or "")
        return call("pay", order_id=7)

    script = [call("pay", order_id=7), after_the_late_failure, respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    resolved = _wait_for_resolution(journal, run.run_id).payload
    assert resolved["outcome"] == "did_not_happen" and "card declined" in resolved["error"]
    first, second = _effects(journal, run.run_id)
    assert second["status"] == "ok"
    assert second["idempotency_key"] == first["idempotency_key"] == f"{run.run_id}:1:1"
    assert payments == [(7, 10)]


def test_a_keyed_tool_may_retry_the_identical_call_under_the_same_key(
    runner: Runner, journal: Journal
) -> None:
    script = [
        call("pay_keyed", order_id=7),
        call("pay_keyed", order_id=7),
        call("pay_keyed", order_id=7),  # done once now: the repeat rule decides
        respond("done"),
    ]
    run = runner.run(make_agent([pay_keyed], ScriptedReasoner(script)), "pay order 7")

    first, second, third = _decided(journal, run.run_id)
    assert (first["verdict"], second["verdict"]) == ("allow", "allow")
    assert third["rules"] == ["charter.repeat_writes"]
    timed_out, retried = _effects(journal, run.run_id)[:2]
    assert timed_out["status"] == "timeout" and retried["status"] == "ok"
    assert retried["idempotency_key"] == timed_out["idempotency_key"] == f"{run.run_id}:1:1"
    assert payments == [(7, 0)]
    resolved = [r.payload for r in journal.records(run.run_id) if r.kind == "effect.resolved"]
    assert resolved[0]["outcome"] == "happened" and resolved[0]["actor"] == "charter:retry"
    replayed = EffectLedger.replay(journal.records(run.run_id), {"pay_keyed": pay_keyed}.get)
    assert not replayed.doubts  # the retry under the key settles it in the journal too


def test_an_operator_resolution_unblocks_the_target(runner: Runner, journal: Journal) -> None:
    def after_the_operator(context: RunContext) -> ToolCall:
        resolve_in_doubt(journal, context.run_id or "", 1, "did_not_happen", actor="kim")
        return call("pay", order_id=7)

    script = [call("pay", order_id=7), after_the_operator, respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    resolved = next(r.payload for r in journal.records(run.run_id) if r.kind == "effect.resolved")
    assert (resolved["outcome"], resolved["actor"]) == ("did_not_happen", "kim")
    second = _decided(journal, run.run_id)[1]
    assert second["verdict"] == "allow"
    assert _effects(journal, run.run_id)[1]["idempotency_key"] == f"{run.run_id}:1:1"


def test_resolving_what_is_not_in_doubt_is_refused(runner: Runner, journal: Journal) -> None:
    script = [call("pay", order_id=7), respond("done")]
    release.set()  # it pays in time: nothing in doubt
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    with pytest.raises(RunStateError, match="not in doubt"):
        resolve_in_doubt(journal, run.run_id, 1, "happened", actor="kim")
    with pytest.raises(RunStateError, match="no step 9"):
        resolve_in_doubt(journal, run.run_id, 9, "happened", actor="kim")


def test_resolving_twice_is_refused(runner: Runner, journal: Journal) -> None:
    script = [call("pay", order_id=7), respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    resolve_in_doubt(journal, run.run_id, 1, "happened", actor="kim")
    with pytest.raises(RunStateError, match="already resolved"):
        resolve_in_doubt(journal, run.run_id, 1, "did_not_happen", actor="lee")


def test_the_ledger_of_a_journaled_run_keeps_its_doubts(runner: Runner, journal: Journal) -> None:
    script = [call("pay", order_id=7), respond("done")]
    run = runner.run(make_agent([pay], ScriptedReasoner(script)), "pay order 7")

    ledger = EffectLedger.replay(journal.records(run.run_id), {"pay": pay}.get)
    assert [d.step for d in ledger.doubts.values()] == [1]
    release.set()
    _wait_for_resolution(journal, run.run_id)
    ledger = EffectLedger.replay(journal.records(run.run_id), {"pay": pay}.get)
    assert not ledger.doubts
    assert ledger.key(run.run_id, 5, '["pay",{"amount":10,"order_id":7}]') == f"{run.run_id}:1:2"


def test_a_rollback_undoes_an_in_doubt_write_its_late_result_says_happened(
    runner: Runner, journal: Journal
) -> None:
    from charter.runtime._rollback import rollback

    agent = make_agent(
        [pay_undoable], ScriptedReasoner([call("pay_undoable", order_id=7), respond("ok")])
    )
    run = runner.run(agent, "pay order 7")
    release.set()
    _wait_for_resolution(journal, run.run_id)

    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert [(i.tool, i.outcome) for i in report.items] == [("pay_undoable", "compensated")]
    assert refunds == [(7, {"paid": 7})]  # compensated with the late result


def test_a_rollback_skips_an_in_doubt_write_resolved_as_not_happened(
    runner: Runner, journal: Journal
) -> None:
    from charter.runtime._rollback import rollback

    agent = make_agent(
        [pay_undoable], ScriptedReasoner([call("pay_undoable", order_id=7), respond("ok")])
    )
    run = runner.run(agent, "pay order 7")
    resolve_in_doubt(journal, run.run_id, 1, "did_not_happen", actor="kim")

    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert report.items == [] and refunds == []
