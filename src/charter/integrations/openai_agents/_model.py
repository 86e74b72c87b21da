"""The governed agent's model, when the charter governs final answers (``flows.answer:
ask``, ``redact`` or ``deny``): each model response that is a final text answer is
governed as it arrives, before the SDK makes run items of it.

The SDK turns a response into the items it streams, keeps in the result and saves in a
``Session``, and a streamed response's text reaches the reader delta by delta. So the
answer is decided here, where the response is made: a response with no call in it (the
SDK ends the run with its text) finishes the charter run with that text, and the
response the SDK sees carries the answer as the run kept it (released as given, its
untrusted values redacted, the notice that it was withheld, or the notice of the
approval it waits on). A refusal in the message is part of the answer (the SDK raises
it to the caller, its text in the error): it is governed with the text beside it, and
the kept answer is the text (a refusal only when the message has no text). A streamed
response's message events are held back until the response is complete: a response
that calls a tool releases them unchanged as soon as the call shows (tool-call events
are never held), and a final answer's are released once it is governed, carrying the
kept text. Structured output (JSON the SDK parses) is
governed the same way, and its masked values kept when the JSON still fits the output
type; a notice cannot carry it, so the run then ends with :class:`AnswerNotShown`, and
such an agent is not streamed under these settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

from agents.exceptions import AgentsException, ModelBehaviorError, UserError
from agents.items import ModelResponse
from agents.models.interface import Model
from openai.types.responses import (
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

Governor = Callable[[str, int, int], str | None]
"""Finishes the charter run with a final answer (and the response's token counts):
the text to show instead, or None when the answer stands as given."""

_TEXT_EVENTS = frozenset(
    {
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_text.annotation.added",
        "response.refusal.delta",
        "response.refusal.done",
    }
)
_ITEM_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})
_CONTINUES = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "computer_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
        "mcp_approval_request",
        "tool_search_call",
    }
)
"""Output items the SDK goes on with (a call it runs, or asks approval of). Any other item
(reasoning, compaction, a hosted call the provider already ran) leaves a message beside
it the run's final answer, so only these keep a message from being governed as one: an
item missing here makes an answer governed early (the run then refuses what follows),
never an answer shown ungoverned."""


class AnswerNotShown(AgentsException):
    """A structured final answer the charter held, withheld, or masked so that it no longer
    fits the agent's output type: the SDK run ends with this error instead of a result (so
    no ``Session``, item or output carries the answer as the model gave it). ``answer`` is
    what the run kept; the charter run says the rest (``run.answer``, or ``waiting_for``
    the approval request that releases it)."""

    def __init__(self, answer: str) -> None:
        super().__init__(
            f"charter kept this agent's structured answer as text its output type cannot "
            f"carry: {answer}"
        )
        self.answer = answer
        """The answer as the charter run kept it."""


class AnswerModel(Model):
    """``inner`` with each final text answer governed by ``governor`` (see the module)."""

    def __init__(self, inner: Model, governor: Governor) -> None:
        self.inner = inner
        """The agent's own model."""
        self._governor = governor
        self.served = 0
        """How many responses this model gave (the run's usage hook checks that every
        response of the governed agent came through here)."""

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """The inner model's response, a final text answer in it as the charter kept it."""
        response = await self.inner.get_response(*args, **kwargs)
        self.served += 1
        text = final_text(response.output)
        if text is None:
            return response
        usage = response.usage
        kept = self._governor(text, usage.input_tokens or 0, usage.output_tokens or 0)
        if kept is None:
            return response
        schema = _schema(args, kwargs)
        if schema is not None and not schema.is_plain_text():
            try:  # masked values may leave the JSON its type; a notice never does
                schema.validate_json(kept)
            except ModelBehaviorError:
                raise AnswerNotShown(kept) from None
        return replace(response, output=shown(response.output, kept))

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The inner model's events; a message's are held until the response shows a call
        (released as they were) or ends as a final answer (released as the run kept it)."""
        if not _plain_text(args, kwargs):
            raise UserError(
                "charter governs this agent's final answer (flows.answer) and cannot hold a "
                "structured output while it streams: run it with Runner.run, or without "
                "output_type"
            )
        self.served += 1
        held: list[Any] = []
        holding = True
        stream: AsyncIterator[Any] = self.inner.stream_response(*args, **kwargs)
        async for event in stream:
            kind = getattr(event, "type", "")
            if kind == "response.completed":
                output = event.response.output
                text = final_text(output) if holding else None
                kept = None
                if text is not None:
                    usage = event.response.usage
                    tokens = (usage.input_tokens, usage.output_tokens) if usage else (0, 0)
                    kept = self._governor(text, *tokens)
                if kept is None:
                    for earlier in held:
                        yield earlier
                    yield event
                else:
                    for earlier in _rewritten(held, kept, _channel(output)):
                        yield earlier
                    changed = event.response.model_copy(update={"output": shown(output, kept)})
                    yield event.model_copy(update={"response": changed})
                held, holding = [], True
                continue
            if holding and _carries_text(event, kind):
                held.append(event)
                continue
            if holding and _is_call(event, kind):  # no final answer: release its text
                holding = False
                for earlier in held:
                    yield earlier
                held = []
            yield event
        # A stream that ends without completing is an error the SDK raises: its text stays held.

    def get_retry_advice(self, request: Any) -> Any:
        """The inner model's retry advice."""
        return self.inner.get_retry_advice(request)

    async def close(self) -> None:
        """Close the inner model."""
        await self.inner.close()

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)  # pyright: ignore[reportPrivateUsage]


def final_text(output: Sequence[Any]) -> str | None:
    """The text of a response that ends the SDK's run with it (a message, no call the SDK
    goes on with): its text parts and its refusals (the SDK raises a refusal to the caller, its
    text in the error); None for any other response, or one with no text."""
    if any(getattr(item, "type", "") in _CONTINUES for item in output):
        return None
    texts = [text for _, text in _parts(output)]
    return "".join(texts) if texts else None


def shown(output: Sequence[Any], kept: str) -> list[Any]:
    """``output`` with the text of its messages replaced by ``kept``: its first text part
    carries it (a refusal, when it has no text part), every other text and refusal is
    emptied, so the SDK raises no refusal beside a text; annotations, which may carry
    links, dropped."""
    channel = _channel(output)
    first = [True]
    return [_message(item, kept, channel, first) for item in output]


def _parts(output: Sequence[Any]) -> list[tuple[str, str]]:
    """Each text part's kind (``output_text`` or ``refusal``) and text, in order."""
    return [
        ("output_text", part.text)
        if isinstance(part, ResponseOutputText)
        else ("refusal", part.refusal)
        for item in output
        if isinstance(item, ResponseOutputMessage)
        for part in item.content
    ]


def _channel(output: Sequence[Any]) -> str:
    """The kind of part that carries the kept answer: text, or a refusal when none."""
    kinds = {kind for kind, _ in _parts(output)}
    return "output_text" if "output_text" in kinds or not kinds else "refusal"


def _message(item: Any, kept: str, channel: str, first: list[bool]) -> Any:
    if not isinstance(item, ResponseOutputMessage):
        return item
    content: list[Any] = []
    for part in item.content:
        text = kept if part.type == channel and first[0] else ""
        first[0] = first[0] and part.type != channel
        if isinstance(part, ResponseOutputText):
            content.append(
                part.model_copy(update={"text": text, "annotations": [], "logprobs": []})
            )
        else:
            content.append(part.model_copy(update={"refusal": text}))
    return item.model_copy(update={"content": content})


def _rewritten(events: list[Any], kept: str, channel: str) -> list[Any]:
    """A final answer's held message events, carrying ``kept`` instead of the model's text
    and refusals: one delta of ``channel`` with the whole kept text, done events and parts
    with it (or empty), no annotations."""
    out: list[Any] = []
    first_delta, first_done, first_part = True, True, True
    first_item = [True]
    for event in events:
        kind: str = event.type
        own = kind.startswith(f"response.{channel}.")
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            if own and first_delta:
                out.append(event.model_copy(update={"delta": kept, **_no_logprobs(event)}))
                first_delta = first_delta and not own
        elif kind in ("response.output_text.done", "response.refusal.done"):
            text = kept if own and first_done else ""
            field = "text" if kind == "response.output_text.done" else "refusal"
            out.append(event.model_copy(update={field: text, **_no_logprobs(event)}))
            first_done = first_done and not own
        elif kind in ("response.content_part.added", "response.content_part.done"):
            part = event.part
            if isinstance(part, ResponseOutputText | ResponseOutputRefusal):
                done = kind.endswith("done")
                text = kept if part.type == channel and done and first_part else ""
                first_part = first_part and not (done and part.type == channel)
                if isinstance(part, ResponseOutputText):
                    part = part.model_copy(update={"text": text, "annotations": []})
                else:
                    part = part.model_copy(update={"refusal": text})
            out.append(event.model_copy(update={"part": part}))
        elif kind in _ITEM_EVENTS:
            first = first_item if kind.endswith("done") else [False]
            out.append(
                event.model_copy(update={"item": _message(event.item, kept, channel, first)})
            )
        elif kind != "response.output_text.annotation.added":
            out.append(event)
    return out


def _no_logprobs(event: Any) -> dict[str, Any]:
    return {"logprobs": []} if hasattr(event, "logprobs") else {}


def _carries_text(event: Any, kind: str) -> bool:
    if kind in _TEXT_EVENTS:
        return True
    return kind in _ITEM_EVENTS and getattr(event.item, "type", "") == "message"


def _is_call(event: Any, kind: str) -> bool:
    if kind in _ITEM_EVENTS:
        return getattr(event.item, "type", "") in _CONTINUES
    return kind.startswith(("response.function_call_arguments", "response.custom_tool_call_input"))


def _schema(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The output schema the SDK asked for (None: text)."""
    return kwargs["output_schema"] if "output_schema" in kwargs else args[4]


def _plain_text(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """Whether the SDK asked for text (no output schema, or a plain-text one)."""
    schema = _schema(args, kwargs)
    return schema is None or bool(schema.is_plain_text())
