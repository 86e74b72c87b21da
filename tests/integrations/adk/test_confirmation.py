"""`ask` as ADK tool confirmation: the call runs only on charter's receipt for exactly it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService, Session
from google.genai import types

from charter import Journal
from charter.integrations.adk import (
    REQUEST_KEY,
    confirmation_message,
    pending_confirmations,
    tool_responses,
)
from charter.runtime._approvals import Approvals
from integrations.adk.adk_world import (
    APP,
    ASK_REFUNDS,
    USER,
    ask,
    new_session,
    ran,
    responses,
    run_turn,
    shop,
    shop_charter,
    turn,
)

SCRIPT: list[Any] = [
    ("lookup_order", {"order_id": 1042}),
    ("refund_order", {"order_id": 1042, "amount": 42.0}),
    "Refunded order 1042.",
]
TESTS = Path(__file__).resolve().parents[2]
ALICE = ("--as", "alice", "--reason", "damaged")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _session(runner: Runner, session_id: str) -> Session:
    async def get() -> Session | None:
        return await runner.session_service.get_session(
            app_name=APP, user_id=USER, session_id=session_id
        )

    found = asyncio.run(get())
    assert found is not None
    return found


def _asked(journal: Journal, sessions: InMemorySessionService) -> tuple[Runner, str, str]:
    """A refund paused on its confirmation: the runner, the session and the request."""
    runner, plugin, _ = shop(journal, SCRIPT, shop_charter(rules=[ASK_REFUNDS]), sessions)
    session_id = new_session(runner)
    run_turn(runner, session_id, ask("refund order 1042"))
    assert plugin.run_id(session_id) is None  # the waiting run was let go
    pending = pending_confirmations(_session(runner, session_id))
    assert len(pending) == 1
    confirmation = (pending[0].args or {})["toolConfirmation"]
    return runner, session_id, str(confirmation["payload"][REQUEST_KEY])


def _kinds(journal: Journal) -> list[str]:
    return [r.kind for r in journal.records()]


def test_an_ask_pauses_the_run_on_an_adk_confirmation(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    assert [name for name, _ in ran] == ["lookup_order"]
    state = Approvals(journal).get(request)
    assert state.status == "pending" and state.request.tool == "refund_order"
    assert _session(runner, session_id).state["charter_run_id"] == state.request.run_id
    kinds = _kinds(journal)
    assert "approval.requested" in kinds and kinds[-1] == "run.waiting"


def test_the_confirmation_waits_for_the_approval_then_the_call_runs(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    assert confirmation_message(_session(runner, session_id), journal) is None  # undecided
    Approvals(journal).approve(request, "alice", "damaged in transit")
    message = confirmation_message(_session(runner, session_id), journal)
    assert message is not None
    events = run_turn(runner, session_id, message)
    assert [name for name, _ in ran] == ["lookup_order", "refund_order"]
    assert responses(events)["refund_order"] == {"result": "refunded 42.00 on order 1042"}
    kinds = _kinds(journal)
    assert kinds.count("approval.used") == 1 and kinds[-1] == "run.finished"
    finished = next(r.payload for r in journal.records() if r.kind == "run.finished")
    assert finished["status"] == "completed" and finished["answer"] == "Refunded order 1042."
    assert journal.verify().ok


def test_a_denied_approval_reaches_the_model_as_the_tools_error(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    Approvals(journal).deny(request, "alice", "not damaged")
    message = confirmation_message(_session(runner, session_id))  # confirmed regardless
    assert message is not None
    run_turn(runner, session_id, message)
    assert [name for name, _ in ran] == ["lookup_order"]
    model = runner.app.root_agent.model  # type: ignore[union-attr]
    seen = tool_responses(model.requests[-1])  # type: ignore[union-attr]
    assert "charter denied refund_order" in seen[-1]["error"]


def _confirm_with(session: Session, payload: Any, *, confirmed: bool = True) -> types.Content:
    call = pending_confirmations(session)[0]
    return types.Content(
        role="user",
        parts=[
            types.Part(
                function_response=types.FunctionResponse(
                    name="adk_request_confirmation",
                    id=call.id,
                    response={"confirmed": confirmed, "payload": payload},
                )
            )
        ],
    )


def test_a_receipt_for_another_call_is_refused(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, first, _ = _asked(journal, sessions)
    _, _, other = _asked(journal, sessions)
    Approvals(journal).approve(other, "alice", "ok")  # approves the second session's call
    events = run_turn(runner, first, _confirm_with(_session(runner, first), {REQUEST_KEY: other}))
    assert "another run" in responses(events)["refund_order"]["error"]
    assert [name for name, _ in ran] == ["lookup_order", "lookup_order"]


@pytest.mark.parametrize(
    ("payload", "confirmed", "why"),
    [
        (None, True, "carries no charter approval"),
        ({REQUEST_KEY: "apr-forged"}, True, "no approval request"),
        ("approved!", True, "carries no charter approval"),
    ],
)
def test_a_confirmation_without_a_real_charter_approval_is_refused(
    journal: Journal, payload: Any, confirmed: bool, why: str
) -> None:
    sessions = InMemorySessionService()
    runner, session_id, _ = _asked(journal, sessions)
    message = _confirm_with(_session(runner, session_id), payload, confirmed=confirmed)
    events = run_turn(runner, session_id, message)
    assert why in responses(events)["refund_order"]["error"]
    assert [name for name, _ in ran] == ["lookup_order"]


def test_a_confirmation_sent_before_the_approval_ends_the_call_unrun(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    early = confirmation_message(_session(runner, session_id))
    assert early is not None
    events = run_turn(runner, session_id, early)
    assert "still undecided" in responses(events)["refund_order"]["error"]
    Approvals(journal).approve(request, "alice", "late")
    assert [name for name, _ in ran] == ["lookup_order"]
    assert "approval.used" not in _kinds(journal)


def test_a_declined_confirmation_does_not_run_even_if_approved(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    Approvals(journal).approve(request, "alice", "ok")
    message = confirmation_message(_session(runner, session_id), confirmed=False)
    assert message is not None
    events = run_turn(runner, session_id, message)
    assert "not confirmed" in responses(events)["refund_order"]["error"]
    assert [name for name, _ in ran] == ["lookup_order"]


def test_an_approval_under_another_policy_version_is_refused(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    Approvals(journal).approve(request, "alice", "ok")
    changed = shop_charter(rules=[ASK_REFUNDS], budgets={"max_steps": 40})
    runner, _, _ = shop(journal, SCRIPT, changed, sessions)  # a redeployed agent
    message = confirmation_message(_session(runner, session_id))
    assert message is not None
    events = run_turn(runner, session_id, message)
    assert "approval.invalid" in responses(events)["refund_order"]["error"]
    assert [name for name, _ in ran] == ["lookup_order"]
    assert "approval.rejected" in _kinds(journal)


CROSS = textwrap.dedent(
    """
    import asyncio, json, sys
    from google.adk.sessions import DatabaseSessionService
    from charter import Journal
    from charter.integrations.adk import REQUEST_KEY, confirmation_message, pending_confirmations
    from integrations.adk.adk_world import (
        APP, ASK_REFUNDS, USER, ask, ran, responses, run_turn, shop, shop_charter)

    mode, journal_url, sessions_url = sys.argv[1:4]
    sessions = DatabaseSessionService(sessions_url)
    script = [("lookup_order", {"order_id": 1042}),
              ("refund_order", {"order_id": 1042, "amount": 42.0}), "Refunded order 1042."]
    runner, plugin, _ = shop(Journal(journal_url), script, shop_charter(rules=[ASK_REFUNDS]),
                             sessions)

    async def session(session_id):
        return await sessions.get_session(app_name=APP, user_id=USER, session_id=session_id)

    if mode == "open":
        made = asyncio.run(sessions.create_session(app_name=APP, user_id=USER))
        run_turn(runner, made.id, ask("refund order 1042"))
        call = pending_confirmations(asyncio.run(session(made.id)))[0]
        request = call.args["toolConfirmation"]["payload"][REQUEST_KEY]
        print(json.dumps({"session": made.id, "request": request, "ran": [n for n, _ in ran]}))
    else:
        message = confirmation_message(asyncio.run(session(sys.argv[4])))
        events = run_turn(runner, sys.argv[4], message)
        print(json.dumps({"ran": [n for n, _ in ran], "refund": responses(events)["refund_order"]}))
    """
)


def test_an_approval_from_the_cli_resumes_the_adk_run_in_a_third_process(
    journal: Journal, tmp_path: Path
) -> None:
    journal_url = str(journal.engine.url)
    sessions_url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    script = tmp_path / "shop_process.py"
    script.write_text(CROSS)
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
        "CHARTER_DATABASE_URL": journal_url,
        "CHARTER_HOME": str(tmp_path / "home"),
    }

    def python(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(script), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    opened = python("open", journal_url, sessions_url)
    assert opened["ran"] == ["lookup_order"]
    approve = subprocess.run(
        [sys.executable, "-m", "charter", "approvals", "approve", opened["request"], *ALICE],
        env=env,
        capture_output=True,
        text=True,
    )
    assert approve.returncode == 0, approve.stdout + approve.stderr
    resumed = python("resume", journal_url, sessions_url, opened["session"])
    assert resumed == {
        "ran": ["refund_order"],
        "refund": {"result": "refunded 42.00 on order 1042"},
    }
    kinds = _kinds(journal)
    assert kinds.count("approval.used") == 1 and kinds[-1] == "run.finished"
    used = next(r.payload for r in journal.records() if r.kind == "approval.used")
    assert used.get("approver", "alice") == "alice"
    assert journal.verify().ok


def test_one_approval_answered_twice_at_once_runs_the_call_once(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, session_id, request = _asked(journal, sessions)
    other, _, _ = shop(journal, SCRIPT, shop_charter(rules=[ASK_REFUNDS]), sessions)
    Approvals(journal).approve(request, "alice", "ok")
    message = confirmation_message(_session(runner, session_id), journal)
    assert message is not None

    async def both() -> tuple[Any, ...]:
        return await asyncio.gather(
            turn(runner, session_id, message), turn(other, session_id, message)
        )

    asyncio.run(both())
    assert [name for name, _ in ran].count("refund_order") == 1
    assert _kinds(journal).count("approval.used") == 1
    effects = [r.payload for r in journal.records() if r.kind == "step.effect"]
    assert [e["tool"] for e in effects].count("refund_order") == 1


CRASH = textwrap.dedent(
    """
    import asyncio, os, sys
    from google.adk.sessions import DatabaseSessionService
    from charter import Journal
    from integrations.adk import adk_world
    from integrations.adk.adk_world import APP, USER, ask, run_turn, shop

    def refund_order(order_id: int, amount: float) -> str:
        os._exit(9)  # the process dies while the write runs

    adk_world.refund_order = refund_order
    sessions = DatabaseSessionService(sys.argv[2])
    script = [("lookup_order", {"order_id": 7}), ("refund_order", {"order_id": 7, "amount": 5.0})]
    runner, _, _ = shop(Journal(sys.argv[1]), script, sessions=sessions)
    made = asyncio.run(sessions.create_session(app_name=APP, user_id=USER, session_id="s1"))
    run_turn(runner, made.id, ask("refund order 7"))
    """
)


def test_a_run_whose_process_died_mid_write_is_ended_with_the_write_in_doubt(
    journal: Journal, tmp_path: Path
) -> None:
    from google.adk.sessions import DatabaseSessionService

    journal_url = str(journal.engine.url)
    sessions_url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(script), journal_url, sessions_url],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 9, done.stderr[-2000:]
    (crashed,) = {r.run_id for r in journal.records() if r.kind == "run.started"}

    runner, _, _ = shop(journal, ["nothing more"], sessions=DatabaseSessionService(sessions_url))
    run_turn(runner, "s1", ask("next task"))
    records = [(r.kind, r.payload) for r in journal.records(crashed)]
    effect = [p for k, p in records if k == "step.effect"][-1]
    assert effect["tool"] == "refund_order" and effect["status"] == "in_doubt"
    assert records[-1][0] == "run.finished" and records[-1][1]["status"] == "failed"
    goals = [r.payload["goal"] for r in journal.records() if r.kind == "run.started"]
    assert goals == ["refund order 7", "next task"]
    assert journal.verify().ok


def test_a_receipt_written_into_the_journal_without_the_key_is_refused(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from charter.journal import load_or_create_signer
    from charter.runtime._approvals import Receipt

    ran.clear()
    signed = Journal(f"sqlite:///{tmp_path / 'signed.db'}", load_or_create_signer(tmp_path / "key"))
    sessions = InMemorySessionService()
    runner, session_id, request_id = _asked(signed, sessions)
    request = Approvals(signed).get(request_id).request
    now = datetime.now(UTC)
    forged = Receipt(
        request_id=request_id,
        run_id=request.run_id,
        step=request.step,
        tool=request.tool,
        args_hash=request.args_hash,
        policy=request.policy,
        approver="mallory",
        verdict="approved",
        reason="",
        decided_at=now,
        expires_at=now + timedelta(seconds=300),
    )
    signed.append([(request.run_id, "approval.granted", forged.to_payload())])
    message = confirmation_message(_session(runner, session_id), signed)
    assert message is not None  # the forged grant reads as a decision...
    events = run_turn(runner, session_id, message)
    assert "approval.forged" in responses(events)["refund_order"]["error"]  # ...not a receipt
    assert [name for name, _ in ran] == ["lookup_order"]


RESUMED_THEN_DIED = textwrap.dedent(
    """
    import asyncio, os, sys
    from google.adk.sessions import DatabaseSessionService
    from charter import Journal
    from charter.integrations.adk import confirmation_message
    from integrations.adk import adk_world
    from integrations.adk.adk_world import APP, ASK_REFUNDS, USER, run_turn, shop, shop_charter

    def refund_order(order_id: int, amount: float) -> str:
        os._exit(9)  # the process dies while the approved write runs

    adk_world.refund_order = refund_order
    journal, sessions = Journal(sys.argv[1]), DatabaseSessionService(sys.argv[2])
    runner, _, _ = shop(journal, ["-"], shop_charter(rules=[ASK_REFUNDS]), sessions=sessions)
    session = asyncio.run(sessions.get_session(app_name=APP, user_id=USER, session_id="s1"))
    run_turn(runner, "s1", confirmation_message(session, journal))
    """
)


def test_a_run_let_go_waiting_then_resumed_by_a_process_that_died_is_settled_here(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.adk.sessions import DatabaseSessionService

    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))  # one key, both processes
    sessions_url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    sessions = DatabaseSessionService(sessions_url)
    runner, _, _ = shop(journal, [*SCRIPT[:2], "done"], shop_charter(rules=[ASK_REFUNDS]), sessions)
    asyncio.run(sessions.create_session(app_name=APP, user_id=USER, session_id="s1"))
    run_turn(runner, "s1", ask("refund order 1042"))  # it waits: this process lets it go
    (waited,) = {r.run_id for r in journal.records() if r.kind == "run.started"}
    (call,) = pending_confirmations(_session(runner, "s1"))
    Approvals(journal).approve(call.args["toolConfirmation"]["payload"][REQUEST_KEY], "al", "ok")  # type: ignore[index]

    script = tmp_path / "resume_and_die.py"
    script.write_text(RESUMED_THEN_DIED)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(script), str(journal.engine.url), sessions_url],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 9, done.stderr[-2000:]

    run_turn(runner, "s1", ask("next task"))  # the same plugin, which had let the run go
    records = [(r.kind, r.payload) for r in journal.records(waited)]
    effect = [p for k, p in records if k == "step.effect"][-1]
    assert effect["tool"] == "refund_order" and effect["status"] == "in_doubt"
    assert records[-1][0] == "run.finished" and records[-1][1]["status"] == "failed"
    assert journal.verify().ok
