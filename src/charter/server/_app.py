"""The FastAPI application: authentication, roles, CSRF, secure headers, error mapping.

Requests authenticate with ``Authorization: Bearer <token>`` (the API) or a session cookie
set by the dashboard's login form. A session's state-changing requests also carry its CSRF
token (a form field or the ``X-CSRF-Token`` header); a bearer token needs none, as no
browser sends it on its own. Every refused request (401, 403) is journaled as
``api.rejected`` with what was asked and by whom (cut short, and summarised per client
beyond a burst: see :mod:`charter.server._refusals`), and changes nothing.

Credentials are checked from the request's headers before its body is read (the
:class:`AuthenticateFirst` middleware), for every path but the sign-in page, static files
and the API's own description; a body is then read up to ``--max-body`` bytes at most.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter import __version__
from charter.errors import (
    ApprovalError,
    ApprovalNotFoundError,
    ApprovalRefusedError,
    CharterError,
    ConfigError,
    RunNotFoundError,
    RunStateError,
)
from charter.journal import Journal
from charter.server._auth import Permission, Principal, TokenError, TokenStore
from charter.server._limits import ServerLimits
from charter.server._refusals import RefusalLog
from charter.server._service import RunService
from charter.server._streams import EventStreams

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/login", "/logout", "/openapi.json", "/docs", "/redoc", "/favicon.ico"})
"""Paths anyone may ask for (the sign-in form, the API's description, the icon browsers
ask for unprompted); with ``/static/``."""

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecureHeaders:
    """Adds the security headers to every response (plain ASGI, so streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class RefuseNul:
    """Answers 400 to a URL holding a NUL character: no id or name has one, and
    PostgreSQL cannot even be asked about one (its queries fail on NUL)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            response = JSONResponse({"detail": "the URL holds a NUL character"}, status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass(slots=True)
class ServerState:
    """What every request handler reaches through ``request.app.state.charter``."""

    journal: Journal
    tokens: TokenStore
    service: RunService
    limits: ServerLimits
    refusals: RefusalLog
    streams: EventStreams


class Rejected(HTTPException):
    """A request refused for its credentials or role (journaled)."""


def state_of(request: Request) -> ServerState:
    """The server's state."""
    found: ServerState = request.app.state.charter
    return found


def reject(request: Request, status: Literal[401, 403], reason: str, who: str = "") -> Rejected:
    """Journal a refused request (rate-limited per client) and return the exception to
    raise."""
    state_of(request).refusals.record(
        method=request.method,
        path=request.url.path,
        status=status,
        reason=reason,
        actor=who,
        client=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Rejected(status_code=status, detail=reason, headers=headers)


def authenticate(request: Request) -> Principal:
    """The caller, from a bearer token or the dashboard session; 401 otherwise."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):  # found by AuthenticateFirst before the body
        return known
    tokens = state_of(request).tokens
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        principal = tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise reject(request, 401, "invalid or revoked token")
        request.state.via_session = False
        request.state.principal = principal
        return principal
    token_id = request.session.get("token_id")
    principal = tokens.principal(token_id) if isinstance(token_id, str) else None
    if principal is None:
        request.session.clear()
        raise reject(request, 401, "not signed in")
    request.state.via_session = True
    request.state.principal = principal
    return principal


class AuthenticateFirst:
    """Refuses a request without valid credentials from its headers alone, before a byte
    of its body is read, for every path but the public ones: an anonymous caller can
    neither make the server read a large body nor learn from a 404 that a run exists."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await run_in_threadpool(authenticate, request)
        except Rejected as refused:
            response = await _unauthenticated(request, refused)
            await response(scope, receive, send)  # a response that never reads the body
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:  # refused before a byte
            await _too_large(self.max_body)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS or not request.state.via_session:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf")
        sent = value if isinstance(value, str) else None
    expected = request.session.get("csrf")
    if not (isinstance(expected, str) and sent and hmac.compare_digest(sent, expected)):
        raise reject(request, 403, "missing or wrong CSRF token", principal.name)


def need(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated caller, if their role grants ``permission``."""

    async def check(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        request.state.principal_name = principal.name
        if not principal.can(permission):
            raise reject(
                request, 403, f"role {principal.role!r} may not {permission}", principal.name
            )
        await _check_csrf(request, principal)
        return principal

    return check


_STATUS_OF: list[tuple[type[CharterError], int]] = [
    (RunNotFoundError, 404),
    (TokenError, 404),
    (ApprovalNotFoundError, 404),
    (ApprovalRefusedError, 403),
    (RunStateError, 409),
    (ApprovalError, 409),
    (ConfigError, 400),
]


def _charter_error(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in _STATUS_OF if isinstance(exc, kind)), 400)
    if status == 403 and isinstance(exc, ApprovalRefusedError):
        principal = getattr(request.state, "principal_name", "")
        reject(request, 403, str(exc), principal)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def _too_large(limit: int) -> Response:
    detail = (
        f"the request body is over this server's limit of {limit:,} bytes "
        "(charter serve --max-body); nothing was done"
    )
    return JSONResponse({"detail": detail}, status_code=413)


async def _unauthenticated(request: Request, exc: Exception) -> Response:
    # Also Starlette's own HTTPException: the body limit raises one (413).
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        return _too_large(state_of(request).limits.max_body)
    if exc.status_code == 401 and not request.url.path.startswith(("/api", "/metrics")):
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # AuthenticateFirst refused anonymous callers of other paths already; on a public one
    # (a sign-in form without its field), one is refused (and journaled) as such.
    try:
        await run_in_threadpool(authenticate, request)
    except Rejected as refused:
        return await _unauthenticated(request, refused)
    errors = [
        {"field": ".".join(str(part) for part in error["loc"][1:]), "error": error["msg"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


def create_app(
    journal: Journal,
    agents: dict[str, Path],
    *,
    queue: bool = False,
    session_secret: str | None = None,
    limits: ServerLimits | None = None,
) -> FastAPI:
    """The charter HTTP service over ``journal``, able to start ``agents``.

    Args:
        journal: the journal (with its signer).
        agents: agent name → agent file, the agents callers may start.
        queue: hand runs to ``charter worker`` processes instead of running them here.
        session_secret: signs dashboard session cookies; default: random per start (so a
            restart signs everyone out).
        limits: body size, event streams and refusal journaling (default: ServerLimits()).
    """
    from charter.server import _api, _views

    limits = limits or ServerLimits()
    tokens = TokenStore(journal)
    state = ServerState(
        journal,
        tokens,
        RunService(journal, agents, queue=queue),
        limits,
        RefusalLog(journal, limits),
        EventStreams(journal, tokens, limits),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncGenerator[None]:
        state.service.start_sweeping()  # runs whose owner died: see RunService
        yield
        state.service.close()  # runs in progress finish first
        state.refusals.flush()

    app = FastAPI(
        title="charter",
        version=__version__,
        description="A governed runtime for AI agents: runs, approvals, controls, audit.",
        lifespan=lifespan,
    )
    app.state.charter = state
    # Outermost last: headers, NUL, the session cookie, credentials, then the body cap.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=limits.max_body)
    app.add_middleware(AuthenticateFirst, max_body=limits.max_body)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret or secrets.token_urlsafe(32),
        session_cookie="charter_session",
        max_age=8 * 3600,
        same_site="strict",
    )
    app.add_middleware(RefuseNul)
    app.add_middleware(SecureHeaders)
    app.add_exception_handler(CharterError, _charter_error)
    app.add_exception_handler(StarletteHTTPException, _unauthenticated)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(_api.router)
    app.include_router(_views.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
