"""The dashboard's forms: the API's changes, through the same service calls, for a
signed-in browser.

Each form needs the role the API needs for the same change; ``need`` also checks the
session's CSRF token and journals any refusal. A change that fails (a CharterError: an
unknown agent, a run no longer waiting, a self-approval) redirects back with its message
shown on the page, never a stack trace; one that succeeds redirects back (303) with what
was done.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from charter.errors import ApprovalRefusedError, CharterError, ConfigError
from charter.runtime import Controls
from charter.runtime._names import UnknownNameError
from charter.server._app import need, reject, state_of
from charter.server._auth import Principal
from charter.server._render import back, page

router = APIRouter(include_in_schema=False)

Operator = Annotated[Principal, Depends(need("operate"))]
Approver = Annotated[Principal, Depends(need("approve"))]

Text = Annotated[str, Form(max_length=2000)]
Name = Annotated[str, Form(max_length=128)]


def _path(name: str) -> str:
    """``name`` as one path segment."""
    return quote(name, safe="")


def _required(reason: str, what: str) -> str:
    if not reason.strip():
        raise ConfigError(f"{what} needs a reason (it is journaled)")
    return reason.strip()


def _failed(request: Request, url: str, who: Principal, error: CharterError) -> RedirectResponse:
    if isinstance(error, ApprovalRefusedError):  # journaled as a refusal, as the API does
        reject(request, 403, str(error), who.name)
    return back(request, url, str(error), kind="error")


def _unknown(
    request: Request, who: Principal, url: str, *, agent: str | None = None, tool: str | None = None
) -> HTMLResponse | None:
    """A 404 page naming the closest known names, if ``agent`` or ``tool`` is a name no
    run, control or loaded agent file knows; None if both are known."""
    state = state_of(request)
    known = state.service.known_names()
    try:
        if tool is not None:
            known.require("tool", tool)
        if agent is not None:
            known.require("agent", agent)
    except UnknownNameError as error:
        return page(request, "refused.html", who, status_code=404, message=str(error), url=url)
    return None


STARTING_KEY = "starting"
STARTING_KEPT = 20


def _started_here(request: Request) -> list[str]:
    started = request.session.get(STARTING_KEY)
    return started.split() if isinstance(started, str) else []


def just_started(request: Request, run_id: str) -> bool:
    """Whether this session started ``run_id`` (whose ``run.started`` a worker or a
    background thread may not have journaled yet)."""
    return run_id in _started_here(request)


def _remember_start(request: Request, run_id: str) -> None:
    kept = [run_id, *_started_here(request)][:STARTING_KEPT]
    request.session[STARTING_KEY] = " ".join(kept)


@router.post("/runs")
def start_run(
    request: Request, who: Operator, agent: Name = "", goal: Text = ""
) -> RedirectResponse:
    """Start a run; show its page."""
    try:
        run_id = state_of(request).service.start(agent, goal, who.name)
    except CharterError as error:
        return _failed(request, "/", who, error)
    _remember_start(request, run_id)
    return back(request, f"/runs/{_path(run_id)}", f"run {run_id} started")


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: str, who: Operator, reason: Text = "") -> RedirectResponse:
    """Cancel a run: a running one stops before its next step, a waiting one ends now."""
    url = f"/runs/{_path(run_id)}"
    try:
        was = state_of(request).service.cancel(run_id, who.name, reason)
    except CharterError as error:
        return _failed(request, url, who, error)
    return back(request, url, f"run was {was}; cancelled")


@router.post("/runs/{run_id}/rollback")
def rollback_run(
    request: Request, run_id: str, who: Operator, confirm: Annotated[str, Form(max_length=8)] = ""
) -> RedirectResponse:
    """Undo the run's completed writes, newest first; say what a human must finish. The
    form's confirmation box must be ticked (browsers enforce it; this checks it too)."""
    url = f"/runs/{_path(run_id)}"
    if confirm != "yes":
        return back(
            request, url, "tick the box to confirm the rollback; nothing was undone", kind="error"
        )
    try:
        report = state_of(request).service.rollback(run_id, who.name)
    except CharterError as error:
        return _failed(request, url, who, error)
    if report.complete:
        return back(request, url, f"rolled back: {len(report.items)} effect(s) handled")
    left = "; ".join(
        f"step {i.step} {i.tool}: {i.outcome} ({i.detail})"
        for i in report.items
        if i.outcome != "compensated"
    )
    return back(request, url, f"rollback incomplete, a human must finish: {left}", kind="error")


def _decide(
    request: Request,
    request_id: str,
    who: Principal,
    verdict: Literal["approved", "denied"],
    reason: str,
) -> RedirectResponse:
    try:
        run_id = state_of(request).service.decide(request_id, who.name, verdict, reason)
    except CharterError as error:
        return _failed(request, "/approvals", who, error)
    return back(request, "/approvals", f"{request_id} {verdict}; run {run_id} resumes")


@router.post("/approvals/{request_id}/approve")
def approve(
    request: Request, request_id: str, who: Approver, reason: Text = ""
) -> RedirectResponse:
    """Approve a pending request (a signed receipt); the run resumes."""
    return _decide(request, request_id, who, "approved", reason.strip())


@router.post("/approvals/{request_id}/deny")
def deny(request: Request, request_id: str, who: Approver, reason: Text = "") -> RedirectResponse:
    """Deny a pending request with a reason the agent sees; the run resumes."""
    return _decide(request, request_id, who, "denied", reason.strip())


@router.post("/agents/{agent}/pause", response_model=None)
def pause_agent(
    request: Request, agent: str, who: Operator, reason: Text = ""
) -> RedirectResponse | HTMLResponse:
    """The kill switch: the agent starts no run, and its runs stop before their next step."""
    unknown = _unknown(request, who, "/agents", agent=agent)
    if unknown is not None:
        return unknown
    try:
        why = _required(reason, "pausing an agent")
        Controls(state_of(request).journal).pause(agent, actor=who.name, reason=why)
    except CharterError as error:
        return _failed(request, "/agents", who, error)
    return back(request, "/agents", f"agent {agent} paused")


@router.post("/agents/{agent}/resume", response_model=None)
def resume_agent(
    request: Request, agent: str, who: Operator, reason: Text = ""
) -> RedirectResponse | HTMLResponse:
    """Lift a pause."""
    unknown = _unknown(request, who, "/agents", agent=agent)
    if unknown is not None:
        return unknown
    Controls(state_of(request).journal).resume(agent, actor=who.name, reason=reason.strip())
    return back(request, "/agents", f"agent {agent} resumed")


@router.post("/tools/{tool}/revoke", response_model=None)
def revoke_tool(
    request: Request, tool: str, who: Operator, reason: Text = "", agent: Name = ""
) -> RedirectResponse | HTMLResponse:
    """Deny a tool (to every agent, or one) from the next step of every run on."""
    return _tool_control(request, tool, who, reason, agent, "revoked")


@router.post("/tools/{tool}/restore", response_model=None)
def restore_tool(
    request: Request, tool: str, who: Operator, reason: Text = "", agent: Name = ""
) -> RedirectResponse | HTMLResponse:
    """Undo a revocation (same agent scope)."""
    return _tool_control(request, tool, who, reason, agent, "restored")


def _tool_control(
    request: Request,
    tool: str,
    who: Principal,
    reason: str,
    agent: str,
    done: Literal["revoked", "restored"],
) -> RedirectResponse | HTMLResponse:
    controls = Controls(state_of(request).journal)
    change = controls.revoke if done == "revoked" else controls.restore
    scope = agent.strip() or None
    unknown = _unknown(request, who, "/tools", tool=tool, agent=scope)
    if unknown is not None:
        return unknown
    try:
        why = _required(reason, "revoking a tool" if done == "revoked" else "restoring a tool")
        change(tool, actor=who.name, reason=why, agent=scope)
    except CharterError as error:
        return _failed(request, "/tools", who, error)
    return back(request, "/tools", f"tool {tool} {done}{f' for {scope}' if scope else ''}")
