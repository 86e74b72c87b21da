"""A charter's ``compensations:``: ``module:function`` references checked when the charter
loads, imported only when used, every failure one error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter
from charter.errors import ConfigError


def _charter(**compensations: str) -> Charter:
    return Charter.model_validate(
        {
            "name": "desk",
            "contracts": {"refund_order": {"side_effect": "write"}},
            "compensations": compensations,
        }
    )


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "desk_undo.py").write_text(
        "def cancel(result, **args):\n    return 'cancelled'\n\nNOT_CALLABLE = 3\n"
    )
    (tmp_path / "desk_broken.py").write_text("raise RuntimeError('half-written module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "desk_undo"


def test_a_reference_is_imported_when_asked_for(module: str) -> None:
    undo = _charter(refund_order=f"{module}:cancel").compensation_callables()
    assert undo["refund_order"](result=None, order_id=1) == "cancelled"


@pytest.mark.parametrize(
    "reference", ["os.system", "desk_undo:", ":cancel", "desk undo:cancel", "a:b;c", "x:y:z"]
)
def test_a_malformed_reference_does_not_load(reference: str) -> None:
    with pytest.raises(ValueError, match=r"compensations\.refund_order: .* module:function"):
        _charter(refund_order=reference)


def test_a_compensation_for_a_tool_outside_contracts_does_not_load() -> None:
    with pytest.raises(ValueError, match=r"compensations\.wire_money: no such tool"):
        _charter(wire_money="desk_undo:cancel")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("desk_nowhere:cancel", "module 'desk_nowhere' does not import"),
        ("desk_broken:cancel", "RuntimeError: half-written module"),
        ("desk_undo:missing", "'desk_undo' has no 'missing'"),
        ("desk_undo:NOT_CALLABLE", "'desk_undo:NOT_CALLABLE' is not callable"),
    ],
)
def test_a_reference_that_cannot_be_used_is_one_clear_error(
    module: str, reference: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=r"field compensations\.refund_order") as caught:
        _charter(refund_order=reference).compensation_callables()
    assert expected in str(caught.value)


def test_loading_never_imports_the_module(module: str) -> None:
    import sys

    _charter(refund_order="desk_broken:cancel")  # loads; the import would raise
    assert "desk_broken" not in sys.modules
