"""Govern the tool calls of your own agent loop with charter.

A plain Python loop (a scripted "model" choosing calls) runs its own tools; around each
call it asks charter (``govern``) and tells charter what happened (``record``). The
refund asks for an approval, which is given from another process:

    python examples/own_loop.py                      # stops at the refund: prints its request
    charter approvals approve apr-... --as alice     # another process, another person
    python examples/own_loop.py --resume RUN_ID      # takes the approved call back and runs it

``--wait SECONDS`` instead blocks the first process until the approval arrives. The run
lands in charter's journal (``CHARTER_HOME`` or ``CHARTER_DATABASE_URL``) like any other:
``charter runs show``, ``charter audit verify``, ``charter runs replay`` and
``charter runs rollback`` work on it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from charter import Charter, GovernedRun, Journal, declared_tool, settings
from charter.agent import Agent
from charter.errors import CharterError
from charter.journal import load_or_create_signer
from charter.testing import ScriptedReasoner
from charter.tools import Inventory

# --- the tools your loop runs itself: charter sees only their names and contracts ---


def _orders() -> sqlite3.Connection:
    path = Path(settings.charter_home()) / "own_loop.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS refunds (order_id INTEGER, amount REAL)")
    return conn


def lookup_order(order_id: int) -> dict[str, Any]:
    return {"order_id": order_id, "total": 42.0, "status": "delivered"}


def refund_order(order_id: int, amount: float) -> str:
    with _orders() as conn:
        conn.execute("INSERT INTO refunds VALUES (?, ?)", (order_id, amount))
    return f"refunded {amount:.2f} on order {order_id}"


def undo_refund(result: Any, order_id: int, amount: float) -> str:
    with _orders() as conn:
        conn.execute("DELETE FROM refunds WHERE order_id = ?", (order_id,))
    return f"refund on order {order_id} reversed"


RUN_TOOL = {"lookup_order": lookup_order, "refund_order": refund_order}

TOOLS = [
    declared_tool(
        "lookup_order",
        args_schema={
            "type": "object",
            "properties": {"order_id": {"type": "integer"}},
            "required": ["order_id"],
        },
    ),
    declared_tool(
        "refund_order",
        args_schema={
            "type": "object",
            "properties": {"order_id": {"type": "integer"}, "amount": {"type": "number"}},
            "required": ["order_id", "amount"],
        },
        side_effect="write",
        targets=("order_id",),
        compensate=undo_refund,  # so `charter runs rollback` can undo it
    ),
]

CHARTER = Charter.model_validate(
    {
        "name": "own-loop",
        "rules": [
            {
                "id": "refunds-need-approval",
                "effect": "ask",
                "tools": ["refund_order"],
                "reason": "a person approves every refund",
            }
        ],
        "budgets": {"max_steps": 10},
    }
)

# --- the "model": a scripted list of calls, then an answer ---

SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("lookup_order", {"order_id": 1042}),
    ("refund_order", {"order_id": 1042, "amount": 42.0}),
]
ANSWER = "Refunded order 1042."


def agent() -> Agent:
    """The agent identity and charter the calls are governed under."""
    return Agent(
        name="own-loop",
        instructions="Refund damaged orders.",
        inventory=Inventory(TOOLS),
        reasoner=ScriptedReasoner([]),  # the loop below decides; charter only governs
        charter=CHARTER,
    )


def run_call(run: GovernedRun, verdict: Any) -> None:
    """Run an allowed call with your own code, then record what happened."""
    try:
        result = RUN_TOOL[verdict.tool](**verdict.args)
    except Exception as exc:
        run.record(verdict, error=f"{type(exc).__name__}: {exc}")
    else:
        print(f"  ran {verdict.tool}: {result}")
        run.record(verdict, result=result)


def drive(run: GovernedRun, start: int, wait: float | None) -> int:
    for tool, args in SCRIPT[start:]:
        run.report_usage(prompt_tokens=120, completion_tokens=20, model="scripted")
        verdict = run.govern(tool, args)
        print(f"step {verdict.step} {tool}{args}: {verdict.verdict} ({', '.join(verdict.rules)})")
        if verdict.verdict == "ask" and verdict.approval is not None:
            request = verdict.approval.request_id
            if wait is None:
                print(f"waiting for approval {request}:")
                print(f"  charter approvals approve {request} --as <approver>")
                print(f"  python examples/own_loop.py --resume {run.run_id}")
                return 3
            verdict = run.wait_for_approval(timeout=wait)
            print(f"  approved by {verdict.approver}" if verdict.runs else f"  {verdict.reason}")
        if verdict.runs:
            run_call(run, verdict)
        if run.run.status != "running":
            print(f"run {run.run_id} {run.run.status}: {run.run.error}")
            return 1
    finished = run.finish(ANSWER)
    print(f"run {run.run_id} {finished.status}: {finished.answer} (outcome {finished.outcome})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Govern your own loop's tool calls with charter.")
    parser.add_argument("--resume", metavar="RUN_ID", help="take an approved call back")
    parser.add_argument("--wait", type=float, help="block this long for the approval")
    options = parser.parse_args(argv)
    signer = load_or_create_signer(settings.signing_key_path())  # receipts are signed
    journal = Journal(settings.database_url(), signer)
    if options.resume is None:
        with GovernedRun.open(journal, agent(), "refund order 1042", actor="own-loop") as run:
            return drive(run, 0, options.wait)
    with GovernedRun.resume(journal, agent(), options.resume, actor="own-loop") as run:
        verdict = run.approved_call()  # re-checked against the signed receipt
        print(f"step {verdict.step} {verdict.tool}: approved by {verdict.approver}")
        if not verdict.runs:
            print(f"  not run: {verdict.reason}")
            run.finish(error=verdict.reason)
            return 1
        run_call(run, verdict)
        return drive(run, verdict.step, options.wait)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CharterError as exc:  # e.g. resumed before the approval was decided
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
