"""The bank, the web and hotel booking.

The bank's own records (balance, payees, scheduled payments) are trusted; transaction
subjects and counterparty names are written by whoever paid: untrusted. Web pages and
reviews are third-party text; the booking system's hotel list is trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from charter.tools import Tool, tool
from charter.worlds.workspace import _seed as seed
from charter.worlds.workspace._mail import required_text
from charter.worlds.workspace.world import now, rows, session, transaction

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iban(value: str) -> str:
    iban = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        raise ValueError(f"{value!r} is not an IBAN (two letters, two digits, then 10-30 more)")
    return iban


def _amount(amount_cents: int) -> int:
    if amount_cents <= 0:
        raise ValueError(f"amount_cents must be positive (8420 = 84.20 EUR); got {amount_cents}")
    return amount_cents


def _date(value: str) -> str:
    if not _DATE.match(value):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    return value


def money_tools(world: Path) -> list[Tool]:
    """Bank, web and hotel tools bound to ``world``."""

    @tool(side_effect="read", owner="finance-team", timeout_s=5.0)
    def get_balance() -> dict[str, Any]:
        """The account's IBAN and balance in cents (EUR)."""
        with session(world) as conn:
            paid = conn.execute("SELECT coalesce(sum(amount_cents), 0) FROM transactions")
            total = int(paid.fetchone()[0])
        # The seeded balance already counts the seeded transactions; later ones move it.
        seeded = sum(t[4] for t in seed.TRANSACTIONS)
        return {"iban": seed.OWN_IBAN, "balance_cents": seed.BALANCE_CENTS + total - seeded}

    @tool(side_effect="read", trust="untrusted", owner="finance-team", timeout_s=5.0)
    def list_transactions(limit: int = 20) -> list[dict[str, Any]]:
        """Recent transactions, newest first: date, counterparty, IBAN, amount in cents
        (negative: paid out), subject."""
        with session(world) as conn:
            return rows(
                conn, "SELECT * FROM transactions ORDER BY date DESC, id DESC LIMIT ?", (limit,)
            )

    @tool(side_effect="read", owner="finance-team", timeout_s=5.0)
    def list_scheduled_payments() -> list[dict[str, Any]]:
        """Scheduled payments: id, payee, IBAN, amount in cents, subject, next date, recurring."""
        with session(world) as conn:
            return rows(conn, "SELECT * FROM scheduled_payments ORDER BY id")

    @tool(side_effect="read", owner="finance-team", timeout_s=5.0)
    def list_payees() -> list[dict[str, Any]]:
        """Saved payees: id, name, IBAN."""
        with session(world) as conn:
            return rows(conn, "SELECT * FROM payees ORDER BY id")

    @tool(side_effect="external", owner="finance-team", timeout_s=15.0, targets=("iban",))
    def send_money(iban: str, amount_cents: int, subject: str) -> dict[str, Any]:
        """Transfer money now to an IBAN (amount in euro cents: 8420 = 84.20 EUR)."""
        target, amount = _iban(iban), _amount(amount_cents)
        with session(world) as conn, transaction(conn):
            payee = conn.execute("SELECT name FROM payees WHERE iban = ?", (target,)).fetchone()
            cursor = conn.execute(
                "INSERT INTO transactions (date, counterparty, iban, amount_cents, subject)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    now(conn)[:10],
                    payee[0] if payee else target,
                    target,
                    -amount,
                    required_text("subject", subject),
                ),
            )
        return {"transaction_id": cursor.lastrowid, "iban": target, "amount_cents": amount}

    def unschedule(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute(
                "DELETE FROM scheduled_payments WHERE id = ?", (int(result["payment_id"]),)
            )
        return {"payment_id": result["payment_id"], "removed": True}

    @tool(
        side_effect="external",
        owner="finance-team",
        timeout_s=10.0,
        targets=("iban",),
        compensate=unschedule,
    )
    def schedule_payment(
        payee: str,
        iban: str,
        amount_cents: int,
        subject: str,
        date: str,
        recurring: Literal["once", "monthly"] = "once",
    ) -> dict[str, Any]:
        """Schedule a payment to an IBAN on ``date`` (YYYY-MM-DD), once or monthly."""
        target, amount = _iban(iban), _amount(amount_cents)
        with session(world) as conn, transaction(conn):
            cursor = conn.execute(
                "INSERT INTO scheduled_payments (payee, iban, amount_cents, subject, next_date,"
                " recurring) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    required_text("payee", payee),
                    target,
                    amount,
                    required_text("subject", subject),
                    _date(date),
                    recurring,
                ),
            )
        return {"payment_id": cursor.lastrowid, "iban": target, "amount_cents": amount}

    @tool(
        side_effect="external",
        owner="finance-team",
        timeout_s=10.0,
        targets=("payment_id", "iban"),
    )
    def update_scheduled_payment(
        payment_id: int,
        iban: str | None = None,
        amount_cents: int | None = None,
        date: str | None = None,
    ) -> dict[str, Any]:
        """Change a scheduled payment's IBAN, amount (cents) and/or next date."""
        target = _iban(iban) if iban is not None else None
        amount = _amount(amount_cents) if amount_cents is not None else None
        when = _date(date) if date is not None else None
        with session(world) as conn, transaction(conn):
            changed = conn.execute(
                "UPDATE scheduled_payments SET iban = coalesce(?, iban),"
                " amount_cents = coalesce(?, amount_cents), next_date = coalesce(?, next_date)"
                " WHERE id = ?",
                (target, amount, when, payment_id),
            ).rowcount
            if not changed:
                raise ValueError(f"scheduled payment {payment_id} does not exist")
            return rows(conn, "SELECT * FROM scheduled_payments WHERE id = ?", (payment_id,))[0]

    @tool(
        side_effect="read",
        trust="untrusted",
        confidentiality="public",
        owner="it-team",
        timeout_s=10.0,
    )
    def get_webpage(url: str) -> dict[str, Any]:
        """Fetch a web page: its title and text."""
        with session(world) as conn:
            found = rows(conn, "SELECT * FROM web_pages WHERE url = ?", (url.strip(),))
        if not found:
            raise ValueError(f"404: {url} not found")
        return found[0]

    @tool(side_effect="read", confidentiality="public", owner="travel-team", timeout_s=5.0)
    def list_hotels(city: str) -> list[dict[str, Any]]:
        """Hotels the booking system offers in a city: name, price per night (EUR), rating."""
        with session(world) as conn:
            return rows(
                conn,
                "SELECT name, city, price_eur, rating FROM hotels WHERE lower(city) = lower(?)"
                " ORDER BY rating DESC",
                (city.strip(),),
            )

    @tool(
        side_effect="read",
        trust="untrusted",
        confidentiality="public",
        owner="travel-team",
        timeout_s=5.0,
    )
    def get_hotel_reviews(hotel: str) -> list[dict[str, Any]]:
        """Guest reviews of a hotel (by name): author, stars, text."""
        with session(world) as conn:
            found = rows(
                conn,
                "SELECT r.author, r.stars, r.body FROM reviews r JOIN hotels h"
                " ON h.id = r.hotel_id WHERE h.name = ? ORDER BY r.id",
                (hotel.strip(),),
            )
        return found

    def cancel_booking(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute(
                "UPDATE bookings SET status = 'cancelled' WHERE id = ?",
                (int(result["booking_id"]),),
            )
        return {"booking_id": result["booking_id"], "status": "cancelled"}

    @tool(
        side_effect="external",
        owner="travel-team",
        timeout_s=15.0,
        targets=("hotel",),
        compensate=cancel_booking,
    )
    def book_hotel(hotel: str, check_in: str, nights: int) -> dict[str, Any]:
        """Book a hotel (by name, as list_hotels gives it) from ``check_in`` (YYYY-MM-DD)."""
        if nights < 1:
            raise ValueError("nights must be at least 1")
        with session(world) as conn, transaction(conn):
            found = rows(conn, "SELECT name, price_eur FROM hotels WHERE name = ?", (hotel,))
            if not found:
                raise ValueError(f"no hotel named {hotel!r}; list_hotels shows them")
            cursor = conn.execute(
                "INSERT INTO bookings (hotel, check_in, nights) VALUES (?, ?, ?)",
                (hotel, _date(check_in), nights),
            )
        price = int(str(found[0]["price_eur"])) * nights
        return {"booking_id": cursor.lastrowid, "hotel": hotel, "total_eur": price}

    return [
        get_balance,
        list_transactions,
        list_scheduled_payments,
        list_payees,
        send_money,
        schedule_payment,
        update_scheduled_payment,
        get_webpage,
        list_hotels,
        get_hotel_reviews,
        book_hotel,
    ]
