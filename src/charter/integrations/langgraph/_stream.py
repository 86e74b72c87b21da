"""A LangGraph turn streamed (``stream``/``astream``) whose final answer charter governs
before the reader sees it.

The answer of a turn is only known once the graph has ended: the model's last message,
text without tool calls. Under ``flows.answer: redact``, ``ask`` or ``deny``, an event
carrying such a message (its text chunks in ``messages`` mode, the update or state
holding it in ``updates``/``values`` mode) is held back; when the graph goes on (a tool
call, another model turn), it was not the answer and the held events flow on unchanged.
When the graph ends, the turn's run is finished with the answer and the held events are
given as the run kept it: the answer unchanged, redacted, or the withheld notice; a held
answer (``ask``) its notice, then an interrupt naming the approval request (in
``updates`` and ``values`` mode, as LangGraph streams an interrupt). Tool calls, tool
results and custom events are never held. Modes that carry whole checkpoints or tasks
(``debug``, ``checkpoints``, ``tasks``) would show the answer before it is governed, so
they are refused under those settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from charter.errors import ConfigError
from charter.integrations._answers import changed_answer, held_answer, held_notice
from charter.integrations.langgraph import _answer
from charter.runtime._answers import ANSWER_TOOL
from charter.runtime._run import Run

if TYPE_CHECKING:
    from charter.integrations.langgraph._governor import LangGraphGovernor

HOLDING = frozenset({"redact", "ask", "deny"})
"""The ``flows.answer`` settings that may change or hold a final answer once it is whole."""
GOVERNED_MODES = frozenset({"values", "updates", "messages", "custom"})
"""The stream modes whose events a held answer can be kept out of."""
_INTERRUPT = "__interrupt__"


def stream_modes(stream_mode: Any, policy: str, kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The modes the caller asked for (``values`` when none), checked against what a
    governed answer allows under ``flows.answer: policy``.

    Raises:
        ConfigError: a mode or option that would show the answer before it is governed.
    """
    modes: tuple[str, ...] = (
        ("values",)
        if stream_mode is None
        else (stream_mode,)
        if isinstance(stream_mode, str)
        else tuple(cast(Iterable[str], stream_mode))
    )
    if policy not in HOLDING:
        return modes
    refused = [m for m in modes if m not in GOVERNED_MODES]
    refused += [k for k in ("subgraphs", "version", "print_mode") if kwargs.get(k)]
    if refused:
        raise ConfigError(
            f"flows.answer: {policy} governs a turn's answer once it is whole, and "
            f"{', '.join(refused)} would stream it before: stream with stream_mode values, "
            "updates, messages or custom, or use governor.invoke"
        )
    return modes


def _has_text(message: BaseMessage) -> bool:
    return bool(message.content) if isinstance(message.content, str) else bool(message.text)


def _answer_like(message: Any) -> bool:
    """Whether ``message`` may be a turn's answer: a model message with text and no tool
    calls (a chunk's tool calls are not known until the message is whole)."""
    return (
        isinstance(message, AIMessage)
        and not isinstance(message, AIMessageChunk)
        and not message.tool_calls
        and _has_text(message)
    )


def _interrupts(chunk: Any) -> bool:
    """Whether an ``updates`` event is the graph's interrupt."""
    return isinstance(chunk, Mapping) and _INTERRUPT in chunk


def _messages_of(mode: str, chunk: Any) -> list[BaseMessage]:
    """The messages an ``updates`` or ``values`` event carries."""
    if not isinstance(chunk, Mapping):
        return []
    found: list[Any] = []
    if mode == "values":
        found = list(cast(Mapping[str, Any], chunk).get("messages") or [])
    else:
        for update in cast(Mapping[str, Any], chunk).values():
            if isinstance(update, Mapping):
                found += list(cast(Mapping[str, Any], update).get("messages") or [])
    return [m for m in found if isinstance(m, BaseMessage)]


@dataclass
class AnswerHold:
    """The events of one streamed turn, the answer's held back until it is governed."""

    modes: tuple[str, ...]
    """The modes the caller asked for."""
    single: bool
    """The caller asked for one mode: its events are given bare, not ``(mode, event)``."""
    holding: bool
    """Whether ``flows.answer`` may change the answer (else nothing is held)."""
    pending: list[tuple[str, Any, str | None]] = field(default_factory=lambda: [])
    """Held events: (mode, event, id of the message they show)."""
    answer_id: str | None = None
    state: Any = None
    """The graph's latest state (its ``values`` events)."""
    interrupted: bool = False

    def take(self, mode: str, chunk: Any) -> list[Any]:
        """The events to give now, ``chunk`` of ``mode`` having come."""
        if mode == "values":
            self.state = chunk
        if mode == "updates" and _interrupts(chunk):
            self.interrupted = True
        if not self.holding:
            return self._given(mode, chunk)
        if mode == "messages":
            message = cast(tuple[Any, Any], chunk)[0]
            if isinstance(message, AIMessage) and (
                _has_text(message) or any(held == message.id for _, _, held in self.pending)
            ):  # text that may be the answer, and what follows it of the same message
                self.pending.append((mode, chunk, message.id))
                return []
            return self._given(mode, chunk)
        if mode in ("updates", "values"):
            messages = _messages_of(mode, chunk)
            last = messages[-1] if messages else None
            if last is not None and _answer_like(last):
                released = self._release(lambda held: held != last.id)
                self.answer_id = last.id
                self.pending.append((mode, chunk, last.id))
                return released
            return self._release(lambda held: True) + self._given(mode, chunk)
        return self._given(mode, chunk)

    def end(self, run: Run | None, interrupt: Callable[[Any], Any]) -> list[Any]:
        """The held events once the turn's ``run`` is finished: showing the answer as
        the run kept it; with the interrupt of a held answer (``interrupt(state)``: the
        state with its ``__interrupt__``)."""
        changed = held = text = None
        if run is not None:
            changed = changed_answer(run)
            if run.waiting_for is not None and held_answer(run) is not None:
                held = run.waiting_for
        text = changed if changed is not None else None if held is None else held_notice(held)
        if text is None:
            return self._release(lambda held: True)
        given: list[Any] = []
        shown: set[str | None] = set()
        for mode, chunk, held_id in self.pending:
            if held_id != self.answer_id:
                given += self._given(mode, chunk)
            elif mode == "messages":
                if held_id not in shown:  # the answer's chunks: one chunk with its text
                    shown.add(held_id)
                    metadata = cast(tuple[Any, Any], chunk)[1]
                    shown_chunk = AIMessageChunk(content=text, id=held_id, chunk_position="last")
                    given += self._given(mode, (shown_chunk, metadata))
            else:
                given += self._given(mode, _replaced(mode, chunk, held_id, text))
        self.pending = []
        if held is not None and self.state is not None:
            noticed = interrupt(_replaced("values", self.state, self.answer_id, text))
            given += self._given("updates", {_INTERRUPT: noticed.get(_INTERRUPT, ())})
            given += self._given("values", noticed)
        return given

    def _release(self, which: Callable[[str | None], bool]) -> list[Any]:
        released = [(m, c) for m, c, held in self.pending if which(held)]
        self.pending = [p for p in self.pending if not which(p[2])]
        return [event for m, c in released for event in self._given(m, c)]

    def _given(self, mode: str, chunk: Any) -> list[Any]:
        if mode not in self.modes:
            return []  # a mode the governor streams for itself
        return [chunk] if self.single else [(mode, chunk)]


def _replaced(mode: str, chunk: Any, message_id: str | None, text: str) -> Any:
    """``chunk`` (an ``updates`` or ``values`` event) with the message ``message_id``
    showing ``text``."""

    def swap(messages: Sequence[Any]) -> list[Any]:
        return [
            AIMessage(content=text, id=m.id, usage_metadata=m.usage_metadata)
            if isinstance(m, AIMessage) and m.id == message_id
            else m
            for m in messages
        ]

    found = dict(cast(Mapping[str, Any], chunk))
    if mode == "values":
        found["messages"] = swap(found.get("messages") or [])
        return found
    for node, update in found.items():
        if isinstance(update, Mapping) and "messages" in update:
            changed = dict(cast(Mapping[str, Any], update))
            changed["messages"] = swap(changed["messages"])
            found[node] = changed
    return found


def released_events(result: Mapping[str, Any], modes: Sequence[str], single: bool) -> Iterator[Any]:
    """The events of a turn whose held answer a resume released (or kept held): the
    state, the update of ``answer.release`` with the answer, or its interrupt."""
    hold = AnswerHold(tuple(modes), single, holding=False)
    messages = _messages_of("values", result)
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    if _INTERRUPT in result:
        yield from hold.take("updates", {_INTERRUPT: result[_INTERRUPT]})
    elif last is not None:
        yield from hold.take("messages", (AIMessageChunk(content=last.content, id=last.id), {}))
        yield from hold.take("updates", {ANSWER_TOOL: {"messages": [last]}})
    yield from hold.take("values", dict(result))


class TurnStream:
    """One streamed turn of a governed graph: the modes asked, the events held back."""

    def __init__(
        self, governor: LangGraphGovernor, graph: Any, config: Mapping[str, Any], kwargs: Any
    ) -> None:
        given = dict(cast(Mapping[str, Any], kwargs))
        stream_mode = given.pop("stream_mode", None)
        policy = governor.agent.charter.flows.answer
        modes = stream_modes(stream_mode, policy, given)
        single = stream_mode is None or isinstance(stream_mode, str)
        self.governor, self.graph, self.config = governor, graph, config
        self.passthrough = bool(given.get("subgraphs") or given.get("version"))
        """Events in a shape of their own (namespaces, ``v2`` parts), given as they come:
        never under a held answer's settings (:func:`stream_modes` refuses them)."""
        asked = stream_mode if self.passthrough else [*dict.fromkeys([*modes, "updates", "values"])]
        self.kwargs: dict[str, Any] = given | {"stream_mode": asked}
        """What the graph is streamed with: the modes asked, and the governor's own."""
        self.hold = AnswerHold(modes, single, holding=policy in HOLDING)
        configurable = cast(Mapping[str, Any], config.get("configurable") or {})
        self.thread = str(configurable.get("thread_id", ""))

    def take(self, item: Any) -> list[Any]:
        """The events to give now that the graph streamed ``item``."""
        if self.passthrough:
            return [item]
        mode, chunk = cast(tuple[str, Any], item)
        return self.hold.take(mode, chunk)

    def finish(self) -> Run | None:
        """Finish the turn's run with its answer, unless the graph was interrupted."""
        if self.passthrough:
            if getattr(self.graph, "checkpointer", None) is None:
                return None
            snapshot = self.graph.get_state(self.config)
            if snapshot.next or snapshot.interrupts:
                return None
            return self.governor.finish(self.graph, cast(Any, self.config))
        if self.hold.interrupted:
            return None
        return self.governor.finish(self.graph, cast(Any, self.config), state=self.hold.state)

    def end(self, run: Run | None) -> list[Any]:
        """The events held back, given as the finished ``run`` kept the answer."""
        if self.passthrough:
            return []
        approvals = self.governor.approvals
        return self.hold.end(run, lambda state: _answer.interrupted(state, run, approvals))

    def released(self, result: Mapping[str, Any]) -> list[Any]:
        """The events of a resume that released (or kept holding) the turn's answer."""
        return list(released_events(result, self.hold.modes, self.hold.single))
