"""The JSON API under ``/api`` (and ``/metrics``): what the dashboard shows and does,
for programs. Reads need the ``read`` permission; changes name the role they need."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from charter.errors import CharterError, ConfigError, RunNotFoundError
from charter.evals import PromotionRefusedError
from charter.journal import canonical_json
from charter.policy import Phase
from charter.runtime import ApprovalState, Controls
from charter.runtime._lookup import resolve_request_id, resolve_run_id
from charter.runtime._names import UnknownNameError
from charter.runtime._runner import history
from charter.server._app import need, reject, state_of
from charter.server._auth import Principal, Role
from charter.server._limits import MAX_SEQ
from charter.server._run_filters import RUNS_RESPONSES, RunFilters, page_links, run_query
from charter.server._service import PhaseMove
from charter.views import _evals as eval_queries
from charter.views import _runs as queries
from charter.views._approvals import ApprovalCard, approval_card
from charter.views._search import search_runs

router = APIRouter()
api = APIRouter(prefix="/api")

Reader = Annotated[Principal, Depends(need("read"))]
Operator = Annotated[Principal, Depends(need("operate"))]
Approver = Annotated[Principal, Depends(need("approve"))]
Admin = Annotated[Principal, Depends(need("admin"))]

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class StartRun(BaseModel):
    """Start a run of a known agent."""

    agent: Name
    goal: Text


class Reason(BaseModel):
    """Why (journaled)."""

    reason: Text


class OptionalReason(BaseModel):
    """Why, if you like (journaled)."""

    reason: Annotated[str, Field(max_length=2000)] = ""


class AgentControl(Reason):
    """Pause an agent."""

    new_name: bool = False
    """The agent is not seen yet on purpose (no run or loaded file names it)."""


class ToolControl(BaseModel):
    """Revoke or restore a tool, for every agent or one."""

    reason: Text
    agent: Annotated[str | None, Field(max_length=128)] = None
    new_name: bool = False
    """The tool (or agent) is not seen yet on purpose (no run or loaded file names it)."""


class NewToken(BaseModel):
    """Create an API token."""

    name: Name
    role: Role


class Promotion(BaseModel):
    """Move an agent's version to a later phase (every gate before it must be met)."""

    reason: Text
    to: Phase | None = None
    """The target phase (default: the next one)."""


class Demotion(BaseModel):
    """Move an agent's version back to an earlier phase (no gate)."""

    to: Phase
    reason: Text


class PhaseChange(BaseModel):
    """An agent version moved to another rollout phase (a ``control.phase`` record)."""

    agent: str
    version_id: str
    previous: Phase
    phase: Phase
    evidence: list[eval_queries.GateView] = Field(default_factory=lambda: [])
    """The gates judged, all met (a promotion; none for a demotion)."""


class UnmetGate(BaseModel):
    """A gate that keeps a version where it is."""

    phase: Phase
    suite: str
    kpi: str
    why: str


class PhaseRefused(BaseModel):
    """A phase change refused (nothing was journaled)."""

    detail: str
    unmet: list[UnmetGate]
    """The gates not met (empty: the target phase is not later, or not earlier)."""


class Started(BaseModel):
    """A run accepted for execution."""

    run_id: str
    queued: bool


class Done(BaseModel):
    """A change that was made."""

    ok: bool = True
    detail: str = ""


@api.get("/whoami")
def whoami(who: Reader) -> dict[str, str]:
    """The caller's name and role."""
    return {"name": who.name, "role": who.role}


@api.get("/runs", responses=RUNS_RESPONSES)
def list_runs(
    request: Request,
    response: Response,
    _who: Reader,
    filters: Annotated[RunFilters, Query()],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
    after: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> list[queries.RunSummary]:
    """Runs, newest first, found as the dashboard's runs list finds them: ``q`` (a run id
    prefix or words of the goal), ``agent``, ``actor``, ``tool`` (a tool the run called),
    ``status``, ``outcome``, and the start time from ``since`` to ``until`` (a date or
    date and time, UTC unless it names its offset); the filters combine.

    Pages: pass ``before`` = the last ``seq`` you got for the next (older) page, or
    ``after`` = the first ``seq`` you got for the previous one; the ``Link`` header names
    both pages' URLs (``rel="next"``, ``rel="prev"``) while there are more.
    """
    query = run_query(filters)
    if before is not None and after is not None:
        raise HTTPException(400, "pass before (older runs) or after (newer runs), not both")
    journal = state_of(request).journal
    found = search_runs(journal, query, limit=limit, before=before, after=after)
    links = page_links(request.url, older=found.older, newer=found.newer)
    if links:
        response.headers["Link"] = links
    return found.runs


@api.post("/runs", status_code=202)
def start_run(
    request: Request,
    body: StartRun,
    who: Operator,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Resending a start with the same key (yours, for this agent) returns "
            "the same run instead of starting another; another goal under it is a 409.",
        ),
    ] = None,
) -> Started:
    """Start a run; it goes on in the background (or on a worker)."""
    service = state_of(request).service
    run_id = service.start(body.agent, body.goal, who.name, idempotency_key)
    return Started(run_id=run_id, queued=service.queue)


@api.get("/runs/{run_id}")
def show_run(request: Request, run_id: str, _who: Reader) -> queries.RunDetail:
    """One run: its steps (proposal, decision and rules, effect, labels) and events. A
    unique prefix of its id will do."""
    run_id = resolve_run_id(state_of(request).journal, run_id)
    detail = queries.run_detail(state_of(request).journal, run_id)
    if detail is None:
        raise RunNotFoundError(f"no run with id {run_id!r}")
    return detail


def known_run(request: Request, run_id: str) -> str:
    """The run ``run_id`` is (a unique prefix will do), if the journal has it (404
    otherwise, before any response)."""
    run_id = resolve_run_id(state_of(request).journal, run_id)
    history(state_of(request).journal, run_id)
    return run_id


async def stream_slot(request: Request, who: Reader) -> AsyncIterator[Principal]:
    """The caller, holding one of their token's live-stream slots while the stream lasts."""
    with state_of(request).streams.slot(who):
        yield who


@api.get(
    "/runs/{run_id}/events",
    response_class=EventSourceResponse,
    responses={429: {"description": "The token holds its limit of live streams already."}},
)
async def run_events(
    request: Request,
    run_id: Annotated[str, Depends(known_run)],
    who: Annotated[Principal, Depends(stream_slot)],
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
) -> AsyncIterator[ServerSentEvent]:
    """The run's journal records as server-sent events, live, until it finishes or waits;
    a ``stream.closed`` event ends a stream whose token was revoked or that stayed idle."""
    async for event in state_of(request).streams.follow(request, run_id, after, who):
        yield event


@api.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: str, body: Reason, who: Operator) -> Done:
    """Cancel a run: a running one stops before its next step, a waiting one ends now
    (closing its approval request). A unique prefix of its id will do."""
    run_id = resolve_run_id(state_of(request).journal, run_id)
    was = state_of(request).service.cancel(run_id, who.name, body.reason)
    return Done(detail=f"run was {was}; cancelled")


@api.post("/runs/{run_id}/rollback")
def rollback_run(request: Request, run_id: str, who: Operator) -> dict[str, Any]:
    """Undo the run's completed writes, newest first; report what could not be undone. A
    unique prefix of its id will do."""
    run_id = resolve_run_id(state_of(request).journal, run_id)
    report = state_of(request).service.rollback(run_id, who.name)
    return {
        "run_id": report.run_id,
        "complete": report.complete,
        "items": [
            {"step": i.step, "tool": i.tool, "outcome": i.outcome, "detail": i.detail}
            for i in report.items
        ],
    }


def _cards(request: Request, states: list[ApprovalState], who: Principal) -> list[ApprovalCard]:
    now = state_of(request).service.approvals.clock()
    allowed = who.can("approve")
    return [approval_card(s, now=now, viewer=who.name, can_approve=allowed) for s in states]


@api.get("/approvals")
def list_approvals(
    request: Request, who: Reader, every: Annotated[bool, Query(alias="all")] = False
) -> list[ApprovalCard]:
    """Approval requests (pending ones unless ``all``), oldest first, each with the call's
    preview, the untrusted text behind its arguments, its expiry, level and age, and
    whether the caller may decide it. A request whose run ended is ``closed``, never
    pending."""
    states = state_of(request).service.approvals.sweep()
    return _cards(request, [s for s in states if every or s.status == "pending"], who)


@api.get("/approvals/{request_id}", responses={404: {"description": "No such request."}})
def show_approval(request: Request, request_id: str, who: Reader) -> ApprovalCard:
    """One approval request (a unique prefix of its id will do), as a card."""
    approvals = state_of(request).service.approvals
    full_id = resolve_request_id(state_of(request).journal, request_id)
    return _cards(request, [approvals.get(full_id)], who)[0]


@api.post("/approvals/{request_id}/approve")
def approve(request: Request, request_id: str, body: OptionalReason, who: Approver) -> Done:
    """Approve a pending request (a signed receipt); the run resumes. A unique prefix of
    the id will do."""
    full_id = resolve_request_id(state_of(request).journal, request_id)
    state_of(request).service.decide(full_id, who.name, "approved", body.reason)
    return Done(detail=f"{full_id} approved by {who.name}; the run resumes")


@api.post("/approvals/{request_id}/deny")
def deny(request: Request, request_id: str, body: Reason, who: Approver) -> Done:
    """Deny a pending request with a reason the agent sees; the run resumes. A unique
    prefix of the id will do."""
    full_id = resolve_request_id(state_of(request).journal, request_id)
    state_of(request).service.decide(full_id, who.name, "denied", body.reason)
    return Done(detail=f"{full_id} denied by {who.name}; the run resumes")


@api.get("/agents")
def list_agents(request: Request, _who: Reader) -> dict[str, Any]:
    """Agents seen in the journal (versions, charters) or loaded by this server, and the
    ones it can start; a loaded agent's entry has the version it runs, that version's
    rollout phase and the gates of every later phase, judged now."""
    state = state_of(request)
    seen = queries.agents(state.journal)
    return {
        "startable": sorted(state.service.agents),
        "agents": eval_queries.agent_entries(state.journal, seen, state.service.loaded()),
    }


def _loaded(request: Request, agent: str) -> None:
    """404 unless this server loaded ``agent``'s file."""
    if agent not in state_of(request).service.agents:
        raise HTTPException(404, f"no agent {agent!r} is loaded by this server (--agents)")


def _change(moved: PhaseMove) -> PhaseChange:
    return PhaseChange(
        agent=moved.agent,
        version_id=moved.version_id,
        previous=moved.previous,
        phase=moved.phase,
        evidence=[eval_queries.gate_view(r) for r in moved.gates],
    )


def _refused(detail: str, unmet: list[UnmetGate]) -> JSONResponse:
    return JSONResponse(PhaseRefused(detail=detail, unmet=unmet).model_dump(), status_code=409)


REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "This server loaded no such agent."},
    409: {"model": PhaseRefused, "description": "Refused; nothing was journaled."},
}


@api.post("/agents/{agent}/promote", response_model=PhaseChange, responses=REFUSED)
def promote_agent(request: Request, agent: str, body: Promotion, who: Operator) -> Any:
    """Move the agent's version to a later phase if every gate its charter declares for
    the phases on the way is met by a recorded eval of this exact version (409 lists the
    unmet gates and journals nothing)."""
    _loaded(request, agent)
    try:
        moved = state_of(request).service.promote(agent, who.name, body.reason, body.to)
    except PromotionRefusedError as refused:
        unmet = [
            UnmetGate(phase=r.phase, suite=r.gate.suite, kpi=r.gate.kpi, why=r.why)
            for r in refused.results
            if not r.met
        ]
        return _refused(str(refused), unmet)
    except ConfigError:
        raise
    except CharterError as error:  # not a later phase than the version's
        return _refused(str(error), [])
    return _change(moved)


@api.post("/agents/{agent}/demote", response_model=PhaseChange, responses=REFUSED)
def demote_agent(request: Request, agent: str, body: Demotion, who: Operator) -> Any:
    """Move the agent's version back to an earlier phase (no gate; 409 if it is not
    earlier)."""
    _loaded(request, agent)
    try:
        moved = state_of(request).service.demote(agent, body.to, who.name, body.reason)
    except ConfigError:
        raise
    except CharterError as error:  # not an earlier phase than the version's
        return _refused(str(error), [])
    return _change(moved)


UNKNOWN_NAME: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No run, control or loaded agent file knows that name (nothing "
        "was journaled); the detail suggests the closest known names."
    },
}


def require_known(request: Request, *, agent: str | None = None, tool: str | None = None) -> None:
    """404 unless ``agent`` and ``tool`` are names a run, a control or an agent file this
    server loaded knows."""
    state = state_of(request)
    known = state.service.known_names()
    try:
        if tool is not None:
            known.require("tool", tool)
        if agent is not None:
            known.require("agent", agent)
    except UnknownNameError as error:
        raise HTTPException(404, str(error)) from None


@api.post("/agents/{agent}/pause", responses=UNKNOWN_NAME)
def pause_agent(request: Request, agent: str, body: AgentControl, who: Operator) -> Done:
    """The kill switch: the agent starts no run, and its runs stop before their next step.
    An agent no run or loaded file knows is refused unless ``new_name`` says it is new."""
    if not body.new_name:
        require_known(request, agent=agent)
    Controls(state_of(request).journal).pause(agent, actor=who.name, reason=body.reason)
    return Done(detail=f"agent {agent} paused")


@api.post("/agents/{agent}/resume", responses=UNKNOWN_NAME)
def resume_agent(request: Request, agent: str, body: OptionalReason, who: Operator) -> Done:
    """Lift a pause."""
    require_known(request, agent=agent)
    Controls(state_of(request).journal).resume(agent, actor=who.name, reason=body.reason)
    return Done(detail=f"agent {agent} resumed")


@api.get("/evals")
def list_evals(
    request: Request,
    _who: Reader,
    suite: Annotated[str | None, Query(max_length=128)] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[eval_queries.EvalSummary]:
    """Recorded evals, newest first, with their KPIs."""
    journal = state_of(request).journal
    return eval_queries.evals(journal, suite=suite or None, agent=agent or None, limit=limit)


@api.get("/evals/{eval_id}", responses={404: {"description": "No such eval."}})
def show_eval(request: Request, eval_id: str, _who: Reader) -> eval_queries.EvalDetail:
    """One recorded eval: its KPIs and every case's outcome."""
    detail = eval_queries.eval_detail(state_of(request).journal, eval_id)
    if detail is None:
        raise HTTPException(404, f"no recorded eval {eval_id!r}")
    return detail


@api.get("/tools")
def list_tools(request: Request, _who: Reader) -> list[queries.ToolView]:
    """Tools seen in runs, with their contract, use and revocations."""
    state = state_of(request)
    return queries.tools_inventory(state.journal, state.service.tools)


@api.post("/tools/{tool}/revoke", responses=UNKNOWN_NAME)
def revoke_tool(request: Request, tool: str, body: ToolControl, who: Operator) -> Done:
    """Deny a tool (to every agent, or one) from the next step of every run on. A tool no
    run or loaded file knows is refused unless ``new_name`` says it is new."""
    if not body.new_name:
        require_known(request, tool=tool, agent=body.agent)
    controls = Controls(state_of(request).journal)
    controls.revoke(tool, actor=who.name, reason=body.reason, agent=body.agent)
    return Done(detail=f"tool {tool} revoked")


@api.post("/tools/{tool}/restore", responses=UNKNOWN_NAME)
def restore_tool(request: Request, tool: str, body: ToolControl, who: Operator) -> Done:
    """Undo a revocation (same agent scope)."""
    if not body.new_name:
        require_known(request, tool=tool, agent=body.agent)
    controls = Controls(state_of(request).journal)
    controls.restore(tool, actor=who.name, reason=body.reason, agent=body.agent)
    return Done(detail=f"tool {tool} restored")


@api.get("/violations")
def list_violations(
    request: Request, _who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[queries.Violation]:
    """Denials, flow-rule hits, anomalies and budget breaches, newest first."""
    return queries.violations(state_of(request).journal, limit=limit)


@api.get("/costs")
def costs(
    request: Request,
    _who: Reader,
    group: Literal["agent", "tool"] = "agent",
    bucket: Literal["hour", "day"] = "day",
) -> list[queries.CostPoint]:
    """Cost over time per agent or per tool."""
    state = state_of(request)
    costs = state.service.tool_costs()
    return queries.cost_by(state.journal, group=group, bucket=bucket, tool_costs=costs)


@api.get("/audit/verify")
def audit_verify(
    request: Request,
    who: Reader,
    full: Annotated[bool, Query(description="Walk the whole journal again (admins).")] = False,
) -> queries.AuditStatus:
    """Check the hash chain and the signed checkpoints after the newest checkpoint this
    server verified before (the whole journal the first time, or with ``full``), and say
    which records a signature covers and which the chain alone protects."""
    if full and not who.can("admin"):
        raise reject(request, 403, "only an admin may verify the whole journal again", who.name)
    return queries.audit_status(state_of(request).journal, full=full)


@api.get("/audit/export")
def audit_export(request: Request, _who: Reader) -> StreamingResponse:
    """The whole journal as JSON lines, oldest first."""
    journal = state_of(request).journal

    def lines() -> Iterator[str]:
        for record in journal.records():
            yield canonical_json(record.to_json()) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@api.get("/tokens")
def list_tokens(request: Request, _who: Admin) -> list[dict[str, Any]]:
    """API tokens (never their secrets)."""
    return [
        {
            "token_id": t.token_id,
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at,
            "created_by": t.created_by,
            "revoked_at": t.revoked_at,
        }
        for t in state_of(request).tokens.tokens()
    ]


@api.post("/tokens", status_code=201)
def create_token(request: Request, body: NewToken, who: Admin) -> dict[str, str]:
    """Create a token; its secret is in this response only."""
    info, secret = state_of(request).tokens.create(body.name, body.role, actor=who.name)
    return {"token_id": info.token_id, "name": info.name, "role": info.role, "token": secret}


@api.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, who: Admin) -> Done:
    """Revoke a token: its requests are refused from now on."""
    state_of(request).tokens.revoke(token_id, actor=who.name)
    return Done(detail=f"token {token_id} revoked")


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, _who: Reader) -> str:
    """Counters in the Prometheus text format."""
    return queries.prometheus_text(queries.metrics(state_of(request).journal))


router.include_router(api)
