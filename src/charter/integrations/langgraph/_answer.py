"""A LangGraph turn whose final answer charter holds for approval (``flows.answer: ask``).

The turn's run is finished once the graph has ended, so the hold cannot be a node's
``interrupt()``: the governor gives it the same shape instead. The thread's checkpoint
keeps a notice in place of the answer (its model message, same id), and the result
carries an ``__interrupt__`` whose value is the approval payload (without the answer).
Resuming the thread with ``Command(resume={"approval": id})`` releases it: the run is
finished again with the journaled answer, the receipt re-checked against its digest,
and the notice replaced by the answer, or by the message that it was withheld.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.types import Interrupt

from charter.agent import Agent
from charter.governance import GovernedRun
from charter.integrations._answers import held_answer, held_notice, release
from charter.journal import Journal
from charter.journal._kinds import RunWaiting, payload_as
from charter.runtime._answers import ANSWER_TOOL
from charter.runtime._approvals import ApprovalRequest, Approvals
from charter.runtime._history import waiting_record
from charter.runtime._run import Run


def hold(graph: Any, config: Any, last: AIMessage | None, run: Run) -> None:
    """Put the notice of the answer ``run`` holds in place of the turn's last model
    message ``last`` in the thread's checkpoint (a graph without one keeps no state)."""
    if last is None or held_answer(run) is None or getattr(graph, "checkpointer", None) is None:
        return
    _replace(graph, config, last, held_notice(str(run.waiting_for)))


def interrupted(result: Any, run: Run | None, journal: Journal, approvals: Approvals) -> Any:
    """The graph's ``result`` as the turn's finished ``run`` leaves it: when the run holds
    its answer, the notice in place of the answer and an ``__interrupt__`` naming the
    approval request; otherwise unchanged."""
    if run is None or held_answer(run) is None:
        return result
    request = waiting_answer(journal, approvals, run.run_id)
    return result if request is None else _interrupted(result, request)


def _interrupted(result: Any, request: ApprovalRequest) -> dict[str, Any]:
    found: dict[str, Any] = dict(cast(Mapping[str, Any], result))
    messages = _messages(found)
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    notice = held_notice(request.request_id)
    found["messages"] = [_noticed(m, last, notice) for m in messages]
    found["__interrupt__"] = [Interrupt(value=_payload(request), id=request.request_id)]
    return found


def waiting_answer(
    journal: Journal, approvals: Approvals, run_id: str | None
) -> ApprovalRequest | None:
    """The request run ``run_id`` waits on to release its answer, if it waits on one."""
    if run_id is None:
        return None
    waiting = waiting_record(list(journal.records(run_id)))
    if waiting is None:
        return None
    request = approvals.get(str(payload_as(RunWaiting, waiting.payload)["request_id"])).request
    return request if request.tool == ANSWER_TOOL else None


def resumed(
    graph: Any,
    config: Any,
    journal: Journal,
    agent: Agent,
    actor: str,
    request: ApprovalRequest,
    value: Any,
) -> Any:
    """Resume a thread whose turn holds its answer on ``request``: the resume ``value``
    (``{"approval": id}``) must name that request, decided; the answer is then released
    or withheld and the thread's state returned (another value: the turn stays
    interrupted, the reason in the payload's ``error``)."""
    named: Any = (
        cast(Mapping[str, Any], value).get("approval") if isinstance(value, Mapping) else value
    )
    state = _values(graph, config)
    problem = None
    if named != request.request_id:
        problem = (
            f"the resume value names {str(named)[:80]!r}, not approval {request.request_id} "
            "the answer waits for"
        )
    elif Approvals(journal).get(request.request_id).status == "pending":
        problem = f"approval {request.request_id} is still undecided"
    if problem is not None:
        result = _interrupted(state, request)
        result["__interrupt__"][0].value["error"] = problem
        return result
    with GovernedRun.resume(journal, agent, request.run_id, actor=actor) as governed:
        finished = release(governed)
    last = next((m for m in reversed(_messages(state)) if isinstance(m, AIMessage)), None)
    if last is not None:
        _replace(graph, config, last, finished.answer or "")
    return _values(graph, config)


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


def _values(graph: Any, config: Any) -> dict[str, Any]:
    return dict(cast(Mapping[str, Any], graph.get_state(config).values))


def _messages(state: Mapping[str, Any]) -> list[BaseMessage]:
    found: Any = state.get("messages") or []
    return [m for m in cast(list[Any], found) if isinstance(m, BaseMessage)]


def _noticed(message: BaseMessage, last: AIMessage | None, notice: str) -> BaseMessage:
    if last is None or (message is not last and message.id != last.id):
        return message
    return AIMessage(content=notice, id=message.id)
