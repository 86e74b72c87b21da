"""The notification outbox: messages journaled first, then posted to a webhook.

A ``notify`` playbook action appends a ``notify.queued`` record (run id ``outbox``) in the
same transaction as the anomaly that caused it, so a notification is never lost and
never sent for something the journal does not show. :meth:`Outbox.deliver` then posts each
undelivered message as JSON to its webhook and journals ``notify.delivered`` or
``notify.failed``; failed messages are retried on the next delivery, up to
:data:`MAX_ATTEMPTS`. Receivers should de-duplicate on the ``X-Charter-Notification``
header: two processes delivering at once may both post a message.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from charter.journal import Journal
from charter.journal._kinds import Entry, NotifyDelivered, NotifyQueued

OUTBOX_RUN = "outbox"
"""``run_id`` of notification records."""
NOTIFY_KINDS = ("notify.queued", "notify.delivered", "notify.failed")
MAX_ATTEMPTS = 5

Poster = Callable[[str, bytes, dict[str, str], float], int]
"""``(url, body, headers, timeout) -> HTTP status``; raises OSError on failure."""


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)


def notification(
    *, rule: str, agent: str, run_id: str, message: str, webhook_url: str | None, timeout: float
) -> tuple[str, str, NotifyQueued]:
    """A journal entry queueing one notification."""
    payload: NotifyQueued = {
        "notification_id": f"ntf-{secrets.token_hex(6)}",
        "rule": rule,
        "agent": agent,
        "run_id": run_id,
        "message": message,
        "webhook_url": webhook_url,
        "timeout_seconds": timeout,
    }
    return (OUTBOX_RUN, "notify.queued", payload)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one delivery attempt did."""

    notification_id: str
    ok: bool
    detail: str


class Outbox:
    """Reads and delivers the notifications in a journal.

    Args:
        journal: holds the outbox.
        post: sends one HTTP POST (replaceable in tests).
    """

    def __init__(self, journal: Journal, *, post: Poster = _post) -> None:
        self.journal = journal
        self._post = post

    def messages(self) -> list[dict[str, Any]]:
        """Every queued notification, oldest first, with ``status`` and ``attempts``."""
        messages: dict[str, dict[str, Any]] = {}
        for record in self.journal.records_of_kinds(NOTIFY_KINDS):
            p = record.payload
            if record.kind == "notify.queued":
                status = "pending" if p.get("webhook_url") else "journaled"
                messages[p["notification_id"]] = p | {
                    "status": status,
                    "attempts": 0,
                    "queued_at": record.ts,
                }
                continue
            message = messages.get(p["notification_id"])
            if message is None:
                continue
            message["attempts"] += 1
            if record.kind == "notify.delivered":
                message["status"] = "delivered"
            elif message["attempts"] >= MAX_ATTEMPTS:
                message["status"] = "failed"
        return list(messages.values())

    def deliver(self) -> list[Delivery]:
        """Post every pending notification once; journal each outcome."""
        results: list[Delivery] = []
        for message in self.messages():
            if message["status"] != "pending":
                continue
            body = json.dumps(
                {k: message[k] for k in ("notification_id", "rule", "agent", "run_id", "message")}
                | {"queued_at": message["queued_at"]}
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "charter",
                "X-Charter-Notification": message["notification_id"],
            }
            try:
                status = self._post(
                    message["webhook_url"], body, headers, float(message["timeout_seconds"])
                )
                ok, detail = 200 <= status < 300, f"HTTP {status}"
            except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            kind = "notify.delivered" if ok else "notify.failed"
            payload = NotifyDelivered(notification_id=message["notification_id"], detail=detail)
            delivered: Entry = (OUTBOX_RUN, kind, payload)  # notify.failed has the same fields
            self.journal.append([delivered])
            results.append(Delivery(message["notification_id"], ok, detail))
        return results
