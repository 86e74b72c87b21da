"""Tool calls under a deadline, with as few thread hand-offs as the tool allows.

A tool whose contract sets ``timeout_s`` has a call that overruns it reported to the
reasoner as a timeout, and a write that overruns it is in doubt (see
:mod:`charter.runtime._ledger`). How the deadline is kept depends on the tool:

* a plain function that only reads is called inline, on the calling thread, with its
  deadline watched by one thread per process (:class:`Watchdog`): no hand-off per call.
  A read cannot be interrupted, so the run waits for one that overruns; when it returns,
  its outcome is discarded and the call is a timeout. At the deadline the watchdog calls
  ``stalled`` (the runner stops renewing the run's lease then, so a read that never
  returns leaves its run to recovery once the lease lapses, as a crashed process would);
* a plain function that writes or reaches outside runs on one of a few long-lived tool
  threads while the caller waits with the deadline (:class:`ToolThreads`): at the
  deadline the call is abandoned and the run goes on, the call's thread finishes it
  alone, and its real outcome reaches ``late`` (to journal what the write did);
* an ``async def`` tool is awaited on the calling thread's own event loop, with no
  hand-off: at the deadline it is cancelled, so nothing of it runs afterwards, and a write
  it was making stays in doubt until an operator or a retry under its key settles it
  (unless it returns or raises all the same while it unwinds: that is its late outcome);
* a tool without a timeout (one that bounds itself, as the HTTP tools do) is called
  inline.

A call that returns after its deadline, even by a hair, is a timeout whose result is a
late outcome, never a success: the reasoner was not waiting any more when it came.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from charter.tools._tool import Tool

T = TypeVar("T")

Late = Callable[["Future[Any]"], None]
"""Called with the outcome of a call abandoned at its deadline, once it is known: its
result, its exception, or cancelled when it never started."""

CANCEL_GRACE_S = 1.0
"""Seconds an ``async`` tool cancelled at its deadline has to unwind before its task is
left behind unfinished with the event loop it ran on."""


class ToolTimeoutError(TimeoutError):
    """A tool call overran its contract's ``timeout_s`` and was abandoned."""


class _Call:
    """One call handed to the tool threads: its outcome and how far it got."""

    __slots__ = ("abandoned", "done", "error", "fn", "late", "state", "value")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = _thread.allocate_lock()
        """Held until the call has an outcome (or was withdrawn unstarted)."""
        self.done.acquire()
        self.value: Any = None
        self.error: BaseException | None = None
        self.state: Literal["queued", "running", "finished", "withdrawn"] = "queued"
        self.abandoned = False
        """Its caller stopped waiting while it ran; ``late`` gets its outcome."""
        self.late: Late | None = None

    def outcome(self) -> Future[Any]:
        """The outcome as a completed future, the form a late callback takes."""
        future: Future[Any] = Future()
        if self.state == "withdrawn":
            future.cancel()
        elif self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.value)
        return future


class _Worker:
    """A long-lived tool thread: runs calls handed to it, parks when there are none."""

    __slots__ = ("call", "go", "pool")

    def __init__(self, pool: ToolThreads, first: _Call, name: str) -> None:
        self.pool = pool
        self.call: _Call | None = first
        self.go = _thread.allocate_lock()
        """Released to hand this parked thread its next call (or None: stop)."""
        self.go.acquire()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        call = self.call
        while call is not None:
            try:
                call.value = call.fn()
            except BaseException as exc:  # the caller re-raises it, as a future would
                call.error = exc
            call = self.pool._next(self, call)  # pyright: ignore[reportPrivateUsage]


class ToolThreads:
    """A few long-lived threads that run plain tool functions under a deadline.

    The most recently parked thread takes the next call (its stack is warm), handed over
    with one lock each way. A call abandoned at its deadline keeps its thread until it
    returns but no longer counts against ``limit``, so tools that hang do not starve the
    others; a call queued because ``limit`` threads are busy and still queued at its
    deadline is withdrawn and never runs.

    Args:
        limit: threads running calls nobody abandoned, at most; more calls wait.
        name: the threads' name prefix.
    """

    def __init__(self, limit: int = 4, *, name: str = "charter-tool") -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit}")
        self.limit = limit
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        """Parked threads, the most recently parked last."""
        self._working = 0
        """Threads running a call that nobody abandoned."""
        self._queued: deque[_Call] = deque()
        self._closed = False
        self._started = 0

    def call(self, fn: Callable[[], T], timeout: float | None, late: Late | None = None) -> T:
        """``fn()`` on a tool thread; its result, or its exception re-raised.

        Raises:
            ToolTimeoutError: no outcome within ``timeout`` seconds (None: no limit); the
                call is abandoned and ``late`` (if given) gets its outcome when it has one.
            CancelledError: the threads were closed before the call started.
            RuntimeError: the threads are closed.
        """
        job = _Call(fn)
        worker: _Worker | None = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the tool threads are closed: no more calls")
            if self._idle:
                worker = self._idle.pop()
                job.state, self._working = "running", self._working + 1
                worker.call = job
            elif self._working < self.limit:
                job.state, self._working = "running", self._working + 1
                self._started += 1
                name = f"{self._name}-{self._started}"
            else:
                self._queued.append(job)
        if worker is not None:
            worker.go.release()
        elif job.state == "running":
            _Worker(self, job, name)  # pyright: ignore[reportPossiblyUnboundVariable]
        if job.done.acquire(True, -1 if timeout is None else timeout):
            if job.error is not None:
                raise job.error
            return job.value
        with self._lock:
            if job.state == "queued":  # never started: it never will
                self._queued.remove(job)
                job.state = "withdrawn"
            elif job.state == "running":
                job.abandoned, job.late, self._working = True, late, self._working - 1
                late = None  # its thread calls it when the call returns
        if late is not None:  # withdrawn, or finished just after the deadline
            late(job.outcome())
        raise ToolTimeoutError(f"no outcome within {timeout}s")

    def _next(self, worker: _Worker, finished: _Call) -> _Call | None:
        """Settle ``finished`` (run on its thread); the thread's next call, or None when
        it stops."""
        with self._lock:
            finished.state = "finished"
            late = finished.late
            if not finished.abandoned:
                self._working -= 1
        finished.done.release()
        if late is not None:
            late(finished.outcome())
        with self._lock:
            if self._closed:
                return None
            if self._queued and self._working < self.limit:
                call = self._queued.popleft()
                call.state, self._working = "running", self._working + 1
                return call
            if len(self._idle) >= self.limit:
                return None  # a spare left over from calls that hung: it ends
            worker.call = None
            self._idle.append(worker)
        worker.go.acquire()
        return worker.call

    def close(self) -> None:
        """Stop the parked threads and withdraw the queued calls (their callers see
        CancelledError); calls running go on, abandoned, on their threads."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            queued, self._queued = list(self._queued), deque()
        for worker in idle:
            worker.call = None
            worker.go.release()
        for job in queued:
            job.state = "withdrawn"
            job.error = CancelledError("the tool threads closed before the call started")
            job.done.release()


IDLE_WAKE_S = 1.0
"""Seconds the watchdog sleeps at most: a call due later than that is queued for it
without a lock, and seen when it wakes, without waking it."""


class Watch:
    """One inline call's deadline, as the :class:`Watchdog` holds it."""

    __slots__ = ("deadline", "finished", "overran", "stalled")

    def __init__(self, deadline: float, stalled: Callable[[], None] | None) -> None:
        self.deadline = deadline
        """When the call is due (``time.monotonic()``)."""
        self.stalled = stalled
        self.finished = False
        self.overran = False


class Watchdog:
    """One thread per process that notes inline calls still running at their deadline.

    The thread wakes at least every :data:`IDLE_WAKE_S`, so a call due later than that
    (the usual timeout is tens of seconds) is handed to it without a lock: appended to a
    queue it takes up when it wakes, by which time most such calls have finished and are
    dropped. A call due sooner goes on its heap under its lock, waking it if need be.
    Finishing a call before its deadline takes no lock either: the thread takes up only
    calls past due, so it cannot be deciding on one that finished in time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Watch]] = []
        self._incoming: deque[Watch] = deque()
        """Watches due after the thread's next wake, not yet on the heap."""
        self._order = itertools.count()
        self._wakes_at = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, timeout: float, stalled: Callable[[], None] | None = None) -> Watch:
        """Start watching a call due in ``timeout`` seconds; ``stalled`` is called (on
        the watchdog's thread) if it is still running then."""
        watch = Watch(time.monotonic() + timeout, stalled)
        if timeout > IDLE_WAKE_S and self._thread is not None:
            incoming = self._incoming
            incoming.append(watch)  # seen before it is due: the thread wakes sooner
            if len(incoming) > _MOST_INCOMING:  # calls that stay long: on the heap now
                with self._lock:
                    self._take_incoming()
            return watch
        with self._lock:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="charter-deadlines", daemon=True
                )
                self._thread.start()
            elif watch.deadline < self._wakes_at:
                self._changed.notify()
        return watch

    def finished(self, watch: Watch) -> bool:
        """Stop watching ``watch``'s call, which returned; whether it overran its
        deadline (by the watchdog's clock or by a hair after it)."""
        watch.finished = True
        # Read after `finished` is set: before the deadline, the thread (which takes up
        # a call only once its own clock is past it) will see it finished.
        if time.monotonic() < watch.deadline:
            return False
        with self._lock:  # the thread may be calling `stalled`: once this says so, it ran
            return True

    def _take_incoming(self) -> None:
        """Move the queued watches still running onto the heap (under the lock)."""
        incoming, heap = self._incoming, self._heap
        while incoming:
            watch = incoming.popleft()
            if not watch.finished:
                heapq.heappush(heap, (watch.deadline, next(self._order), watch))
        if len(heap) > 64 and len(heap) > 2 * sum(not e[2].finished for e in heap):
            self._heap = [entry for entry in heap if not entry[2].finished]
            heapq.heapify(self._heap)

    def _run(self) -> None:
        with self._lock:
            while True:
                self._take_incoming()
                now = time.monotonic()
                heap = self._heap
                while heap and (heap[0][2].finished or heap[0][0] <= now):
                    _, _, due = heapq.heappop(heap)
                    if due.finished:
                        continue
                    due.overran = True
                    if due.stalled is not None:
                        # Under the lock: once `finished` says it overran, this has run.
                        # A failing one changes nothing: the call is a timeout all the same.
                        with contextlib.suppress(Exception):
                            due.stalled()
                # It wakes at least every IDLE_WAKE_S, to take up the queued watches.
                self._wakes_at = min(heap[0][0], now + IDLE_WAKE_S) if heap else now + IDLE_WAKE_S
                self._changed.wait(self._wakes_at - now)


_MOST_INCOMING = 256
"""Queued watches past which they are moved onto the heap by the caller."""


WATCHDOG = Watchdog()
"""The process's watchdog of inline calls."""


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's own event loop for ``async`` tools, made on first use and kept."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (it cannot run another one)."""
    return asyncio._get_running_loop() is not None  # pyright: ignore[reportPrivateUsage]


def run_coroutine(
    coro: Coroutine[Any, Any, T], timeout: float | None = None, late: Late | None = None
) -> T:
    """Run ``coro`` to its end on this thread's own event loop; with ``timeout``, cancel
    it at the deadline.

    Raises:
        ToolTimeoutError: it had no outcome by the deadline. If it returned or raised all
            the same (finishing late, or on being cancelled), ``late`` gets that outcome;
            if it was cancelled, whether it took effect is unknown and ``late`` is not
            called. One that does not unwind within :data:`CANCEL_GRACE_S` is left behind
            with its loop (this thread starts a new one).
    """
    loop = _thread_loop()
    task = loop.create_task(coro)
    if timeout is None:
        return loop.run_until_complete(task)
    deadline = time.monotonic() + timeout
    stopper: list[asyncio.TimerHandle] = []

    def expire() -> None:
        task.cancel()
        stopper.append(loop.call_later(CANCEL_GRACE_S, loop.stop))  # if it will not unwind

    timer = loop.call_later(timeout, expire)
    try:
        value = loop.run_until_complete(task)
    except BaseException as exc:
        if not task.done():  # stopped after the grace, or interrupted: it stays behind
            _local.loop = None  # with this loop; this thread's next call gets a new one
            if not stopper:
                raise
            raise ToolTimeoutError(f"no outcome within {timeout}s; cancelled") from None
        if not stopper and time.monotonic() < deadline:
            raise  # it failed in time
        if task.cancelled():  # at its deadline: whether it took effect is unknown
            raise ToolTimeoutError(f"no outcome within {timeout}s; cancelled") from None
        if late is not None:  # it failed late (perhaps on being cancelled)
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            late(failed)
        raise ToolTimeoutError(f"no outcome within {timeout}s") from None
    finally:
        timer.cancel()
        for handle in stopper:
            handle.cancel()
    if stopper or time.monotonic() >= deadline:  # late, or it blocked the loop past it
        if late is not None:
            done: Future[Any] = Future()
            done.set_result(value)
            late(done)
        raise ToolTimeoutError(f"no outcome within {timeout}s")
    return value


def _as_json(tool: Tool, late: Late | None) -> Late | None:
    """``late``, given the tool's result as JSON (as a call in time returns it)."""
    if late is None:
        return None
    report = late

    def converted(outcome: Future[Any]) -> None:
        if outcome.cancelled() or outcome.exception() is not None:
            report(outcome)
            return
        future: Future[Any] = Future()
        try:
            future.set_result(tool.result_json(outcome.result()))
        except Exception as exc:  # it returned what its declared type refuses
            future.set_exception(exc)
        report(future)

    return converted


def call_within(
    threads: ToolThreads,
    tool: Tool,
    validated: Any,
    idempotency_key: str | None,
    timeout: float | None,
    late: Late | None = None,
    stalled: Callable[[], None] | None = None,
) -> Any:
    """Call ``tool`` with ``validated`` arguments under ``timeout`` (None: the tool
    bounds itself), the cheapest way its kind allows (see the module docstring).
    ``stalled``: called at the deadline of an inline read still running.

    Raises:
        ToolTimeoutError: the call overran ``timeout``; ``late`` gets the outcome of an
            abandoned write if one comes.
        Exception: whatever the tool raised in time.
    """
    if not tool.is_async:
        if timeout is None:
            return tool.invoke(validated, idempotency_key)
        if tool.contract.side_effect == "read":
            watch = WATCHDOG.watch(timeout, stalled)
            late_by = f"no outcome within {timeout}s; the run waited for it"
            try:
                result = tool.invoke(validated, idempotency_key)
            except Exception:
                if WATCHDOG.finished(watch):  # whatever it raised, it came too late
                    raise ToolTimeoutError(late_by) from None
                raise
            except BaseException:  # an interrupt: the run stops here
                WATCHDOG.finished(watch)
                raise
            if WATCHDOG.finished(watch):  # whatever it returned, it came too late
                raise ToolTimeoutError(late_by)
            return result
        return threads.call(lambda: tool.invoke(validated, idempotency_key), timeout, late)
    if in_event_loop():  # this thread's loop is busy: the call goes to a tool thread's
        return threads.call(lambda: tool.invoke(validated, idempotency_key), timeout, late)
    coro = tool.fn(**tool.arguments(validated, idempotency_key))
    return tool.result_json(run_coroutine(coro, timeout, _as_json(tool, late)))
