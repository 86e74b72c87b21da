"""Checking a stored payload against its kind's model (:mod:`charter.journal._kinds`).

The models are TypedDicts, which Python does not check at run time; :func:`parse_payload`
does, from their annotations: every required key present, no key the model does not
declare, each value of a declared type (nested models checked too). Appends never call
it (a writer's payload is checked by pyright where it is built); ``charter audit``-style
tooling and the tests that read journals written by earlier versions do.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints
from typing import is_typeddict as _is_typeddict

from charter.journal._kinds import MODELS


class PayloadShapeError(ValueError):
    """A payload that is not what its kind's model says.

    Attributes:
        kind: the record's kind.
        path: where in the payload (``args.to``), empty for the payload itself.
        detail: what is wrong there.
    """

    def __init__(self, kind: str, path: str, detail: str) -> None:
        """Name the kind, the place and the fault."""
        self.kind, self.path, self.detail = kind, path, detail
        where = f" at {path!r}" if path else ""
        super().__init__(f"{kind} payload{where}: {detail}")


@cache
def _fields(model: type) -> dict[str, tuple[Any, bool]]:
    """Each declared key of ``model``: its type and whether it is required.

    Required-ness is read off the annotations (every model is total; a key is optional
    when marked ``NotRequired``): with postponed annotations, Python 3.11's own
    ``__required_keys__`` takes every key for required.
    """
    found: dict[str, tuple[Any, bool]] = {}
    for name, hint in get_type_hints(model, include_extras=True).items():
        required = True
        while get_origin(hint) in (Required, NotRequired):
            required = get_origin(hint) is Required
            hint = get_args(hint)[0]
        found[name] = (hint, required)
    return found


def _shown(value: object) -> str:
    return json.dumps(value, default=str)[:40]


def _check(kind: str, path: str, hint: Any, value: object) -> None:
    """Raise unless ``value`` is of type ``hint``."""
    origin = get_origin(hint)
    if hint is Any or hint is object:
        return
    if origin is Union or origin is types.UnionType:
        problems: list[PayloadShapeError] = []
        for option in get_args(hint):
            try:
                _check(kind, path, option, value)
            except PayloadShapeError as exc:
                problems.append(exc)
            else:
                return
        detail = " or ".join(p.detail for p in problems)
        raise PayloadShapeError(kind, path, detail)
    if origin is Literal:
        if value not in get_args(hint) or isinstance(value, bool) != isinstance(
            get_args(hint)[0], bool
        ):
            raise PayloadShapeError(kind, path, f"{_shown(value)} is not one of {get_args(hint)}")
        return
    if hint is None or hint is type(None):
        if value is not None:
            raise PayloadShapeError(kind, path, f"{_shown(value)} is not null")
        return
    if _is_typeddict(hint):
        if not isinstance(value, dict):
            raise PayloadShapeError(kind, path, f"{_shown(value)} is not an object")
        fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        _check_object(kind, path, hint, fields)
        return
    expected = origin or hint
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected in (dict, Mapping):
        ok = isinstance(value, dict)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise PayloadShapeError(
            kind, path, f"{_shown(value)} is not {getattr(hint, '__name__', hint)}"
        )
    arguments = get_args(hint)
    if expected is list and arguments:
        items: list[Any] = value  # pyright: ignore[reportAssignmentType]
        for index, item in enumerate(items):
            _check(kind, f"{path}.{index}" if path else str(index), arguments[0], item)
    elif expected in (dict, Mapping) and len(arguments) == 2:
        entries: dict[str, Any] = value  # pyright: ignore[reportAssignmentType]
        for key, item in entries.items():
            _check(kind, f"{path}.{key}" if path else key, arguments[1], item)


def _check_object(kind: str, path: str, model: type, value: dict[str, Any]) -> None:
    fields = _fields(model)
    for name, (hint, required) in fields.items():
        where = f"{path}.{name}" if path else name
        if name not in value:
            if required:
                raise PayloadShapeError(kind, where, "missing")
            continue
        _check(kind, where, hint, value[name])
    unknown = [name for name in value if name not in fields]
    if unknown:
        raise PayloadShapeError(kind, path, f"keys the model does not declare: {unknown}")


def parse_payload(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` checked against ``kind``'s model, as a new dict of the keys the model
    declares (every key, when it passes: nothing is dropped silently).

    Raises:
        PayloadShapeError: ``kind`` has no model, or the payload does not fit it.
    """
    model = MODELS.get(kind)
    if model is None:
        raise PayloadShapeError(kind, "", "no model is registered for this kind")
    if not isinstance(payload, dict):
        raise PayloadShapeError(kind, "", "the payload is not an object")
    fields: dict[str, Any] = dict(payload)  # pyright: ignore[reportUnknownArgumentType]
    _check_object(kind, "", model, fields)
    return {name: fields[name] for name in _fields(model) if name in fields}
