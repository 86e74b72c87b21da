"""Rendering dashboard pages: the templates, their filters, and the one-shot messages a
form leaves for the page it redirects to.

Templates autoescape everything; nothing a run recorded (goals, tool outputs, reasons)
is ever marked safe. The Content-Security-Policy forbids inline scripts and styles, so
pages carry neither: behaviour is in ``static/app.js``, looks in ``static/style.css``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from charter.server._app import csrf_token
from charter.server._auth import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

FLASH_KEY = "flash"
FLASH_LIMIT = 500
"""Characters of a message kept (the session is a signed cookie, ~4 KB at most)."""


def _when(ts: str | None) -> str:
    """``2026-11-24T13:45:12.123+00:00`` → ``2026-11-24 13:45:12``."""
    return ts[:19].replace("T", " ") if ts else "—"


def _duration(start: str | None, end: str | None = None) -> str:
    """The time between two journal stamps, short (``850 ms``, ``12.4 s``, ``3 min 05 s``,
    ``2 h 07 min``); ``—`` while it has no end."""
    if not start or not end:
        return "—"
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return "—"
    return span(seconds)


def span(seconds: float) -> str:
    """A length of time, short: ``850 ms``, ``12.4 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"


def _pretty(value: Any) -> str:
    """JSON, indented, for ``<pre>`` (escaped by the template like any text)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _compact(value: Any) -> str:
    """JSON on one line, for short values (escaped by the template like any text)."""
    return json.dumps(value, ensure_ascii=False, default=str)


templates.env.filters["compact"] = _compact
templates.env.filters["when"] = _when
templates.env.filters["usd"] = _usd
templates.env.filters["duration"] = _duration
templates.env.filters["span"] = span
templates.env.filters["pretty"] = _pretty


def page(
    request: Request,
    template: str,
    who: Principal | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` for ``who`` with the CSRF token and any message a form left."""
    flash = request.session.pop(FLASH_KEY, None)
    return templates.TemplateResponse(
        request,
        template,
        {
            "csrf": csrf_token(request),
            "who": who,
            "flash": flash if isinstance(flash, dict) else None,
            **context,
        },
        status_code=status_code,
    )


def back(
    request: Request, url: str, message: str, *, kind: Literal["notice", "error"] = "notice"
) -> RedirectResponse:
    """Redirect (303) to ``url``, which shows ``message`` once."""
    text = message if len(message) <= FLASH_LIMIT else message[: FLASH_LIMIT - 1] + "…"
    request.session[FLASH_KEY] = {"kind": kind, "text": text}
    return RedirectResponse(url, status_code=303)
