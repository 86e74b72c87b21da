"""Dashboard pages about what runs are made of: models (the registry and their drift),
charters (an agent version's charter, its history and a diff between two versions) and
two evals compared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from charter.errors import CharterError
from charter.server._app import need, state_of
from charter.server._auth import Principal
from charter.server._render import page

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(need("read"))]
Name = Annotated[str | None, Query(max_length=128)]


def _missing(request: Request, who: Principal, what: str) -> HTMLResponse:
    return page(request, "missing.html", who, what=what, status_code=404)


@router.get("/models")
def models_page(request: Request, who: Reader) -> HTMLResponse:
    """Registered models, their versions and stages."""
    from charter.views._models import models

    return page(request, "models.html", who, models=models(state_of(request).journal))


@router.get("/models/{name}")
def model_page(request: Request, name: str, who: Reader) -> HTMLResponse:
    """One model: versions with card and lineage, drift over time and what it caused."""
    from charter.views._models import drift_chart, model

    found = model(state_of(request).journal, name)
    if found is None:
        return _missing(request, who, f"model {name}")
    return page(request, "model.html", who, model=found, chart=drift_chart(found.drift))


@router.get("/agents/{agent}/versions/{version}")
def charter_page(
    request: Request,
    agent: str,
    version: str,
    who: Reader,
    diff: Name = None,
    to: Name = None,
) -> HTMLResponse:
    """An agent version's charter as a person reads it, the agent's charter versions,
    and the diff between two of them (``diff`` and ``to``: policy version hashes)."""
    from charter.views._charters import SECTIONS, charter_diff, charter_page

    journal = state_of(request).journal
    found = charter_page(journal, agent, version)
    if found is None:
        return _missing(request, who, f"version {version} of agent {agent}")
    known = {v.policy for v in found.history}
    lines = None
    error = None
    if diff or to:
        old, new = diff or "", to or found.version.policy
        if old not in known or new not in known:
            error = "pick two charter versions of this agent to compare"
        else:
            lines = charter_diff(journal, old, new)
            if lines is None:
                error = "this journal does not hold both charter versions"
    tools = state_of(request).service.tools.get(agent, [])
    return page(
        request,
        "charter.html",
        who,
        status_code=400 if error else 200,
        found=found,
        sections=SECTIONS,
        contracts={info.name: info for info in tools},
        diff=lines,
        diff_error=error,
        diff_from=diff,
        diff_to=to or found.version.policy,
    )


@router.get("/evals-compare")
def evals_compare_page(
    request: Request, who: Reader, a: Name = None, b: Name = None
) -> HTMLResponse:
    """Two evals side by side: cases fixed, broken and newly attacked, KPIs moved."""
    from charter.views._compare import CHANGES, compare_evals

    def refused(message: str) -> HTMLResponse:
        return page(
            request,
            "refused.html",
            who,
            status_code=400,
            message=message,
            url="/evals",
            title="Compare evals",
        )

    if not a or not b:
        return refused("pick two evals to compare (a= and b=)")
    try:
        compared = compare_evals(state_of(request).journal, a, b)
    except CharterError as error:
        return refused(str(error))
    if compared is None:
        return _missing(request, who, f"eval {a} or {b}")
    return page(request, "evals_compare.html", who, compared=compared, changes=CHANGES)
