"""``{goal.x}`` / ``{steps.<id>.result.<path>}`` templates, as the ``rules`` and ``plan``
reasoners write their steps.

A placeholder is a dotted path; ``[n]`` indexes a list (``tiers[0].name`` is
``tiers.0.name``). A template that is exactly one placeholder keeps the value's type; in
longer text a string is inserted as it is and any other value as JSON (``true``, ``null``,
``{"a": 1}``), never as Python's spelling of it. A path that names no value raises
:class:`MissingValueError`; what to do then is the reasoner's choice (a condition is false,
an action stops the procedure and says which value was missing).

Both reasoners check their steps' references when their spec is loaded
(:func:`reference_problem`): a placeholder that names no part of the goal or no earlier
step is refused there, before a run starts, rather than found missing half-way through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.\[\]]*)\}")
"""``{path}``: a name, then names, digits, dots and ``[n]`` indexes."""

_INDEX = re.compile(r"\[(\d+)\]")


class MissingValueError(LookupError):
    """A placeholder names a value the scope does not hold; ``path`` is its text."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path
        """The placeholder's path, as written."""


def path_parts(path: str) -> list[str]:
    """``path`` split into keys; ``tiers[0].name`` and ``tiers.0.name`` give the same."""
    return _INDEX.sub(r".\1", path).split(".")


def placeholders(text: str) -> list[str]:
    """The paths of the placeholders in ``text``, in order."""
    return PLACEHOLDER.findall(text)


def lookup(path: str, scope: Mapping[str, Any]) -> Any:
    """The value at ``path`` in ``scope`` (objects by key, lists by index).

    Raises:
        MissingValueError: a key or an index along the path is not there.
    """
    value: Any = scope
    for part in path_parts(path):
        if isinstance(value, Mapping) and part in value:
            value = cast(Mapping[str, Any], value)[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):  # pyright: ignore[reportUnknownArgumentType]
            value = cast(list[Any], value)[int(part)]
        else:
            raise MissingValueError(path)
    return value


def text_of(value: Any) -> str:
    """``value`` as text in a longer template: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(template: Any, scope: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders substituted from ``scope``; strings inside lists
    and objects too, other values as they are.

    Raises:
        MissingValueError: a placeholder names no value in ``scope``.
    """
    if isinstance(template, dict):
        items = cast(dict[str, Any], template).items()
        return {k: render(v, scope) for k, v in items}
    if isinstance(template, list):
        return [render(v, scope) for v in cast(list[Any], template)]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return lookup(whole.group(1), scope)
    return PLACEHOLDER.sub(lambda m: text_of(lookup(m.group(1), scope)), template)


def reference_problem(
    path: str,
    captures: Iterable[str],
    earlier: Iterable[str],
    fields: Iterable[str] | None = ("result",),
) -> str | None:
    """What is wrong with placeholder ``path`` in a step, or None if it names a value
    that step can read.

    Args:
        path: the placeholder's path.
        captures: the names ``{goal.<name>}`` may use (``text`` and the goal pattern's groups).
        earlier: the ids of the steps before this one.
        fields: what ``{steps.<id>.<field>...}`` may read of an earlier step; None: any
            field (the path past the step id is then checked only when the run reads it).
    """
    parts = path_parts(path)
    known_fields = None if fields is None else tuple(fields)
    if parts[0] == "goal":
        names = set(captures)
        if len(parts) == 2 and parts[1] in names:
            return None
        return f"names no part of the goal; known: {', '.join(f'goal.{c}' for c in sorted(names))}"
    if (
        parts[0] == "steps"
        and len(parts) >= 3
        and (known_fields is None or parts[2] in known_fields)
    ):
        ids = list(earlier)
        if parts[1] in ids:
            return None
        return f"names no earlier step (earlier step ids: {', '.join(ids) or 'none'})"
    shapes = " or ".join(f"{{steps.<id>.{f}...}}" for f in known_fields or ("<field>",))
    return f"must be {{goal.<name>}} or {shapes}"
