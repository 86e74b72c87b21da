"""The gateway over streamable HTTP: bearer tokens with charter's roles.

Every request carries ``Authorization: Bearer <token>``, a token of ``charter tokens
create`` (the same store as ``charter serve``). A missing, unknown or revoked token is
answered 401, and a token whose role may not drive runs (``viewer``, ``approver``) 403,
before the MCP layer reads a byte of the body; each refusal is journaled as ``api.rejected``
exactly as ``charter serve`` journals its own (summarised per client beyond a burst), and
nothing else is. The token's name is the session's identity (the run's actor); only a token
whose role may approve can answer an ``ask`` through elicitation, and a session keeps the
token that opened it (another token's requests on it are answered 404, as for a session
that does not exist).
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread

try:
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken
    from mcp.server.context import ServerRequestContext
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("The MCP gateway needs the mcp extra: pip install 'charter[mcp]'") from exc

from charter.integrations.mcp._gateway import Caller, Gateway
from charter.server._auth import Principal, TokenStore
from charter.server._limits import ServerLimits
from charter.server._refusals import RefusalLog

PRINCIPAL = "charter_principal"
"""Where the authenticated principal is kept in the request's ASGI state."""
INVALID_REQUEST = -32600


def token_caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    """The caller of an HTTP request: the principal its token authenticated."""
    request = ctx.request
    state: Any = getattr(request, "state", None)
    principal = getattr(state, PRINCIPAL, None)
    if not isinstance(principal, Principal):  # unreachable behind GatewayAuth: fail closed
        raise MCPError(code=INVALID_REQUEST, message="no authenticated caller")
    return Caller(principal.name, principal.can("approve"), principal.token_id)


class GatewayAuth:
    """ASGI middleware: a valid token whose role may operate, or 401/403 (journaled)."""

    def __init__(self, app: Any, tokens: TokenStore, refusals: RefusalLog) -> None:
        self.app = app
        self.tokens = tokens
        self.refusals = refusals

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, secret = headers.get("authorization", "").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and secret.strip():
            principal = await anyio.to_thread.run_sync(self.tokens.authenticate, secret.strip())
        if principal is None:
            reason = "invalid or revoked token" if scheme else "no bearer token"
            await self._refuse(scope, send, headers, 401, reason, "")
            return
        if not principal.can("operate"):
            reason = f"role {principal.role!r} may not operate (drive governed runs)"
            await self._refuse(scope, send, headers, 403, reason, principal.name)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        # The SDK binds a session to the user that opened it: another token's requests
        # on it are answered as if it did not exist (404).
        scope["user"] = AuthenticatedUser(
            AccessToken(token="", client_id=principal.token_id, scopes=[principal.role])
        )
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Any, send: Any, headers: dict[str, str], status: int, reason: str, who: str
    ) -> None:
        client = scope.get("client") or ("", 0)
        await anyio.to_thread.run_sync(
            lambda: self.refusals.record(
                method=str(scope.get("method", "")),
                path=str(scope.get("path", "")),
                status=status,
                reason=reason,
                actor=who,
                client=str(client[0]),
                user_agent=headers.get("user-agent", ""),
            )
        )
        body = json.dumps({"detail": reason}).encode()
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": body})


def http_app(gateway: Gateway, *, host: str = "127.0.0.1", path: str = "/mcp") -> Any:
    """The gateway as an ASGI application (streamable HTTP at ``path``), every request
    authenticated by a charter API token."""
    server = gateway.server()
    gateway.caller_of = token_caller
    inner = server.streamable_http_app(streamable_http_path=path, host=host)
    refusals = RefusalLog(gateway.journal, ServerLimits())
    app = GatewayAuth(inner, TokenStore(gateway.journal), refusals)

    async def with_flush(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if scope["type"] == "lifespan":
                refusals.flush()  # bursts not yet summarised, as the server stops

    return with_flush
