"""A Pydantic AI run whose final answer charter holds for approval (``flows.answer: ask``).

Pydantic AI's way to pause a run for a person is deferred tool calls, and a governed
run already ends with :class:`~pydantic_ai.DeferredToolRequests` when a call waits for
charter's approval; a held answer ends the same way. The output is one approval request
for the call ``answer.release`` (its id charter's approval request, its metadata naming
the run), the answer's text in the run's last model response is replaced by a notice,
and passing :func:`~charter.integrations.pydantic_ai.approvals` of it back releases the
answer: the run is finished again with the journaled answer, the receipt re-checked
against its digest, and the output is the answer, or the message that it was withheld.
The model is not asked again.

An answer the charter redacts (``flows.answer: redact``) or withholds (``deny``) is
changed the same way at once: the output is the answer as the run kept it, and so are
the answer's text and the output tool's call arguments in the run's last model response,
so a history passed on carries no more than the output (a held answer's notice takes the
output tool's arguments too, and its release puts the answer back).

A structured output (``output_type=Model``) is journaled as its JSON; released, or
redacted, it is that JSON validated again by the run's own output types, so the caller
gets the same type the agent returns (:func:`typed`). A text no output type accepts (the
withheld notice, a redaction that broke the JSON or a field's type) stays a string: it
is not the model's answer, and no value of the type can say so.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from collections.abc import Sequence
from typing import Any, cast

from pydantic import PydanticUserError, TypeAdapter, ValidationError
from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    NativeOutput,
    PromptedOutput,
    TextOutput,
    ToolOutput,
)
from pydantic_ai.agent import AgentRunResult
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart

from charter.governance import GovernedRun
from charter.integrations._answers import changed_answer, held_answer, held_notice, release
from charter.integrations.pydantic_ai._toolset import REQUEST_KEY, RUN_KEY
from charter.runtime._answers import ANSWER_TOOL

_RESULT: TypeAdapter[AgentRunResult[Any]] = TypeAdapter(AgentRunResult[Any])


def typed(text: str, kinds: Sequence[Any]) -> Any:
    """The journaled answer ``text`` as the run's output types ``kinds`` give it (the
    first that validates it, text last), or ``text`` when none does."""
    found = _output_types(kinds)
    for kind in sorted(found, key=lambda k: k is str):
        if kind is str:
            return text
        try:
            return TypeAdapter(kind).validate_json(text)
        except (ValidationError, PydanticUserError, TypeError):
            continue
    return text


def _output_types(kinds: Sequence[Any]) -> list[Any]:
    """The types a run's output specs (``output_type``) return: markers unwrapped,
    an output function's return annotation in its place."""
    found: list[Any] = []
    for kind in kinds:
        if kind is DeferredToolRequests:
            continue
        if isinstance(kind, ToolOutput):
            found += _output_types([cast(ToolOutput[Any], kind).output])
        elif isinstance(kind, NativeOutput | PromptedOutput):
            outputs: Any = cast(Any, kind).outputs
            listed: Sequence[Any] = (
                cast(Sequence[Any], outputs) if isinstance(outputs, Sequence) else [outputs]
            )
            found += _output_types(listed)
        elif isinstance(kind, TextOutput):
            found += _output_types([cast(TextOutput[Any], kind).output_function])
        elif inspect.isfunction(kind) or inspect.ismethod(kind):
            hints = typing.get_type_hints(kind)
            if "return" in hints:
                found.append(hints["return"])
        else:
            found.append(kind)
    return found


def held(
    governed: GovernedRun, result: AgentRunResult[Any], kinds: Sequence[Any]
) -> AgentRunResult[Any]:
    """``result`` as a run that holds its answer must end: its output the deferred
    ``answer.release`` call, its answer replaced by a notice; as a run whose answer the
    charter redacted or withheld ended: that answer in its place, typed as the run's
    output types ``kinds`` give it; unchanged otherwise."""
    run = governed.run
    changed = changed_answer(run)
    if changed is not None:
        messages = result.new_messages()
        _notice(messages, changed)
        _output_call(messages, getattr(result, "_output_tool_name", None), changed)
        return dataclasses.replace(result, output=typed(changed, kinds))
    if held_answer(run) is None or run.waiting_for is None:
        return result
    messages, notice = result.new_messages(), held_notice(run.waiting_for)
    _notice(messages, notice)
    _output_call(messages, getattr(result, "_output_tool_name", None), notice)
    return dataclasses.replace(result, output=_deferred(run.run_id, run.waiting_for))


def released(
    governed: GovernedRun,
    results: DeferredToolResults | None,
    history: Sequence[ModelMessage] | None,
    kinds: Sequence[Any],
) -> AgentRunResult[Any] | None:
    """When ``governed`` holds its answer: the result of releasing it if ``results``
    answer its request (the answer as the output once approved, typed as the run's
    output types ``kinds`` give it; the message that it was withheld otherwise; the
    notice in ``history`` replaced by it), else the deferred call again (the run keeps
    waiting). None when the run holds no answer."""
    run = governed.run
    request = run.waiting_for
    if held_answer(run) is None or request is None:
        return None
    messages = list(history or ())
    output: Any = _deferred(run.run_id, request)
    if results is not None and request in results.approvals:
        text = release(governed).answer or ""
        messages = _answered(messages, held_notice(request), text)
        output = typed(text, kinds)
    return _RESULT.validate_python(
        {"output": output, "messages": messages, "new_message_index": len(messages)}
    )


def _deferred(run_id: str, request: str) -> DeferredToolRequests:
    """The deferred ``answer.release`` call of a run holding its answer on ``request``."""
    return DeferredToolRequests(
        approvals=[ToolCallPart(ANSWER_TOOL, {}, tool_call_id=request)],
        metadata={request: {RUN_KEY: run_id, REQUEST_KEY: request}},
    )


def _notice(messages: Sequence[ModelMessage], notice: str) -> None:
    """Replace the answer's text in the last model response of ``messages``."""
    response = next((m for m in reversed(messages) if isinstance(m, ModelResponse)), None)
    texts = [] if response is None else [p for p in response.parts if isinstance(p, TextPart)]
    for n, part in enumerate(texts):
        part.content = notice if n == 0 else ""


def _output_call(messages: Sequence[ModelMessage], tool: str | None, answer: str) -> None:
    """Replace the arguments of the output tool's call (structured output) in the last
    model response of ``messages`` by ``answer``: its JSON object when it is one (a
    redacted output), else ``{"answer": answer}``."""
    response = next((m for m in reversed(messages) if isinstance(m, ModelResponse)), None)
    if response is None or tool is None:
        return
    for part in response.parts:
        if type(part) is ToolCallPart and part.tool_name == tool:
            part.args = _output_args(answer)


def _output_args(answer: str) -> dict[str, Any]:
    """The output tool's arguments showing ``answer``."""
    try:
        args: Any = json.loads(answer)
    except ValueError:
        args = None
    return cast(dict[str, Any], args) if isinstance(args, dict) else {"answer": answer}


def _answered(messages: list[ModelMessage], notice: str, answer: str) -> list[ModelMessage]:
    """``messages`` with the notice's text part, or the output tool's arguments showing
    it (a copy), holding ``answer``."""
    shown = {"answer": notice}
    for index, message in enumerate(messages):
        if isinstance(message, ModelResponse) and any(
            (isinstance(p, TextPart) and p.content == notice)
            or (type(p) is ToolCallPart and p.args == shown)
            for p in message.parts
        ):
            parts = [
                dataclasses.replace(p, content=answer)
                if isinstance(p, TextPart) and p.content == notice
                else dataclasses.replace(p, args=_output_args(answer))
                if type(p) is ToolCallPart and p.args == shown
                else p
                for p in message.parts
            ]
            messages[index] = dataclasses.replace(message, parts=parts)
    return messages
