"""Live event streams (``GET /api/runs/{id}/events``) that end and cost nothing idle.

A stream sends a run's journal records as they are appended, until the run finishes or
waits. It also ends when its token is revoked (checked every few seconds), when nothing
new happened for a while, or when the client goes; each token may hold a few at once
(429 beyond). Waiting streams do not poll the database each: one watcher per server reads
the journal's newest ``seq`` (an index lookup), backing off while nothing changes, and
wakes every stream when it moves; only then does each stream read its run's new records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import Protocol

from fastapi import HTTPException
from fastapi.sse import ServerSentEvent
from sqlalchemy.exc import SQLAlchemyError

from charter.journal import Journal, Record
from charter.journal._reads import newest_seq, run_records_after
from charter.server._auth import Principal, TokenStore
from charter.server._limits import ServerLimits

POLL_FIRST = 0.1
"""Seconds between the watcher's reads of the journal head right after a change..."""
POLL_MOST = 2.0
"""...doubling while nothing changes, up to this."""
BATCH = 500
"""Records read at once; a stream behind by more reads again without waiting."""
ENDS = ("run.finished", "run.waiting")


class Disconnectable(Protocol):
    """What a stream needs of its request: whether the client went away."""

    async def is_disconnected(self) -> bool: ...


class EventStreams:
    """The server's live event streams: slots per token, the journal watcher, and the
    stream loop itself.

    Args:
        journal: where the records are.
        tokens: to re-check a stream's token.
        limits: streams per token, recheck and idle times.
        clock: monotonic seconds, replaceable in tests.
    """

    def __init__(
        self,
        journal: Journal,
        tokens: TokenStore,
        limits: ServerLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.tokens = tokens
        self.limits = limits
        self.clock = clock
        self.reads = 0
        """Reads of a run's records by streams (a measure: idle streams add none)."""
        self.polls = 0
        """Reads of the journal head by the watcher."""
        self._open: dict[str, int] = {}
        self._following = 0
        self._changed: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None

    def open_streams(self, token_id: str) -> int:
        """Streams ``token_id`` holds open now."""
        return self._open.get(token_id, 0)

    @contextlib.contextmanager
    def slot(self, who: Principal) -> Generator[None]:
        """Hold one of ``who``'s stream slots for the ``with`` body.

        Raises:
            HTTPException: 429, the token holds its limit of streams already.
        """
        held = self._open.get(who.token_id, 0)
        limit = self.limits.streams_per_token
        if held >= limit:
            raise HTTPException(
                429,
                f"this token holds {held} live event streams already, the limit "
                f"(charter serve --max-streams {limit}); close one first",
            )
        self._open[who.token_id] = held + 1
        try:
            yield
        finally:
            left = self._open[who.token_id] - 1
            if left:
                self._open[who.token_id] = left
            else:
                del self._open[who.token_id]

    async def follow(
        self, request: Disconnectable, run_id: str, after: int, who: Principal
    ) -> AsyncIterator[ServerSentEvent]:
        """The run's records after ``after`` as events, live, until the run finishes or
        waits, the token is revoked, the stream idles past its limit, or the client goes.
        The last two kinds of end send a ``stream.closed`` event saying why."""
        seen = after
        last_news = checked = self.clock()
        self._following += 1
        try:
            while not await request.is_disconnected():
                changed = self._change_event()  # taken before reading: no change is missed
                fresh = await asyncio.to_thread(self._records_after, run_id, seen)
                for record in fresh:
                    seen = record.seq
                    yield ServerSentEvent(
                        data=record.to_json(), event=record.kind, id=str(record.seq)
                    )
                    if record.kind in ENDS:
                        return
                if len(fresh) == BATCH:
                    continue
                now = self.clock()
                if fresh:
                    last_news = now
                if now - last_news >= self.limits.stream_idle_seconds:
                    yield _closed("idle", f"no new record for {now - last_news:.0f}s")
                    return
                if now - checked >= self.limits.stream_recheck_seconds:
                    checked = now
                    live = await asyncio.to_thread(self.tokens.principal, who.token_id)
                    if live is None:
                        yield _closed("revoked", "the stream's token was revoked")
                        return
                wait = min(
                    self.limits.stream_recheck_seconds - (now - checked),
                    self.limits.stream_idle_seconds - (now - last_news),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(wait, 0.0))
        finally:
            self._following -= 1

    def _records_after(self, run_id: str, seq: int) -> list[Record]:
        self.reads += 1
        return run_records_after(self.journal, run_id, seq, limit=BATCH)

    def _newest_seq(self) -> int:
        self.polls += 1
        return newest_seq(self.journal)

    def _change_event(self) -> asyncio.Event:
        """The event set at the journal's next change; starts the watcher if none runs
        (in this event loop)."""
        loop = asyncio.get_running_loop()
        watcher = self._watcher
        if self._changed is None or watcher is None or watcher.done() or watcher.get_loop() != loop:
            self._changed = asyncio.Event()
            self._watcher = loop.create_task(self._watch())
        return self._changed

    async def _watch(self) -> None:
        seen = -1  # the first read wakes every stream: none misses a change made meanwhile
        delay = POLL_FIRST
        while self._following > 0:
            await asyncio.sleep(delay)
            try:
                newest = await asyncio.to_thread(self._newest_seq)
            except SQLAlchemyError:  # the database is away: streams still time out and
                delay = POLL_MOST  # re-check their token; watch again once it is back
                continue
            if newest == seen:
                delay = min(delay * 2, POLL_MOST)
                continue
            seen, delay = newest, POLL_FIRST
            woken, self._changed = self._changed, asyncio.Event()
            if woken is not None:
                woken.set()


def _closed(reason: str, detail: str) -> ServerSentEvent:
    return ServerSentEvent(data={"reason": reason, "detail": detail}, event="stream.closed")
