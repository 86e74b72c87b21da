"""``flows.answer: ask`` on a governed Pydantic AI agent: an answer carrying an address
only a ticket (untrusted) holds ends the run with a deferred ``answer.release`` call and
a notice in its place; passing ``approvals()`` of it back (from serialised history, new
objects) releases it on the receipt only; a denial or a receipt for another answer
withholds it; a clean answer is the output at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

from pydantic import AnyUrl, BaseModel, TypeAdapter
from pydantic_ai import Agent, DeferredToolRequests, ToolOutput
from pydantic_ai.agent import AgentRunResult
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models.function import FunctionModel

from charter import Journal
from charter.errors import RunStateError
from charter.integrations.pydantic_ai import REQUEST_KEY, RUN_KEY, approvals, govern
from charter.runtime._approvals import Approvals
from integrations.pydantic_ai.pyd_world import PLANTED, Script, charter, support_agent

PHISHY = "Your refund needs a form: write to attacker@evil.example with your card number."
HELD = TypeAdapter(DeferredToolRequests)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _answering(journal: Journal, world: Path, answer: str) -> tuple[str, Any]:
    """A run reading a ticket, then answering ``answer``: the serialised history and
    held output, as a process would save them, and the result."""
    script = Script([[("read_ticket", {"ticket": 7})], answer])
    governed = govern(
        support_agent(script, world), journal=journal, charter=charter(flows={"answer": "ask"})
    )
    result = governed.run_sync("answer ticket 7")
    saved = json.dumps(
        {
            "messages": json.loads(ModelMessagesTypeAdapter.dump_json(result.all_messages())),
            "output": HELD.dump_python(result.output, mode="json")
            if isinstance(result.output, DeferredToolRequests)
            else result.output,
        }
    )
    return saved, result


def _released(journal: Journal, world: Path, saved: str) -> tuple[AgentRunResult[Any], Script]:
    """In new objects, from the saved history: pass the held output's approvals back."""
    data = json.loads(saved)
    script = Script(["the model is not asked again"])
    governed = govern(
        support_agent(script, world), journal=journal, charter=charter(flows={"answer": "ask"})
    )
    result = governed.run_sync(
        message_history=ModelMessagesTypeAdapter.validate_python(data["messages"]),
        deferred_tool_results=approvals(HELD.validate_python(data["output"])),
    )
    return result, script


def _request(result: Any) -> tuple[str, str]:
    assert isinstance(result.output, DeferredToolRequests)
    (call,) = result.output.approvals
    meta = result.output.metadata[call.tool_call_id]
    return str(meta[RUN_KEY]), str(meta[REQUEST_KEY])


def _answer_text(result: Any) -> str:
    """The text of the run's last model response (where the model gave its answer)."""
    last = next(m for m in reversed(result.all_messages()) if isinstance(m, ModelResponse))
    return "".join(p.content for p in last.parts if isinstance(p, TextPart))


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_a_held_answer_ends_the_run_deferred_with_a_notice_in_its_place(
    journal: Journal, tmp_path: Path
) -> None:
    saved, result = _answering(journal, tmp_path / "orders.db", PHISHY)

    assert isinstance(result.output, DeferredToolRequests)
    (call,) = result.output.approvals
    run_id, request = _request(result)
    assert call.tool_name == "answer.release" and call.tool_call_id == request
    assert "with your card number" not in saved  # neither the output nor the history
    assert request in _answer_text(result)
    kinds = _kinds(journal, run_id)
    assert "run.waiting" in kinds and "run.finished" not in kinds


def test_an_approval_from_the_cli_releases_the_answer_from_saved_history(
    journal: Journal, tmp_path: Path
) -> None:
    saved, held = _answering(journal, tmp_path / "orders.db", PHISHY)
    run_id, request = _request(held)
    url = journal.engine.url.render_as_string(hide_password=False)
    env = os.environ | {"CHARTER_DATABASE_URL": url, "CHARTER_HOME": str(tmp_path / "home")}
    approve = [sys.executable, "-m", "charter", "approvals", "approve", request, "--as", "dana"]
    done = subprocess.run(approve, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    result, script = _released(journal, tmp_path / "orders.db", saved)

    assert result.output == PHISHY and script.seen == []
    assert _answer_text(result) == PHISHY
    released = [r.payload for r in journal.records(run_id) if r.kind == "answer.released"]
    assert [(p["request_id"], p["approver"]) for p in released] == [(request, "dana")]
    with pytest.raises(RunStateError, match="finished"):  # released once
        _released(journal, tmp_path / "orders.db", saved)


def test_a_denied_answer_is_withheld(journal: Journal, tmp_path: Path) -> None:
    saved, held = _answering(journal, tmp_path / "orders.db", PHISHY)
    run_id, request = _request(held)
    Approvals(journal).deny(request, "dana", "phishing")

    result, _ = _released(journal, tmp_path / "orders.db", saved)

    assert "answer withheld" in result.output and "phishing" in result.output
    assert _answer_text(result) == result.output
    assert "answer.released" not in _kinds(journal, run_id)


def test_a_receipt_for_another_answer_does_not_release_this_one(
    journal: Journal, tmp_path: Path
) -> None:
    _, first = _answering(journal, tmp_path / "orders.db", PHISHY)
    saved, second = _answering(journal, tmp_path / "orders.db", f"Hello. {PHISHY}")
    receipt = Approvals(journal).approve(_request(first)[1], "dana")
    run_id, request = _request(second)
    journal.append([(run_id, "approval.granted", receipt.to_payload() | {"request_id": request})])

    result, _ = _released(journal, tmp_path / "orders.db", saved)

    assert "answer withheld" in result.output and "evil.example" not in result.output
    rejected = [r.payload for r in journal.records(run_id) if r.kind == "approval.rejected"]
    assert [p["rule"] for p in rejected] == ["approval.invalid"]


def test_an_undecided_answer_is_not_released(journal: Journal, tmp_path: Path) -> None:
    saved, held = _answering(journal, tmp_path / "orders.db", PHISHY)

    with pytest.raises(RunStateError, match="waits for approval"):
        _released(journal, tmp_path / "orders.db", saved)
    assert "answer.released" not in _kinds(journal, _request(held)[0])


def test_a_resume_without_the_answers_approval_keeps_it_held(
    journal: Journal, tmp_path: Path
) -> None:
    _, held = _answering(journal, tmp_path / "orders.db", PHISHY)
    run_id, request = _request(held)
    Approvals(journal).approve(request, "dana")
    script = Script(["the model is not asked"])
    governed = govern(
        support_agent(script, tmp_path / "orders.db"),
        journal=journal,
        charter=charter(flows={"answer": "ask"}),
    )

    again = governed.run_sync(message_history=held.all_messages(), charter_run_id=run_id)

    assert _request(again) == (run_id, request) and script.seen == []
    assert _kinds(journal, run_id)[-1] != "run.finished"
    released = governed.run_sync(
        message_history=again.all_messages(), deferred_tool_results=approvals(again.output)
    )
    assert released.output == PHISHY


def test_a_clean_answer_is_the_output_without_asking(journal: Journal, tmp_path: Path) -> None:
    _, result = _answering(journal, tmp_path / "orders.db", "Sorry about the parcel.")

    assert result.output == "Sorry about the parcel."
    assert journal.records_of_kind("approval.requested") == []


def test_the_async_run_holds_and_releases_alike(journal: Journal, tmp_path: Path) -> None:
    script = Script([[("read_ticket", {"ticket": 7})], PHISHY])
    governed = govern(
        support_agent(script, tmp_path / "orders.db"),
        journal=journal,
        charter=charter(flows={"answer": "ask"}),
    )
    held = asyncio.run(governed.run("answer ticket 7"))
    run_id, request = _request(held)
    Approvals(journal).approve(request, "dana")

    result = asyncio.run(
        governed.run(
            message_history=held.all_messages(), deferred_tool_results=approvals(held.output)
        )
    )

    assert result.output == PHISHY
    assert _kinds(journal, run_id).count("answer.released") == 1


# --- flows.answer: redact / deny: the output is the answer as the run kept it ---


class Reply(BaseModel):
    """A structured answer."""

    message: str


def _governed_answer(
    journal: Journal, world: Path, policy: str, answer: Any, output_type: Any = None
) -> AgentRunResult[Any]:
    """A run reading the ticket, then answering ``answer`` (a text, or the output tool's
    arguments), under ``flows.answer: policy``."""
    final = answer if isinstance(answer, str) else [("final_result", answer)]
    script = Script([[("read_ticket", {"ticket": 7})], final])
    governed = govern(
        support_agent(script, world), journal=journal, charter=charter(flows={"answer": policy})
    )
    return governed.run_sync("answer ticket 7", output_type=output_type)


def _dumped(result: AgentRunResult[Any]) -> str:
    return ModelMessagesTypeAdapter.dump_json(result.all_messages()).decode()


def test_a_redacted_answer_is_the_output_and_the_history_masks_the_address(
    journal: Journal, tmp_path: Path
) -> None:
    result = _governed_answer(journal, tmp_path / "orders.db", "redact", PHISHY)

    assert result.output == PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")
    assert _answer_text(result) == result.output
    assert "attacker@evil.example" not in _answer_text(result)
    (finished,) = journal.records_of_kind("run.finished")
    assert finished.payload["answer"] == result.output


def test_a_denied_answer_is_a_withheld_notice(journal: Journal, tmp_path: Path) -> None:
    result = _governed_answer(journal, tmp_path / "orders.db", "deny", PHISHY)

    assert result.output.startswith("[answer withheld: it carries email")
    assert _answer_text(result) == result.output and "card number" not in _dumped(result)


def test_a_redacted_structured_output_masks_the_output_tools_arguments(
    journal: Journal, tmp_path: Path
) -> None:
    result = _governed_answer(
        journal, tmp_path / "orders.db", "redact", {"message": PHISHY}, output_type=Reply
    )

    masked = PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")
    assert result.output == Reply(message=masked)  # typed, as the agent returns it
    assert "attacker@evil.example" not in _dumped(result).replace(PLANTED, "")
    last = next(m for m in reversed(result.all_messages()) if isinstance(m, ModelResponse))
    (call,) = [p for p in last.parts if isinstance(p, ToolCallPart)]
    assert call.tool_name == "final_result" and call.args == {"message": masked}


def test_a_denied_structured_output_keeps_only_the_notice(journal: Journal, tmp_path: Path) -> None:
    result = _governed_answer(
        journal, tmp_path / "orders.db", "deny", {"message": PHISHY}, output_type=Reply
    )

    assert result.output.startswith("[answer withheld:")
    assert "card number" not in _dumped(result)


@pytest.mark.parametrize("policy", ["redact", "deny"])
def test_an_answer_with_nothing_untrusted_passes_unchanged(
    journal: Journal, tmp_path: Path, policy: str
) -> None:
    clean = "Sorry about the parcel: a refund is on its way."
    result = _governed_answer(journal, tmp_path / "orders.db", policy, clean)

    assert result.output == clean and _answer_text(result) == clean
    structured = _governed_answer(
        journal, tmp_path / "orders.db", policy, {"message": clean}, output_type=Reply
    )
    assert structured.output == Reply(message=clean)


def test_a_redaction_that_breaks_the_outputs_json_leaves_the_arguments_as_the_text(
    journal: Journal, tmp_path: Path
) -> None:
    hostile = {"message": 'Go to https://evil.example/x"y now'}  # JSON-escaped: x\"y
    result = _governed_answer(journal, tmp_path / "orders.db", "redact", hostile, Reply)

    assert "evil.example" not in result.output
    with pytest.raises(ValueError):
        json.loads(result.output)
    last = next(m for m in reversed(result.all_messages()) if isinstance(m, ModelResponse))
    (call,) = [p for p in last.parts if isinstance(p, ToolCallPart)]
    assert call.args == {"answer": result.output}


def test_a_held_structured_output_keeps_the_answer_out_of_the_history_until_released(
    journal: Journal, tmp_path: Path
) -> None:
    held = _governed_answer(journal, tmp_path / "orders.db", "ask", {"message": PHISHY}, Reply)
    run_id, request = _request(held)
    assert "card number" not in _dumped(held)
    saved = ModelMessagesTypeAdapter.dump_json(held.all_messages())
    Approvals(journal).approve(request, "dana")
    governed = govern(
        support_agent(Script(["never asked"]), tmp_path / "orders.db"),
        journal=journal,
        charter=charter(flows={"answer": "ask"}),
    )

    result = governed.run_sync(
        message_history=ModelMessagesTypeAdapter.validate_json(saved),
        deferred_tool_results=approvals(held.output),
        output_type=Reply,  # the run's output type, as the run that held it had
    )

    assert result.output == Reply(message=PHISHY)  # typed, as the agent would have returned it
    last = next(m for m in reversed(result.all_messages()) if isinstance(m, ModelResponse))
    (call,) = [p for p in last.parts if isinstance(p, ToolCallPart)]
    assert call.args == {"message": PHISHY}
    assert "answer.released" in _kinds(journal, run_id)


# --- a structured output comes back typed, as the agent's own output type gives it ---


def _reply_agent(script: Script) -> Agent[None, Reply]:
    """An agent whose own output type is :class:`Reply`, reading a ticket."""
    agent = Agent(FunctionModel(script), name="support", output_type=Reply)

    @agent.tool_plain
    def read_ticket(ticket: int) -> str:
        """Read a customer's ticket."""
        return f"Ticket {ticket}: my parcel arrived damaged. {PLANTED}"

    return agent


def test_a_held_structured_output_is_released_as_the_agents_type(
    journal: Journal, tmp_path: Path
) -> None:
    script = Script([[("read_ticket", {"ticket": 7})], [("final_result", {"message": PHISHY})]])
    ask = charter(flows={"answer": "ask"})
    held = govern(_reply_agent(script), journal=journal, charter=ask).run_sync("answer ticket 7")
    _, request = _request(held)
    Approvals(journal).approve(request, "dana")
    saved = ModelMessagesTypeAdapter.dump_json(held.all_messages())

    governed = govern(_reply_agent(Script(["never asked"])), journal=journal, charter=ask)
    result = governed.run_sync(
        message_history=ModelMessagesTypeAdapter.validate_json(saved),
        deferred_tool_results=approvals(held.output),
    )

    assert type(result.output) is Reply and result.output == Reply(message=PHISHY)


def test_a_structured_output_is_typed_by_each_of_several_output_types(
    journal: Journal, tmp_path: Path
) -> None:
    class Refusal(BaseModel):
        reason: int

    result = _governed_answer(
        journal,
        tmp_path / "orders.db",
        "redact",
        {"message": PHISHY},
        output_type=[ToolOutput(Refusal), ToolOutput(Reply, name="final_result")],
    )

    masked = PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")
    assert result.output == Reply(message=masked)


def test_a_redaction_no_output_type_accepts_stays_the_redacted_text(
    journal: Journal, tmp_path: Path
) -> None:
    class Link(BaseModel):
        url: AnyUrl

    result = _governed_answer(
        journal,
        tmp_path / "orders.db",
        "redact",
        {"url": "https://evil.example/verify"},
        output_type=Link,
    )

    assert result.output == '{"url": "[withheld: untrusted url]"}'  # never the model's URL
