"""Field labels and task scope for the workspace world's charter: configurations (c) and (d)
of `benchmarks/injection.py`.

Written as an integrator would, from the tools' outputs and the kinds of task, not from the
attacks: a field is `trusted` only where the workspace's own systems chose its value (ids,
timestamps, access lists, who posted in the chat, the bank's ledger); the sender of an
email and everything third parties typed stay untrusted. The scope lets every task read;
what it may change follows from the goal's verb, and an address, channel, handle or hotel
the goal names binds the target.
"""

from typing import Any

TRUSTED = "trusted"

# Fields the workspace's own systems assign (ids, timestamps, ACLs, who posted), as an
# integrator declares them; everything else keeps the tool's label (third-party text).
FIELD_CONTRACTS: dict[str, Any] = {
    "list_inbox": {"fields": {"[].id": TRUSTED, "[].sent_at": TRUSTED, "[].read": TRUSTED}},
    "read_email": {"fields": {k: TRUSTED for k in ("id", "folder", "sent_at", "read", "status")}},
    "search_emails": {"fields": {"[].id": TRUSTED, "[].folder": TRUSTED, "[].sent_at": TRUSTED}},
    "list_events": {"fields": {k: TRUSTED for k in ("[].id", "[].start", "[].end", "[].status")}},
    "search_events": {"fields": {"[].id": TRUSTED, "[].start": TRUSTED, "[].end": TRUSTED}},
    "list_files": {
        "fields": {
            "[].id": TRUSTED,
            "[].owner": TRUSTED,
            "[].modified_at": TRUSTED,
            "[].shared_with": TRUSTED,
        }
    },
    "search_files": {"fields": {"[].id": TRUSTED}},
    "read_file": {"fields": {"id": TRUSTED, "owner": TRUSTED}},
    "list_channels": {"fields": {"[].members": TRUSTED}},
    "read_channel": {"fields": {"[].id": TRUSTED, "[].sender": TRUSTED, "[].sent_at": TRUSTED}},
    "list_transactions": {
        "fields": {k: TRUSTED for k in ("[].id", "[].date", "[].amount_cents", "[].iban")}
    },
}

_EMAIL = r"(?P<to>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
_NAME = r"(?:[A-Z][\w']*|Le|La|Les|de|du)(?: (?:[A-Z][\w']*|Le|La|de|du))*"

# What each kind of task may do, read from the goal alone (reads are always allowed).
SCOPE: dict[str, Any] = {
    "outside": "deny",
    "always": ["list_*", "read_*", "search_*", "get_*"],
    "rules": [
        {
            "id": "mail-named",
            "goal": rf"(?i)\b(?:email|send|forward)\b.*?{_EMAIL}",
            "tools": ["send_email"],
            "args": {"send_email.to": ["{to}"]},
        },
        {"id": "mail-reply", "goal": r"(?i)\breply to\b", "tools": ["send_email"]},
        {
            "id": "calendar-add",
            "goal": r"(?i)\b(?:schedule a|put .* in my calendar)\b",
            "tools": ["create_event"],
        },
        {
            "id": "calendar-invite",
            "goal": r"(?i)\binvite\b.*\b(?:offsite|meeting|event|call)\b",
            "tools": ["add_event_participant"],
        },
        {
            "id": "calendar-move",
            "goal": r"(?i)\b(?:move|reschedule)\b",
            "tools": ["reschedule_event"],
        },
        {"id": "calendar-cancel", "goal": r"(?i)\bcancel\b", "tools": ["cancel_event"]},
        {
            "id": "drive-share",
            "goal": rf"(?i)\bshare\b.*?{_EMAIL}",
            "tools": ["share_file"],
            "args": {"share_file.email": ["{to}"]},
        },
        {"id": "drive-delete", "goal": r"(?i)\bdelete\b", "tools": ["delete_file"]},
        {
            "id": "drive-create",
            "goal": r"(?i)\b(?:create|write)\b.*\bfile\b",
            "tools": ["create_file"],
        },
        {
            "id": "chat-post",
            "goal": r"(?i)\bpost\b.*#(?P<channel>[\w-]+)",
            "tools": ["post_message"],
            "args": {"post_message.channel": ["{channel}"]},
        },
        {
            "id": "chat-dm",
            "goal": (
                r"(?i)\bdirect message\b.*\(handle (?P<user>[\w-]+)\)"
                r"|\(handle (?P<u2>[\w-]+)\).*\bdirect message\b"
            ),
            "tools": ["send_direct_message"],
            "args": {"send_direct_message.user": ["{user}", "{u2}"]},
        },
        {
            "id": "chat-invite",
            "goal": rf"(?i)\binvite\b.*?{_EMAIL}.*\bchat\b",
            "tools": ["invite_user"],
            "args": {"invite_user.email": ["{to}"]},
        },
        {
            "id": "chat-add",
            "goal": r"(?i)\badd\b.*#(?P<channel>[\w-]+)",
            "tools": ["add_user_to_channel"],
            "args": {"add_user_to_channel.channel": ["{channel}"]},
        },
        {
            "id": "bank-pay",
            # An instruction to pay, not a question about payments ("how much did I pay").
            "goal": r"(?i)^(?:please )?pay\b(?!.*\bschedule)|\b(?:send back|refund)\b",
            "tools": ["send_money"],
        },
        {
            "id": "bank-schedule",
            "goal": r"(?i)\bschedule (?:a )?payment\b",
            "tools": ["schedule_payment"],
        },
        {
            "id": "bank-update-scheduled",
            "goal": r"(?i)\b(?:update|change)\b.*\bscheduled\b",
            "tools": ["update_scheduled_payment"],
        },
        {
            "id": "profile-phone",
            "goal": r"(?i)\b(?:update|change)\b.*\bphone\b",
            "tools": ["update_profile"],
        },
        {
            "id": "profile-password",
            "goal": r"(?i)\bchange my password\b",
            "tools": ["update_password"],
        },
        {
            "id": "travel-book-named",
            "goal": rf"\b[Bb]ook (?P<hotel>{_NAME})\b",
            "tools": ["book_hotel"],
            "args": {"book_hotel.hotel": ["{hotel}"]},
        },
        {
            "id": "travel-book-reviewed",
            "goal": rf"\breviews of (?P<hotel>{_NAME})\b.*\bbook it\b",
            "tools": ["book_hotel"],
            "args": {"book_hotel.hotel": ["{hotel}"]},
        },
        {
            "id": "travel-book-by-policy",
            "goal": r"(?i)\bbook the best\b",
            "tools": ["book_hotel"],
        },
    ],
}


def field_labels(charter: dict[str, Any]) -> dict[str, Any]:
    """(c) The charter with the workspace's field labels and answers governed."""
    flows = dict(charter.get("flows") or {}) | {"answer": "redact"}
    return charter | {"contracts": FIELD_CONTRACTS, "flows": flows}


def task_scope(charter: dict[str, Any]) -> dict[str, Any]:
    """(d) Field labels plus the task scope."""
    return field_labels(charter) | {"scope": SCOPE}
