"""Shapes of the demo tools' results, and the read queries that fill them.

Results are typed dicts so pydantic derives a JSON schema for each tool's output while the
tools still return plain dicts; pydantic accepts only ``typing_extensions.TypedDict`` on
Python before 3.12.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import date

from typing_extensions import TypedDict

from charter.demo import _seed
from charter.demo.world import world_today


class OrderFacts(TypedDict):
    """An order with the ledger and refund-policy facts a reasoner or policy needs."""

    order_id: int
    customer_id: int
    item: str
    amount_cents: int
    currency: str
    status: str
    placed_at: str
    delivered_at: str | None
    days_since_delivery: int | None
    charged_cents: int
    refunded_cents: int
    refundable_cents: int
    within_refund_window: bool
    refund_window_days: int
    manager_approval_over_cents: int
    summary: str


class CustomerView(TypedDict):
    """A customer record, PII included."""

    customer_id: int
    name: str
    email: str
    tier: str
    country: str
    created_at: str
    order_ids: list[int]
    store_credit_cents: int
    erased_at: str | None


class CustomerUpdate(TypedDict):
    """Outcome of :func:`update_customer`: the fields before and after."""

    customer_id: int
    tier: str
    email: str
    previous_tier: str
    previous_email: str
    summary: str


class CustomerRestore(TypedDict):
    """Outcome of undoing an update: the fields put back."""

    customer_id: int
    tier: str
    email: str
    already_undone: bool


class CreditResult(TypedDict):
    """A store credit granted."""

    credit_id: int
    customer_id: int
    amount_cents: int
    currency: str
    store_credit_cents: int
    summary: str


class CreditVoid(TypedDict):
    """Outcome of voiding a store credit."""

    credit_id: int
    customer_id: int
    store_credit_cents: int
    already_undone: bool


class ErasureResult(TypedDict):
    """Outcome of :func:`delete_customer`: what was erased and what was kept."""

    customer_id: int
    erased_at: str
    orders_kept: int
    messages_redacted: int
    """Tickets and inbox emails of the customer whose text was removed."""
    summary: str


class InboxEntry(TypedDict):
    """One email in the inbox listing (its body is read with ``get_email``)."""

    email_id: int
    from_addr: str
    customer_id: int | None
    subject: str
    received_at: str


class InboxListing(TypedDict):
    """The inbox, newest first."""

    emails: list[InboxEntry]


class EmailView(TypedDict):
    """An email received, with the customer its sender address matches (if any)."""

    email_id: int
    from_addr: str
    customer_id: int | None
    subject: str
    body: str
    received_at: str


class KbMatch(TypedDict):
    """One knowledge-base document matching a search."""

    slug: str
    title: str
    body: str
    score: int


class KbResults(TypedDict):
    """Knowledge-base matches, best first."""

    query: str
    matches: list[KbMatch]


class ReplyView(TypedDict):
    """A reply already sent on a ticket."""

    reply_id: int
    body: str
    created_at: str


class TicketView(TypedDict):
    """A support ticket with its replies."""

    ticket_id: int
    customer_id: int
    subject: str
    body: str
    status: str
    created_at: str
    replies: list[ReplyView]


class RefundResult(TypedDict):
    """Outcome of :func:`refund_order`."""

    refund_id: int
    order_id: int
    amount_cents: int
    currency: str
    refunded_cents: int
    refundable_cents: int
    order_status: str
    summary: str


class RefundReversal(TypedDict):
    """Outcome of undoing a refund: a reversal row in the ledger."""

    reversal_id: int
    refund_id: int
    order_id: int
    amount_cents: int
    refunded_cents: int
    order_status: str
    already_undone: bool


class EmailResult(TypedDict):
    """A message queued in the outbox."""

    message_id: int
    to: str
    subject: str
    status: str


class EmailRecall(TypedDict):
    """Outcome of recalling a queued message."""

    message_id: int
    status: str
    already_undone: bool


class ReplyResult(TypedDict):
    """Outcome of :func:`reply_ticket`."""

    reply_id: int
    ticket_id: int
    ticket_status: str
    previous_status: str


class ReplyUndo(TypedDict):
    """Outcome of withdrawing a ticket reply."""

    reply_id: int
    ticket_id: int
    ticket_status: str
    already_undone: bool


class TierStats(TypedDict):
    """Activity of one customer tier over the report window."""

    tier: str
    customers: int
    active_customers: int
    at_risk_customers: int
    churn_rate: float
    orders: int
    revenue_cents: int
    refunds: int
    refunded_cents: int


class ChurnReport(TypedDict):
    """Per-tier activity over the last ``days`` days."""

    days: int
    since: str
    today: str
    currency: str
    at_risk_means: str
    tiers: list[TierStats]


REFUNDABLE_STATUSES = ("delivered", "shipped")
TIERS = ("basic", "plus", "premium")
_STOPWORDS = frozenset({"the", "and", "for", "how", "what", "when", "where", "does", "with"})


def money(cents: int, currency: str = _seed.CURRENCY) -> str:
    """Cents as a human amount, e.g. ``18950`` -> ``189.50 USD`` (LLMs misread cents)."""
    return f"{cents / 100:,.2f} {currency}"


def order_facts(conn: sqlite3.Connection, order_id: int) -> OrderFacts:
    """Order row plus ledger totals; raises ValueError for an unknown order."""
    order = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    if order is None:
        raise ValueError(f"order {order_id} does not exist; check the order number")
    charged, refunded = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN kind = 'charge' THEN amount_cents END), 0),"
        " COALESCE(-SUM(CASE WHEN kind != 'charge' THEN amount_cents END), 0)"
        " FROM payments WHERE order_id = ?",
        (order_id,),
    ).fetchone()
    status: str = order["status"]
    delivered_at: str | None = order["delivered_at"]
    today = world_today(conn)
    days = (today - date.fromisoformat(delivered_at[:10])).days if delivered_at else None
    refundable = charged - refunded if status in REFUNDABLE_STATUSES else 0
    window = _seed.REFUND_WINDOW_DAYS
    in_window = status == "shipped" or (
        status == "delivered" and days is not None and days <= window
    )
    currency: str = order["currency"]
    when = f"delivered {days} days ago" if days is not None else "not delivered"
    summary = (
        f"Order {order_id} ({order['item']}, {money(order['amount_cents'], currency)}) is "
        f"{status}, {when}; refund window of {window} days is "
        f"{'open' if in_window else 'closed'}. Refunded so far {money(refunded, currency)}; "
        f"still refundable {money(refundable, currency)}. Refunds over "
        f"{money(_seed.MANAGER_APPROVAL_OVER_CENTS, currency)} need a manager's approval."
    )
    return OrderFacts(
        order_id=order_id,
        customer_id=order["customer_id"],
        item=order["item"],
        amount_cents=order["amount_cents"],
        currency=currency,
        status=status,
        placed_at=order["placed_at"],
        delivered_at=delivered_at,
        days_since_delivery=days,
        charged_cents=charged,
        refunded_cents=refunded,
        refundable_cents=refundable,
        within_refund_window=in_window,
        refund_window_days=window,
        manager_approval_over_cents=_seed.MANAGER_APPROVAL_OVER_CENTS,
        summary=summary,
    )


def customer_row(conn: sqlite3.Connection, customer_id: int) -> sqlite3.Row:
    """The ``customers`` row; raises ValueError for an unknown customer."""
    row = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise ValueError(f"customer {customer_id} does not exist; check the customer id")
    return row


def live_customer(conn: sqlite3.Connection, customer_id: int, action: str) -> sqlite3.Row:
    """The row of a customer who has not been erased; ``action`` names what was refused."""
    row = customer_row(conn, customer_id)
    if row["erased_at"] is not None:
        raise ValueError(
            f"customer {customer_id} was erased on {row['erased_at'][:10]}; nothing was {action}"
        )
    return row


def credit_balance(conn: sqlite3.Connection, customer_id: int) -> int:
    """Cents of active store credit the customer holds."""
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM store_credits"
        " WHERE customer_id = ? AND status = 'active'",
        (customer_id,),
    ).fetchone()
    return int(row[0])


def search_terms(query: str) -> list[str]:
    """Lower-cased words of 3+ letters, with a plural "s" dropped so "refunds" finds "refund"."""
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) >= 3]
    terms = [w[:-1] if len(w) > 4 and w.endswith("s") else w for w in words]
    return [t for t in dict.fromkeys(terms) if t not in _STOPWORDS]


def tier_stats(conn: sqlite3.Connection, tier: str, since: str) -> TierStats:
    """Activity of one tier since the ISO date ``since`` (orders placed, refunds booked)."""
    customers, active = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(EXISTS (SELECT 1 FROM orders o"
        " WHERE o.customer_id = c.id AND o.placed_at >= ?)), 0)"
        " FROM customers c WHERE c.tier = ?",
        (since, tier),
    ).fetchone()
    orders, revenue = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(o.amount_cents), 0) FROM orders o"
        " JOIN customers c ON c.id = o.customer_id"
        " WHERE c.tier = ? AND o.placed_at >= ? AND o.status != 'cancelled'",
        (tier, since),
    ).fetchone()
    refunds, refunded = conn.execute(
        "SELECT COALESCE(SUM(p.kind = 'refund'), 0), COALESCE(-SUM(p.amount_cents), 0)"
        " FROM payments p JOIN orders o ON o.id = p.order_id"
        " JOIN customers c ON c.id = o.customer_id"
        " WHERE c.tier = ? AND p.kind != 'charge' AND p.created_at >= ?",
        (tier, since),
    ).fetchone()
    at_risk = customers - active
    return TierStats(
        tier=tier,
        customers=customers,
        active_customers=active,
        at_risk_customers=at_risk,
        churn_rate=round(at_risk / customers, 3) if customers else 0.0,
        orders=orders,
        revenue_cents=revenue,
        refunds=refunds,
        refunded_cents=refunded,
    )
