"""Field-level output labels: the label of every value a tool's output holds.

A contract labels output fields by path (:attr:`ToolContract.fields`):
``messages[].sender: trusted``, ``messages[].body: untrusted``. A path names a field and
everything under it; ``[]`` is every element of a list; the longest declared path that
covers a value decides its label, the tool's own label the default. A declared label names
a trust, a confidentiality or both; the part it does not name is the tool's.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from charter.policy._flow import Label

if TYPE_CHECKING:
    from charter.tools import ToolContract

Leaf = tuple[str, Any, Label]
"""``(path, value, label)`` of one scalar in an output (``messages[].sender``)."""


def tool_label(contract: ToolContract) -> Label:
    """The label of a tool's output where no field label says otherwise."""
    return Label(contract.trust, contract.confidentiality)


@functools.lru_cache(maxsize=1024)
def _declared(contract: ToolContract) -> tuple[tuple[str, Label], ...]:
    """The contract's field labels, longest path first, parts filled from the tool's."""
    from charter.tools._tool import check_field_label

    base = tool_label(contract)
    declared: list[tuple[str, Label]] = []
    for path, words in contract.fields:
        trust, confidentiality = check_field_label(path, words)
        declared.append(
            (
                path,
                Label(
                    cast(Any, trust or base.trust),
                    cast(Any, confidentiality or base.confidentiality),
                ),
            )
        )
    declared.sort(key=lambda item: -len(item[0]))
    return tuple(declared)


def field_label(contract: ToolContract, path: str) -> Label:
    """The label of the output value at ``path`` (``channels[].name``)."""
    for declared, label in _declared(contract):
        if path == declared or (path.startswith(declared) and path[len(declared)] in ".["):
            return label
    return tool_label(contract)


def _scalars(value: Any, path: str, into: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Append every scalar of ``value`` with its path to ``into``, in document order
    (one list built in place: a chain of nested generators costs a frame per level per
    value, on every output a governed call records)."""
    if isinstance(value, dict):
        for key, item in cast(dict[Any, Any], value).items():
            _scalars(item, f"{path}.{key}" if path else str(key), into)
    elif isinstance(value, (list, tuple)):
        inner = f"{path}[]"
        for item in cast(list[Any], value):
            _scalars(item, inner, into)
    else:
        into.append((path, value))
    return into


def label_output(contract: ToolContract, content: Any) -> list[Leaf]:
    """Every scalar of ``content`` (a tool's JSON-ready output) with its path and label."""
    found = _scalars(content, "", [])
    if not contract.fields:
        label = tool_label(contract)
        return [(path, value, label) for path, value in found]
    return [(path, value, field_label(contract, path)) for path, value in found]


def widest_label(contract: ToolContract) -> Label:
    """The join of the tool's label and every field label: what an output whose fields
    cannot be told apart (an error message, a cut rendering) carries."""
    joined = tool_label(contract)
    for _, label in _declared(contract):
        joined = joined.join(label)
    return joined
