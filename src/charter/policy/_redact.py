"""Redaction rules: which values are masked before a model or a tool sees them.

A charter's ``redact`` section lists rules. Each names the tools it covers and what to
mask: output **fields** by path (the contract path syntax: ``email``, ``messages[].sender``),
output fields carrying a **label** (``pii``: field labels from the contract), **patterns**
(presets ``email``, ``phone``, ``iban``, or a named regular expression) matched inside
text, and **argument** paths masked before the tool runs. ``on: [outputs, arguments]``
lets labels and patterns mask arguments too.

.. code-block:: yaml

    redact:
      - id: customer-contact
        tools: [lookup_customer, get_ticket]
        labels: [pii]
        patterns: [email, phone]
        restore: [reply_ticket.body]
        reason: customers' contact details stay out of the model's context

A masked value is replaced by a placeholder such as ``[redacted:email#3f2a9c01]``; a later
call may hand the placeholder back only into an argument the rule's ``restore`` names
(``tool.argument``), where charter puts the real value back right before the tool runs,
labelled as the value it was (the flow rules still judge it). This module finds what to
mask; :mod:`charter.runtime._redaction` makes the placeholders and keeps the values.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter.policy._fields import field_label
from charter.policy._flow import Label

if TYPE_CHECKING:
    from charter.tools import Tool

PRESETS: dict[str, str] = {
    "email": r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?<![\w+(])(?!\d{4}-\d\d-\d\d(?!\d))(?:\+|\()?\d(?:[ ().-]{0,2}\d){6,14}(?!\w)",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
}
"""Built-in patterns by name: an email address, a phone number (7 to 15 digits with the
usual separators; an ISO date is not one), an IBAN (with or without the groups' spaces)."""

LABEL_WORDS = ("trusted", "untrusted", "public", "internal", "pii", "secret")
PLACEHOLDER = re.compile(r"\[redacted:([a-z0-9_-]{1,40})#([0-9a-f]{8}|[0-9a-f]{16})\]")
"""What a placeholder looks like: ``[redacted:<kind>#<tag>]``."""
Where = Literal["outputs", "arguments"]


class NamedPattern(BaseModel):
    """A pattern of the charter's own: a name (the placeholder's kind) and a regex."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    regex: str = Field(min_length=1)


class RedactRule(BaseModel):
    """One redaction rule of a charter's ``redact`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Named in every record of a value it masked (``redact.<id>``)."""
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """Tool name patterns (shell globbing) whose outputs and arguments it masks."""
    on: list[Where] = Field(default_factory=lambda: cast(list[Where], ["outputs"]), min_length=1)
    """Where labels and patterns mask: tool ``outputs`` (before the model sees them)
    and/or ``arguments`` (before the tool runs)."""
    fields: list[str] = Field(default_factory=lambda: [])
    """Output field paths masked whole (``email``, ``messages[].sender``)."""
    args: list[str] = Field(default_factory=lambda: [])
    """Argument paths masked whole before the tool runs (``query``, ``filters.email``)."""
    labels: list[str] = Field(default_factory=lambda: [])
    """Values carrying any of these labels are masked whole (``pii``, ``untrusted``)."""
    patterns: list[str | NamedPattern] = Field(default_factory=lambda: [])
    """Presets (``email``, ``phone``, ``iban``) or ``{name, regex}``, masked inside text."""
    restore: list[str] = Field(default_factory=lambda: [])
    """``tool.argument`` names a placeholder of this rule may be given back into, to be
    replaced by the real value right before that tool runs. Nowhere else."""
    reason: str = ""

    @field_validator("labels")
    @classmethod
    def _label_words(cls, value: list[str]) -> list[str]:
        for word in value:
            if word not in LABEL_WORDS:
                raise ValueError(f"unknown label {word!r}; use one of {', '.join(LABEL_WORDS)}")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str | NamedPattern]) -> list[str | NamedPattern]:
        for index, pattern in enumerate(value):
            if isinstance(pattern, str):
                if pattern not in PRESETS:
                    raise ValueError(
                        f"pattern {index}: unknown preset {pattern!r}; use one of "
                        f"{', '.join(PRESETS)} or {{name, regex}}"
                    )
                continue
            try:
                compiled = re.compile(pattern.regex)
            except re.error as exc:
                raise ValueError(
                    f"pattern {index} ({pattern.name}): invalid regular expression "
                    f"{pattern.regex!r}: {exc}"
                ) from None
            if compiled.match(""):
                raise ValueError(
                    f"pattern {index} ({pattern.name}): regular expression "
                    f"{pattern.regex!r} matches empty text"
                )
        return value

    @field_validator("restore")
    @classmethod
    def _restore_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[^.\s]+\.[^.\s]+", name):
                raise ValueError(f"restore: {name!r} must be tool.argument (reply_ticket.body)")
        return value

    @cached_property
    def compiled(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        """``(kind, regex)`` of each pattern."""
        return tuple(
            (p, re.compile(PRESETS[p])) if isinstance(p, str) else (p.name, re.compile(p.regex))
            for p in self.patterns
        )

    def covers(self, tool: str) -> bool:
        """Whether the rule applies to ``tool``."""
        return any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.tools)


@dataclass(frozen=True, slots=True)
class Match:
    """One value to mask: where it is, what it is, and which rule masks it."""

    rule: str
    path: str
    """Its path in the output or the arguments (``email``, ``body``)."""
    kind: str
    """The placeholder's kind: the pattern's name, or the field's own."""
    value: Any
    """The value itself (never journaled)."""
    span: tuple[int, int] | None = None
    """Where in the text a pattern found it; None: the whole value."""
    leaf: int = 0
    """Which scalar of the value it is in, in :func:`walk` order (paths repeat in lists)."""


def _under(path: str, declared: str) -> bool:
    return path == declared or (path.startswith(declared) and path[len(declared)] in ".[")


def _kind_of(path: str) -> str:
    last = re.split(r"[.\[\]]+", path.strip(".[]"))[-1] if path.strip(".[]") else "value"
    kind = re.sub(r"[^a-z0-9_-]", "-", last.lower())[:40]
    return kind or "value"


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value with its path (``messages[].body``)."""
    if isinstance(value, dict):
        for key, item in cast(dict[Any, Any], value).items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for item in cast(list[Any], value):
            yield from walk(item, f"{path}[]")
    else:
        yield path, value


def _maskable(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""


def _leaf_matches(
    rule: RedactRule, leaf: int, path: str, value: Any, label: Label | None, *, whole: bool
) -> list[Match]:
    if not _maskable(value) or (isinstance(value, str) and PLACEHOLDER.fullmatch(value)):
        return []  # a placeholder handed back is masked already
    if whole or (label is not None and {label.trust, label.confidentiality} & set(rule.labels)):
        return [Match(rule.id, path, _kind_of(path), value, None, leaf)]
    if not isinstance(value, str):
        return []
    hits = [
        (hit.start(), -hit.end(), kind, hit.group())
        for kind, regex in rule.compiled
        for hit in regex.finditer(value)
        if hit.end() > hit.start()
    ]
    # The earliest, then longest, match wins where patterns overlap (an IBAN's digits
    # are not a phone number); text already a placeholder is never matched.
    taken: list[tuple[int, int]] = [hit.span() for hit in PLACEHOLDER.finditer(value)]
    found: list[Match] = []
    for start, end, kind, text in sorted(hits):
        end = -end
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        found.append(Match(rule.id, path, kind, text, (start, end), leaf))
    return sorted(found, key=lambda m: m.span or (0, 0))


def _first_per_leaf(found: list[Match]) -> list[Match]:
    """A value masked whole by one rule is not masked again by the next."""
    whole = {m.leaf for m in found if m.span is None}
    kept: list[Match] = []
    seen_whole: set[int] = set()
    spans: dict[int, list[tuple[int, int]]] = {}
    for match in found:
        if match.span is None:
            if match.leaf in seen_whole:
                continue
            seen_whole.add(match.leaf)
        elif match.leaf in whole:
            continue
        else:  # two rules' patterns overlapping in one text: the first one masks it
            start, end = match.span
            taken = spans.setdefault(match.leaf, [])
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append(match.span)
        kept.append(match)
    return sorted(kept, key=lambda m: (m.leaf, m.span or (0, 0)))


def find_in_output(rules: list[RedactRule], tool: Tool, content: Any) -> list[Match]:
    """What the ``rules`` mask in ``tool``'s output ``content`` (a JSON-ready value or
    text), each leaf labelled as the contract labels its field."""
    found: list[Match] = []
    for rule in rules:
        if "outputs" not in rule.on or not rule.covers(tool.name):
            continue
        for leaf, (path, value) in enumerate(walk(content)):
            whole = any(_under(path, f) for f in rule.fields)
            label = field_label(tool.contract, path) if rule.labels else None
            found.extend(_leaf_matches(rule, leaf, path, value, label, whole=whole))
    return _first_per_leaf(found)


def find_in_args(
    rules: list[RedactRule],
    tool: Tool | str,
    args: Mapping[str, Any],
    labels: Mapping[str, Label],
    keep: frozenset[str] = frozenset(),
) -> list[Match]:
    """What the ``rules`` mask in a call's arguments before ``tool`` runs: their argument
    paths, and with ``on: [arguments]`` their labels (each argument's) and patterns.
    Arguments in ``keep`` (real values a placeholder was restored into) are left alone.
    ``tool``: the tool, or the name a call gave (a tool the agent does not have)."""
    name = tool if isinstance(tool, str) else tool.name
    found: list[Match] = []
    for rule in rules:
        if not rule.covers(name):
            continue
        in_args = "arguments" in rule.on
        if not rule.args and not in_args:
            continue
        for leaf, (path, value) in enumerate(walk(dict(args))):
            top = re.split(r"[.\[]", path, maxsplit=1)[0]
            if top in keep:
                continue
            whole = any(_under(path, a) for a in rule.args)
            if not whole and not in_args:
                continue
            label = labels.get(top) if in_args and rule.labels else None
            found.extend(_leaf_matches(rule, leaf, path, value, label, whole=whole))
    return _first_per_leaf(found)
