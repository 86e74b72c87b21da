"""Tool calls under a deadline: plain functions on long-lived tool threads the caller stops
waiting for, ``async`` ones awaited and cancelled on the caller's own thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

import pytest

from charter.tools import _deadline, tool
from charter.tools._deadline import ToolThreads, ToolTimeoutError, call_within, run_coroutine

release = threading.Event()


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    release.clear()
    yield
    release.set()


@pytest.fixture
def threads() -> Iterator[ToolThreads]:
    pool = ToolThreads(2)
    yield pool
    release.set()
    pool.close()


class LateOutcomes:
    """A late callback that keeps what it is given."""

    def __init__(self) -> None:
        self.outcomes: list[Future[Any]] = []
        self.arrived = threading.Event()

    def __call__(self, outcome: Future[Any]) -> None:
        self.outcomes.append(outcome)
        self.arrived.set()

    def one(self) -> Future[Any]:
        assert self.arrived.wait(5), "no late outcome arrived"
        (outcome,) = self.outcomes
        return outcome


def hang_then(value: int) -> int:
    release.wait(5)
    return value


# --- plain functions on tool threads -----------------------------------------------------


def test_a_call_in_time_returns_its_result_from_a_tool_thread(threads: ToolThreads) -> None:
    caller = threading.get_ident()

    ran_on = threads.call(threading.get_ident, 5)

    assert ran_on != caller


def test_the_last_parked_thread_takes_the_next_call(threads: ToolThreads) -> None:
    first = threads.call(threading.get_ident, 5)

    assert [threads.call(threading.get_ident, 5) for _ in range(5)] == [first] * 5


def test_an_exception_of_the_tool_reaches_the_caller(threads: ToolThreads) -> None:
    def fail() -> None:
        raise KeyboardInterrupt  # even one that is not an Exception, as a future would

    with pytest.raises(KeyboardInterrupt):
        threads.call(fail, 5)
    assert threads.call(lambda: 7, 5) == 7  # the thread goes on


def test_a_hanging_call_is_abandoned_at_its_deadline(threads: ToolThreads) -> None:
    late = LateOutcomes()

    with pytest.raises(ToolTimeoutError, match=r"no outcome within 0\.05s"):
        threads.call(lambda: hang_then(3), 0.05, late)

    assert not late.arrived.is_set()  # it is still running
    release.set()
    assert late.one().result() == 3  # its real outcome, once it has one


def test_a_result_just_after_the_deadline_is_late_never_a_success() -> None:
    threads = ToolThreads(1)
    late = LateOutcomes()

    def just_late() -> str:
        time.sleep(0.08)
        return "paid"

    with pytest.raises(ToolTimeoutError):
        threads.call(just_late, 0.05, late)

    assert late.one().result() == "paid"
    threads.close()


def test_abandoned_calls_do_not_starve_the_others() -> None:
    threads = ToolThreads(1)
    for _ in range(3):  # each hangs on a thread of its own, past the limit of one
        with pytest.raises(ToolTimeoutError):
            threads.call(lambda: hang_then(0), 0.02)

    assert threads.call(lambda: "answered", 5) == "answered"
    release.set()
    threads.close()


def test_a_call_still_queued_at_its_deadline_never_runs() -> None:
    threads = ToolThreads(1)
    started: list[str] = []
    late = LateOutcomes()
    holder = threading.Thread(target=threads.call, args=(lambda: hang_then(1), 10))
    holder.start()
    while threads._working == 0:  # pyright: ignore[reportPrivateUsage]
        time.sleep(0.001)

    with pytest.raises(ToolTimeoutError):
        threads.call(lambda: started.append("queued call"), 0.05, late)

    assert late.one().cancelled()  # a write that never started did not happen
    release.set()
    holder.join(5)
    assert threads.call(lambda: "next", 5) == "next"
    assert started == []
    threads.close()


def test_closing_withdraws_queued_calls_and_refuses_new_ones() -> None:
    threads = ToolThreads(1)
    holder = threading.Thread(target=threads.call, args=(lambda: hang_then(1), 10))
    holder.start()
    while threads._working == 0:  # pyright: ignore[reportPrivateUsage]
        time.sleep(0.001)
    seen: list[BaseException] = []

    def queued() -> None:
        try:
            threads.call(lambda: "never", 10)
        except BaseException as exc:
            seen.append(exc)

    waiter = threading.Thread(target=queued)
    waiter.start()
    while not threads._queued:  # pyright: ignore[reportPrivateUsage]
        time.sleep(0.001)
    threads.close()
    waiter.join(5)

    assert len(seen) == 1 and isinstance(seen[0], CancelledError)
    with pytest.raises(RuntimeError, match="closed"):
        threads.call(lambda: 1, 1)
    release.set()
    holder.join(5)


def test_many_callers_each_timing_out_all_get_their_timeout(threads: ToolThreads) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def caller(i: int) -> None:
        try:
            threads.call(lambda: hang_then(i), 0.05)
            result = "answered"
        except ToolTimeoutError:
            result = "timeout"
        with lock:
            outcomes.append(result)

    callers = [threading.Thread(target=caller, args=(i,)) for i in range(12)]
    for each in callers:
        each.start()
    for each in callers:
        each.join(10)

    assert outcomes == ["timeout"] * 12


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ToolThreads(0)


# --- async tools on the caller's thread ---------------------------------------------------


@tool(timeout_s=5)
async def where_am_i() -> int:
    """The thread it runs on."""
    await asyncio.sleep(0)
    return threading.get_ident()


def test_an_async_tool_runs_on_the_callers_own_thread(threads: ToolThreads) -> None:
    validated = where_am_i.validate_args({})

    ran_on = call_within(threads, where_am_i, validated, None, 5)

    assert ran_on == threading.get_ident()
    assert threads._started == 0  # pyright: ignore[reportPrivateUsage]


def test_an_async_tool_under_a_running_loop_goes_to_a_tool_thread(threads: ToolThreads) -> None:
    validated = where_am_i.validate_args({})

    async def from_a_loop() -> int:
        return call_within(threads, where_am_i, validated, None, 5)

    caller = threading.get_ident()
    assert asyncio.run(from_a_loop()) != caller


def test_an_async_tool_is_cancelled_at_its_deadline_and_its_outcome_is_unknown() -> None:
    unwound: list[str] = []
    late = LateOutcomes()

    async def pay() -> str:
        try:
            await asyncio.sleep(10)
        finally:
            unwound.append("cancelled")
        return "paid"

    with pytest.raises(ToolTimeoutError, match="cancelled"):
        run_coroutine(pay(), 0.05, late)

    assert unwound == ["cancelled"]  # nothing of it runs afterwards
    assert late.outcomes == []  # whether it took effect is unknown: no late outcome
    assert run_coroutine(asyncio.sleep(0, "next"), 5) == "next"  # the loop is reusable


def test_an_async_tool_that_blocks_past_its_deadline_is_late_never_a_success() -> None:
    late = LateOutcomes()

    async def blocking() -> str:
        time.sleep(0.1)  # blocks the thread: the deadline cannot cut in
        return "paid"

    with pytest.raises(ToolTimeoutError):
        run_coroutine(blocking(), 0.02, late)

    assert late.one().result() == "paid"


def test_an_async_tool_that_fails_late_reports_its_failure_as_late() -> None:
    late = LateOutcomes()

    async def declined() -> str:
        time.sleep(0.05)
        raise RuntimeError("card declined")

    with pytest.raises(ToolTimeoutError):
        run_coroutine(declined(), 0.01, late)

    with pytest.raises(RuntimeError, match="declined"):
        late.one().result()


def test_an_async_tool_that_will_not_unwind_is_left_behind_with_its_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_deadline, "CANCEL_GRACE_S", 0.05)

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    with pytest.raises(ToolTimeoutError, match="cancelled"):
        run_coroutine(stubborn(), 0.02)

    assert run_coroutine(asyncio.sleep(0, "fresh loop"), 5) == "fresh loop"


def test_an_async_tool_that_fails_in_time_raises_its_own_error() -> None:
    async def fail() -> None:
        raise ValueError("bad order")

    with pytest.raises(ValueError, match="bad order"):
        run_coroutine(fail(), 5)


def test_a_late_async_result_is_given_as_json(threads: ToolThreads) -> None:
    late = LateOutcomes()

    @tool(timeout_s=0.02)
    async def slow_total(amount: int) -> dict[str, int]:
        """Blocks past its deadline."""
        time.sleep(0.05)
        return {"total": amount}

    with pytest.raises(ToolTimeoutError):
        call_within(threads, slow_total, slow_total.validate_args({"amount": 3}), None, 0.02, late)

    assert late.one().result() == {"total": 3}


def test_invoking_an_async_tool_directly_awaits_it() -> None:
    @tool
    async def double(x: int) -> int:
        """Twice x."""
        await asyncio.sleep(0)
        return 2 * x

    assert double.is_async
    assert double.invoke(double.validate_args({"x": 4})) == 8


# --- plain reads inline, watched -----------------------------------------------------------


@tool(timeout_s=5)
def read_here() -> int:
    """The thread it runs on."""
    return threading.get_ident()


def test_a_read_under_a_timeout_runs_inline_and_nothing_stalls(threads: ToolThreads) -> None:
    stalls: list[str] = []

    ran_on = call_within(
        threads, read_here, read_here.validate_args({}), None, 5, None, lambda: stalls.append("!")
    )

    assert ran_on == threading.get_ident()
    assert threads._started == 0  # pyright: ignore[reportPrivateUsage]
    assert stalls == []


def test_a_read_past_its_deadline_is_a_timeout_and_stalls_once(threads: ToolThreads) -> None:
    stalls: list[float] = []

    @tool(timeout_s=0.05)
    def slow_read() -> str:
        """Answers after its deadline."""
        time.sleep(0.3)
        return "too late"

    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="the run waited for it"):
        call_within(
            threads,
            slow_read,
            slow_read.validate_args({}),
            None,
            0.05,
            None,
            lambda: stalls.append(time.monotonic() - started),
        )

    assert len(stalls) == 1 and stalls[0] < 0.3  # at the deadline, while it still ran


def test_a_read_failing_after_its_deadline_is_a_timeout_not_its_error(
    threads: ToolThreads,
) -> None:
    @tool(timeout_s=0.02)
    def failing_late() -> str:
        """Fails after its deadline."""
        time.sleep(0.05)
        raise ValueError("no such order")

    with pytest.raises(ToolTimeoutError):
        call_within(threads, failing_late, failing_late.validate_args({}), None, 0.02)


def test_a_read_failing_in_time_raises_its_own_error(threads: ToolThreads) -> None:
    @tool(timeout_s=5)
    def failing() -> str:
        """Fails at once."""
        raise ValueError("no such order")

    with pytest.raises(ValueError, match="no such order"):
        call_within(threads, failing, failing.validate_args({}), None, 5)


def test_the_watchdog_wakes_for_an_earlier_deadline() -> None:
    watchdog = _deadline.Watchdog()
    stalled = threading.Event()
    far = watchdog.watch(60)

    near = watchdog.watch(0.05, stalled.set)

    assert stalled.wait(5)
    assert watchdog.finished(near) is True
    assert watchdog.finished(far) is False


def test_the_watchdog_keeps_no_heap_of_calls_that_finished() -> None:
    watchdog = _deadline.Watchdog()
    watchdog.watch(60)  # the first starts its thread
    for _ in range(1000):
        assert watchdog.finished(watchdog.watch(60)) is False

    kept = len(watchdog._heap) + len(watchdog._incoming)  # pyright: ignore[reportPrivateUsage]
    assert kept <= 64 + 256 + 2


def test_a_queued_long_call_still_stalls_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # A call due after the watchdog's next wake is queued without a lock; the watchdog
    # takes it up when it wakes and still calls `stalled` at its deadline.
    monkeypatch.setattr(_deadline, "IDLE_WAKE_S", 0.05)
    watchdog = _deadline.Watchdog()
    watchdog.finished(watchdog.watch(0.01))  # starts its thread
    stalled = threading.Event()

    queued = watchdog.watch(0.2, stalled.set)

    assert watchdog._incoming or watchdog._heap  # pyright: ignore[reportPrivateUsage]
    assert stalled.wait(5)
    assert watchdog.finished(queued) is True


def test_many_long_calls_at_once_are_all_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_deadline, "IDLE_WAKE_S", 0.05)
    watchdog = _deadline.Watchdog()
    watchdog.finished(watchdog.watch(0.01))
    stalled: list[int] = []
    lock = threading.Lock()

    def note(index: int) -> Callable[[], None]:
        def stall() -> None:
            with lock:
                stalled.append(index)

        return stall

    watches = [watchdog.watch(0.1, note(i)) for i in range(600)]  # past the queue's bound
    give_up = time.monotonic() + 5
    while len(stalled) < 600 and time.monotonic() < give_up:
        time.sleep(0.01)

    assert all(watchdog.finished(w) for w in watches)
    assert sorted(stalled) == list(range(600))
