"""What a run page shows of redaction: which values were masked or given back at a step,
where, and by which rule (placeholders and digests, never the values)."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ConfigDict


class RedactionView(BaseModel):
    """A value masked (or given back) at a step."""

    model_config = ConfigDict(frozen=True)

    where: str
    """``argument`` (masked before the call), ``output`` (masked before the reasoner saw
    it) or ``restored`` (a placeholder given back into an argument)."""
    path: str
    """The argument or output field (``email``, ``body``)."""
    rule: str
    """The charter's ``redact`` rule, as ``redact.<id>``."""
    placeholder: str
    digest: str
    """The HMAC of the value (see :mod:`charter.runtime._redaction`)."""


def add_redactions(step: dict[str, Any], records: Any, where: str) -> None:
    """Add the ``redacted`` or ``restored`` records of a step's payload to ``step`` (a
    value its proposal and its decision both record masked is listed once)."""
    if not records:
        return
    listed: list[RedactionView] = step.setdefault("redactions", [])
    for r in cast(list[dict[str, Any]], records):
        view = RedactionView(
            where=where,
            path=str(r.get("path", r.get("arg", ""))),
            rule=f"redact.{r.get('rule', '')}",
            placeholder=str(r.get("placeholder", "")),
            digest=str(r.get("digest", "")),
        )
        if view not in listed:
            listed.append(view)
