"""What the reliability tests share: bounded, reproducible hypothesis settings, a guard
against hangs, JSON-ish value strategies, and a payments toolset that counts what it did."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from charter import tool
from charter.journal import Journal
from charter.tools import Tool


def bounded(max_examples: int) -> settings:
    """Settings for a property in CI: a fixed number of derandomized examples, no
    per-example deadline (the suite's time is bounded by the example counts instead)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


class HangError(AssertionError):
    """An operation ran past its hang guard."""


@contextmanager
def no_hang(seconds: float, what: str) -> Generator[None]:
    """Fail (instead of blocking CI) if the body runs longer than ``seconds``. Generous on
    purpose: it catches hangs and exponential blow-ups, it does not measure speed."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise HangError(f"{what} still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


I64 = 2**63
"""Cedar integers are signed 64-bit."""

text_no_surrogates = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
"""Text that UTF-8 can encode (files, YAML)."""

any_text = st.one_of(
    text_no_surrogates,
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "é\u202e", "\U0001f600", "\\", '"', "{}"]),
)
"""Text as a JSON decoder may produce: lone surrogates and NULs included."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=I64 - 2, max_value=2**80)
    | st.integers(min_value=-(2**80), max_value=-I64),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
"""Nested dicts, lists, strings, ints (beyond i64 too), floats (NaN, infinities), None,
booleans: what a reasoner or a JSON body can hand over."""

json_args: st.SearchStrategy[dict[str, Any]] = st.dictionaries(any_text, json_values, max_size=5)


# A payments toolset whose calls are counted in a SQLite ledger of their own (the journal
# says what the runtime believes it did; the ledger says what the tool actually did).

AGENT = """
name: payer
reasoner:
  kind: rules
  match: 'pay (?P<order_id>\\d+) for (?P<cents>\\d+)'
  steps:
    - id: order
      call: lookup_order
      args: {{order_id: "{{goal.order_id}}"}}
    - id: pay
      call: pay
      args: {{order_id: "{{goal.order_id}}", amount_cents: "{{goal.cents}}"}}
    - when: "{{steps.pay.result.payment_id}}"
      respond: "Paid order {{goal.order_id}}."
    - respond: "Not paid: {{steps.pay.error}}"
toolsets:
  - ref: reliability._support:payments
    options: {{ledger: "{ledger}"}}
charter:
  name: payments
  rules:
    - id: big-payments
      effect: ask
      tools: [pay]
      when: context.args.amount_cents > 5000
      reason: payments over $50 need a manager
"""
"""An agent paying orders (big payments need approval); format with ``ledger``."""


def payments(options: dict[str, Any]) -> list[Tool]:
    """``pay`` and ``lookup_order``, writing each payment to the ledger file in ``options``."""
    ledger = Path(str(options.get("ledger", "ledger.db")))

    @tool(side_effect="write", targets=("order_id",))
    def pay(order_id: int, amount_cents: int, idempotency_key: str | None = None) -> dict[str, int]:
        """Pay an order."""
        with sqlite3.connect(ledger, timeout=30) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS paid (order_id INTEGER, cents INTEGER, key TEXT)"
            )
            db.execute(
                "INSERT INTO paid VALUES (?, ?, ?)", (order_id, amount_cents, idempotency_key)
            )
        return {"payment_id": order_id * 10, "order_id": order_id}

    @tool
    def lookup_order(order_id: int) -> dict[str, Any]:
        """Look an order up."""
        return {"order_id": order_id, "status": "delivered"}

    return [pay, lookup_order]


def paid(ledger: Path) -> list[tuple[int, int, str]]:
    """Every payment the ``pay`` tool made: ``(order_id, cents, idempotency key)``."""
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger, timeout=30) as db:
        try:
            return list(db.execute("SELECT order_id, cents, key FROM paid"))
        except sqlite3.OperationalError:  # no payment yet: the table is made by the first
            return []


@dataclass
class Service:
    """The real app over a signed SQLite journal, serving the ``payer`` agent, with a token
    per role (plus ``sam``, an operator who starts runs) and the payments ledger."""

    client: TestClient
    journal: Journal
    tokens: dict[str, str]
    ledger: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}
