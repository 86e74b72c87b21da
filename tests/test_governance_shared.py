"""What governed runs of one process share (each journal's operator controls as last read,
each agent's version id) never lets one run see a stale or another run's state: a control
another process adds reaches a run opened afterwards, a charter changed between runs is the
next run's, runs opened by two threads at once each journal their own records, and a run
taken over by another process is fenced out while the process's other runs go on."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from charter import Agent, Charter, GovernedRun, Journal, declared_tool
from charter.errors import LeaseLostError
from charter.journal._kinds import RunStarted, payload_as
from charter.runtime import Controls
from charter.testing import ScriptedReasoner, make_agent

lookup = declared_tool(
    "lookup_order",
    args_schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
)
tag = declared_tool(
    "tag_order",
    args_schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
    side_effect="write",
    targets=("order_id",),
)


def _agent(name: str = "shared", rules: list[dict[str, object]] | None = None) -> Agent:
    built = Charter.model_validate(
        {"name": name, "budgets": {"max_steps": 50}, "rules": rules or []}
    )
    return make_agent([lookup, tag], ScriptedReasoner([]), charter=built, name=name)


@pytest.fixture(params=["memory", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield "sqlite://" if request.param == "memory" else f"sqlite:///{tmp_path / 'journal.db'}"


def _started(journal: Journal, run_id: str) -> RunStarted:
    return payload_as(RunStarted, next(iter(journal.records(run_id))).payload)


def _one_call(run: GovernedRun, tool: str, order: int) -> str:
    verdict = run.govern(tool, {"order_id": order})
    if verdict.runs:
        run.record(verdict, result={"order_id": order})
    return verdict.verdict


def test_a_control_another_process_adds_reaches_a_run_opened_afterwards(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    journal = Journal(url)
    first = GovernedRun.open(journal, _agent(), "look up orders")
    assert _one_call(first, "lookup_order", 1) == "allow"  # the controls are read and kept
    first.finish("done")

    Controls(Journal(url)).revoke("lookup_order", actor="secops", reason="leak suspected")
    second = GovernedRun.open(journal, _agent(), "look up orders")
    denied = second.govern("lookup_order", {"order_id": 2})

    assert (denied.verdict, denied.rules) == ("deny", ("inventory.revoked",))
    Controls(Journal(url)).restore("lookup_order", actor="secops")
    assert _one_call(second, "lookup_order", 3) == "allow"
    second.finish("done")


def test_a_control_another_thread_adds_to_an_in_memory_journal_reaches_the_next_call() -> None:
    journal = Journal("sqlite://")
    run = GovernedRun.open(journal, _agent(), "tag orders")
    assert _one_call(run, "tag_order", 1) == "allow"

    pausing = threading.Thread(
        target=lambda: Controls(journal).pause("shared", actor="oncall", reason="incident 7")
    )
    pausing.start()
    pausing.join()

    stopped = run.govern("tag_order", {"order_id": 2})
    assert (stopped.verdict, stopped.rules) == ("deny", ("control.stopped",))
    assert run.run.status == "stopped"


def test_a_charter_changed_between_runs_decides_the_next_run(url: str) -> None:
    journal = Journal(url)
    agent = _agent()
    with GovernedRun.open(journal, agent, "tag orders") as run:
        assert _one_call(run, "tag_order", 1) == "allow"
        run.finish("done")
    first_version = payload_as(RunStarted, next(iter(journal.records(run.run_id))).payload).get(
        "version_id"
    )

    agent.charter = Charter.model_validate(
        {
            "name": "shared",
            "budgets": {"max_steps": 50},
            "rules": [{"id": "no-tags", "effect": "deny", "tools": ["tag_order"]}],
        }
    )
    with GovernedRun.open(journal, agent, "tag orders") as again:
        denied = again.govern("tag_order", {"order_id": 2})
        again.finish("done")

    assert (denied.verdict, denied.rules) == ("deny", ("no-tags",))
    started = _started(journal, again.run_id)
    assert started.get("version_id") != first_version
    assert started.get("charter", {}).get("policy") == agent.charter.policy_hash
    policies = [r.payload["policy"] for r in journal.records_of_kind("policy.version")]
    assert agent.charter.policy_hash in policies  # each version journaled, to explain it


def test_two_agents_of_one_name_are_each_decided_by_their_own_charter(url: str) -> None:
    journal = Journal(url)
    lenient = _agent("twin")
    strict = _agent("twin", [{"id": "no-tags", "effect": "deny", "tools": ["tag_order"]}])

    runs = [GovernedRun.open(journal, agent, "tag orders") for agent in (lenient, strict)]
    verdicts = [_one_call(run, "tag_order", 1) for run in runs]
    for run in runs:
        run.finish("done")

    assert verdicts == ["allow", "deny"]
    versions = [
        payload_as(RunStarted, next(iter(journal.records(run.run_id))).payload).get("version_id")
        for run in runs
    ]
    assert versions == [lenient.version_id, strict.version_id]
    assert versions[0] != versions[1]


def test_runs_opened_by_two_threads_at_once_each_journal_their_own_calls(url: str) -> None:
    journal = Journal(url)
    agent = _agent()
    opened: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def drive(offset: int) -> None:
        try:
            start.wait()
            for n in range(8):
                run = GovernedRun.open(journal, agent, "look up orders")
                opened.append(run.run_id)
                for call in range(3):
                    assert _one_call(run, "lookup_order", offset + 10 * n + call) == "allow"
                run.finish("done")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=drive, args=(offset,)) for offset in (0, 1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(set(opened)) == 16
    for run_id in opened:
        records = list(journal.records(run_id))
        kinds = [r.kind for r in records]
        assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
        assert kinds.count("step.effect") == kinds.count("step.observed") == 3
        steps = [r.payload["step"] for r in records if r.kind == "step.decided"]
        assert steps == [1, 2, 3]
        offsets = {
            r.payload["action"]["args"]["order_id"] // 1000
            for r in records
            if r.kind == "step.proposed" and "args" in r.payload["action"]
        }
        assert len(offsets) == 1  # one thread's calls only
    assert journal.verify().problems == []  # one chain, whichever thread appended


def test_a_run_taken_over_by_another_process_is_fenced_out_while_the_others_go_on(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    journal = Journal(url)
    agent = _agent()
    taken = GovernedRun.open(journal, agent, "tag orders")
    kept = GovernedRun.open(journal, agent, "tag orders")
    verdict = taken.govern("tag_order", {"order_id": 1})
    assert verdict.runs

    other = Journal(url)  # another process: the owner stalled past its lease
    with other.engine.begin() as conn:
        conn.execute(
            text("UPDATE run_leases SET expires_ms = 0 WHERE run_id = :r"), {"r": taken.run_id}
        )
    successor = GovernedRun.resume(other, agent, taken.run_id, actor="ops")

    with pytest.raises(LeaseLostError):
        taken.record(verdict, result={"order_id": 1})
    taken.close()
    assert _one_call(kept, "tag_order", 2) == "allow"  # this process's other run goes on
    kept.finish("done")
    successor.finish(error="taken over")
    successor.close()

    effects = [r.payload for r in other.records(taken.run_id) if r.kind == "step.effect"]
    assert [(e["step"], e["status"]) for e in effects] == [(1, "in_doubt")]
    assert [r.kind for r in other.records(kept.run_id)][-1] == "run.finished"
    assert other.verify().problems == []


def test_what_runs_share_does_not_keep_a_journal_alive(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    with GovernedRun.open(journal, _agent(), "look up orders") as run:
        assert _one_call(run, "lookup_order", 1) == "allow"
        run.finish("done")
    gone = weakref.ref(journal)
    journal.close()

    del journal, run
    gc.collect()

    assert gone() is None
