"""The dashboard: server-rendered pages over the same read model as the API.

Signing in exchanges an API token for a session cookie (HttpOnly, SameSite=Strict); every
page needs a signed-in reader, and every form that changes something (``_forms``, and the
promote and demote forms here) carries the session's CSRF token and needs the role the
API needs for the same change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from charter.errors import AmbiguousIdError, CharterError, ConfigError, RunNotFoundError
from charter.evals import PromotionRefusedError
from charter.journal import Journal
from charter.journal._reads import run_head_seq
from charter.policy import PHASES, Phase
from charter.runtime import ApprovalState
from charter.runtime._lookup import resolve_run_id
from charter.server import _browse, _catalog, _forms
from charter.server._app import need, reject, state_of
from charter.server._auth import Principal
from charter.server._render import back, page
from charter.views import _evals as eval_queries
from charter.views import _runs as queries
from charter.views._approvals import ApprovalCard, age_text, approval_card
from charter.views._charts import MEASURES, Measure, stacked_bars
from charter.views._search import forks_of
from charter.views._timing import PHASE_NAMES, waterfall
from charter.views._tree import run_tree

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(need("read"))]
Operator = Annotated[Principal, Depends(need("operate"))]

FINISHED = ("completed", "failed", "stopped")
DECIDED_SHOWN = 50
EVALS_SHOWN = 100


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return page(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    """Exchange an API token for a session."""
    principal = state_of(request).tokens.authenticate(token.strip())
    if principal is None:
        reject(request, 401, "sign-in with an invalid or revoked token")
        return page(request, "login.html", error="That token is not valid.", status_code=401)
    request.session.clear()
    request.session["token_id"] = principal.token_id
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _blank(value: str | None) -> str | None:
    return value or None


def _last_seq(journal: Journal, run_id: str) -> int:
    """Seq of the run's newest record: where its live event stream starts."""
    return run_head_seq(journal, run_id)


def _run_context(request: Request, run_id: str) -> dict[str, Any] | None:
    journal = state_of(request).journal
    # The stream starts after the newest record read *before* the run, so a record
    # written while the run is read is streamed (at worst twice), never skipped.
    after = _last_seq(journal, run_id)
    detail = queries.run_detail(journal, run_id)
    if detail is None:
        # Started from this session but not journaled yet: the page waits for it.
        return {"run_id": run_id, "after": 0} if _forms.just_started(request, run_id) else None
    return {
        "run": detail,
        "summary": detail.summary,
        "after": after,
        "finished": detail.summary.status in FINISHED,
        "tree": run_tree(journal, run_id),
        **_run_extras(journal, detail),
    }


def _run_extras(journal: Journal, detail: queries.RunDetail) -> dict[str, Any]:
    """The run page's waterfall and links: forks and the run's trace id."""
    from charter.observe._tracing import run_trace_id

    run_id = detail.summary.run_id
    return {
        "timing": waterfall(detail),
        "phase_names": PHASE_NAMES,
        "forks": forks_of(journal, run_id),
        "trace_id": run_trace_id(run_id),
    }


def _missing(request: Request, who: Principal, what: str) -> HTMLResponse:
    return page(request, "missing.html", who, what=what, status_code=404)


@router.get("/runs/{run_id}", response_model=None)
def run_page(request: Request, run_id: str, who: Reader) -> HTMLResponse | RedirectResponse:
    """One run's timeline, updated live while it runs; a unique prefix of its id leads
    to it."""
    context = _run_context(request, run_id)
    if context is None:
        try:
            full = resolve_run_id(state_of(request).journal, run_id)
        except RunNotFoundError:
            return _missing(request, who, f"run {run_id}")
        except AmbiguousIdError as error:  # say which runs it could be
            return page(
                request,
                "refused.html",
                who,
                status_code=404,
                message=str(error),
                url="/",
                title="Not found",
            )
        return RedirectResponse(f"/runs/{quote(full, safe='')}", status_code=303)
    return page(request, "run.html" if "run" in context else "starting.html", who, **context)


@router.get("/runs/{run_id}/timeline")
def run_timeline(request: Request, run_id: str, who: Reader) -> HTMLResponse:
    """The timeline alone, which the run page's script swaps in as records arrive."""
    context = _run_context(request, run_id)
    if context is None:
        return _missing(request, who, f"run {run_id}")
    template = "_timeline.html" if "run" in context else "_starting.html"
    return page(request, template, who, **context)


@router.get("/approvals")
def approvals_page(request: Request, who: Reader) -> HTMLResponse:
    """Pending approval requests, oldest first, then the newest decided ones."""
    approvals = state_of(request).service.approvals
    states = approvals.sweep()
    now, allowed = approvals.clock(), who.can("approve")

    def card(s: ApprovalState) -> ApprovalCard:
        return approval_card(s, now=now, viewer=who.name, can_approve=allowed)

    pending = [card(s) for s in states if s.status == "pending"]
    decided = [card(s) for s in states if s.status != "pending"][::-1][:DECIDED_SHOWN]
    return page(request, "approvals.html", who, pending=pending, decided=decided, age=age_text)


@router.get("/feed")
def feed_page(
    request: Request, who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> HTMLResponse:
    """Policy violations and anomalies, newest first."""
    found = queries.violations(state_of(request).journal, limit=limit)
    return page(request, "feed.html", who, violations=found)


@router.get("/costs")
def costs_page(
    request: Request,
    who: Reader,
    bucket: Literal["hour", "day"] = "day",
    measure: str = "cost",
) -> HTMLResponse:
    """Cost per agent and per tool over time, as charts drawn on the server."""
    state = state_of(request)
    shown: Measure = "cost"
    for known in MEASURES:
        if known == measure:
            shown = known
    prices = state.service.tool_costs()
    by_agent = queries.cost_by(state.journal, group="agent", bucket=bucket)
    by_tool = queries.cost_by(state.journal, group="tool", bucket=bucket, tool_costs=prices)
    return page(
        request,
        "costs.html",
        who,
        bucket=bucket,
        measure=shown,
        measures=MEASURES,
        charts=[
            ("Per agent", "runs", stacked_bars(by_agent, shown, bucket)),
            ("Per tool", "calls", stacked_bars(by_tool, shown, bucket)),
        ],
    )


@router.get("/tools")
def tools_page(request: Request, who: Reader) -> HTMLResponse:
    """Tools, their contracts, use and revocations; revoke and restore for operators."""
    state = state_of(request)
    tools = queries.tools_inventory(state.journal, state.service.tools)
    return page(request, "tools.html", who, tools=tools)


def _agents(request: Request) -> list[eval_queries.AgentEntry]:
    state = state_of(request)
    seen = queries.agents(state.journal)
    return eval_queries.agent_entries(state.journal, seen, state.service.loaded())


@router.get("/agents")
def agents_page(request: Request, who: Reader) -> HTMLResponse:
    """Agents, their versions and charters, and each loaded version's rollout phase and
    gates; the kill switch, promotion and demotion for operators."""
    return page(request, "agents.html", who, agents=_agents(request), phases=PHASES)


def _phase(text: str) -> Phase:
    for phase in PHASES:
        if phase == text:
            return phase
    raise ConfigError(f"the phase must be one of {', '.join(PHASES)}, not {text!r}")


@router.post("/agents/{agent}/promote")
def promote_agent(
    request: Request,
    agent: str,
    who: Operator,
    reason: Annotated[str, Form(max_length=2000)] = "",
    to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Promote the agent's version if its gates are met; a refusal shows the agents page
    again with the unmet gates."""
    try:
        target = _phase(to) if to else None
        moved = state_of(request).service.promote(agent, who.name, reason.strip(), target)
    except PromotionRefusedError as refused:
        unmet = [eval_queries.gate_view(r) for r in refused.results if not r.met]
        return page(
            request,
            "agents.html",
            who,
            status_code=409,
            agents=_agents(request),
            phases=PHASES,
            refused={"agent": agent, "detail": str(refused), "unmet": unmet},
        )
    except CharterError as error:
        return back(request, "/agents", str(error), kind="error")
    done = f"agent {agent} {moved.version_id} promoted: {moved.previous} → {moved.phase}"
    return back(request, "/agents", f"{done} ({len(moved.gates)} gate(s) met)")


@router.post("/agents/{agent}/demote")
def demote_agent(
    request: Request,
    agent: str,
    who: Operator,
    reason: Annotated[str, Form(max_length=2000)] = "",
    to: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Move the agent's version back to an earlier phase."""
    try:
        moved = state_of(request).service.demote(agent, _phase(to), who.name, reason.strip())
    except CharterError as error:
        return back(request, "/agents", str(error), kind="error")
    done = f"agent {agent} {moved.version_id} demoted: {moved.previous} → {moved.phase}"
    return back(request, "/agents", done)


@router.get("/evals")
def evals_page(
    request: Request,
    who: Reader,
    suite: Annotated[str | None, Query(max_length=128)] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    """Recorded evals, newest first, filtered by suite and agent."""
    suite, agent = _blank(suite), _blank(agent)
    found = eval_queries.evals(
        state_of(request).journal, suite=suite, agent=agent, limit=EVALS_SHOWN
    )
    return page(request, "evals.html", who, evals=found, suite=suite, agent=agent)


@router.get("/evals/{eval_id}")
def eval_page(request: Request, eval_id: str, who: Reader) -> HTMLResponse:
    """One eval: its KPIs and every case's outcome and evidence."""
    detail = eval_queries.eval_detail(state_of(request).journal, eval_id)
    if detail is None:
        return _missing(request, who, f"eval {eval_id}")
    return page(request, "eval.html", who, result=detail)


@router.get("/audit")
def audit_page(request: Request, who: Reader, full: bool = False) -> Response:
    """Verify the journal's chain and signed checkpoints now (after the newest checkpoint
    verified before; admins may walk the whole journal again)."""
    if full and not who.can("admin"):
        reason = "only an admin may verify the whole journal again"
        reject(request, 403, reason, who.name)
        return back(request, "/audit", reason, kind="error")
    status = queries.audit_status(state_of(request).journal, full=full)
    return page(request, "audit.html", who, audit=status, admin=who.can("admin"))


router.include_router(_forms.router)
router.include_router(_browse.router)
router.include_router(_catalog.router)
