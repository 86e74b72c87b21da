"""The dashboard: server-rendered pages over the same read model as the API.

Signing in exchanges an API token for a session cookie (HttpOnly, SameSite=Strict); every
form that changes something carries the session's CSRF token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from charter.server._app import csrf_token, reject, state_of

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

router = APIRouter(include_in_schema=False)


def page(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Render ``template`` with the CSRF token and the signed-in user."""
    return templates.TemplateResponse(
        request,
        template,
        {"csrf": csrf_token(request), "who": getattr(request.state, "who", None), **context},
    )


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
        return page(request, "login.html", error="That token is not valid.")
    request.session.clear()
    request.session["token_id"] = principal.token_id
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
