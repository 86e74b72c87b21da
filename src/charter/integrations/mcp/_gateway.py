"""The governing MCP gateway: an agent's tools served as an MCP server (``charter mcp serve``).

Any MCP client (a desktop assistant, an IDE, another agent framework) connects to the
gateway instead of to the servers themselves, and gets charter's governance without code:

* each client session is one governed run (:class:`~charter.governance.GovernedRun`) of
  the agent file's agent, under the session's identity (``--as`` on stdio, the bearer
  token's name over HTTP) and the agent's charter; it finishes when the session ends;
* ``tools/list`` shows the tools the charter can allow: refused (unpinned or changed MCP
  tools), revoked and always-denied tools are absent;
* every ``tools/call`` goes through the one governed-call pipeline (labelled, decided,
  journaled), and runs on the upstream server (or the charter tool) only when allowed; a
  denial is a tool error (``isError``) carrying charter's reason and rule ids; each result
  carries its labels and run step in ``_meta`` (``io.charter/...``);
* ``ask``: see :meth:`Gateway.ask`.

The gateway serves the initialize-handshake protocol era only: a 2026-07-28 request has no
session to bind a run to, so ``server/discover`` is refused and clients fall back to the
handshake (the SDK's clients do so on their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

try:
    import mcp_types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("The MCP gateway needs the mcp extra: pip install 'charter[mcp]'") from exc

from charter.agent import Agent
from charter.errors import ApprovalError, CharterError, RunStateError
from charter.governance import CallVerdict, GovernedRun
from charter.integrations.mcp._connection import sessions_on_this_loop
from charter.integrations.mcp._results import (
    ask_message,
    asking,
    error_result,
    not_run,
    tool_result,
)
from charter.integrations.mcp._toolset import McpToolCall
from charter.journal import Journal
from charter.journal._kinds import RunStarted, payload_as
from charter.runtime._approvals import Approvals, args_hash
from charter.runtime._controls import Controls
from charter.tools import Tool, ToolArgumentsError, ToolOutcomeUnknownError

GATEWAY_OWNER = "mcp-gateway"
"""The lease owner of every run a gateway session drives (how recovery finds them)."""
DEFAULT_GOAL = "Serve the tool calls of an MCP client session"
"""The run's goal (trusted input: task scope is derived from it) unless ``--goal`` says."""
METHOD_NOT_FOUND = -32601
APPROVE_FIELD = "approve"

T = TypeVar("T")
Context = Callable[[], ServerRequestContext[Any, Any]]
"""The request a call came with, made when asked for (only an ``ask`` needs it)."""
Result = dict[str, Any]
"""A ``tools/call`` result as it goes on the wire (see :mod:`._results`)."""


@dataclass(slots=True)
class Caller:
    """Who a session acts as: journaled as the run's actor, and as the approver of an
    answer given through elicitation."""

    name: str
    may_approve: bool = True
    """Whether this identity's role lets it decide approval requests (over HTTP, a token
    without the approver role may drive runs but never answer their asks)."""
    token_id: str = ""


@dataclass(slots=True)
class GatewaySession:
    """One client session: its run (opened on its first call) and the lock that keeps its
    calls one at a time (a run governs one call after another)."""

    caller: Caller
    client: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Uncontended (a client's calls one after another), taken without a trip round the
    event loop; asyncio's own, which costs a tenth of anyio's (its cancellation check)."""
    run: GovernedRun | None = None


class Gateway:
    """Serves ``agent``'s tools to MCP clients, each call governed and journaled.

    Args:
        journal: where every run of every session is journaled.
        agent: the agent (tools, contracts, charter) the sessions run as.
        caller: the identity of stdio sessions (HTTP sessions take their token's).
        goal: the goal every session's run is started with (trusted input).
        ask_timeout: seconds a held call waits for an approval in the inbox before the
            client gets a tool error saying where to approve.
        poll: seconds between looks at the inbox while a call is held.

    Calls are served on the gateway's event loop, with no thread in between: the upstream
    MCP sessions live on that loop (see :meth:`server`), and charter's own work on a call
    (deciding, journaling) is CPU-only and short with a journal in memory, so it runs
    there too. A journal in a file or a database can wait on a lock, a disk or a network:
    its work is done on a worker thread, as is the wait for an approver and the body of a
    tool of charter's own (see :meth:`blocking`).
    """

    def __init__(
        self,
        journal: Journal,
        agent: Agent,
        *,
        caller: Caller | None = None,
        goal: str = DEFAULT_GOAL,
        ask_timeout: float = 60.0,
        poll: float = 0.25,
    ) -> None:
        self.journal = journal
        self.agent = agent
        self.caller = caller or Caller("")
        self.goal = goal
        self.ask_timeout = ask_timeout
        self.poll = poll
        self.approvals = Approvals(journal)
        self.controls = Controls(journal)
        self.caller_of: Callable[[ServerRequestContext[Any, Any]], Caller] = self._stdio_caller
        """How a request's caller is found (the HTTP transport reads its token)."""
        self.inline = _in_memory(journal)
        """Whether charter's work on a call runs on the event loop (a journal in memory)
        rather than on a worker thread."""
        self._lock = threading.Lock()

    # --- what is offered ---

    def offered(self) -> list[Tool]:
        """The tools ``tools/list`` shows: those the charter can allow at all (refused,
        revoked and always-denied tools are left out)."""
        controls = self.controls.state()
        compiled = self.agent.charter.compiled
        return [
            t
            for t in self.agent.tools()
            if controls.revocation(t.name, self.agent.name) is None
            and not compiled.denies_every_call(t.name)
        ]

    def listing(self) -> types.ListToolsResult:
        """The ``tools/list`` answer."""
        tools = [
            types.Tool(
                name=t.name,
                description=t.description,
                input_schema=t.parameters_schema(),
                annotations=types.ToolAnnotations(
                    read_only_hint=t.contract.side_effect == "read",
                    idempotent_hint=t.contract.idempotent,
                ),
            )
            for t in self.offered()
        ]
        return types.ListToolsResult(tools=tools)

    # --- the MCP server ---

    def server(self) -> Server[Any]:
        """A low-level SDK server whose handlers are this gateway's."""

        async def list_tools(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            self.caller_of(ctx)
            return await self.blocking(self.listing)

        async def call_tool(
            ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            return await self.call(ctx, params.name, dict(params.arguments or {}))

        async def discover(
            ctx: ServerRequestContext[Any, Any], params: types.RequestParams | None
        ) -> types.DiscoverResult:
            raise MCPError(
                code=METHOD_NOT_FOUND,
                message="charter's gateway binds a governed run to each session: "
                "use the initialize handshake",
            )

        @contextlib.asynccontextmanager
        async def lifespan(_: Server[Any]) -> AsyncGenerator[dict[str, Any]]:
            # The upstream sessions move onto the serving loop (reopened there on first
            # use, which lists their tools again), and are closed when serving ends.
            async with sessions_on_this_loop():
                yield {}

        server: Server[Any] = Server(
            "charter-gateway",
            version=_version(),
            instructions=f"Tools of agent {self.agent.name!r}, governed by charter "
            f"{self.agent.charter.name!r}: every call is decided and journaled.",
            lifespan=lifespan,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )
        server.add_request_handler("server/discover", types.RequestParams, discover)
        return server

    async def serve_stdio(self) -> None:
        """Serve one client session on this process's stdin and stdout (see
        :mod:`._gateway_stdio`)."""
        from charter.integrations.mcp._gateway_stdio import serve_stdio

        await serve_stdio(self)

    def _stdio_caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        return self.caller

    # --- sessions ---

    def session(self, ctx: ServerRequestContext[Any, Any]) -> GatewaySession:
        """The session of the connection ``ctx`` came on (made on first use, its run
        finished when the connection closes)."""
        caller = self.caller_of(ctx)
        connection: Any = ctx.session._connection  # pyright: ignore[reportPrivateUsage]
        state = cast(dict[str, Any], connection.state)
        with self._lock:
            found = state.get("charter")
            if isinstance(found, GatewaySession):
                return found
            params = connection.client_params
            info = getattr(params, "client_info", None)
            client = f"{getattr(info, 'name', '?')} {getattr(info, 'version', '')}".strip()
            made = GatewaySession(caller, client[:120])
            state["charter"] = made

        async def ended() -> None:
            # After the call in flight, if any: a run governs one thing at a time. (The SDK
            # bounds this wait; a run still busy past it is settled by `mcp recover`.)
            async with made.lock:
                await self.blocking(self.end, made)

        connection.exit_stack.push_async_callback(ended)
        return made

    def _open(self, session: GatewaySession) -> GovernedRun:
        if session.run is None:
            session.run = GovernedRun.open(
                self.journal,
                self.agent,
                self.goal,
                actor=session.caller.name,
                owner=GATEWAY_OWNER,
            )
        return session.run

    def end(self, session: GatewaySession) -> None:
        """Finish the session's run: completed, or failed when a call still waited for an
        approval (the request is closed with it). A call still running keeps the run
        open: its lease lapses and ``charter mcp recover`` settles it."""
        run = session.run
        if run is None or run.run.status not in ("running", "waiting"):
            return
        try:
            if run.run.status == "waiting":
                run.finish(
                    error=f"the MCP client's session ended while a call waited for approval "
                    f"{run.run.waiting_for}"
                )
            else:
                run.finish("the MCP client ended its session")
        except RunStateError:
            run.close()

    # --- one call ---

    async def call(
        self, ctx: ServerRequestContext[Any, Any], name: str, args: dict[str, Any]
    ) -> types.CallToolResult:
        """Govern, run and record one ``tools/call`` that came through the SDK's server
        (see :meth:`answer`)."""
        result = await self.answer(self.session(ctx), name, args, lambda: ctx)
        return types.CallToolResult.model_validate(result, by_name=False)

    async def answer(
        self,
        session: GatewaySession,
        name: str,
        args: dict[str, Any],
        context: Context | None,
        on_act: Callable[[], None] | None = None,
    ) -> Result:
        """Govern, run and record one call of ``session``'s: every outcome is a result (a
        tool error for anything that did not run), never a protocol error (``on_act``:
        see :meth:`governed`)."""
        try:
            return await self.governed(session, name, args, context, on_act)
        except CharterError as exc:
            return error_result(f"charter could not govern {name!r}: {exc}")

    async def governed(
        self,
        session: GatewaySession,
        name: str,
        args: dict[str, Any],
        context: Context | None = None,
        on_act: Callable[[], None] | None = None,
    ) -> Result:
        """One call of ``session``'s, governed, run and recorded (``context``: the
        request, whose client may answer an ``ask``; without it, the inbox does).

        Once decided, the call runs and is recorded even if the client leaves or cancels
        meanwhile: a decision with no effect journaled would be a call in doubt. The part
        that acts is shielded from cancellation, unless the transport passes ``on_act``:
        it is called as the call starts to act, and the transport cancels the request
        from then on only by not answering it (the stdio transport, whose shield would
        cost more than the rest of its bookkeeping).

        Raises:
            CharterError: the session's run cannot govern it (e.g. it was stopped).
        """
        async with session.lock:
            run = session.run
            if run is not None and run.run.status == "waiting":
                # The answer may be held until an approver decides: never inline.
                verdict = await anyio.to_thread.run_sync(self._while_waiting, run, name, args)
            else:
                verdict = await self.blocking(self._govern, session, name, args)
            if isinstance(verdict, dict):
                return verdict
            if verdict.approval is not None and not verdict.runs:  # a new request
                answered = await self.ask(context, session, verdict)
                if isinstance(answered, dict):
                    return answered
                verdict = answered
            if on_act is not None:
                on_act()
                return await self._act(session, verdict)
            acted: Result | None = None
            with anyio.CancelScope(shield=True):
                acted = await self._act(session, verdict)
            assert acted is not None
            return acted

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run charter's synchronous work on a call: right here on the event loop when
        the journal is in memory, else on a worker thread."""
        if self.inline:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    def _govern(self, session: GatewaySession, name: str, args: dict[str, Any]) -> CallVerdict:
        return self._open(session).govern(name, args)

    def _while_waiting(
        self, run: GovernedRun, name: str, args: dict[str, Any]
    ) -> CallVerdict | Result:
        """A call made while an earlier one of the session waits for approval: the same
        call again continues with the answer (or waits again); another is refused until
        the waiting one is decided."""
        request_id = str(run.run.waiting_for)
        state = self.approvals.get(request_id)
        request = state.request
        same = _same_call(self.agent, request.tool, request.args, name, args)
        if same:
            if state.status == "pending":
                return self._hold(run, request_id)
            return run.approved_call()
        if state.status == "pending":
            return error_result(
                f"not run: {request.tool!r} of this session waits for approval {request_id}; "
                f"approve or deny it (`charter approvals approve {request_id}`, or the "
                f"dashboard's approvals inbox), then call {request.tool!r} again"
            )
        if state.status == "approved":
            return error_result(
                f"not run: approval {request_id} let {request.tool!r} run with the arguments "
                f"it was asked with; call it again with them first"
            )
        run.approved_call()  # the waiting call is denied; journaled, then on to this one
        return run.govern(name, args)

    async def _act(self, session: GatewaySession, verdict: CallVerdict) -> Result:
        """Run an allowed call and record its outcome: an MCP tool's on the session's loop
        (here), a tool of charter's own on a worker thread (its body may block)."""
        if not verdict.runs:
            return not_run(verdict)
        run = self._open(session)
        found = self.agent.inventory.get(verdict.tool)
        try:
            if isinstance(found.fn, McpToolCall):
                # The verdict's arguments are those its governing validated against the
                # server's input schema (an MCP tool's model keeps them as they are).
                result = await found.fn.acall(dict(verdict.args))
            else:
                validated = found.validate_args(verdict.args)
                result = await anyio.to_thread.run_sync(
                    found.invoke, validated, verdict.idempotency_key
                )
        except ToolOutcomeUnknownError as exc:
            return await self.blocking(self._in_doubt, session, run, verdict, exc)
        except Exception as exc:  # the tool's failure is the call's result, journaled
            error = f"{type(exc).__name__}: {exc}"[:1000]
            observation = await self.blocking(run.record, verdict, error=error)
        else:
            observation = await self.blocking(run.record, verdict, result=result)
        return tool_result(found, verdict, observation)

    def _in_doubt(
        self,
        session: GatewaySession,
        run: GovernedRun,
        verdict: CallVerdict,
        exc: ToolOutcomeUnknownError,
    ) -> Result:
        """A write whose answer was lost (the server died or timed out mid-call) may or
        may not have happened: it is never recorded as failed. The run is let go and taken
        up again at once, which journals the call in doubt as after a crash (its target
        blocked by ``effect.in_doubt`` until ``charter runs resolve``)."""
        run.close()
        session.run = GovernedRun.resume(
            self.journal, self.agent, run.run_id, actor=session.caller.name, owner=GATEWAY_OWNER
        )
        return error_result(
            f"{verdict.tool!r} may or may not have run ({exc}): journaled in doubt; its "
            f"target is blocked until someone checks and runs `charter runs resolve "
            f"{run.run_id}`",
            {"run_id": run.run_id, "step": verdict.step, "verdict": "in_doubt"},
        )

    # --- ask ---

    async def ask(
        self, context: Context | None, session: GatewaySession, verdict: CallVerdict
    ) -> CallVerdict | Result:
        """Answer an ``ask``: through the client's user, or charter's approvals inbox.

        Elicitation is used when the client declared it and the charter's approval terms
        let the session's identity decide (``approvals.forbid_self_approval: false``, the
        identity on the level's approver list, and over HTTP a token whose role may
        approve). What an elicitation answer proves is only that the client software of
        this session answered "accept" to exactly the call shown: not which human, if
        any, saw it (an agent can answer its own elicitations). So it is journaled as an
        approval by the session's own identity, bound like any receipt to the call's
        arguments hash and policy version, and a charter forbidding self-approval (the
        default) never takes it: the call goes to the inbox instead, where another
        person decides.

        Otherwise the call is held in the inbox for up to ``ask_timeout`` seconds (an
        approver decides with ``charter approvals approve`` or the dashboard, in any
        process); past that, the client gets a tool error naming the request, and
        calling the same tool again once it is decided continues.
        """
        request = verdict.approval
        assert request is not None
        ctx = context() if context is not None else None
        if ctx is not None and self._may_elicit(ctx, session, verdict):
            answered = await self._elicit(ctx, session, verdict)
            if answered is not None:
                return answered
        run = self._open(session)
        return await anyio.to_thread.run_sync(self._hold, run, request.request_id)

    def _may_elicit(
        self, ctx: ServerRequestContext[Any, Any], session: GatewaySession, verdict: CallVerdict
    ) -> bool:
        capabilities = ctx.session.client_capabilities
        request = verdict.approval
        if capabilities is None or capabilities.elicitation is None or request is None:
            return False
        if not session.caller.may_approve or not session.caller.name:
            return False
        return request.refusal(session.caller.name, self.approvals.clock()) is None

    async def _elicit(
        self, ctx: ServerRequestContext[Any, Any], session: GatewaySession, verdict: CallVerdict
    ) -> CallVerdict | None:
        """Ask the client's user; None when they gave no answer (cancel, or the client
        failed), so that the inbox takes over."""
        request = verdict.approval
        assert request is not None
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                APPROVE_FIELD: {
                    "type": "boolean",
                    "title": f"Run {verdict.tool}?",
                    "description": "true runs this exact call once; false denies it",
                }
            },
            "required": [APPROVE_FIELD],
        }
        try:
            answer = await ctx.session.elicit_form(
                ask_message(verdict), schema, related_request_id=ctx.request_id
            )
        except Exception:  # a client that cannot answer: the inbox decides instead
            return None
        if answer.action == "cancel":
            return None
        approve = answer.action == "accept" and (answer.content or {}).get(APPROVE_FIELD) is True
        reason = (
            f"{'approved' if approve else 'declined'} through MCP elicitation by the session's "
            f"user (client {session.client!r}); shown: {verdict.tool} with arguments "
            f"sha256 {request.args_hash[:16]}"
        )

        def decide() -> CallVerdict:
            try:
                if approve:
                    self.approvals.approve(request.request_id, session.caller.name, reason)
                else:
                    self.approvals.deny(request.request_id, session.caller.name, reason)
            except ApprovalError:  # decided meanwhile in the inbox: that answer stands
                pass
            return self._open(session).approved_call()

        return await self.blocking(decide)

    def _hold(self, run: GovernedRun, request_id: str) -> CallVerdict | Result:
        try:
            return run.wait_for_approval(self.ask_timeout, poll=self.poll)
        except RunStateError:
            request = self.approvals.get(request_id).request
            return asking(run, request, waited=self.ask_timeout)


def _same_call(
    agent: Agent, tool: str, asked: dict[str, Any], name: str, args: dict[str, Any]
) -> bool:
    if name != tool:
        return False
    try:
        validated = agent.inventory.get(name).validate_args(args).model_dump(mode="json")
    except (CharterError, ToolArgumentsError):
        return False
    return args_hash(name, validated) == args_hash(tool, asked)


def _in_memory(journal: Journal) -> bool:
    url = journal.engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _version() -> str:
    with contextlib.suppress(Exception):
        from charter import __version__

        return __version__
    return ""


def recover_sessions(journal: Journal, agent: Agent, *, actor: str = "") -> list[str]:
    """Settle the runs of gateway sessions whose process stopped mid-session (a killed
    client or gateway): each is taken up once its lease lapsed, a call that was allowed
    but never recorded is journaled in doubt if it writes (``charter runs resolve``), and
    the run finishes failed. Runs still held by a live gateway, or waiting for an
    approval, are left alone. Returns the ids of the runs settled."""
    from charter.errors import RunOwnedError
    from charter.journal._lease import lease_of
    from charter.runtime._history import history, run_state

    settled: list[str] = []
    for started in journal.records_of_kind("run.started"):
        payload = payload_as(RunStarted, started.payload)
        if payload.get("agent") != agent.name or payload.get("governed_by") != "caller":
            continue
        row, _ = lease_of(journal.engine, started.run_id)
        if row is None or row.owner != GATEWAY_OWNER:
            continue
        if run_state(history(journal, started.run_id)) != "running":
            continue
        try:
            run = GovernedRun.resume(
                journal, agent, started.run_id, actor=actor, owner=GATEWAY_OWNER
            )
        except (RunOwnedError, RunStateError):
            continue
        with run:
            run.finish(error="the MCP gateway session stopped before the run finished")
        settled.append(started.run_id)
    return settled


__all__ = [
    "DEFAULT_GOAL",
    "GATEWAY_OWNER",
    "Caller",
    "Gateway",
    "GatewaySession",
    "recover_sessions",
]
