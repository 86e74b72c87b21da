"""Tool poisoning: descriptions that speak to the model instead of describing a tool.

A server's tool descriptions (and its parameters' descriptions and titles) reach the
model's context verbatim, so a hostile or compromised server can hide instructions in
them. :func:`poison_flags` looks for the usual shapes and ``charter mcp lock`` / ``diff``
show them to the operator, who must pass ``--accept-flagged`` to pin such a tool.

Limits: these are heuristics over English text. They catch the published attack shapes
(hidden ``<IMPORTANT>`` tags, "ignore previous instructions", requests to read keys or
files, to send data elsewhere, to keep something from the user, invisible or bidirectional
Unicode, very long descriptions) and flag some honest text too; a paraphrase in another
language, or an instruction spread over a schema's enum values, can pass. They are a
reviewer's aid, not the defence: pinning (nothing changes unseen) and the charter's flow
rules on untrusted outputs are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any, cast

MAX_DESCRIPTION = 1024
"""Characters of one description beyond which it is flagged as too long to review."""

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "hidden tag",
        re.compile(r"<\s*/?\s*(important|system|instructions?|secret|hidden|admin)\b", re.I),
    ),
    (
        "overrides instructions",
        re.compile(
            r"\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|"
            r"other|all)\b.{0,20}\b(instructions?|rules|prompts?|tools?)",
            re.I | re.S,
        ),
    ),
    (
        "addresses the model",
        re.compile(
            r"\b(you must|you should always|before using this tool|before calling|"
            r"as an ai|assistant must|the assistant|do not (tell|mention|inform)|"
            r"don't (tell|mention)|without (telling|informing))\b",
            re.I,
        ),
    ),
    (
        "asks for secrets or files",
        re.compile(
            r"(~/|\.ssh|id_rsa|\.env\b|\.aws|credentials|api[_ -]?keys?|private key|"
            r"passwords?|/etc/passwd|secret[_ ]?key|tokens?\b.{0,20}\b(read|send|include))",
            re.I,
        ),
    ),
    (
        "sends data elsewhere",
        re.compile(
            r"\b(send|forward|copy|bcc|cc|post|upload|exfiltrate)\b.{0,60}"
            r"(\b[\w.+-]+@[\w-]+\.[\w.]+|https?://)",
            re.I | re.S,
        ),
    ),
    (
        "always-do instruction",
        re.compile(r"\b(always|never)\b.{0,30}\b(also|first|instead)\b", re.I),
    ),
)


def poison_flags(definition: dict[str, Any]) -> list[str]:
    """Why a tool's definition looks like it carries instructions for the model; empty
    when nothing was found. Each item names the field and the shape found."""
    flags: list[str] = []
    for where, text in _texts(definition):
        if len(text) > MAX_DESCRIPTION:
            flags.append(f"{where}: {len(text)} characters (over {MAX_DESCRIPTION})")
        odd = sorted({f"U+{ord(c):04X}" for c in text if _invisible(c)})
        if odd:
            flags.append(
                f"{where}: invisible or direction-changing characters {', '.join(odd[:5])}"
            )
        for label, pattern in _PATTERNS:
            found = pattern.search(text)
            if found:
                flags.append(f"{where}: {label} ({found.group(0)[:60]!r})")
    return flags


def _invisible(char: str) -> bool:
    # Cf: zero-width and bidi controls; Co: private use; tags block (U+E0000) hides ASCII.
    return unicodedata.category(char) in ("Cf", "Co") or 0xE0000 <= ord(char) <= 0xE007F


def _texts(definition: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("description", "title"):
        value = definition.get(key)
        if isinstance(value, str):
            yield key, value
    for key in ("inputSchema", "outputSchema"):
        schema = definition.get(key)
        if isinstance(schema, dict):
            yield from _schema_texts(cast(dict[str, Any], schema), key)


def _schema_texts(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    for key in ("description", "title", "default"):
        value = schema.get(key)
        # Short titles are generated from names ("Customer Id"); long ones are prose.
        if isinstance(value, str) and (key != "title" or len(value) > 80):
            yield f"{path}.{key}", value
    for key in ("properties", "$defs", "definitions"):
        children = schema.get(key)
        if isinstance(children, dict):
            for name, child in cast(dict[str, Any], children).items():
                if isinstance(child, dict):
                    yield from _schema_texts(cast(dict[str, Any], child), f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            yield from _schema_texts(cast(dict[str, Any], child), f"{path}[]")
    enum = schema.get("enum")
    if isinstance(enum, list):
        for value in cast(list[Any], enum):
            if isinstance(value, str) and len(value) > 40:
                yield f"{path}.enum", value
