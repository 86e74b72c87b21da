"""A Google ADK agent refunding a damaged order of the demo world, governed by charter.

The agent is an ordinary ADK ``LlmAgent`` with two plain-function tools; a scripted model
(no key, no network) looks order 1042 up, then refunds it. charter's plugin governs each
call: the refund is over $100, so it waits on ADK's tool confirmation until a support lead
approves it in charter, from another process:

    python examples/integrations/adk_refund.py                 # stops at the refund
    charter approvals approve apr-... --as dana                # another process, a person
    python examples/integrations/adk_refund.py --resume SESSION_ID   # the refund runs

ADK's sessions persist in ``CHARTER_HOME/adk-sessions.db``; the run lands in charter's
journal like any other (``charter runs show``, ``charter audit verify``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.runners import Runner
from google.adk.sessions import DatabaseSessionService
from google.genai import types

from charter import Journal, settings
from charter.demo.tools import toolset
from charter.integrations.adk import (
    REQUEST_KEY,
    ScriptedLlm,
    confirmation_message,
    govern,
    pending_confirmations,
)
from charter.journal import load_or_create_signer

CHARTER = Path(__file__).with_name("adk_refund.charter.yaml")
APP, USER = "refunds", "sam"
DEMO = {t.name: t for t in toolset({})}  # the demo world's tools (./.charter/demo-world.db)


def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order: item, amounts in cents, status, refund window."""
    return dict(DEMO["lookup_order"].fn(order_id=order_id))


def refund_order(order_id: int, amount_cents: int, reason: str) -> dict[str, Any]:
    """Refund an order (amount in cents) for the given reason."""
    return dict(
        DEMO["refund_order"].fn(order_id=order_id, amount_cents=amount_cents, reason=reason)
    )


MODEL = ScriptedLlm(  # what a real model would decide, scripted
    script=[
        ("lookup_order", {"order_id": 1042}),
        ("refund_order", {"order_id": 1042, "amount_cents": 18950, "reason": "damaged"}),
        "Refunded order 1042 in full.",
    ]
)
AGENT = LlmAgent(
    name="refund_agent",
    model=MODEL,
    instruction="Refund damaged orders inside the refund window.",
    tools=[lookup_order, refund_order],
)


async def main(resume: str | None) -> int:
    journal = Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))
    undo = DEMO["refund_order"].compensate  # so `charter runs rollback` can undo a refund
    assert undo is not None
    plugin = govern(AGENT, journal=journal, charter=CHARTER, compensate={"refund_order": undo})
    home = Path(settings.charter_home())
    home.mkdir(parents=True, exist_ok=True)
    sessions = DatabaseSessionService(f"sqlite+aiosqlite:///{home / 'adk-sessions.db'}")
    runner = Runner(app=App(name=APP, root_agent=AGENT, plugins=[plugin]), session_service=sessions)
    if resume is None:
        session_id = (await sessions.create_session(app_name=APP, user_id=USER)).id
        message = types.Content(role="user", parts=[types.Part(text="Refund order 1042: damaged")])
    else:
        session_id = resume
        session = await sessions.get_session(app_name=APP, user_id=USER, session_id=resume)
        if session is None:
            print(f"error: no ADK session {resume}", file=sys.stderr)
            return 2
        message = confirmation_message(session, journal)  # only once charter decided
        if message is None:
            print("error: the refund's approval is still undecided", file=sys.stderr)
            return 2
    async for event in runner.run_async(user_id=USER, session_id=session_id, new_message=message):
        for part in event.content.parts or [] if event.content else []:
            answer = part.function_response
            if answer and answer.name != "adk_request_confirmation":
                said = dict(answer.response or {})
                print(f"  {answer.name}: {said.get('summary') or said.get('error') or said}")
            elif part.text:
                print(f"agent: {part.text}")
    session = await sessions.get_session(app_name=APP, user_id=USER, session_id=session_id)
    pending = pending_confirmations(session) if session is not None else []
    if pending:
        request = (pending[0].args or {})["toolConfirmation"]["payload"][REQUEST_KEY]
        print(f"waiting for approval {request}:")
        print(f"  charter approvals approve {request} --as <approver>")
        print(f"  python examples/integrations/adk_refund.py --resume {session_id}")
        return 3
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A governed Google ADK refund agent.")
    parser.add_argument("--resume", metavar="SESSION_ID", help="confirm the approved refund")
    sys.exit(asyncio.run(main(parser.parse_args().resume)))
