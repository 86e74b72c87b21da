"""The message that answers ADK's pending tool confirmations, in any process."""

from __future__ import annotations

from typing import Any, cast

from google.adk.sessions import Session
from google.genai import types

from charter.errors import CharterError
from charter.journal import Journal
from charter.runtime._approvals import Approvals

CONFIRMATION_CALL = "adk_request_confirmation"
"""The function call ADK emits when a tool call waits for a confirmation."""


def pending_confirmations(session: Session) -> list[types.FunctionCall]:
    """The confirmation requests of ``session`` no message has answered yet."""
    answered = {
        p.function_response.id
        for e in session.events
        if e.author == "user" and e.content is not None
        for p in e.content.parts or ()
        if p.function_response is not None
    }
    return [
        call
        for e in session.events
        for call in e.get_function_calls()
        if call.name == CONFIRMATION_CALL and call.id not in answered
    ]


def confirmation_message(
    session: Session, journal: Journal | None = None, *, confirmed: bool = True
) -> types.Content | None:
    """The user message answering the pending confirmations of ``session``, each with
    the payload charter attached (the approval request it waits for), or None if none
    is ready. Send it with ``runner.run_async(..., new_message=...)``; charter runs a
    call only on a valid receipt for exactly it.

    With ``journal``, only confirmations whose charter approval is decided are answered,
    each ``confirmed`` as charter decided (ADK consumes a confirmation once answered, so
    answering one still undecided ends that call unrun).
    """
    parts: list[types.Part] = []
    approvals = None if journal is None else Approvals(journal)
    for call in pending_confirmations(session):
        asked = cast(dict[str, Any], (call.args or {}).get("toolConfirmation") or {})
        answer = confirmed
        if approvals is not None:
            status = _status(approvals, asked.get("payload"))
            if status in (None, "pending"):
                continue
            answer = confirmed and status == "approved"
        parts.append(
            types.Part(
                function_response=types.FunctionResponse(
                    name=CONFIRMATION_CALL,
                    id=call.id,
                    response={"confirmed": answer, "payload": asked.get("payload")},
                )
            )
        )
    return types.Content(role="user", parts=parts) if parts else None


def _status(approvals: Approvals, payload: Any) -> str | None:
    """The status of the charter approval a confirmation's payload names, if any."""
    from charter.integrations.adk._plugin import REQUEST_KEY

    if not isinstance(payload, dict):
        return None
    request = cast(dict[str, Any], payload).get(REQUEST_KEY)
    try:
        return approvals.get(str(request)).status if request else None
    except CharterError:
        return None
