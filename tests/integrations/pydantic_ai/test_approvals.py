"""An ``ask`` on a governed Pydantic AI agent: the run ends with the calls Pydantic AI
holds for approval, a person answers in charter (CLI or API, another process), and the
run resumes from its serialised history in a new process; the signed receipt is checked
against exactly the call about to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

from pydantic_ai import DeferredToolRequests, ToolApproved
from pydantic_ai.messages import ModelMessagesTypeAdapter

from charter import Journal
from charter.errors import RunStateError
from charter.integrations.pydantic_ai import (
    AFTER_KEY,
    REQUEST_KEY,
    RUN_KEY,
    GovernedAgent,
    approvals,
    govern,
)
from charter.runtime._approvals import Approvals
from integrations.pydantic_ai.pyd_world import (
    REFUND_TURNS,
    Script,
    charter,
    outbox,
    refunds,
    support_agent,
)

WORLD_MODULE = "integrations.pydantic_ai.pyd_world"


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    tests = Path(__file__).parents[2]
    return os.environ | {
        "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent), *sys.path]),
        "CHARTER_DATABASE_URL": url,
        "CHARTER_HOME": str(tmp_path / "home"),
    }


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_an_ask_approved_in_the_cli_resumes_in_a_new_process(
    journal: Journal, tmp_path: Path
) -> None:
    url = journal.engine.url.render_as_string(hide_password=False)
    world, state, env = tmp_path / "orders.db", tmp_path / "state.json", _env(tmp_path, url)

    def world_process(command: str) -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", WORLD_MODULE, command, url, str(world), str(state)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "charter", *args], env=env, capture_output=True, text=True
        )

    code, started = world_process("start")
    assert code == 0 and refunds(world) == []
    code, early = world_process("resume")  # nobody has answered yet
    assert code == 2 and started["request"] in early["error"]
    approved = cli("approvals", "approve", started["request"], "--as", "dana", "--reason", "ok")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    code, resumed = world_process("resume")
    assert code == 0, resumed
    assert resumed["output"] == "Refunded order 1042." and resumed["ran"] == ["refund_order"]
    assert refunds(world) == [(1042, 42.0)]
    kinds = _kinds(journal, started["run"])
    assert kinds.count("approval.used") == 1 and kinds[-1] == "run.finished"
    audit = cli("audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _held(journal: Journal, world: Path, turns: list[Any]) -> tuple[Any, DeferredToolRequests]:
    """Run until a call is held; return the history (serialised and read back, as another
    process would) and the held calls."""
    governed = govern(support_agent(Script(turns), world), journal=journal, charter=charter())
    result = governed.run_sync("refund order 1042")
    assert isinstance(result.output, DeferredToolRequests)
    history = ModelMessagesTypeAdapter.validate_json(
        ModelMessagesTypeAdapter.dump_json(result.all_messages())
    )
    return history, result.output


def _fresh(
    journal: Journal, world: Path, turns: list[Any]
) -> tuple[GovernedAgent, Script, list[str]]:
    script = Script(turns)
    ran: list[str] = []
    return (
        govern(support_agent(script, world, ran), journal=journal, charter=charter()),
        script,
        ran,
    )


def _request(requests: DeferredToolRequests) -> tuple[str, str]:
    call = requests.approvals[0]
    return call.tool_call_id, str(requests.metadata[call.tool_call_id][REQUEST_KEY])


def test_an_approval_given_for_other_arguments_is_refused(journal: Journal, tmp_path: Path) -> None:
    world = tmp_path / "orders.db"
    history, requests = _held(journal, world, REFUND_TURNS)
    call_id, request_id = _request(requests)
    Approvals(journal).approve(request_id, "dana", "ok")
    results = approvals(requests)
    results.approvals[call_id] = ToolApproved(override_args={"order_id": 1042, "amount": 4200.0})
    governed, script, ran = _fresh(journal, world, REFUND_TURNS)
    result = governed.run_sync(message_history=history, deferred_tool_results=results)
    assert ran == [] and refunds(world) == []
    assert "approval" in script.failures()[0] and "another call" in script.failures()[0]
    assert result.output == "Refunded order 1042."  # the script's words; nothing was refunded
    run_id = str(requests.metadata[call_id][RUN_KEY])
    effect = [r.payload for r in journal.records(run_id) if r.kind == "step.effect"][-1]
    assert effect["status"] == "error" and "4200" in effect["error"]


def test_an_approval_naming_another_request_is_refused(journal: Journal, tmp_path: Path) -> None:
    world = tmp_path / "orders.db"
    history, requests = _held(journal, world, REFUND_TURNS)
    call_id, request_id = _request(requests)
    _, other_requests = _held(journal, world, REFUND_TURNS)  # another run's refund
    _, other_id = _request(other_requests)
    Approvals(journal).approve(request_id, "dana", "ok")
    Approvals(journal).approve(other_id, "dana", "ok")
    results = approvals(requests)
    results.metadata[call_id] = dict(results.metadata[call_id]) | {REQUEST_KEY: other_id}
    governed, script, ran = _fresh(journal, world, REFUND_TURNS)
    governed.run_sync(message_history=history, deferred_tool_results=results)
    assert ran == [] and refunds(world) == []
    assert f"approval {other_id} is not the one" in script.failures()[0]


def test_a_denied_approval_reaches_the_model_and_nothing_runs(
    journal: Journal, tmp_path: Path
) -> None:
    world = tmp_path / "orders.db"
    history, requests = _held(journal, world, REFUND_TURNS)
    _, request_id = _request(requests)
    Approvals(journal).deny(request_id, "dana", "over the limit")
    governed, script, ran = _fresh(journal, world, REFUND_TURNS)
    governed.run_sync(message_history=history, deferred_tool_results=approvals(requests))
    assert ran == [] and refunds(world) == []
    assert "charter denied refund_order" in script.failures()[0]


def test_a_framework_approval_without_charters_receipt_is_decided_again(
    journal: Journal, tmp_path: Path
) -> None:
    world = tmp_path / "orders.db"
    history, requests = _held(journal, world, REFUND_TURNS)
    call_id, request_id = _request(requests)
    run_id = str(requests.metadata[call_id][RUN_KEY])
    results = requests.build_results(approve_all=True)  # no charter request named
    governed, _, ran = _fresh(journal, world, REFUND_TURNS)
    with pytest.raises(ValueError, match="charter_run_id"):
        governed.run_sync(message_history=history, deferred_tool_results=results)
    with pytest.raises(RunStateError, match=f"waits for approval {request_id}"):
        governed.run_sync(
            message_history=history, deferred_tool_results=results, charter_run_id=run_id
        )
    Approvals(journal).approve(request_id, "dana", "ok")
    again = governed.run_sync(
        message_history=history, deferred_tool_results=results, charter_run_id=run_id
    )
    # The framework's bare approval counts for nothing: the call is decided anew by charter
    # and held again for a person.
    assert ran == [] and refunds(world) == []
    assert isinstance(again.output, DeferredToolRequests)
    _, asked_again = _request(again.output)
    assert asked_again != request_id


def test_calls_after_a_held_one_wait_with_it_and_are_decided_on_resume(
    journal: Journal, tmp_path: Path
) -> None:
    world = tmp_path / "orders.db"
    turns: list[Any] = [
        [
            ("refund_order", {"order_id": 1042, "amount": 42.0}),
            ("send_email", {"to": "kim@example.com", "body": "refunded"}),
        ],
        "Refunded and told Kim.",
    ]
    history, requests = _held(journal, world, turns)
    assert [c.tool_name for c in requests.approvals] == ["refund_order", "send_email"]
    second = requests.metadata[requests.approvals[1].tool_call_id]
    _, request_id = _request(requests)
    assert second[AFTER_KEY] == request_id and REQUEST_KEY not in second
    Approvals(journal).approve(request_id, "dana", "ok")
    governed, _, ran = _fresh(journal, world, turns)
    result = governed.run_sync(message_history=history, deferred_tool_results=approvals(requests))
    assert result.output == "Refunded and told Kim."
    assert ran == ["refund_order", "send_email"] and outbox(world) == ["kim@example.com"]
    assert governed.last_run_id is not None and journal.verify().ok


def test_passing_the_same_approval_back_twice_refunds_once(
    journal: Journal, tmp_path: Path
) -> None:
    world = tmp_path / "orders.db"
    history, requests = _held(journal, world, REFUND_TURNS)
    _, request_id = _request(requests)
    Approvals(journal).approve(request_id, "dana", "ok")
    first, _, _ = _fresh(journal, world, REFUND_TURNS)
    first.run_sync(message_history=history, deferred_tool_results=approvals(requests))
    again, _, ran = _fresh(journal, world, REFUND_TURNS)
    with pytest.raises(RunStateError, match="finished"):
        again.run_sync(message_history=history, deferred_tool_results=approvals(requests))
    assert ran == [] and refunds(world) == [(1042, 42.0)]


def test_calls_held_by_the_agents_own_approval_are_left_to_its_caller(
    journal: Journal, tmp_path: Path
) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.function import FunctionModel

    script = Script([[("wipe_cache", {})], "wiped"])
    agent = Agent(FunctionModel(script))
    wiped: list[bool] = []

    @agent.tool_plain(requires_approval=True)  # the agent's own human in the loop
    def wipe_cache() -> str:
        wiped.append(True)
        return "wiped"

    governed = govern(agent, journal=journal, charter=charter(contracts={"wipe_cache": {}}))
    first = governed.run_sync("wipe the cache")
    held = first.output
    assert isinstance(held, DeferredToolRequests) and wiped == []
    assert approvals(held).approvals == {}  # not charter's to answer
    run_id = str(governed.last_run_id)
    # Pydantic AI holds the call before it reaches any toolset: charter decided nothing yet.
    assert "step.decided" not in _kinds(journal, run_id)
    done = governed.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=held.build_results(approve_all=True),
        charter_run_id=run_id,
    )
    assert done.output == "wiped" and wiped == [True]  # charter decided it when it came
    decided = [r.payload for r in journal.records(run_id) if r.kind == "step.decided"]
    assert [d["verdict"] for d in decided] == ["allow"]


def test_results_naming_two_governed_runs_are_refused(journal: Journal, tmp_path: Path) -> None:
    world = tmp_path / "orders.db"
    history, first = _held(journal, world, REFUND_TURNS)
    _, second = _held(journal, world, REFUND_TURNS)
    mixed = approvals(first)
    other = approvals(second).metadata.popitem()[1]
    mixed.metadata["another-call"] = other  # a second run's held call
    governed, _, ran = _fresh(journal, world, REFUND_TURNS)
    with pytest.raises(ValueError, match="several charter runs"):
        governed.run_sync(message_history=history, deferred_tool_results=mixed)
    assert ran == []
