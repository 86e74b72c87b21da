"""Tests for the ``@tool`` decorator, tool contracts, schemas, validation and invocation."""

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel

from charter.tools import Tool, ToolArgumentsError, ToolContract, tool


class OrderSummary(BaseModel):
    order_id: int
    status: str
    placed: dt.date


def lookup_order(order_id: int, verbose: bool = False) -> dict[str, Any]:
    """Look up an order by its id.

    Returns the order's status. This second paragraph is not shown to reasoners.
    """
    return {"order_id": order_id, "verbose": verbose}


# --- @tool bare and with contract fields ------------------------------------------------


def test_bare_decorator_builds_a_tool_named_after_the_function() -> None:
    built = tool(lookup_order)

    assert isinstance(built, Tool)
    assert built.name == "lookup_order"
    assert built.fn is lookup_order


def test_bare_decorator_gives_the_default_read_only_contract() -> None:
    built = tool(lookup_order)

    assert built.contract == ToolContract()
    assert built.contract.side_effect == "read"
    assert built.contract.timeout_s == 30.0
    assert built.compensate is None


def test_decorator_with_contract_fields_records_them() -> None:
    @tool(
        name="refund",
        side_effect="write",
        reads=("customer.pii",),
        trust="untrusted",
        confidentiality="pii",
        idempotent=True,
        cost_usd=0.25,
        timeout_s=5.0,
        owner="payments",
    )
    def refund_order(order_id: int) -> None:
        """Refund an order."""

    assert refund_order.name == "refund"
    assert refund_order.contract == ToolContract(
        side_effect="write",
        reads=("customer.pii",),
        trust="untrusted",
        confidentiality="pii",
        idempotent=True,
        cost_usd=0.25,
        timeout_s=5.0,
        owner="payments",
    )


def test_decorator_accepts_no_timeout() -> None:
    @tool(timeout_s=None)
    def slow() -> None:
        """Slow."""

    assert slow.contract.timeout_s is None


# --- schema derived from the signature ----------------------------------------------------


def test_schema_marks_parameters_without_defaults_as_required() -> None:
    @tool
    def search(query: str, limit: int = 10, exact: bool = False) -> list[str]:
        """Search."""
        return []

    schema = search.parameters_schema()

    assert schema["required"] == ["query"]
    assert list(schema["properties"]) == ["query", "limit", "exact"]


def test_schema_carries_types_and_defaults() -> None:
    @tool
    def search(
        query: str, tags: list[str], limit: int = 10, ratio: float = 0.5, note: str | None = None
    ) -> list[str]:
        """Search."""
        return []

    props = search.parameters_schema()["properties"]

    assert props["query"]["type"] == "string"
    assert props["tags"]["type"] == "array"
    assert props["tags"]["items"] == {"type": "string"}
    assert props["limit"]["type"] == "integer"
    assert props["limit"]["default"] == 10
    assert props["ratio"]["type"] == "number"
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["note"]["default"] is None


def test_schema_is_an_object_without_title_that_forbids_extra_properties() -> None:
    schema = tool(lookup_order).parameters_schema()

    assert schema["type"] == "object"
    assert "title" not in schema
    assert schema["additionalProperties"] is False


def test_unannotated_parameter_accepts_any_value() -> None:
    @tool  # pyright: ignore[reportUnknownArgumentType]  (the parameter under test is untyped)
    def echo(value, times: int = 1):  # type: ignore[no-untyped-def]
        """Echo."""
        return value  # pyright: ignore[reportUnknownVariableType]

    validated = echo.validate_args({"value": {"nested": [1, "two"]}})

    assert dict(validated) == {"value": {"nested": [1, "two"]}, "times": 1}
    assert echo.parameters_schema()["required"] == ["value"]


def test_tool_without_parameters_has_an_empty_schema() -> None:
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    schema = ping.parameters_schema()

    assert schema["properties"] == {}
    assert "required" not in schema


# --- description ---------------------------------------------------------------------------


def test_description_is_the_first_paragraph_of_the_docstring() -> None:
    assert tool(lookup_order).description == "Look up an order by its id."


def test_description_joins_a_multi_line_first_paragraph_into_one_line() -> None:
    @tool
    def cancel(order_id: int) -> None:
        """Cancel an order
        that has not shipped yet.

        Details for developers.
        """

    assert cancel.description == "Cancel an order that has not shipped yet."


def test_explicit_description_overrides_the_docstring() -> None:
    built = tool(description="Find an order.")(lookup_order)

    assert built.description == "Find an order."


def test_description_falls_back_to_the_tool_name_without_a_docstring() -> None:
    @tool
    def undocumented(x: int) -> int:
        return x

    assert undocumented.description == "undocumented"


# --- validate_args ---------------------------------------------------------------------------


def test_validate_args_returns_a_model_with_defaults_filled() -> None:
    validated = tool(lookup_order).validate_args({"order_id": 1042})

    assert dict(validated) == {"order_id": 1042, "verbose": False}


def test_validate_args_rejects_a_missing_field_naming_tool_and_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        tool(lookup_order).validate_args({"verbose": True})

    message = str(info.value)
    assert "'lookup_order'" in message
    assert "order_id: Field required" in message


def test_validate_args_rejects_an_extra_field_naming_it() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        tool(lookup_order).validate_args({"order_id": 1, "customer": "x"})

    message = str(info.value)
    assert "'lookup_order'" in message
    assert "customer: Extra inputs are not permitted" in message


def test_validate_args_rejects_a_wrongly_typed_field_naming_it() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        tool(lookup_order).validate_args({"order_id": "not-a-number"})

    message = str(info.value)
    assert "'lookup_order'" in message
    assert "order_id: Input should be a valid integer" in message


def test_validate_args_reports_every_bad_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        tool(lookup_order).validate_args({"verbose": "maybe", "extra": 1})

    message = str(info.value)
    assert "order_id:" in message
    assert "verbose:" in message
    assert "extra:" in message


def test_validate_args_names_the_nested_location_of_a_bad_item() -> None:
    @tool
    def tag(order_id: int, labels: list[int]) -> None:
        """Tag."""

    with pytest.raises(ToolArgumentsError, match=r"labels\.1: Input should be a valid integer"):
        tag.validate_args({"order_id": 1, "labels": [1, "x"]})


def test_tool_arguments_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        tool(lookup_order).validate_args({})


# --- invoke ----------------------------------------------------------------------------------


def test_invoke_calls_the_function_with_validated_keyword_arguments() -> None:
    built = tool(lookup_order)

    result = built.invoke(built.validate_args({"order_id": 7, "verbose": True}))

    assert result == {"order_id": 7, "verbose": True}


def test_invoke_serialises_a_pydantic_result_declared_as_the_return_type() -> None:
    @tool
    def summary(order_id: int) -> OrderSummary:
        """Summary."""
        return OrderSummary(order_id=order_id, status="shipped", placed=dt.date(2024, 5, 1))

    result = summary.invoke(summary.validate_args({"order_id": 3}))

    assert result == {"order_id": 3, "status": "shipped", "placed": "2024-05-01"}


def test_invoke_serialises_a_pydantic_result_without_a_return_annotation() -> None:
    @tool
    def summary(order_id: int):  # type: ignore[no-untyped-def]
        """Summary."""
        return OrderSummary(order_id=order_id, status="open", placed=dt.date(2023, 1, 2))

    assert summary.result_adapter is None
    result = summary.invoke(summary.validate_args({"order_id": 4}))

    assert result == {"order_id": 4, "status": "open", "placed": "2023-01-02"}


def test_invoke_uses_the_return_type_to_make_values_json_ready() -> None:
    @tool
    def dates(n: int) -> dict[str, list[dt.date]]:
        """Dates."""
        return {"days": [dt.date(2024, 1, d) for d in range(1, n + 1)]}

    result = dates.invoke(dates.validate_args({"n": 2}))

    assert result == {"days": ["2024-01-01", "2024-01-02"]}


def test_invoke_returns_plain_results_unchanged_without_a_return_type() -> None:
    @tool
    def plain(x: int):  # type: ignore[no-untyped-def]
        """Plain."""
        return [x, "y"]

    assert plain.invoke(plain.validate_args({"x": 1})) == [1, "y"]


def test_none_return_annotation_has_no_result_adapter() -> None:
    @tool
    def fire(x: int) -> None:
        """Fire."""

    assert fire.result_adapter is None
    assert fire.invoke(fire.validate_args({"x": 1})) is None


def test_invoke_passes_pydantic_arguments_as_model_instances() -> None:
    seen: list[Any] = []

    @tool
    def store(summary: OrderSummary) -> None:
        """Store."""
        seen.append(summary)

    store.invoke(
        store.validate_args({"summary": {"order_id": 1, "status": "open", "placed": "2024-02-03"}})
    )

    assert seen == [OrderSummary(order_id=1, status="open", placed=dt.date(2024, 2, 3))]


# --- rejected definitions --------------------------------------------------------------------


def test_var_positional_functions_are_rejected() -> None:
    def gather(*items: int) -> int:
        """Gather."""
        return sum(items)

    with pytest.raises(TypeError, match=r"tool 'gather': \*args/\*\*kwargs"):
        tool(gather)


def test_var_keyword_functions_are_rejected() -> None:
    def configure(**options: str) -> None:
        """Configure."""

    with pytest.raises(TypeError, match="'configure'"):
        tool(configure)


def test_invalid_side_effect_is_rejected() -> None:
    with pytest.raises(ValueError, match="side_effect must be one of read, write, external"):
        tool(side_effect="delete")(lookup_order)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_non_positive_timeout_is_rejected(timeout: float) -> None:
    with pytest.raises(ValueError, match=f"timeout_s must be positive or None; got {timeout}"):
        tool(timeout_s=timeout)(lookup_order)


def test_contract_rejects_invalid_side_effect_directly() -> None:
    with pytest.raises(ValueError, match="'erase'"):
        ToolContract(side_effect="erase")  # type: ignore[arg-type]


# --- reversibility ---------------------------------------------------------------------------


def test_tool_without_compensate_is_not_reversible() -> None:
    assert tool(side_effect="write")(lookup_order).reversible is False


def test_tool_with_compensate_is_reversible() -> None:
    def undo(order_id: int) -> None:
        """Undo."""

    built = tool(side_effect="write", compensate=undo)(lookup_order)

    assert built.reversible is True
    assert built.compensate is undo


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trust": "semi"}, "trust must be trusted or untrusted; got 'semi'"),
        ({"confidentiality": "classified"}, "confidentiality must be one of"),
    ],
)
def test_unknown_output_labels_are_refused(options: dict[str, str], message: str) -> None:
    def lookup(order_id: int) -> int:
        """Look up."""
        return order_id

    with pytest.raises(ValueError, match=message):
        tool(**options)(lookup)  # type: ignore[call-overload]


@tool
def book(room: str, when: dt.date, guests: int = 1) -> str:
    """Book a room."""
    return f"{room} {when} {guests}"


def test_validate_call_gives_the_arguments_json_ready_as_validated() -> None:
    validated, dumped = book.validate_call({"room": "a", "when": "2026-03-04"})

    assert dumped == {"room": "a", "when": "2026-03-04", "guests": 1}
    assert dumped == validated.model_dump(mode="json")
    assert book.invoke(validated) == "a 2026-03-04 1"


@pytest.mark.parametrize("args", [{"room": "\ud800", "when": "2026-03-04"}, {"room": 3}])
def test_validate_call_refuses_what_validate_args_refuses(args: dict[str, Any]) -> None:
    with pytest.raises(ToolArgumentsError) as refused:
        book.validate_args(args)
    with pytest.raises(ToolArgumentsError) as also:
        book.validate_call(args)

    assert str(also.value) == str(refused.value)


def test_arguments_of_a_model_with_extra_fields_carry_them() -> None:
    class Loose(BaseModel, extra="allow"):
        room: str

    def given(**kwargs: Any) -> list[tuple[str, Any]]:
        return sorted(kwargs.items())

    loose = Tool(
        name="loose",
        description="",
        fn=given,
        args_model=Loose,
        contract=ToolContract(),
    )
    validated = Loose.model_validate({"room": "a", "floor": 2})

    assert loose.arguments(validated, None) == {"room": "a", "floor": 2}


@pytest.mark.parametrize(
    "args",
    [
        {"room": "x\udc80y", "when": "2026-03-04"},
        {"room": "é\ud800", "when": "2026-03-04"},
    ],
)
def test_a_lone_surrogate_is_refused_beside_other_text(args: dict[str, Any]) -> None:
    with pytest.raises(ToolArgumentsError, match="not Unicode text"):
        book.validate_call(args)


def test_plain_ascii_arguments_and_other_unicode_text_are_accepted() -> None:
    for room in ("a", "é", "\U0001f600"):
        _, dumped = book.validate_call({"room": room, "when": "2026-03-04", "guests": 2})
        assert dumped["room"] == room


class _Nested(BaseModel):
    scores: dict[str, float] = {}
    meta: dict[str, Any] | None = None


def _nested(**kwargs: Any) -> None:
    return None


nested = Tool(
    name="nested", description="", fn=_nested, args_model=_Nested, contract=ToolContract()
)


@pytest.mark.parametrize(
    "args",
    [
        {"scores": {"\ud800": 0.0}},  # JSON-mode dumping replaces it: the tool would not
        {"meta": {"\ud800": None}},  # JSON-mode dumping raises on it
        {"meta": {"a": ["\udc80"]}},
    ],
)
def test_a_lone_surrogate_in_a_nested_key_or_value_is_refused(args: dict[str, Any]) -> None:
    with pytest.raises(ToolArgumentsError, match="not Unicode text"):
        nested.validate_call(args)
    with pytest.raises(ToolArgumentsError, match="not Unicode text"):
        nested.validate_args(args)


def test_nested_unicode_arguments_are_dumped_as_given() -> None:
    _, dumped = nested.validate_call({"scores": {"é": 1.5}, "meta": {"k": ["\U0001f600"]}})
    assert dumped == {"scores": {"é": 1.5}, "meta": {"k": ["\U0001f600"]}}
