"""Goal-designated sources: the item a trusted goal points at, found in what the run read.

"Reply to Bob's email about the team lunch", "pay the invoice in invoice-may.pdf",
"refund Alex": the goal names no address or account, but it designates one item whose
own structured field holds it (that email's ``sender``, that invoice's ``iban``, that
payee's ``iban``). A scope rule's ``bind`` says, from the goal alone and before anything
is read, which field of which tools' outputs an argument must come from and how the goal
designates the item (``where``: fields of the item that hold words the goal names)::

    bind:
      send_email.to:
        - from: [read_email.sender, list_inbox[].sender]
          where: {sender_name: "{who}", subject: "{topic}"}

As the run reads, every item of those outputs the ``where`` words designate is a
candidate, kept with the step and field it was read at. The argument is bound when the
candidates agree on one item's value (the same email seen in the listing and opened is
one item); values from any other item (another email, a saved payee list) do not satisfy
the binding, and two different items the goal's words fit (a look-alike email from
another sender) designate nothing: ambiguous, fail closed. Nothing read yet designates
nothing either.

A ``from`` path is ``tool.path`` in the syntax of field labels (``[]`` for every element
of a list); the tool's name ends at the first ``.`` or ``[``. A list field binds each of
its elements (the addresses of an attendee list). A ``where`` field is looked up in the
object holding the bound field, then in each object enclosing it (an invoice's ``iban``
inside a file whose ``name`` the goal gives); its text must hold the goal's words whole,
case-insensitively (a list field: one of its elements).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

_TOOL = re.compile(r"^[A-Za-z_][\w-]*(?=[.\[])")
_PIECE = re.compile(r"^(?:[\w-]+)?(?:\[\])*$")


def split_source(source: str) -> tuple[str, str]:
    """``("tool", "path")`` of a ``from`` entry (``list_payees[].iban``), or a ValueError."""
    found = _TOOL.match(source)
    path = source[found.end() :].removeprefix(".") if found else ""
    pieces = path.split(".")
    if (
        found is None
        or not path
        or path.endswith("[]")
        or not all(piece and _PIECE.match(piece) for piece in pieces)
    ):
        raise ValueError(
            f"{source!r} is not tool.field (read_email.sender, list_payees[].iban): a tool "
            "name, then the path of a field of its output"
        )
    return found[0], path


class Binding(BaseModel):
    """Where a bound argument's value must come from: a field of the designated item."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sources: tuple[str, ...] = Field(alias="from", min_length=1)
    """``tool.path`` of the output fields that may hold the value."""
    where: dict[str, str] = Field(default_factory=lambda: {})
    """Field of the item → words of the goal (``{group}``) it must hold."""

    @field_validator("sources")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for source in value:
            split_source(source)
        return value

    def to_json(self) -> dict[str, Any]:
        """As journaled (``from``, ``where``)."""
        return {"from": list(self.sources), "where": dict(self.where)}


class Designation(BaseModel):
    """What a binding designates in what the run has read so far."""

    model_config = ConfigDict(frozen=True)

    values: tuple[str, ...] = ()
    """Canonical values of the designated item's field (empty: nothing designated)."""
    read_at: tuple[tuple[int, str], ...] = ()
    """``(step, "tool.path")`` where the designated item's field was read."""
    problem: str = ""
    """Why nothing is designated (nothing read yet, or several items fit)."""


def _holds(field: Any, words: str) -> bool:
    """Whether ``field`` (text, or a list of texts) holds ``words`` whole, case-folded."""
    if isinstance(field, list):
        return any(_holds(item, words) for item in cast(list[Any], field))
    if not isinstance(field, (str, int, float)) or isinstance(field, bool) or not words:
        return False
    pattern = rf"(?<![\w]){re.escape(words.casefold())}(?![\w])"
    return re.search(pattern, str(field).casefold()) is not None


def _items(
    value: Any, parts: Sequence[str], chain: tuple[dict[str, Any], ...]
) -> Iterator[tuple[Any, tuple[dict[str, Any], ...]]]:
    """Each value at the path ``parts`` under ``value``, with the objects enclosing it
    (nearest first)."""
    if not parts:
        yield value, chain
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(value, list):
            for item in cast(list[Any], value):
                yield from _items(item, rest, chain)
        return
    if isinstance(value, dict):
        mapping = cast(dict[str, Any], value)
        if head in mapping:
            yield from _items(mapping[head], rest, (mapping, *chain))


def _parts(path: str) -> list[str]:
    parts: list[str] = []
    for piece in path.split("."):
        name, brackets = piece.replace("[]", ""), piece.count("[]")
        if name:
            parts.append(name)
        parts.extend(["[]"] * brackets)
    return parts


def _lookup(chain: tuple[dict[str, Any], ...], name: str) -> Any:
    for mapping in chain:
        if name in mapping:
            return mapping[name]
    return None


def designate(
    binding: Binding,
    outputs: Mapping[int, tuple[str, Any]],
    canonical: Callable[[Any], str | None],
) -> Designation:
    """What ``binding`` designates among ``outputs`` (step → (tool name, JSON content)),
    values compared in their ``canonical`` form."""
    if any("\0" in words for words in binding.where.values()):
        return Designation(problem="the goal does not name what designates the item")
    items: dict[frozenset[str], list[tuple[int, str]]] = {}
    for source in binding.sources:
        tool_name, path = split_source(source)
        for step, (name, content) in sorted(outputs.items()):
            if name != tool_name:
                continue
            for value, chain in _items(content, _parts(path), ()):
                if not all(_holds(_lookup(chain, f), w) for f, w in binding.where.items()):
                    continue
                elements = cast(list[Any], value) if isinstance(value, list) else [value]
                held = frozenset(k for k in map(canonical, elements) if k is not None)
                if held:
                    items.setdefault(held, []).append((step, source))
    where = ", ".join(f"{f} holding {w!r}" for f, w in binding.where.items())
    described = f"{' or '.join(binding.sources)}{f' of the item with {where}' if where else ''}"
    if not items:
        return Designation(problem=f"nothing read yet is {described}")
    if len(items) > 1:
        return Designation(
            problem=f"{len(items)} different items fit {described} (ambiguous: none is bound)"
        )
    [(values, read_at)] = items.items()
    return Designation(values=tuple(sorted(values)), read_at=tuple(sorted(read_at)))
