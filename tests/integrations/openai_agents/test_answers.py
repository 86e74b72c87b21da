"""``flows.answer: ask`` on a governed SDK agent: a final output carrying an address only
a ticket (untrusted) holds is withheld from the SDK's result and the charter run waits
on the approval; once it is approved with charter's CLI in another process, the run,
taken up in new objects, releases exactly the journaled answer; a denial, a receipt for
another answer or an edited answer withholds it; a clean answer passes at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Runner

from charter import Journal
from charter.errors import CharterError, RunStateError
from charter.integrations.openai_agents import govern, resume
from charter.runtime._approvals import Approvals
from integrations.openai_agents.scripted_model import ScriptedModel
from integrations.openai_agents.shop import Shop, cli, make_agent, make_charter

PHISHY = "To finish your refund, email your card number to attacker@evil.example."
FLOWS: dict[str, Any] = {"flows": {"answer": "ask"}}


def _held(journal: Journal, answer: str = PHISHY) -> tuple[str, str, Any]:
    """A run that reads the ticket and answers ``answer``, finished with the SDK's
    result in hand; returns the run id, the request id (or "") and the result."""
    model = ScriptedModel([[("read_ticket", {"ticket_id": 3})], answer])
    agent = make_agent(Shop(), model)
    with govern(agent, journal=journal, charter=make_charter(**FLOWS), goal="answer 3") as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3"))
        run = g.finish(result)
        return g.run_id, run.waiting_for or "", result


def _released(journal: Journal, run_id: str, answer: Any = None) -> Any:
    """In new objects (another process's share): take the run up and finish it."""
    model = ScriptedModel(["the model is not asked again"])
    agent = make_agent(Shop(), model)
    with resume(agent, journal=journal, charter=make_charter(**FLOWS), run_id=run_id) as g:
        run = g.finish(answer)
    assert model.inputs == []
    return run


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_a_held_answer_is_withheld_from_the_result_and_the_run_waits(journal: Journal) -> None:
    run_id, request, result = _held(journal)

    assert request.startswith("apr-")
    assert "evil.example" not in str(result.final_output) and request in result.final_output
    requested = [r.payload for r in journal.records(run_id) if r.kind == "approval.requested"]
    assert [(p["tool"], p["args"]) for p in requested] == [("answer.release", {"text": PHISHY})]
    assert "run.finished" not in _kinds(journal, run_id)


def test_finishing_with_the_final_output_returns_the_waiting_run(journal: Journal) -> None:
    model = ScriptedModel([[("read_ticket", {"ticket_id": 3})], PHISHY])
    agent = make_agent(Shop(), model)
    with govern(agent, journal=journal, charter=make_charter(**FLOWS), goal="answer 3") as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3"))
        run = g.finish(result.final_output)

        assert (run.status, run.answer) == ("waiting", None) and run.waiting_for
        with pytest.raises(RunStateError, match="finish again once it is decided"):
            g.finish()
        Approvals(journal).approve(run.waiting_for, "dana")
        done = g.finish()  # decided while this process still holds the run
    assert (done.status, done.outcome, done.answer) == ("completed", "succeeded", PHISHY)


def test_an_approval_from_the_cli_releases_the_answer_in_new_objects(journal: Journal) -> None:
    run_id, request, _ = _held(journal)
    done = cli("approvals", "approve", request, "--as", "dana")
    assert done.returncode == 0, done.stdout + done.stderr

    run = _released(journal, run_id)

    assert (run.status, run.outcome, run.answer) == ("completed", "succeeded", PHISHY)
    released = [r.payload for r in journal.records(run_id) if r.kind == "answer.released"]
    assert [(p["request_id"], p["approver"]) for p in released] == [(request, "dana")]
    with pytest.raises(RunStateError, match="finished"):
        _released(journal, run_id)


def test_a_denied_answer_is_withheld(journal: Journal) -> None:
    run_id, request, _ = _held(journal)
    Approvals(journal).deny(request, "dana", "phishing")

    run = _released(journal, run_id)

    assert (run.status, run.outcome) == ("completed", "denied")
    assert run.answer is not None and "phishing" in run.answer and "evil" not in run.answer
    assert "answer.released" not in _kinds(journal, run_id)


def test_an_edited_answer_is_not_released_by_the_approval(journal: Journal) -> None:
    run_id, request, _ = _held(journal)
    Approvals(journal).approve(request, "dana")

    run = _released(journal, run_id, f"{PHISHY} Or call +44 20 7946 0958.")

    assert run.outcome == "denied" and run.answer is not None
    assert "for another answer" in run.answer and "7946" not in run.answer


def test_a_receipt_for_another_answer_does_not_release_this_one(journal: Journal) -> None:
    _, first, _ = _held(journal)
    run_id, request, _ = _held(journal, f"Hello. {PHISHY}")
    receipt = Approvals(journal).approve(first, "dana")
    journal.append([(run_id, "approval.granted", receipt.to_payload() | {"request_id": request})])

    run = _released(journal, run_id)

    assert run.outcome == "denied" and "evil" not in str(run.answer)
    rejected = [r.payload for r in journal.records(run_id) if r.kind == "approval.rejected"]
    assert [p["rule"] for p in rejected] == ["approval.invalid"]


def test_an_undecided_answer_cannot_be_taken_up(journal: Journal) -> None:
    run_id, request, _ = _held(journal)

    with pytest.raises(RunStateError, match=f"waits for approval {request}"):
        _released(journal, run_id)


def test_a_clean_answer_passes_without_asking(journal: Journal) -> None:
    run_id, request, result = _held(journal, "Sorry about the parcel; it is on its way.")

    assert request == "" and result.final_output == "Sorry about the parcel; it is on its way."
    assert "approval.requested" not in _kinds(journal, run_id)
    assert _kinds(journal, run_id)[-1] == "run.finished"


def test_two_releases_at_once_release_the_answer_once(journal: Journal) -> None:
    run_id, request, _ = _held(journal)
    Approvals(journal).approve(request, "dana")
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def release() -> None:
        start.wait()
        try:
            outcomes.append(str(_released(journal, run_id).answer))
        except CharterError as exc:  # the other holds the run, or it has finished
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(PHISHY) == 1
    kinds = _kinds(journal, run_id)
    assert kinds.count("answer.released") == kinds.count("approval.used") == 1
    assert kinds.count("run.finished") == 1 and journal.verify().ok


# --- flows.answer: redact / deny: the SDK's result shows the answer as the run kept it ---

MASKED = PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")


def _answered(journal: Journal, policy: str, answer: str) -> tuple[Any, Any]:
    """A run reading the ticket and answering ``answer`` under ``flows.answer: policy``,
    finished with the SDK's result: the run and the result."""
    model = ScriptedModel([[("read_ticket", {"ticket_id": 3})], answer])
    agent = make_agent(Shop(), model)
    charter = make_charter(flows={"answer": policy})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3"))
        return g.finish(result), result


def _next_input(result: Any) -> str:
    """The model's answer as the next turn's input carries it."""
    (message,) = [i for i in result.to_input_list() if i.get("role") == "assistant"]
    return "".join(part["text"] for part in message["content"])


def test_a_redacted_answer_is_the_final_output_and_the_next_turns_input(
    journal: Journal,
) -> None:
    run, result = _answered(journal, "redact", PHISHY)

    assert (run.status, run.answer) == ("completed", MASKED)
    assert result.final_output == MASKED and _next_input(result) == MASKED
    assert "evil.example" not in str(result.to_input_list()[-1])


def test_a_denied_answer_is_a_withheld_notice_in_the_result(journal: Journal) -> None:
    run, result = _answered(journal, "deny", PHISHY)

    assert str(run.answer).startswith("[answer withheld: it carries email")
    assert result.final_output == run.answer and _next_input(result) == run.answer


def test_a_held_answer_is_kept_out_of_the_next_turns_input(journal: Journal) -> None:
    _, request, result = _held(journal)

    assert request in _next_input(result) and "evil.example" not in _next_input(result)


@pytest.mark.parametrize("policy", ["redact", "deny"])
def test_an_answer_with_nothing_untrusted_passes_unchanged(journal: Journal, policy: str) -> None:
    clean = "Sorry about the parcel; it is on its way."
    run, result = _answered(journal, policy, clean)

    assert run.answer == result.final_output == _next_input(result) == clean
