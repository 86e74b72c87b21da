"""A LangGraph turn whose final answer charter holds for approval (``flows.answer: ask``).

The turn's run is finished once the graph has ended, so the hold cannot be a node's
``interrupt()``: the governor gives it the same shape instead. The thread's checkpoint
keeps a notice in place of the answer (its model message, same id), and the result
carries an ``__interrupt__`` whose value is the approval payload (without the answer).
Resuming the thread with ``Command(resume={"approval": id})`` releases it: the run is
finished again with the journaled answer, the receipt re-checked against its digest,
and the notice replaced by the answer, or by the message that it was withheld.

An answer the charter redacts (``flows.answer: redact``) or withholds (``deny``) takes
the notice's place the same way at once: in the checkpoint and in the returned state,
the turn's last model message (same id) is the answer as the run kept it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.constants import END
from langgraph.types import Interrupt

from charter.agent import Agent
from charter.governance import GovernedRun
from charter.integrations._answers import changed_answer, held_answer, held_notice, release
from charter.journal import Journal
from charter.journal._kinds import RunFinished, StepProposed, payload_as
from charter.journal._record import Record
from charter.runtime._answers import ANSWER_TOOL
from charter.runtime._approvals import ApprovalRequest, Approvals
from charter.runtime._history import waiting_record
from charter.runtime._run import Run


def hold(graph: Any, config: Any, last: AIMessage | None, run: Run) -> None:
    """Put the notice of the answer ``run`` holds, or the answer as the charter redacted
    or withheld it, in place of the turn's last model message ``last`` in the thread's
    checkpoint (a graph without one keeps no state)."""
    if last is None or getattr(graph, "checkpointer", None) is None:
        return
    changed = changed_answer(run)
    if changed is not None:
        _replace(graph, config, last, changed)
    elif held_answer(run) is not None:
        _replace(graph, config, last, held_notice(str(run.waiting_for)))


def interrupted(result: Any, run: Run | None, approvals: Approvals) -> Any:
    """The graph's ``result`` as the turn's finished ``run`` leaves it: when the run holds
    its answer, the notice in place of the answer and an ``__interrupt__`` naming the
    approval request; when the charter redacted or withheld it, that answer in place of
    the last model message; otherwise unchanged."""
    changed = None if run is None else changed_answer(run)
    if changed is not None:
        found: dict[str, Any] = dict(cast(Mapping[str, Any], result))
        messages = _messages(found)
        last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        found["messages"] = [_noticed(m, last, changed) for m in messages]
        return found
    if run is None or run.waiting_for is None or held_answer(run) is None:
        return result
    return _interrupted(result, approvals.get(run.waiting_for).request)


def _interrupted(result: Any, request: ApprovalRequest) -> dict[str, Any]:
    found: dict[str, Any] = dict(cast(Mapping[str, Any], result))
    messages = _messages(found)
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    notice = held_notice(request.request_id)
    found["messages"] = [_noticed(m, last, notice) for m in messages]
    found["__interrupt__"] = [Interrupt(value=_payload(request), id=request.request_id)]
    return found


def resumed(
    graph: Any,
    config: Any,
    journal: Journal,
    agent: Agent,
    actor: str,
    run_id: str | None,
    value: Any,
) -> Any | None:
    """Resume a thread whose turn's run ``run_id`` held its answer: the resume ``value``
    (``{"approval": id}``) must name that request, decided; the answer is then released
    or withheld and the thread's state returned (another value: the turn stays
    interrupted, the reason in the payload's ``error``). A turn released already (a
    retry, or a process that stopped before the state was written) gets the run's final
    answer into the state. None: the turn held no answer."""
    records = [] if run_id is None else list(journal.records(run_id))
    request_id = _answer_request(records)
    if run_id is None or request_id is None:
        return None
    state = _values(graph, config)
    if waiting_record(records) is None:  # released or withheld already
        finished = next(
            (
                payload_as(RunFinished, r.payload)
                for r in reversed(records)
                if r.kind == "run.finished"
            ),
            None,
        )
        if finished is not None:
            _rewrite(
                graph, config, state, held_notice(request_id), str(finished.get("answer") or "")
            )
        return _values(graph, config)
    asked = Approvals(journal).get(request_id)
    if isinstance(value, Mapping) and request_id in value:  # resumed by the interrupt's id
        value = cast(Mapping[str, Any], value)[request_id]
    named: Any = (
        cast(Mapping[str, Any], value).get("approval") if isinstance(value, Mapping) else value
    )
    problem = None
    if named != request_id:
        problem = (
            f"the resume value names {str(named)[:80]!r}, not approval {request_id} "
            "the answer waits for"
        )
    elif asked.status == "pending":
        problem = f"approval {request_id} is still undecided"
    if problem is not None:
        result = _interrupted(state, asked.request)
        result["__interrupt__"][0].value["error"] = problem
        return result
    with GovernedRun.resume(journal, agent, run_id, actor=actor) as governed:
        finished_run = release(governed)
    _rewrite(graph, config, state, held_notice(request_id), finished_run.answer or "")
    return _values(graph, config)


def _answer_request(records: list[Record]) -> str | None:
    """The approval request a run's final answer was held on, if it was held."""
    answered = {
        payload_as(StepProposed, r.payload)["step"]
        for r in records
        if r.kind == "step.proposed" and "answer" in r.payload.get("action", {})
    }
    return next(
        (
            str(r.payload["request_id"])
            for r in records
            if r.kind == "approval.requested"
            and r.payload.get("tool") == ANSWER_TOOL
            and r.payload.get("step") in answered
        ),
        None,
    )


def _rewrite(graph: Any, config: Any, state: Mapping[str, Any], notice: str, text: str) -> None:
    """Put ``text`` in place of the model message showing ``notice`` in the thread."""
    last = next((m for m in reversed(_messages(state)) if isinstance(m, AIMessage)), None)
    if last is not None and last.content == notice:
        _replace(graph, config, last, text)


def _payload(request: ApprovalRequest) -> dict[str, Any]:
    from charter.integrations.langgraph._governor import approval_payload  # it imports this

    payload = approval_payload(request)
    payload["args"] = {}  # whoever sees the interrupt does not see the held answer
    payload["held"] = "answer"
    return payload


def _replace(graph: Any, config: Any, last: AIMessage, text: str) -> None:
    """Rewrite the content of model message ``last`` in the thread's checkpoint (the
    messages reducer replaces a message by its id)."""
    replaced = AIMessage(content=text, id=last.id, usage_metadata=last.usage_metadata)
    graph.update_state(config, {"messages": [replaced]})
    if graph.get_state(config).next:  # the update made as a node schedules its successors:
        graph.update_state(config, None, as_node=END)  # the turn had ended, it stays ended


def _values(graph: Any, config: Any) -> dict[str, Any]:
    return dict(cast(Mapping[str, Any], graph.get_state(config).values))


def _messages(state: Mapping[str, Any]) -> list[BaseMessage]:
    found: Any = state.get("messages") or []
    return [m for m in cast(list[Any], found) if isinstance(m, BaseMessage)]


def _noticed(message: BaseMessage, last: AIMessage | None, notice: str) -> BaseMessage:
    if last is None or (message is not last and message.id != last.id):
        return message
    return AIMessage(content=notice, id=message.id)
