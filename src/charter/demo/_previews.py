"""Previews of the demo world's writes: what an approver reads before deciding.

Each preview takes the same arguments as its tool and reads the world through a
read-only SQLite connection (``mode=ro``: any write fails with "attempt to write a
readonly database"), resolving ids to people, orders and amounts, and warning of what
should make an approver stop: an order already refunded, a refund outside the window or
beyond what is left, an erased customer, an address that is no customer's, a closed
ticket. See :mod:`charter.tools._preview`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from charter.demo import _seed
from charter.demo._views import credit_balance, money, order_facts
from charter.tools import Preview


@contextlib.contextmanager
def read_only(world: Path) -> Generator[sqlite3.Connection, None, None]:
    """The world opened read-only: a preview can look, never change."""
    if not world.is_file():
        raise FileNotFoundError(f"demo world not found at {world}")
    conn = sqlite3.connect(f"{world.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def _customer(conn: sqlite3.Connection, customer_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM customers WHERE id = ?", (customer_id,)
    ).fetchone()
    return row


def _who(row: sqlite3.Row | None, customer_id: int) -> str:
    if row is None:
        return f"customer {customer_id} (no such customer)"
    return f"{row['name']} (customer {customer_id})"


def _erased(row: sqlite3.Row | None, customer_id: int) -> list[str]:
    if row is None:
        return [f"customer {customer_id} does not exist: the call will fail"]
    if row["erased_at"] is not None:
        return [f"customer {customer_id} was erased on {str(row['erased_at'])[:10]}"]
    return []


def refund_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``refund_order``: the amount resolved, the customer, the order and
    its history."""

    def preview(order_id: int, reason: str, amount_cents: int | None = None) -> Preview:
        with read_only(world) as conn:
            try:
                facts = order_facts(conn, order_id)
            except ValueError as exc:
                return Preview(f"refund on order {order_id}: nothing", warnings=(str(exc),))
            row = _customer(conn, facts["customer_id"])
            refunds = conn.execute(
                "SELECT created_at, -amount_cents FROM payments"
                " WHERE order_id = ? AND kind = 'refund' ORDER BY id",
                (order_id,),
            ).fetchall()
        currency = facts["currency"]
        amount = facts["refundable_cents"] if amount_cents is None else amount_cents
        delivered = facts["delivered_at"]
        when = f"delivered {delivered[:10]}" if delivered else facts["status"]
        warnings = _erased(row, facts["customer_id"])
        if refunds:
            dates = ", ".join(f"{money(int(c), currency)} on {str(d)[:10]}" for d, c in refunds)
            warnings.append(f"order {order_id} was already refunded: {dates}")
        if facts["status"] not in ("delivered", "shipped"):
            warnings.append(f"order {order_id} is {facts['status']}: the refund will fail")
        elif amount > facts["refundable_cents"] or amount <= 0:
            warnings.append(
                f"{money(amount, currency)} is not refundable: "
                f"{money(facts['refundable_cents'], currency)} is left; the refund will fail"
            )
        if not facts["within_refund_window"] and facts["status"] == "delivered":
            warnings.append(
                f"outside the {facts['refund_window_days']}-day refund window "
                f"(delivered {facts['days_since_delivery']} days ago)"
            )
        if amount > _seed.MANAGER_APPROVAL_OVER_CENTS:
            warnings.append(
                f"over {money(_seed.MANAGER_APPROVAL_OVER_CENTS, currency)}: "
                "company policy wants a manager's approval"
            )
        shown = money(amount, currency) if amount else "nothing (nothing is left to refund)"
        return Preview(
            f"refund {shown} to {_who(row, facts['customer_id'])} for order "
            f"{order_id} ({facts['item']}), {when}",
            warnings=tuple(warnings),
            facts={
                "amount": money(amount, currency)
                + (" (everything still refundable)" if amount_cents is None else ""),
                "customer": _who(row, facts["customer_id"]),
                "order": f"{order_id}: {facts['item']}, "
                + (when if facts["status"] == "delivered" else facts["status"])
                + (
                    f" (delivered {delivered[:10]})"
                    if delivered and facts["status"] != "delivered"
                    else ""
                ),
                "charged": money(facts["charged_cents"], currency),
                "refunded before": money(facts["refunded_cents"], currency),
                "reason given": reason,
            },
        )

    return preview


def credit_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``grant_store_credit``: to whom, and the balance it makes."""

    def preview(customer_id: int, amount_cents: int, reason: str) -> Preview:
        with read_only(world) as conn:
            row = _customer(conn, customer_id)
            balance = credit_balance(conn, customer_id)
            grants = conn.execute(
                "SELECT COUNT(*) FROM store_credits WHERE customer_id = ? AND status = 'active'",
                (customer_id,),
            ).fetchone()[0]
        warnings = _erased(row, customer_id)
        if grants:
            warnings.append(
                f"{_who(row, customer_id)} already holds {grants} credit(s), {money(balance)}"
            )
        return Preview(
            f"grant {money(amount_cents)} store credit to {_who(row, customer_id)}; "
            f"balance becomes {money(balance + amount_cents)}",
            warnings=tuple(warnings),
            facts={
                "amount": money(amount_cents),
                "customer": _who(row, customer_id),
                "balance now": money(balance),
                "reason given": reason,
            },
        )

    return preview


def email_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``send_email``: whose address it is (if anyone's)."""

    def preview(to: str, subject: str, body: str) -> Preview:
        address = to.strip().lower()
        with read_only(world) as conn:
            row = conn.execute(
                "SELECT * FROM customers WHERE lower(email) = ?", (address,)
            ).fetchone()
            sent = conn.execute(
                "SELECT COUNT(*) FROM email_outbox WHERE lower(to_addr) = ?", (address,)
            ).fetchone()[0]
        owner = _who(row, int(row["id"])) if row is not None else "no customer's address"
        warnings: list[str] = []
        if row is None:
            warnings.append(f"{to} belongs to no customer: the email leaves the company")
        if sent:
            warnings.append(f"{sent} email(s) already sent to {to}")
        return Preview(
            f"send an email to {to} ({owner}): {subject!r}, {len(body)} characters",
            warnings=tuple(warnings),
            facts={"to": f"{to} ({owner})", "subject": subject, "body": body[:300]},
        )

    return preview


def reply_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``reply_ticket``: the ticket, its customer and its state."""

    def preview(ticket_id: int, body: str) -> Preview:
        with read_only(world) as conn:
            ticket = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if ticket is None:
                return Preview(
                    f"reply on ticket {ticket_id}: nothing",
                    warnings=(f"ticket {ticket_id} does not exist: the reply will fail",),
                )
            row = _customer(conn, int(ticket["customer_id"]))
            replies = conn.execute(
                "SELECT COUNT(*) FROM ticket_replies WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()[0]
        who = _who(row, int(ticket["customer_id"]))
        warnings = _erased(row, int(ticket["customer_id"]))
        if ticket["status"] == "closed":
            warnings.append(f"ticket {ticket_id} is closed: the reply will fail")
        elif replies:
            warnings.append(f"ticket {ticket_id} already has {replies} reply(ies)")
        return Preview(
            f"reply to {who} on ticket {ticket_id} ({ticket['subject']!r}, "
            f"{ticket['status']}); it becomes answered",
            warnings=tuple(warnings),
            facts={
                "ticket": f"{ticket_id}: {ticket['subject']} ({ticket['status']})",
                "customer": who,
                "reply": body[:300],
            },
        )

    return preview


def update_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``update_customer``: each field before and after."""

    def preview(customer_id: int, tier: str | None = None, email: str | None = None) -> Preview:
        with read_only(world) as conn:
            row = _customer(conn, customer_id)
            taken = (
                conn.execute(
                    "SELECT id FROM customers WHERE lower(email) = ? AND id != ?",
                    (email.strip().lower(), customer_id),
                ).fetchone()
                if email
                else None
            )
        warnings = _erased(row, customer_id)
        changes: list[str] = []
        if row is not None and tier is not None and tier != row["tier"]:
            changes.append(f"tier {row['tier']} → {tier}")
        if row is not None and email is not None and email != row["email"]:
            changes.append(f"login email {row['email']} → {email}")
            warnings.append("a new login email hands the account to whoever reads that inbox")
        if taken is not None:
            warnings.append(f"{email} belongs to customer {taken[0]}: the change will fail")
        facts: dict[str, Any] = {"customer": _who(row, customer_id)}
        if row is not None:
            facts |= {"tier now": row["tier"], "email now": row["email"]}
        return Preview(
            f"change {_who(row, customer_id)}: {'; '.join(changes) or 'nothing'}",
            warnings=tuple(warnings),
            facts={k: str(v) for k, v in facts.items()},
        )

    return preview


def erase_preview(world: Path) -> Callable[..., Preview]:
    """The preview of ``delete_customer``: who is erased and what goes with them."""

    def preview(customer_id: int, reason: str) -> Preview:
        with read_only(world) as conn:
            row = _customer(conn, customer_id)
            orders = conn.execute(
                "SELECT COUNT(*) FROM orders WHERE customer_id = ?", (customer_id,)
            ).fetchone()[0]
            messages = conn.execute(
                "SELECT (SELECT COUNT(*) FROM tickets WHERE customer_id = ?)"
                " + (SELECT COUNT(*) FROM inbox WHERE customer_id = ?)",
                (customer_id, customer_id),
            ).fetchone()[0]
        warnings = [*_erased(row, customer_id), "erasure cannot be undone"]
        email = f", {row['email']}" if row is not None else ""
        return Preview(
            f"erase {_who(row, customer_id)}{email} for good: {messages} message(s) "
            f"redacted, {orders} order(s) kept for accounting",
            warnings=tuple(warnings),
            facts={"customer": _who(row, customer_id) + email, "reason given": reason},
        )

    return preview
