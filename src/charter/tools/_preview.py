"""Previews: what a call would do, in the words of the person asked to approve it.

An approver shown ``{"order_id": 1042, "amount_cents": null}`` cannot tell how much money is
about to leave, to whom, or that the order was refunded last week. A tool's contract may
therefore carry a **preview**: a function called with the same arguments as the tool,
which reads the world and describes the resolved effect ("refund 189.50 USD to Ada
Lovelace for order 1042, delivered 2026-11-12") with warnings ("order 1042 was already
refunded on ...") and a few labelled facts (customer, order, item, amount).

A preview must not change anything: give it a read-only handle where the toolset allows
(the demo opens its SQLite world with ``mode=ro``). It runs when the approval is asked,
in a daemon thread bounded by a timeout; one that raises or times out yields "preview
unavailable: ..." and never stops the request from being journaled.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charter.tools._tool import Tool

PREVIEW_TIMEOUT_S = 5.0
"""Seconds a preview may take before the request is journaled without it."""
SUMMARY_LIMIT = 500
"""Characters of a summary, a warning or a fact kept (the journal keeps the rest out)."""


@dataclass(frozen=True, slots=True)
class Preview:
    """What a call would do, resolved against the world when the approval is asked."""

    summary: str
    """One sentence: the effect with its amounts, people and objects resolved."""
    warnings: tuple[str, ...] = ()
    """What should make an approver stop (already refunded, erased, a closed ticket)."""
    facts: Mapping[str, str] = field(default_factory=lambda: {})
    """Labelled facts shown beside the summary, e.g. ``{"customer": "Ada Lovelace (#7)"}``."""


def _clip(text: object) -> str:
    value = str(text)
    return value if len(value) <= SUMMARY_LIMIT else value[: SUMMARY_LIMIT - 1] + "…"


def _as_json(found: object) -> dict[str, Any]:
    if isinstance(found, str):
        return {"summary": _clip(found), "warnings": [], "facts": []}
    if not isinstance(found, Preview):
        raise TypeError(f"a preview returns a Preview or a str, not {type(found).__name__}")
    return {
        "summary": _clip(found.summary),
        "warnings": [_clip(w) for w in found.warnings],
        # Pairs in the preview's order (journaled JSON sorts an object's keys).
        "facts": [{"name": _clip(k), "value": _clip(v)} for k, v in found.facts.items()],
    }


def preview_call(
    tool: Tool, args: Mapping[str, Any], *, timeout: float = PREVIEW_TIMEOUT_S
) -> dict[str, Any] | None:
    """The JSON preview of calling ``tool`` with ``args`` (None if it has no preview):
    ``{"summary", "warnings", "facts": [{"name", "value"}]}``, or ``{"unavailable": why}``
    when the preview raised, returned something else, or took longer than ``timeout``
    seconds.

    Never raises: an approval request must not fail for want of a preview.
    """
    if tool.preview is None:
        return None
    preview = tool.preview
    outcome: dict[str, Any] = {}

    def compute() -> None:
        try:
            validated = tool.validate_args(dict(args))
            outcome["preview"] = _as_json(preview(**dict(iter(validated))))
        except Exception as exc:  # any failure of the preview is reported, never raised
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    # A daemon thread: a preview stuck for good neither holds the run nor the process exit.
    worker = threading.Thread(target=compute, name=f"charter-preview-{tool.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if "preview" in outcome:
        return outcome["preview"]
    if "error" in outcome:
        return {"unavailable": f"preview unavailable: {_clip(outcome['error'])}"}
    return {"unavailable": f"preview unavailable: it did not finish within {timeout:g}s"}
