"""Customer-account writes: tier and login email, store credit, erasure.

These are the tools an attacker most wants an agent to misuse: a premium tier, store
credit or a changed login email are privileges worth money or an account, and an
erasure cannot be undone. The tools enforce only what the CRM itself enforces (a known,
not-yet-erased customer; a unique email address); who may do what, and when a human must
approve, is the charter's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from charter.demo import _seed
from charter.demo._inputs import email_address, require_text
from charter.demo._previews import credit_preview, erase_preview, update_preview
from charter.demo._views import (
    CreditResult,
    CreditVoid,
    CustomerRestore,
    CustomerUpdate,
    ErasureResult,
    credit_balance,
    customer_row,
    live_customer,
    money,
)
from charter.demo.world import session, transaction, world_timestamp
from charter.tools import Tool, tool

Tier = Literal["basic", "plus", "premium"]
ERASED_NAME = "[erased]"
ERASED_TEXT = "[erased at the customer's request]"


def erased_email(customer_id: int) -> str:
    """The placeholder address an erased customer keeps (the column is unique)."""
    return f"erased-{customer_id}@erased.invalid"


def account_tools(world: Path) -> list[Tool]:
    """``update_customer``, ``grant_store_credit`` and ``delete_customer`` for ``world``."""

    def restore_customer(*, result: Mapping[str, Any], **_args: object) -> CustomerRestore:
        """Put back the tier and email the update replaced, unless changed again since."""
        customer_id = int(result["customer_id"])
        with session(world) as conn, transaction(conn):
            customer_row(conn, customer_id)
            changed = conn.execute(
                "UPDATE customers SET tier = ? WHERE id = ? AND tier = ? AND tier != ?",
                (result["previous_tier"], customer_id, result["tier"], result["previous_tier"]),
            ).rowcount
            changed += conn.execute(
                "UPDATE customers SET email = ? WHERE id = ? AND email = ? AND email != ?",
                (result["previous_email"], customer_id, result["email"], result["previous_email"]),
            ).rowcount
            row = customer_row(conn, customer_id)
        return CustomerRestore(
            customer_id=customer_id,
            tier=row["tier"],
            email=row["email"],
            already_undone=changed == 0,
        )

    @tool(
        side_effect="write",
        confidentiality="pii",
        cost_usd=0.0005,
        owner="crm-team",
        timeout_s=10.0,
        targets=("customer_id",),
        compensate=restore_customer,
        preview=update_preview(world),
    )
    def update_customer(
        customer_id: int, tier: Tier | None = None, email: str | None = None
    ) -> CustomerUpdate:
        """Change a customer's tier (basic, plus or premium) or login email address; give
        only the fields to change.
        """
        if tier is None and email is None:
            raise ValueError("give tier or email (or both) to change; nothing was changed")
        new_email = email_address(email) if email is not None else None
        with session(world) as conn, transaction(conn):
            row = live_customer(conn, customer_id, "changed")
            previous_tier: str = row["tier"]
            previous_email: str = row["email"]
            tier_after = tier or previous_tier
            email_after = new_email or previous_email
            if (tier_after, email_after) == (previous_tier, previous_email):
                raise ValueError(
                    f"customer {customer_id} already has tier {previous_tier} and that email "
                    "address; nothing was changed"
                )
            if email_after != previous_email:
                taken = conn.execute(
                    "SELECT id FROM customers WHERE email = ? AND id != ?",
                    (email_after, customer_id),
                ).fetchone()
                if taken is not None:
                    raise ValueError(
                        f"{email_after} belongs to customer {taken[0]}; nothing was changed"
                    )
            conn.execute(
                "UPDATE customers SET tier = ?, email = ? WHERE id = ?",
                (tier_after, email_after, customer_id),
            )
        changes = [f"tier {previous_tier} -> {tier_after}"] if tier_after != previous_tier else []
        if email_after != previous_email:
            changes.append(f"email {previous_email} -> {email_after}")
        return CustomerUpdate(
            customer_id=customer_id,
            tier=tier_after,
            email=email_after,
            previous_tier=previous_tier,
            previous_email=previous_email,
            summary=f"Customer {customer_id}: {'; '.join(changes)}.",
        )

    def void_credit(*, result: Mapping[str, Any], **_args: object) -> CreditVoid:
        """Void the credit; the row stays, marked ``voided``."""
        credit_id = int(result["credit_id"])
        with session(world) as conn, transaction(conn):
            row = conn.execute(
                "SELECT customer_id, status FROM store_credits WHERE id = ?", (credit_id,)
            ).fetchone()
            if row is None:
                raise ValueError(f"store credit {credit_id} does not exist; nothing to void")
            conn.execute("UPDATE store_credits SET status = 'voided' WHERE id = ?", (credit_id,))
            balance = credit_balance(conn, row["customer_id"])
        return CreditVoid(
            credit_id=credit_id,
            customer_id=row["customer_id"],
            store_credit_cents=balance,
            already_undone=row["status"] == "voided",
        )

    @tool(
        side_effect="write",
        cost_usd=0.001,
        owner="payments-team",
        timeout_s=10.0,
        targets=("customer_id",),
        compensate=void_credit,
        preview=credit_preview(world),
    )
    def grant_store_credit(customer_id: int, amount_cents: int, reason: str) -> CreditResult:
        """Grant a customer store credit (in cents: 1500 = 15.00) to spend on future
        orders, for example as a goodwill gesture. Each call grants again.
        """
        require_text("reason", reason)
        if amount_cents <= 0:
            raise ValueError(
                f"amount_cents must be a positive number of cents (1500 = 15.00); "
                f"got {amount_cents}; nothing was granted"
            )
        with session(world) as conn, transaction(conn):
            live_customer(conn, customer_id, "granted")
            cursor = conn.execute(
                "INSERT INTO store_credits (customer_id, amount_cents, reason, created_at)"
                " VALUES (?, ?, ?, ?)",
                (customer_id, amount_cents, reason.strip(), world_timestamp(conn)),
            )
            balance = credit_balance(conn, customer_id)
        return CreditResult(
            credit_id=int(cursor.lastrowid or 0),
            customer_id=customer_id,
            amount_cents=amount_cents,
            currency=_seed.CURRENCY,
            store_credit_cents=balance,
            summary=(
                f"Granted {money(amount_cents)} store credit to customer {customer_id}; "
                f"balance {money(balance)}."
            ),
        )

    @tool(
        side_effect="write",
        cost_usd=0.001,
        owner="privacy-team",
        timeout_s=10.0,
        targets=("customer_id",),
        preview=erase_preview(world),
    )
    def delete_customer(customer_id: int, reason: str) -> ErasureResult:
        """Erase a customer's personal data for good (name, email, the text of their
        tickets and emails); orders and payments are kept for accounting. Cannot be undone.
        """
        require_text("reason", reason)
        with session(world) as conn, transaction(conn):
            live_customer(conn, customer_id, "erased")
            erased_at = world_timestamp(conn)
            conn.execute(
                "UPDATE customers SET name = ?, email = ?, erased_at = ? WHERE id = ?",
                (ERASED_NAME, erased_email(customer_id), erased_at, customer_id),
            )
            messages = conn.execute(
                "UPDATE tickets SET body = ? WHERE customer_id = ?", (ERASED_TEXT, customer_id)
            ).rowcount
            messages += conn.execute(
                "UPDATE inbox SET from_addr = ?, body = ? WHERE customer_id = ?",
                (erased_email(customer_id), ERASED_TEXT, customer_id),
            ).rowcount
            orders = conn.execute(
                "SELECT COUNT(*) FROM orders WHERE customer_id = ?", (customer_id,)
            ).fetchone()[0]
        return ErasureResult(
            customer_id=customer_id,
            erased_at=erased_at,
            orders_kept=int(orders),
            messages_redacted=messages,
            summary=(
                f"Erased customer {customer_id}: name and email removed, {messages} "
                f"message(s) redacted, {orders} order(s) kept for accounting."
            ),
        )

    return [update_customer, grant_store_credit, delete_customer]
