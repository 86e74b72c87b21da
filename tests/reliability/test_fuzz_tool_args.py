"""Tool arguments, fuzzed: random JSON-ish argument dicts against typed tools (integers,
Literals and enums, nested models, optional fields), alone and through real runs.

``validate_args`` returns validated arguments or raises ToolArgumentsError, nothing else.
A run proposing the fuzzed call never crashes, the tool never runs with arguments its
signature refuses (and runs exactly once when they are valid and allowed, approvals
included), and the journal verifies after every run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, JsonValue

from charter import Charter, Journal, Runner, tool
from charter.journal import JournalSigner, load_or_create_signer
from charter.reasoners import ToolCall
from charter.testing import ScriptedReasoner, make_agent, respond
from charter.tools import Tool, ToolArgumentsError
from reliability._support import any_text, bounded, json_args, json_values, text_no_surrogates

# Typed tools; every call is recorded with the exact values the function received.

calls: list[tuple[str, dict[str, Any]]] = []
_calls_lock = threading.Lock()


def _called(name: str, **received: Any) -> None:
    with _calls_lock:
        calls.append((name, received))


class Address(BaseModel):
    street: Annotated[str, Field(min_length=1, max_length=80)]
    zip_code: Annotated[str, Field(pattern=r"^\d{5}$")]
    country: Literal["US", "CA"] = "US"


class Line(BaseModel):
    sku: str
    qty: Annotated[int, Field(ge=1, le=100)]


class Reason(Enum):
    DAMAGED = "damaged"
    LATE = "late"
    OTHER = "other"


@tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look an order up."""
    _called("lookup_order", order_id=order_id)
    return {"order_id": order_id, "status": "delivered"}


@tool(side_effect="write")
def ship_order(
    order_id: int,
    address: Address,
    lines: list[Line],
    priority: Literal["low", "normal", "high"] = "normal",
    note: str | None = None,
    gift: bool = False,
) -> dict[str, Any]:
    """Ship an order."""
    _called(
        "ship_order",
        order_id=order_id,
        address=address,
        lines=lines,
        priority=priority,
        note=note,
        gift=gift,
    )
    return {"shipment": order_id, "lines": len(lines)}


@tool(side_effect="write", targets=("order_id",))
def refund_order(
    order_id: int,
    amount_cents: Annotated[int, Field(gt=0, le=10_000_000)],
    reason: Reason,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Refund an order."""
    _called(
        "refund_order",
        order_id=order_id,
        amount_cents=amount_cents,
        reason=reason,
        idempotency_key=idempotency_key,
    )
    return {"refund_id": order_id * 10}


@tool(side_effect="external")
def tag_order(order_id: int, scores: dict[str, float], meta: Any = None) -> str:
    """Attach scores (and anything else) to an order."""
    _called("tag_order", order_id=order_id, scores=scores, meta=meta)
    return "tagged"


TOOLS: list[Tool] = [lookup_order, ship_order, refund_order, tag_order]
BY_NAME = {t.name: t for t in TOOLS}

CHARTER = Charter.model_validate(
    {
        "name": "orders",
        "rules": [
            {
                "id": "big-refunds",
                "effect": "ask",
                "tools": ["refund_order"],
                "when": "context.args.amount_cents > 5000",
            },
            {
                "id": "no-rush",
                "effect": "deny",
                "tools": ["ship_order"],
                "when": 'context.args.priority == "high"',
            },
            {
                "id": "tag-review",
                "effect": "ask",
                "tools": ["tag_order"],
                "when": 'context.args has meta && context.args.meta == "review"',
            },
        ],
        "approvals": {"forbid_self_approval": False},
    }
)


# Arguments: valid ones, valid ones with one field spoiled, and anything at all

valid_args: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "lookup_order": st.fixed_dictionaries({"order_id": st.integers()}),
    "ship_order": st.fixed_dictionaries(
        {
            "order_id": st.integers(1, 10**6),
            "address": st.fixed_dictionaries(
                {
                    "street": text_no_surrogates.filter(str.strip),
                    "zip_code": st.from_regex(r"^\d{5}$"),
                },
                optional={"country": st.sampled_from(["US", "CA"])},
            ),
            "lines": st.lists(
                st.fixed_dictionaries({"sku": text_no_surrogates, "qty": st.integers(1, 100)}),
                max_size=3,
            ),
        },
        optional={
            "priority": st.sampled_from(["low", "normal", "high"]),
            "note": st.none() | any_text,
            "gift": st.booleans(),
        },
    ),
    "refund_order": st.fixed_dictionaries(
        {
            "order_id": st.integers(1, 10**6) | st.sampled_from(["7", 7.0]),
            "amount_cents": st.integers(1, 5000) | st.integers(5001, 10_000),
            "reason": st.sampled_from(["damaged", "late", "other"]),
        }
    ),
    "tag_order": st.fixed_dictionaries(
        {
            "order_id": st.integers(1, 10**6),
            "scores": st.dictionaries(any_text, st.floats() | st.integers(-(2**70), 2**70)),
        },
        optional={"meta": st.just("review") | json_values},
    ),
}
SPOILERS = st.one_of(
    json_values,
    st.sampled_from(["HIGH", "DAMAGED", "FR", "7.5", "", 0, -1, 101, 2**70, 7.5, True, []]),
)


@st.composite
def proposals(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A tool name (sometimes unknown) and arguments: valid, spoiled, or anything."""
    name = draw(st.sampled_from([*BY_NAME, "drop_tables"]))
    how = draw(st.sampled_from(["valid", "valid", "spoiled", "anything"]))
    if name not in valid_args or how == "anything":
        return name, draw(json_args)
    args = draw(valid_args[name])
    if how == "spoiled":
        key = draw(st.sampled_from([*args, "idempotency_key", "extra"]), label="key")
        match draw(st.sampled_from(["replace", "drop", "nest"]), label="spoil"):
            case "drop" if key in args:
                del args[key]
            case "nest" if isinstance(args.get(key), dict | list) and args[key]:
                inner: dict[Any, Any] | list[Any] = args[key]
                at = draw(st.sampled_from(list(inner) if isinstance(inner, dict) else [0]))
                inner[at] = draw(SPOILERS)
            case _:
                args[key] = draw(SPOILERS)
    return name, args


def _validated(name: str, args: dict[str, Any]) -> BaseModel | None:
    """The validated arguments, or None if ``validate_args`` refuses them (its only refusal)."""
    try:
        return BY_NAME[name].validate_args(args)
    except ToolArgumentsError as exc:
        assert str(exc).startswith(f"invalid arguments for tool {name!r}: ")
        return None


@bounded(400)
@given(proposal=proposals())
def test_validate_args_returns_valid_arguments_or_a_tool_arguments_error(
    proposal: tuple[str, dict[str, Any]],
) -> None:
    name, args = proposal
    if name not in BY_NAME:
        return
    validated = _validated(name, args)
    event("valid" if validated is not None else "refused")
    if validated is None:
        return
    # What the runtime journals and hands to Cedar validates again to the same arguments.
    dumped = validated.model_dump(mode="json")
    again = BY_NAME[name].validate_args(dumped).model_dump(mode="json")
    assert _same(again, dumped), (again, dumped)


def _same(a: JsonValue, b: JsonValue) -> bool:
    """Equality that counts NaN equal to NaN (the float validators let NaN through)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


# Real runs


@pytest.fixture
def signer(tmp_path: Path) -> JournalSigner:
    return load_or_create_signer(tmp_path / "keys" / "journal.pem")


@pytest.fixture
def runner(tmp_path: Path, signer: JournalSigner) -> Iterator[Runner]:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}", signer)
    running = Runner(journal)
    yield running
    running.close()
    journal.close()


def _received_matches(name: str, received: dict[str, Any], validated: BaseModel) -> None:
    """The function got exactly the validated values, with the types its signature names."""
    expected = dict(validated)
    received = {k: v for k, v in received.items() if k != "idempotency_key"}
    assert received.keys() == expected.keys()
    for key, value in received.items():
        assert type(value) is type(expected[key]), (name, key, value)
        assert _same(value, expected[key]) or value == expected[key], (name, key, value)
    if name == "refund_order":
        assert isinstance(received["reason"], Reason)
    if name == "ship_order":
        assert isinstance(received["address"], Address)
        assert all(isinstance(line, Line) and 1 <= line.qty <= 100 for line in received["lines"])


@bounded(150)
@given(proposal=proposals())
@example(proposal=("refund_order", {"order_id": 7, "amount_cents": 9000, "reason": "late"}))
@example(proposal=("tag_order", {"order_id": 1, "scores": {"a": float("nan")}, "meta": "review"}))
@example(proposal=("lookup_order", {"order_id": "\ud800"}))
@example(proposal=("tag_order", {"order_id": 1, "scores": {"\ud800": 1.0}, "meta": "x\udfff"}))
@example(proposal=("ship_order", {"order_id": 2**70, "address": {}, "lines": []}))
def test_a_fuzzed_call_never_crashes_a_run_and_runs_only_with_valid_arguments(
    runner: Runner, proposal: tuple[str, dict[str, Any]]
) -> None:
    name, args = proposal
    calls.clear()
    agent = make_agent(
        TOOLS, ScriptedReasoner([ToolCall(name, args), respond("done")]), charter=CHARTER
    )

    run = runner.run(agent, "handle the order", actor="sam")

    validated = _validated(name, args) if name in BY_NAME else None
    decided = [r.payload for r in runner.journal.records(run.run_id) if r.kind == "step.decided"]
    if validated is None:
        event("unknown tool" if name not in BY_NAME else "invalid arguments")
        assert calls == []
        assert decided == []  # nothing to govern: the reasoner is told what was wrong
        assert run.status == "completed", run.error
    elif run.status == "waiting":
        event("approved")
        assert calls == []
        runner.approvals.approve(str(run.waiting_for), "dana", "fuzzed")
        run = runner.resume(agent, run.run_id, actor="dana")
        assert run.status == "completed", run.error
        assert [c[0] for c in calls] == [name]
        _received_matches(name, calls[0][1], validated)
    else:
        (decision,) = decided
        assert run.status == "completed", run.error
        if decision["verdict"] == "allow":
            event("ran")
            assert [c[0] for c in calls] == [name]
            _received_matches(name, calls[0][1], validated)
        else:
            event(f"verdict {decision['verdict']}")
            assert calls == []
    report = runner.journal.verify()
    assert report.ok, report.problems
    assert report.signed_through == report.head_seq  # each run ends with a signed checkpoint


def test_arguments_that_are_not_unicode_text_are_refused() -> None:
    refused: list[dict[str, Any]] = [
        {"order_id": 1, "scores": {"\ud800": 1.0}},  # a dict key the JSON form would mangle
        {"order_id": 1, "scores": {}, "meta": {"note": "a\udfffb"}},
        {"order_id": 1, "scores": {}, "meta": ["\ud800"]},
    ]
    for args in refused:
        with pytest.raises(ToolArgumentsError, match=r"\(arguments\): not Unicode text"):
            tag_order.validate_args(args)


def test_a_proposal_that_is_not_unicode_text_is_journaled_with_replacement_characters(
    runner: Runner,
) -> None:
    script = [ToolCall("lookup_order", {"order_id": "\ud800", "note\udfff": 1}), respond("ok")]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)

    run = runner.run(agent, "look \ud800 up")

    assert run.status == "completed", run.error
    records = list(runner.journal.records(run.run_id))
    assert records[0].payload["goal"] == "look \ufffd up"
    proposed = next(r for r in records if r.kind == "step.proposed").payload
    assert proposed["action"]["args"] == {"order_id": "\ufffd", "note\ufffd": 1}
    assert runner.journal.verify().ok
