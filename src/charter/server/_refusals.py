"""Refused requests, journaled so a flood cannot fill the journal.

Each refusal (401, 403) is an ``api.rejected`` record: method, path, status, reason, actor,
client and user agent, each cut to a few hundred characters (a 60 KB URL journals 256 of
them). Each client address has a token bucket of refusals: while it has tokens, every
refusal is journaled; beyond, refusals are counted, and the burst becomes one
``api.rejected.burst`` record (count, first and last time, a few sample paths) when the
client's allowance refills, when the burst has been quiet a while, or when the server
stops. A client's requests are refused all the same; only their journaling is summarised.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from charter.journal import Journal
from charter.journal._kinds import Entry
from charter.journal._kinds_platform import ApiRejected, ApiRejectedBurst
from charter.server._limits import ServerLimits

REJECTED_RUN = "api"
"""``run_id`` of ``api.rejected`` records."""
FIELD_CHARS = 256
"""Journaled characters of a path, user agent or actor; the rest is counted, not kept."""
REASON_CHARS = 500
SAMPLES = 5
"""Sample paths kept per burst."""
SAMPLE_CHARS = 128
QUIET_SECONDS = 60.0
"""A burst with no refusal for this long is summarised at the next refusal from anyone."""
CLIENTS = 10_000
"""Client addresses tracked at once; the least recently refused is forgotten first
(its burst summarised)."""


def clip(text: str, limit: int = FIELD_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note of how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    suppressed: int = 0
    first: str = ""
    last: str = ""
    last_at: float = 0.0
    samples: list[str] = field(default_factory=lambda: [])


def _wall() -> str:
    return datetime.now(UTC).isoformat()


class RefusalLog:
    """Journals refused requests, rate-limited per client address."""

    def __init__(
        self,
        journal: Journal,
        limits: ServerLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.limits = limits
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._bursting: set[str] = set()
        """Clients with refusals counted but not journaled yet."""
        self._lock = threading.Lock()

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int,
        reason: str,
        actor: str,
        client: str,
        user_agent: str = "",
    ) -> bool:
        """Journal one refusal, or count it in its client's burst; True if journaled."""
        payload: ApiRejected = {
            "method": clip(method, 16),
            "path": clip(path),
            "status": status,
            "reason": clip(reason, REASON_CHARS),
            "actor": clip(actor),
            "client": clip(client, 64),
            "user_agent": clip(user_agent),
        }
        with self._lock:
            now = self.clock()
            summaries = self._quiet_bursts(now)
            bucket = self._bucket(client, now, summaries)
            allowed = bucket.tokens >= 1
            if allowed:
                bucket.tokens -= 1
                if bucket.suppressed:
                    summaries.append(self._summary(client, bucket))
            else:
                bucket.suppressed += 1
                self._bursting.add(client)
                bucket.last = _wall()
                bucket.first = bucket.first or bucket.last
                bucket.last_at = now
                sample = clip(path, SAMPLE_CHARS)
                if len(bucket.samples) < SAMPLES and sample not in bucket.samples:
                    bucket.samples.append(sample)
        entries: list[Entry] = [(REJECTED_RUN, "api.rejected.burst", s) for s in summaries]
        if allowed:
            entries.append((REJECTED_RUN, "api.rejected", payload))
        if entries:
            self.journal.append(entries)
        return allowed

    def flush(self) -> None:
        """Journal every burst not yet summarised (the server is stopping)."""
        with self._lock:
            summaries = [
                self._summary(client, self._buckets[client]) for client in sorted(self._bursting)
            ]
        if summaries:
            self.journal.append([(REJECTED_RUN, "api.rejected.burst", s) for s in summaries])

    def _bucket(self, client: str, now: float, summaries: list[ApiRejectedBurst]) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= CLIENTS:
                old_client, old = self._buckets.popitem(last=False)
                if old.suppressed:
                    summaries.append(self._summary(old_client, old))
            bucket = _Bucket(tokens=float(self.limits.refusal_burst), stamp=now)
            self._buckets[client] = bucket
        else:
            self._buckets.move_to_end(client)
            refill = (now - bucket.stamp) * self.limits.refusals_per_second
            bucket.tokens = min(float(self.limits.refusal_burst), bucket.tokens + refill)
            bucket.stamp = now
        return bucket

    def _quiet_bursts(self, now: float) -> list[ApiRejectedBurst]:
        quiet = [
            client
            for client in sorted(self._bursting)
            if now - self._buckets[client].last_at >= QUIET_SECONDS
        ]
        return [self._summary(client, self._buckets[client]) for client in quiet]

    def _summary(self, client: str, bucket: _Bucket) -> ApiRejectedBurst:
        summary: ApiRejectedBurst = {
            "client": clip(client, 64),
            "count": bucket.suppressed,
            "first": bucket.first,
            "last": bucket.last,
            "sample_paths": list(bucket.samples),
        }
        self._bursting.discard(client)
        bucket.suppressed, bucket.first, bucket.last, bucket.samples = 0, "", "", []
        return summary
