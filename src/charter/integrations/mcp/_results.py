"""What the gateway answers a ``tools/call`` with: the result as it goes on the wire.

Results are built as the JSON objects the client receives (``content``, ``structuredContent``,
``isError``, ``_meta`` with charter's ``io.charter/...`` keys), in the shape every
handshake-era protocol version shares: the stdio transport writes them as they are, the
SDK's transports validate them into the SDK's model (see :meth:`Gateway.call`).
"""

from __future__ import annotations

import json
from typing import Any

from charter.governance import CallVerdict, GovernedRun
from charter.journal import canonical_json
from charter.reasoners._base import Observation
from charter.tools import Tool

META = "io.charter/"
"""Prefix of the keys charter adds to a result's ``_meta``."""


def tool_result(found: Tool, verdict: CallVerdict, observation: Observation) -> dict[str, Any]:
    """The result of a call that ran: its observation, labelled with the tool's labels."""
    contract = found.contract
    meta: dict[str, Any] = {
        "run_id": verdict.run_id,
        "step": verdict.step,
        "verdict": verdict.verdict,
        "labels": {"trust": contract.trust, "confidentiality": contract.confidentiality},
    }
    if observation.status != "ok":
        return error_result(str(observation.content), meta)
    return content_result(observation.content, meta, is_error=False)


def not_run(verdict: CallVerdict) -> dict[str, Any]:
    """The result of a call charter did not run (denied, invalid, an ask refused), or ran
    in simulation only (the shadow phase)."""
    observation = verdict.observation
    meta = {"run_id": verdict.run_id, "step": verdict.step, "verdict": verdict.verdict}
    if observation is not None and observation.status == "ok":  # simulated: shadow phase
        return content_result(observation.content, meta, is_error=False)
    if verdict.verdict == "invalid":
        why = str(observation.content) if observation is not None else verdict.reason
        return error_result(why, meta)
    if verdict.verdict != "deny" and observation is not None:  # an answered ask, refused
        return error_result(
            f"charter did not run {verdict.tool!r}: {observation.content}",
            meta | {"rules": list(verdict.rules)},
        )
    rules = f" (rules {', '.join(verdict.rules)})" if verdict.rules else ""
    return error_result(
        f"charter {'denied' if verdict.verdict == 'deny' else verdict.verdict} "
        f"{verdict.tool!r}: {verdict.reason or 'not allowed'}{rules}",
        meta | {"rules": list(verdict.rules)},
    )


def asking(run: GovernedRun, request: Any, waited: float | None = None) -> dict[str, Any]:
    """The result of a call held for an approver past the gateway's wait."""
    held = f" after {waited:g}s" if waited is not None else ""
    return error_result(
        f"held: charter asks an approver before {request.tool!r} runs ({request.reason}; "
        f"rules {', '.join(request.rules)}); request {request.request_id} of run "
        f"{run.run_id} is still undecided{held}. Approve it with `charter approvals approve "
        f"{request.request_id}` (or in the dashboard's approvals inbox), then call "
        f"{request.tool!r} again with the same arguments",
        {"request_id": request.request_id, "run_id": run.run_id, "verdict": "ask"},
    )


def ask_message(verdict: CallVerdict) -> str:
    """What the client's user is shown when asked to approve ``verdict``'s call."""
    request = verdict.approval
    assert request is not None
    untrusted = [n for n, label in verdict.labels.items() if label.get("trust") == "untrusted"]
    lines = [
        f"charter asks before {verdict.tool} runs: {request.reason} "
        f"(rules {', '.join(request.rules)}).",
        f"Arguments: {json.dumps(verdict.args, ensure_ascii=False, sort_keys=True)[:2000]}",
    ]
    if untrusted:
        lines.append(f"Chosen by untrusted data: {', '.join(sorted(untrusted))}.")
    if request.preview:
        lines.append(f"Preview: {canonical_json(request.preview)[:1000]}")
    return "\n".join(lines)


def content_result(value: Any, meta: dict[str, Any], *, is_error: bool) -> dict[str, Any]:
    """A result holding ``value``: as text (JSON unless a string), and as structured
    content too when it is an object."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    result: dict[str, Any] = {
        "_meta": {META + key: item for key, item in meta.items()},
        "content": [{"type": "text", "text": text}],
    }
    if isinstance(value, dict):
        result["structuredContent"] = value
    result["isError"] = is_error
    result["resultType"] = "complete"
    return result


def error_result(text: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tool error saying ``text``."""
    return content_result(text, meta or {}, is_error=True)
