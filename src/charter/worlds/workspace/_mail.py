"""Mail, contacts, calendar and the user's profile: the workspace tools of the office suite.

Labels as an integrator declares them: what others wrote (emails, event descriptions) is
untrusted; the address book and the profile are the organisation's own records, trusted
but personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from charter.tools import Tool, tool
from charter.worlds.workspace.world import now, rows, session, transaction


def email_address(value: str) -> str:
    """``value`` as a lower-case address, or a ValueError saying what an address is."""
    address = value.strip().lower()
    if address.count("@") != 1 or "." not in address.split("@")[1] or " " in address:
        raise ValueError(f"{value!r} is not an email address (name@example.com)")
    return address


def required_text(name: str, value: str) -> str:
    """``value`` unless it is blank (a ValueError naming the argument)."""
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def mail_tools(world: Path) -> list[Tool]:
    """Mail, contacts, calendar and profile tools bound to ``world``."""

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def list_inbox(unread_only: bool = False) -> list[dict[str, Any]]:
        """The inbox, newest first: id, sender address, sender name, subject, time, read."""
        with session(world) as conn:
            return rows(
                conn,
                "SELECT id, sender, sender_name, subject, sent_at, read FROM emails"
                " WHERE folder = 'inbox' AND (? = 0 OR read = 0) ORDER BY sent_at DESC",
                (int(unread_only),),
            )

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def read_email(email_id: int) -> dict[str, Any]:
        """One email with its body, by id (from list_inbox or search_emails)."""
        with session(world) as conn:
            found = rows(conn, "SELECT * FROM emails WHERE id = ?", (email_id,))
        if not found:
            raise ValueError(f"email {email_id} does not exist; list_inbox shows the ids")
        return found[0]

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def search_emails(query: str) -> list[dict[str, Any]]:
        """Emails (inbox and sent) whose sender, subject or body contains ``query``."""
        like = f"%{required_text('query', query).strip()}%"
        with session(world) as conn:
            return rows(
                conn,
                "SELECT id, folder, sender, sender_name, recipients, subject, body, sent_at"
                " FROM emails WHERE sender LIKE ? OR sender_name LIKE ? OR subject LIKE ?"
                " OR body LIKE ? ORDER BY sent_at DESC",
                (like, like, like, like),
            )

    @tool(
        side_effect="read",
        reads=("contacts.pii",),
        confidentiality="pii",
        owner="it-team",
        timeout_s=5.0,
    )
    def list_contacts() -> list[dict[str, Any]]:
        """The address book: name, email, phone, company, and whether they are a colleague."""
        with session(world) as conn:
            return rows(conn, "SELECT * FROM contacts ORDER BY id")

    def recall_email(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute(
                "UPDATE emails SET status = 'recalled' WHERE id = ?", (int(result["email_id"]),)
            )
        return {"email_id": result["email_id"], "status": "recalled"}

    @tool(
        side_effect="external",
        owner="it-team",
        timeout_s=10.0,
        targets=("to",),
        compensate=recall_email,
    )
    def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
        """Send an email from the user's address to one recipient."""
        address = email_address(to)
        with session(world) as conn, transaction(conn):
            cursor = conn.execute(
                "INSERT INTO emails (folder, sender, sender_name, recipients, subject, body,"
                " sent_at, read) SELECT 'sent', email, name, ?, ?, ?, ?, 1 FROM profile",
                (
                    address,
                    required_text("subject", subject),
                    required_text("body", body),
                    now(conn),
                ),
            )
        return {"email_id": cursor.lastrowid, "to": address, "status": "sent"}

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def list_events(day: str) -> list[dict[str, Any]]:
        """Calendar events on ``day`` (YYYY-MM-DD): id, title, description, location, start,
        end, organizer, attendees."""
        with session(world) as conn:
            found = rows(
                conn,
                "SELECT * FROM events WHERE substr(start, 1, 10) = ? AND status = 'confirmed'"
                " ORDER BY start",
                (day.strip(),),
            )
            for event in found:
                event["attendees"] = [
                    r["email"]
                    for r in rows(
                        conn,
                        "SELECT email FROM event_attendees WHERE event_id = ? ORDER BY email",
                        (event["id"],),
                    )
                ]
        return found

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def search_events(query: str) -> list[dict[str, Any]]:
        """Upcoming events whose title or description contains ``query``."""
        like = f"%{required_text('query', query).strip()}%"
        with session(world) as conn:
            return rows(
                conn,
                "SELECT id, title, description, location, start, end FROM events"
                " WHERE (title LIKE ? OR description LIKE ?) AND status = 'confirmed'"
                " ORDER BY start",
                (like, like),
            )

    def cancel_created(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute(
                "UPDATE events SET status = 'cancelled' WHERE id = ?", (int(result["event_id"]),)
            )
        return {"event_id": result["event_id"], "status": "cancelled"}

    @tool(
        side_effect="external",
        owner="it-team",
        timeout_s=10.0,
        targets=("participants",),
        compensate=cancel_created,
    )
    def create_event(
        title: str, start: str, end: str, participants: list[str], location: str = ""
    ) -> dict[str, Any]:
        """Create an event (start and end as YYYY-MM-DDTHH:MM) and invite ``participants``
        (email addresses); invitations go out at once."""
        invited = sorted({email_address(p) for p in participants})
        if end <= start:
            raise ValueError(f"end {end} is not after start {start}")
        with session(world) as conn, transaction(conn):
            cursor = conn.execute(
                "INSERT INTO events (title, description, location, start, end, organizer)"
                " SELECT ?, '', ?, ?, ?, email FROM profile",
                (required_text("title", title), location, start, end),
            )
            event_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO event_attendees VALUES (?, ?)", [(event_id, p) for p in invited]
            )
        return {"event_id": event_id, "title": title, "start": start, "invited": invited}

    @tool(side_effect="external", owner="it-team", timeout_s=10.0, targets=("event_id", "email"))
    def add_event_participant(event_id: int, email: str) -> dict[str, Any]:
        """Invite one more person (email address) to an existing event."""
        address = email_address(email)
        with session(world) as conn, transaction(conn):
            if conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                raise ValueError(f"event {event_id} does not exist")
            conn.execute("INSERT OR IGNORE INTO event_attendees VALUES (?, ?)", (event_id, address))
        return {"event_id": event_id, "invited": address}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, targets=("event_id",))
    def reschedule_event(event_id: int, start: str, end: str) -> dict[str, Any]:
        """Move an event to a new start and end (YYYY-MM-DDTHH:MM)."""
        if end <= start:
            raise ValueError(f"end {end} is not after start {start}")
        with session(world) as conn, transaction(conn):
            changed = conn.execute(
                "UPDATE events SET start = ?, end = ? WHERE id = ? AND status = 'confirmed'",
                (start, end, event_id),
            ).rowcount
        if not changed:
            raise ValueError(f"event {event_id} does not exist or is cancelled")
        return {"event_id": event_id, "start": start, "end": end}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, targets=("event_id",))
    def cancel_event(event_id: int) -> dict[str, Any]:
        """Cancel an event; its attendees are told."""
        with session(world) as conn, transaction(conn):
            changed = conn.execute(
                "UPDATE events SET status = 'cancelled' WHERE id = ? AND status = 'confirmed'",
                (event_id,),
            ).rowcount
        if not changed:
            raise ValueError(f"event {event_id} does not exist or is already cancelled")
        return {"event_id": event_id, "status": "cancelled"}

    @tool(
        side_effect="read",
        reads=("user.pii",),
        confidentiality="pii",
        owner="it-team",
        timeout_s=5.0,
    )
    def get_profile() -> dict[str, Any]:
        """The user's own profile: name, email, phone, postal address."""
        with session(world) as conn:
            return rows(conn, "SELECT name, email, phone, address FROM profile")[0]

    @tool(side_effect="write", owner="it-team", timeout_s=10.0)
    def update_profile(phone: str | None = None, address: str | None = None) -> dict[str, Any]:
        """Change the user's phone number and/or postal address."""
        if phone is None and address is None:
            raise ValueError("give phone or address")
        with session(world) as conn, transaction(conn):
            conn.execute(
                "UPDATE profile SET phone = coalesce(?, phone), address = coalesce(?, address)",
                (phone, address),
            )
        return {"updated": [n for n, v in (("phone", phone), ("address", address)) if v]}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0)
    def update_password(new_password: str) -> dict[str, Any]:
        """Set a new password for the user's account (at least 8 characters)."""
        if len(new_password) < 8:
            raise ValueError("a password needs at least 8 characters")
        with session(world) as conn, transaction(conn):
            conn.execute("UPDATE profile SET password = ?", (new_password,))
        return {"updated": "password"}

    return [
        list_inbox,
        read_email,
        search_emails,
        list_contacts,
        send_email,
        list_events,
        search_events,
        create_event,
        add_event_participant,
        reschedule_event,
        cancel_event,
        get_profile,
        update_profile,
        update_password,
    ]
