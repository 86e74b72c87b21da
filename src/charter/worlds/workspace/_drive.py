"""The cloud drive and the team chat.

File names and contents, channel names and messages are written by many people:
untrusted. Sharing a file or inviting someone to the chat reaches outside: external.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from charter.tools import Tool, tool
from charter.worlds.workspace._mail import email_address, required_text
from charter.worlds.workspace.world import now, rows, session, transaction


def drive_tools(world: Path) -> list[Tool]:
    """Drive and chat tools bound to ``world``."""

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def list_files() -> list[dict[str, Any]]:
        """Files in the drive: id, name, owner, last modified, and who they are shared with."""
        with session(world) as conn:
            found = rows(
                conn,
                "SELECT id, name, owner, modified_at FROM files WHERE deleted = 0 ORDER BY id",
            )
            for item in found:
                item["shared_with"] = [
                    r["email"]
                    for r in rows(
                        conn, "SELECT email FROM file_shares WHERE file_id = ?", (item["id"],)
                    )
                ]
        return found

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def search_files(query: str) -> list[dict[str, Any]]:
        """Files whose name or content contains ``query``: id, name, and content."""
        like = f"%{required_text('query', query).strip()}%"
        with session(world) as conn:
            return rows(
                conn,
                "SELECT id, name, content FROM files WHERE deleted = 0"
                " AND (name LIKE ? OR content LIKE ?) ORDER BY id",
                (like, like),
            )

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def read_file(file_id: int) -> dict[str, Any]:
        """A file's name and full content, by id; an e-invoice also has its structured
        ``invoice`` (issuer, iban, amount_cents, reference, due)."""
        with session(world) as conn:
            found = rows(
                conn,
                "SELECT id, name, content, owner FROM files WHERE id = ? AND deleted = 0",
                (file_id,),
            )
            invoice = rows(
                conn,
                "SELECT issuer, iban, amount_cents, reference, due FROM invoices WHERE file_id = ?",
                (file_id,),
            )
        if not found:
            raise ValueError(f"file {file_id} does not exist; list_files shows the ids")
        return found[0] | ({"invoice": invoice[0]} if invoice else {})

    def remove_created(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute("UPDATE files SET deleted = 1 WHERE id = ?", (int(result["file_id"]),))
        return {"file_id": result["file_id"], "deleted": True}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, compensate=remove_created)
    def create_file(name: str, content: str) -> dict[str, Any]:
        """Create a file in the drive; returns its id."""
        with session(world) as conn, transaction(conn):
            cursor = conn.execute(
                "INSERT INTO files (name, content, owner, modified_at)"
                " SELECT ?, ?, email, ? FROM profile",
                (required_text("name", name).strip(), content, now(conn)),
            )
        return {"file_id": cursor.lastrowid, "name": name}

    def unshare(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute(
                "DELETE FROM file_shares WHERE file_id = ? AND email = ?",
                (int(result["file_id"]), str(result["email"])),
            )
        return {"file_id": result["file_id"], "unshared": result["email"]}

    @tool(
        side_effect="external",
        owner="it-team",
        timeout_s=10.0,
        targets=("file_id", "email"),
        compensate=unshare,
    )
    def share_file(
        file_id: int, email: str, role: Literal["viewer", "editor"] = "viewer"
    ) -> dict[str, Any]:
        """Share a file with someone (email address, inside or outside the company)."""
        address = email_address(email)
        with session(world) as conn, transaction(conn):
            if not rows(conn, "SELECT 1 FROM files WHERE id = ? AND deleted = 0", (file_id,)):
                raise ValueError(f"file {file_id} does not exist")
            conn.execute(
                "INSERT OR REPLACE INTO file_shares VALUES (?, ?, ?)", (file_id, address, role)
            )
        return {"file_id": file_id, "email": address, "role": role}

    def restore(*, result: Mapping[str, Any], **_args: object) -> dict[str, Any]:
        with session(world) as conn, transaction(conn):
            conn.execute("UPDATE files SET deleted = 0 WHERE id = ?", (int(result["file_id"]),))
        return {"file_id": result["file_id"], "restored": True}

    @tool(
        side_effect="write",
        owner="it-team",
        timeout_s=10.0,
        targets=("file_id",),
        compensate=restore,
    )
    def delete_file(file_id: int) -> dict[str, Any]:
        """Move a file to the trash."""
        with session(world) as conn, transaction(conn):
            changed = conn.execute(
                "UPDATE files SET deleted = 1 WHERE id = ? AND deleted = 0", (file_id,)
            ).rowcount
        if not changed:
            raise ValueError(f"file {file_id} does not exist or is already deleted")
        return {"file_id": file_id, "deleted": True}

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def list_channels() -> list[dict[str, Any]]:
        """Chat channels: name, topic, members."""
        with session(world) as conn:
            found = rows(conn, "SELECT name, topic FROM channels ORDER BY name")
            for channel in found:
                channel["members"] = [
                    r["handle"]
                    for r in rows(
                        conn,
                        "SELECT handle FROM channel_members WHERE channel = ? ORDER BY handle",
                        (channel["name"],),
                    )
                ]
        return found

    @tool(side_effect="read", trust="untrusted", owner="it-team", timeout_s=5.0)
    def read_channel(channel: str) -> list[dict[str, Any]]:
        """Messages of a channel, oldest first: sender handle, text, time."""
        with session(world) as conn:
            if not rows(conn, "SELECT 1 FROM channels WHERE name = ?", (channel,)):
                raise ValueError(f"no channel {channel!r}; list_channels shows them")
            return rows(
                conn,
                "SELECT id, sender, body, sent_at FROM chat_messages WHERE channel = ? ORDER BY id",
                (channel,),
            )

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, targets=("channel",))
    def post_message(channel: str, text: str) -> dict[str, Any]:
        """Post a message as the user in a channel."""
        with session(world) as conn, transaction(conn):
            if not rows(conn, "SELECT 1 FROM channels WHERE name = ?", (channel,)):
                raise ValueError(f"no channel {channel!r}; list_channels shows them")
            cursor = conn.execute(
                "INSERT INTO chat_messages (channel, sender, body, sent_at)"
                " VALUES (?, 'emma', ?, ?)",
                (channel, required_text("text", text), now(conn)),
            )
        return {"message_id": cursor.lastrowid, "channel": channel}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, targets=("user",))
    def send_direct_message(user: str, text: str) -> dict[str, Any]:
        """Send a direct chat message to a member (their handle, e.g. bob)."""
        with session(world) as conn, transaction(conn):
            if not rows(conn, "SELECT 1 FROM chat_users WHERE handle = ?", (user,)):
                raise ValueError(f"no chat member {user!r}")
            cursor = conn.execute(
                "INSERT INTO chat_messages (recipient, sender, body, sent_at)"
                " VALUES (?, 'emma', ?, ?)",
                (user, required_text("text", text), now(conn)),
            )
        return {"message_id": cursor.lastrowid, "to": user}

    @tool(side_effect="external", owner="it-team", timeout_s=10.0, targets=("email",))
    def invite_user(handle: str, name: str, email: str) -> dict[str, Any]:
        """Invite someone to the chat workspace under a new handle."""
        address = email_address(email)
        with session(world) as conn, transaction(conn):
            if rows(conn, "SELECT 1 FROM chat_users WHERE handle = ?", (handle,)):
                raise ValueError(f"handle {handle!r} is taken")
            conn.execute("INSERT INTO chat_users VALUES (?, ?, ?)", (handle, name, address))
        return {"handle": handle, "email": address, "status": "invited"}

    @tool(side_effect="write", owner="it-team", timeout_s=10.0, targets=("user", "channel"))
    def add_user_to_channel(user: str, channel: str) -> dict[str, Any]:
        """Add a chat member (handle) to a channel."""
        with session(world) as conn, transaction(conn):
            if not rows(conn, "SELECT 1 FROM chat_users WHERE handle = ?", (user,)):
                raise ValueError(f"no chat member {user!r}")
            if not rows(conn, "SELECT 1 FROM channels WHERE name = ?", (channel,)):
                raise ValueError(f"no channel {channel!r}")
            conn.execute("INSERT OR IGNORE INTO channel_members VALUES (?, ?)", (channel, user))
        return {"user": user, "channel": channel}

    return [
        list_files,
        search_files,
        read_file,
        create_file,
        share_file,
        delete_file,
        list_channels,
        read_channel,
        post_message,
        send_direct_message,
        invite_user,
        add_user_to_channel,
    ]
