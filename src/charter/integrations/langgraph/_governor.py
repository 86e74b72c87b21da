"""Every tool call a LangGraph ``ToolNode`` makes, governed by charter.

One charter run per user turn of a graph thread: its goal is the turn's human message
(trusted input), and the journal binds (agent, thread, turn) to the run, so a thread
resumed in another process (a shared checkpointer such as ``SqliteSaver``) continues
the same charter run. An ``ask`` becomes a LangGraph ``interrupt()`` whose payload names
charter's approval request; the graph resumes with ``Command(resume={"approval": id})``
and the call runs only on the signed receipt of exactly that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt
from sqlalchemy import bindparam, select

from charter.agent import Agent
from charter.errors import CharterError, RunStateError
from charter.governance import CallVerdict, GovernedRun, Inherited
from charter.integrations.langgraph import _answer, _stream
from charter.integrations.langgraph._direct import DirectCalls, GovernedTool, governed
from charter.integrations.langgraph._guard import ToolGuard, permitted, with_guard
from charter.integrations.langgraph._node import InOrderToolNode
from charter.journal import Journal
from charter.journal._kinds import RunWaiting, payload_as
from charter.journal._store import meta_table
from charter.runtime._approvals import ApprovalRequest, Approvals
from charter.runtime._history import run_state, waiting_record
from charter.runtime._run import Run

Execute = Callable[[ToolCallRequest], ToolMessage | Command[Any]]
AsyncExecute = Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]


_META_VALUE = select(meta_table.c.value).where(meta_table.c.key == bindparam("key"))
"""The value the journal keeps under a key (built once: building the statement cost
more than running it)."""


class GovernedRunStopped(CharterError):
    """The charter run of this turn was stopped (kill switch, budget, an anomaly
    playbook): the graph stops at its next tool call."""


def resume_command(request_id: str) -> Command[Any]:
    """The ``Command`` resuming a graph interrupted by charter, naming the approval."""
    return Command(resume={"approval": request_id})


@dataclass
class _Bound:
    """A charter run this process holds for one turn of a graph thread."""

    run: GovernedRun
    lock: threading.RLock
    prompt: int = 0
    completion: int = 0
    """Usage already reported for the turn's model messages."""
    answers: dict[str, dict[str, Any]] = field(default_factory=lambda: {})
    """Tool call id → the ``ToolMessage`` fields it was answered with."""
    thread: str = ""


@dataclass(frozen=True)
class _Turn:
    key: str
    goal: str
    messages: list[BaseMessage]
    """The turn's messages after its human message (a thread's earlier turns are not
    read again at each call)."""
    thread: str
    earlier: Sequence[Any] = ()
    """The thread's messages before the turn's human message: what a new run inherits."""


class LangGraphGovernor:
    """Charter's governance for a LangGraph graph's tools.

    Use :attr:`tool_node` as the graph's tool node (``create_react_agent(model,
    governor.tool_node)`` or ``builder.add_node("tools", governor.tool_node)``), or pass
    :meth:`wrap_tool_call` to a ``ToolNode`` of your own. Drive the graph with
    :meth:`invoke` so each turn's run is finished with the graph's answer (or call
    :meth:`finish`).
    """

    def __init__(
        self,
        journal: Journal,
        agent: Agent,
        tools: Sequence[Any],
        *,
        goal: str | None = None,
        actor: str = "",
    ) -> None:
        self.journal = journal
        self.agent = agent
        """The charter agent identity (its inventory: the tools the charter names)."""
        self.approvals = Approvals(journal)
        self._tools = list(tools)
        self._goal = goal
        self._actor = actor
        self._bound: dict[str, _Bound] = {}
        self._lock = threading.Lock()
        self._turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        """A turn's calls in ``ainvoke``, one at a time (held while any call waits)."""
        self._released = 0
        """How many runs this process has let go of (a turn's binding may have moved)."""
        self.direct_calls = DirectCalls()
        """Names the calls a node makes through :meth:`governed_tools`."""
        self.guard = ToolGuard()
        """The callback refusing a tool started in the graph without charter."""

    @property
    def tool_node(self) -> ToolNode:
        """A ``ToolNode`` over the graph's tools whose every call charter governs (in
        ``invoke`` and ``ainvoke`` alike), the calls of a message one after another in its
        order (under ``invoke``, in the node's own thread)."""
        return InOrderToolNode(
            self._tools, wrap_tool_call=self.wrap_tool_call, awrap_tool_call=self.awrap_tool_call
        )

    def governed_tools(self, tools: Sequence[BaseTool] | None = None) -> list[GovernedTool]:
        """The tools (default: the governor's) for a node of your own to call
        (``tool.invoke(args)``): each call is governed as the tool node's are, in the run
        of the thread's turn; a refused call raises :class:`ToolCallRefused` in the node,
        an ``ask`` interrupts the graph."""
        return [governed(self, t) for t in (self._tools if tools is None else tools)]

    def guarded(self, config: RunnableConfig) -> RunnableConfig:
        """``config`` with charter's guard among its callbacks: a tool any node starts
        without charter (not through :attr:`tool_node` or :meth:`governed_tools`) raises
        :class:`UngovernedToolCall` before it runs. :meth:`invoke` adds it itself."""
        return cast(RunnableConfig, with_guard(config, self.guard))

    async def awrap_tool_call(
        self, request: ToolCallRequest, execute: AsyncExecute
    ) -> ToolMessage | Command[Any]:
        """:meth:`wrap_tool_call` for a graph run with ``ainvoke``: charter's journal work
        runs on a worker thread (the event loop is not blocked), the tool on the loop."""
        loop = asyncio.get_running_loop()

        async def run(req: ToolCallRequest) -> ToolMessage | Command[Any]:
            return await execute(req)

        def run_on_loop(req: ToolCallRequest) -> ToolMessage | Command[Any]:
            return asyncio.run_coroutine_threadsafe(run(req), loop).result()

        # The calls of one message are gathered at once; taken one at a time in the
        # message's order (asyncio's lock is first come, first served), an ``ask`` among
        # them falls at the same place on every run of the node, as in ``invoke``.
        async with self._turn_lock(self._turn(request.state, _config(request)).key):
            return await asyncio.to_thread(self.wrap_tool_call, request, run_on_loop)

    def _turn_lock(self, key: str) -> asyncio.Lock:
        with self._lock:
            lock = self._turn_locks.get(key)
            if lock is None:
                lock = self._turn_locks[key] = asyncio.Lock()
            return lock

    # --- the tool-call hook ---

    def wrap_tool_call(
        self, request: ToolCallRequest, execute: Execute
    ) -> ToolMessage | Command[Any]:
        """Govern one tool call (``ToolNode(wrap_tool_call=...)``): run it through
        ``execute`` only when charter allows it, and journal what it did."""
        proposed = request.tool_call

        def run(call: dict[str, Any]) -> ToolMessage | Command[Any]:
            if call["args"] == proposed["args"]:  # as proposed: the request as it is
                return execute(request)
            return execute(request.override(tool_call=cast(Any, call)))

        return self.govern_call(proposed, request.state, _config(request), run)

    def govern_call(
        self,
        call: Mapping[str, Any],
        state: Any,
        config: Mapping[str, Any],
        execute: Callable[[dict[str, Any]], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Govern one tool call ``call`` (``name``, ``args``, ``id``) made in the graph
        state ``state`` of the thread ``config`` names: ``execute`` runs the call it is
        given (the arguments charter let through) only when charter allows it."""
        name, call_id = call["name"], _answer_id(call)
        turn = self._turn(state, config)
        with self._lock:
            held = self._bound.get(turn.key)
            released = self._released
        run_id = None if held is not None else self._meta(turn.key)
        if held is not None:
            done = held.answers.get(call_id)
        else:
            done = None if run_id is None else self._done(run_id, call_id)
        if done is not None:  # the node runs again on resume: a recorded call is not rerun
            return ToolMessage(**done)
        bound = self._bind(turn, run_id, released)
        if bound is None:  # the run waits for an approval: it is asked again or used
            bound = self._approved(turn, name, call)
            if isinstance(bound, ToolMessage):
                return bound
            with bound.lock:
                verdict = bound.run.approved_call()
                return self._act(turn, bound, verdict, call, call_id, execute)
        with bound.lock:
            if bound.run.run.status == "waiting":
                return _message(call, f"not run: run {bound.run.run_id} waits for an approval")
            self._report_usage(bound, turn.messages)
            verdict = bound.run.govern(name, dict(call["args"]))
            if verdict.verdict == "ask" and verdict.approval is not None:
                self._release(turn.key)
            else:
                return self._act(turn, bound, verdict, call, call_id, execute)
        bound = self._approved(turn, name, call)
        if isinstance(bound, ToolMessage):
            return bound
        with bound.lock:
            return self._act(turn, bound, bound.run.approved_call(), call, call_id, execute)

    def _act(
        self,
        turn: _Turn,
        bound: _Bound,
        verdict: CallVerdict,
        call: Mapping[str, Any],
        call_id: str,
        execute: Callable[[dict[str, Any]], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        if not verdict.runs:
            if bound.run.run.status not in ("running", "waiting"):
                self._release(turn.key)
                raise GovernedRunStopped(
                    f"charter run {verdict.run_id} {bound.run.run.status}: {verdict.reason}"
                )
            observation = verdict.observation
            status = (
                "success" if observation is not None and observation.status == "ok" else "error"
            )
            text = (
                _denial(verdict)
                if status == "error"
                else _text(observation and observation.content)
            )
            return self._remember(bound, call_id, call, _message(call, text, status))
        proposed = dict(call["args"])  # an approved call was checked by _approved
        args = {k: v for k, v in verdict.args.items() if v is not None or k in proposed}
        try:
            with permitted(call["name"]):
                response = execute({**call, "args": args})
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            bound.run.record(verdict, error=error)
            return self._remember(bound, call_id, call, _message(call, f"Error: {error}"))
        if isinstance(response, Command):
            bound.run.record(verdict, result=_json(getattr(response, "update", None)))
            return response
        if response.status == "error":
            bound.run.record(verdict, error=_text(response.content))
            return self._remember(bound, call_id, call, response)
        result = _json(response.content)
        observation = bound.run.record(verdict, result=result)
        if observation.status != "ok":
            response = _message(call, _text(observation.content), "error")
        elif observation.content != result:  # a secret output, withheld from the model
            response = _message(call, _text(observation.content), "success")
        return self._remember(bound, call_id, call, response)

    def _same_call(
        self, tool: str, approved: Mapping[str, Any], name: str, args: dict[str, Any]
    ) -> bool:
        """Whether the call about to run (``name``, ``args``) is the call approved (a
        parallel call, or a graph state edited between the interrupt and the resume,
        may propose another)."""
        if tool != name:
            return False
        try:
            validated = self.agent.inventory.get(name).validate_args(args)
        except (CharterError, ValueError):  # an unknown tool, arguments it refuses
            return False
        return validated.model_dump(mode="json") == dict(approved)

    # --- the run a turn is bound to ---

    def _turn(self, state: Any, config: Mapping[str, Any]) -> _Turn:
        found = _messages(state)
        start = len(found)
        while start and not isinstance(found[start - 1], HumanMessage):
            start -= 1
        human: HumanMessage | None = found[start - 1] if start else None
        messages = [m for m in found[start:] if isinstance(m, BaseMessage)]
        turn_id = (human.id or str(start - 1)) if human is not None else ""
        configurable = cast(Mapping[str, Any], config.get("configurable") or {})
        thread = str(configurable.get("thread_id", ""))
        digest = hashlib.sha256(f"{self.agent.name}\0{thread}\0{turn_id}".encode()).hexdigest()
        goal = self._goal or (_text(human.content) if human is not None else "") or "(no goal)"
        earlier = found[: max(start - 1, 0)]
        return _Turn("langgraph:" + digest[:48], goal, messages, thread, earlier)

    def _bind(self, turn: _Turn, run_id: str | None, released: int) -> _Bound | None:
        """The run of ``turn`` (``run_id``, or a new one if None), opened or taken up
        here; None while it waits for an approval. ``released``: :attr:`_released` when
        ``run_id`` was read."""
        with self._lock:
            bound = self._bound.get(turn.key)
            if bound is not None:
                return bound
            if run_id is None and released != self._released:
                # Another call of this turn may have bound and released it since: read
                # again (a run bound meanwhile by another process is the claim's to find).
                run_id = self._meta(turn.key)
            if run_id is None:
                run = GovernedRun.open(self.journal, self.agent, turn.goal, actor=self._actor)
                taken = self.journal.claim(turn.key, run.run_id)
                if taken is None:
                    run.inherit(_inherited(turn.earlier))
                    bound = self._bound[turn.key] = _Bound(
                        run, threading.RLock(), thread=turn.thread
                    )
                    return bound
                run.finish(error=f"another process bound this turn to run {taken}")
                run_id = taken
            records = list(self.journal.records(run_id))
            if run_state(records) == "finished":
                raise GovernedRunStopped(
                    f"charter run {run_id} of this turn has finished; start a new turn"
                )
            if waiting_record(records) is not None:
                return None
            return self._resume(turn, run_id)

    def _resume(self, turn: _Turn, run_id: str) -> _Bound:
        run = GovernedRun.resume(self.journal, self.agent, run_id, actor=self._actor)
        prompt = sum(s.usage.prompt_tokens for s in run.run.steps)
        completion = sum(s.usage.completion_tokens for s in run.run.steps)
        bound = _Bound(run, threading.RLock(), prompt, completion, thread=turn.thread)
        self._bound[turn.key] = bound
        return bound

    def _approved(self, turn: _Turn, name: str, call: Mapping[str, Any]) -> _Bound | ToolMessage:
        """Interrupt until the resume value names the decided approval the run waits
        for, then take the run up here (the receipt is checked by ``approved_call``)."""
        run_id = self._meta(turn.key)
        waiting = None if run_id is None else waiting_record(list(self.journal.records(run_id)))
        if run_id is None or waiting is None:
            raise RunStateError(f"run {run_id} is not waiting for an approval")
        asked = payload_as(RunWaiting, waiting.payload)["request_id"]
        request = self.approvals.get(str(asked)).request
        if not self._same_call(request.tool, request.args, name, dict(call["args"])):
            return _message(
                call, f"not run: run {run_id} waits for approval of another call ({request.tool})"
            )
        payload = approval_payload(request)
        while True:
            answer = interrupt(payload)  # raises GraphInterrupt until resumed with a value
            problem = self._check_answer(answer, request)
            if problem is None:
                break
            payload = approval_payload(request) | {"error": problem}
        with self._lock:
            return self._bound.get(turn.key) or self._resume(turn, run_id)

    def _check_answer(self, answer: Any, request: ApprovalRequest) -> str | None:
        named: Any = (
            cast(Mapping[str, Any], answer).get("approval")
            if isinstance(answer, Mapping)
            else answer
        )
        if named != request.request_id:
            return (
                f"the resume value names {str(named)[:80]!r}, not approval "
                f"{request.request_id} this call waits for"
            )
        if self.approvals.get(request.request_id).status == "pending":
            return f"approval {request.request_id} is still undecided"
        return None

    def _release(self, key: str) -> None:
        with self._lock:
            bound = self._bound.pop(key, None)
            self._released += 1
        if bound is None:
            return
        try:
            for call_id, answer in bound.answers.items():
                self.journal.claim(_call_key(bound.run.run_id, call_id), json.dumps(answer))
        finally:
            bound.run.close()

    def _release_thread(self, thread: str) -> None:
        with self._lock:
            keys = [key for key, bound in self._bound.items() if bound.thread == thread]
        for key in keys:
            self._release(key)

    def _meta(self, key: str) -> str | None:
        with self.journal.engine.connect() as conn:
            found = conn.execute(_META_VALUE, {"key": key}).scalar_one_or_none()
        return None if found is None else str(found)

    def _done(self, run_id: str, call_id: str) -> dict[str, Any] | None:
        """The answer journaled for call ``call_id`` of run ``run_id``, if it ran."""
        found = self._meta(_call_key(run_id, call_id)) if call_id else None
        return None if found is None else json.loads(found)

    def _remember(
        self, bound: _Bound, answer_id: str, call: Mapping[str, Any], message: ToolMessage
    ) -> ToolMessage:
        """Keep the answer a call got, so the node's re-execution returns it (journaled
        when the run is released at an interrupt: a resume may happen elsewhere)."""
        if answer_id:
            bound.answers[answer_id] = {
                "content": message.content,
                "name": message.name,
                "tool_call_id": message.tool_call_id,
                "status": message.status,
            }
        return message

    def _report_usage(self, bound: _Bound, messages: Sequence[BaseMessage]) -> None:
        """Report the model usage of the turn not yet counted (``usage_metadata``)."""
        prompt = completion = 0
        model = ""
        for message in messages:
            usage = (
                getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
            )
            if usage:
                prompt += int(usage.get("input_tokens", 0))
                completion += int(usage.get("output_tokens", 0))
                model = str(message.response_metadata.get("model_name", "")) or model
        if prompt > bound.prompt or completion > bound.completion:
            bound.run.report_usage(
                prompt_tokens=max(prompt - bound.prompt, 0),
                completion_tokens=max(completion - bound.completion, 0),
                model=model,
            )
            bound.prompt, bound.completion = (
                max(prompt, bound.prompt),
                max(completion, bound.completion),
            )

    # --- driving the graph ---

    def invoke(self, graph: Any, graph_input: Any, config: RunnableConfig) -> Any:
        """``graph.invoke(graph_input, config)``; then, unless the graph was interrupted,
        finish the turn's charter run with its last model message as the answer.

        Raises:
            RunStateError: ``graph_input`` resumes an approval still undecided.
            GovernedRunStopped: the turn's run was stopped at a tool call.
        """
        released = self._resumed(graph, graph_input, config)
        if released is not None:
            return released
        configurable = cast(Mapping[str, Any], config.get("configurable") or {})
        try:
            result: Any = graph.invoke(graph_input, self.guarded(config))
        except BaseException:  # the thread may be taken up again, here or elsewhere
            self._release_thread(str(configurable.get("thread_id", "")))
            raise
        if "__interrupt__" in getattr(result, "keys", list)():
            return result
        run = self.finish(graph, config, state=result)
        return _answer.interrupted(result, run, self.approvals)

    def stream(
        self, graph: Any, graph_input: Any, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        """``graph.stream(graph_input, config, **kwargs)``, the turn's run finished with its
        answer when the graph ends (as :meth:`invoke`). Under ``flows.answer: redact``,
        ``ask`` or ``deny`` the answer's events are withheld until the run has governed
        it, then given as the run kept it (a held answer: its notice and an interrupt);
        tool calls and other events flow as they come (see :mod:`._stream`).

        Raises:
            ConfigError: a stream mode or option that would show the answer before it
                is governed (``debug``, ``checkpoints``, ``tasks``, ``subgraphs``).
            RunStateError: ``graph_input`` resumes an approval still undecided.
            GovernedRunStopped: the turn's run was stopped at a tool call.
        """
        turn = _stream.TurnStream(self, graph, config, kwargs)
        released = self._resumed(graph, graph_input, config)
        if released is not None:
            yield from turn.released(released)
            return
        try:
            for item in graph.stream(graph_input, self.guarded(config), **turn.kwargs):
                yield from turn.take(item)
        except BaseException:  # the thread may be taken up again, here or elsewhere
            self._release_thread(turn.thread)
            raise
        yield from turn.end(turn.finish())

    async def astream(
        self, graph: Any, graph_input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """:meth:`stream` for ``graph.astream`` (async tools); the journal's work on a
        worker thread."""
        turn = _stream.TurnStream(self, graph, config, kwargs)
        released = await asyncio.to_thread(self._resumed, graph, graph_input, config)
        if released is not None:
            for event in turn.released(released):
                yield event
            return
        try:
            async for item in graph.astream(graph_input, self.guarded(config), **turn.kwargs):
                for event in turn.take(item):
                    yield event
        except BaseException:
            self._release_thread(turn.thread)
            raise
        for event in turn.end(await asyncio.to_thread(turn.finish)):
            yield event

    def _resumed(self, graph: Any, graph_input: Any, config: RunnableConfig) -> Any | None:
        """The thread's state when ``graph_input`` resumes a turn that holds its answer
        (released, or still held); None when the graph is to run.

        Raises:
            RunStateError: ``graph_input`` resumes an approval still undecided.
        """
        resume: Any = graph_input.resume if isinstance(graph_input, Command) else None
        if isinstance(resume, Mapping):
            named = cast(Mapping[str, Any], resume).get("approval")
            if isinstance(named, str) and self.approvals.get(named).status == "pending":
                raise RunStateError(
                    f"approval {named} is still undecided; `charter approvals approve {named}`"
                )
        if not isinstance(graph_input, Command):
            return None
        return _answer.resumed(  # a turn holding its answer is released here
            graph,
            config,
            self.journal,
            self.agent,
            self._actor,
            self._run_of(graph, config),
            resume,
        )

    def _run_of(self, graph: Any, config: RunnableConfig) -> str | None:
        """The charter run of the thread's current turn (None without a checkpointer)."""
        if getattr(graph, "checkpointer", None) is None:
            return None
        return self._meta(self._turn(graph.get_state(config).values, config).key)

    def finish(self, graph: Any, config: RunnableConfig, *, state: Any = None) -> Run | None:
        """Finish the charter run of the thread's current turn with the graph's last model
        message as its answer (a turn that called no tool has a run only when the charter
        holds answers back: ``flows.answer`` ``redact``, ``ask`` or ``deny``). Returns
        the run (None if there was none to finish): ``waiting`` when the charter holds
        the answer for approval, the thread's state then showing a notice in its place
        (resume the thread with ``resume_command(run.waiting_for)`` once it is decided).

        Args:
            graph: the compiled graph (its checkpointer gives the thread's state).
            config: the thread's config.
            state: the graph's final state, when at hand (a graph without checkpointer).
        """
        state = graph.get_state(config).values if state is None else state
        turn = self._turn(state, config)
        with self._lock:
            bound = self._bound.pop(turn.key, None)
            self._released += 1
        if bound is None:
            run_id = self._meta(turn.key)
            if run_id is None and self.agent.charter.flows.answer in ("redact", "ask", "deny"):
                # A turn that called no tool still answers from what the thread read before
                # (earlier turns' tool messages): its answer is governed by a run of its own.
                opened = self._bind(turn, None, self._released)
                with self._lock:
                    self._bound.pop(turn.key, None)
                if opened is None:
                    return None
                bound = opened
            elif run_id is None or run_state(list(self.journal.records(run_id))) == "finished":
                return None
            else:
                with self._lock:
                    bound = self._bound.pop(turn.key, None) or self._resume(turn, run_id)
                    self._bound.pop(turn.key, None)
        last = next((m for m in reversed(turn.messages) if isinstance(m, AIMessage)), None)
        with bound.lock:
            try:
                if bound.run.run.status == "running":
                    self._report_usage(bound, turn.messages)
                    bound.run.finish(_text(last.content) if last is not None else "")
            finally:
                bound.run.close()
        _answer.hold(graph, config, last, bound.run.run)
        return bound.run.run

    def close(self) -> None:
        """Release every run this process holds (they stay resumable elsewhere)."""
        with self._lock:
            held, self._bound = list(self._bound.values()), {}
            self._released += 1
        for bound in held:
            with contextlib.suppress(Exception):
                bound.run.close()


def approval_payload(request: ApprovalRequest) -> dict[str, Any]:
    """The interrupt's value: what asks, and how to answer it."""
    return {
        "charter": "approval",
        "request_id": request.request_id,
        "run_id": request.run_id,
        "tool": request.tool,
        "args": request.args,
        "rules": list(request.rules),
        "reason": request.reason,
        "approve": f"charter approvals approve {request.request_id} --as <approver>",
        "resume": {"approval": request.request_id},
    }


def _config(request: ToolCallRequest) -> Mapping[str, Any]:
    config = getattr(cast(Any, request).runtime, "config", None)  # no runtime outside a graph
    return cast(Mapping[str, Any], config or {})


def _messages(state: Any) -> Sequence[Any]:
    """The state's messages as the graph keeps them (``messages``)."""
    found: Any = state
    if isinstance(state, Mapping):
        found = cast(Mapping[str, Any], state).get("messages", [])
    elif hasattr(state, "messages"):
        found = state.messages
    return cast(Sequence[Any], found or [])


def _message(call: Mapping[str, Any], text: str, status: str = "error") -> ToolMessage:
    return ToolMessage(
        content=text, name=call["name"], tool_call_id=call.get("id") or "", status=status
    )


def _denial(verdict: CallVerdict) -> str:
    rules = f" ({', '.join(verdict.rules)})" if verdict.rules else ""
    observation = verdict.observation
    why = _text(observation.content) if observation is not None else verdict.reason
    return f"charter refused {verdict.tool or 'the call'}{rules}: {why}"


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, default=str)


def _json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)


def _answer_id(call: Mapping[str, Any]) -> str:
    """What identifies a call when its node runs again: its id, tool and arguments (a
    model that reuses ids for different calls does not get an earlier call's answer)."""
    if not call.get("id"):
        return ""
    args = json.dumps(call.get("args"), sort_keys=True, default=str)
    return f"{call['id']}\0{call['name']}\0{args}"


def _inherited(messages: Sequence[Any]) -> list[Inherited]:
    """The tool messages of a thread's earlier turns, which the model reads with this
    turn's: each labelled by its tool (the model's call of the same id gives its name
    when the message lacks one, and the arguments); an error's (a tool's failure, or
    charter's refusal) is read as an error's text, vouching for nothing."""
    calls: dict[str, Mapping[str, Any]] = {}
    found: list[Inherited] = []
    for message in messages:
        if isinstance(message, AIMessage):
            calls.update({str(c.get("id")): c for c in message.tool_calls if c.get("id")})
        elif isinstance(message, ToolMessage):
            call = calls.get(message.tool_call_id)
            name = message.name or (None if call is None else str(call["name"]))
            args = None if call is None else dict(call.get("args") or {})
            failed = message.status == "error"
            found.append(Inherited(name, _json(message.content), args, failed=failed))
    return found


def _call_key(run_id: str, call_id: str) -> str:
    return "langgraph-call:" + hashlib.sha256(f"{run_id}\0{call_id}".encode()).hexdigest()[:48]


def iter_interrupts(result: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The charter approval payloads among a graph result's ``__interrupt__`` values."""
    items: Any = result.get("__interrupt__", ())
    for item in items:
        value = getattr(item, "value", None)
        if isinstance(value, dict):
            found = cast(dict[str, Any], value)
            if found.get("charter") == "approval":
                yield found
