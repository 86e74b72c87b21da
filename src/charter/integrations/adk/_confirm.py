"""The message that answers ADK's pending tool confirmations, in any process."""

from __future__ import annotations

from typing import Any, cast

from google.adk.sessions import Session
from google.genai import types

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


def confirmation_message(session: Session, *, confirmed: bool = True) -> types.Content | None:
    """The user message answering every pending confirmation of ``session`` (each with
    the payload charter attached: the approval request it waits for), or None if none
    is pending. Send it with ``runner.run_async(..., new_message=...)`` once the
    approval is decided; charter runs the call only on a valid receipt."""
    parts: list[types.Part] = []
    for call in pending_confirmations(session):
        asked = cast(dict[str, Any], (call.args or {}).get("toolConfirmation") or {})
        parts.append(
            types.Part(
                function_response=types.FunctionResponse(
                    name=CONFIRMATION_CALL,
                    id=call.id,
                    response={"confirmed": confirmed, "payload": asked.get("payload")},
                )
            )
        )
    return types.Content(role="user", parts=parts) if parts else None
