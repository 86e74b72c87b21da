"""Output field labels of MCP tools, checked against the output schemas servers give.

An agent file labels the fields of an MCP tool's structured output by path, as a native
tool's contract does (``messages[].sender: trusted``). A server that publishes an
``outputSchema`` says which paths exist, so a path it does not have (a typo, a field the
server renamed) is refused when the agent loads rather than silently labelling nothing;
a server that gives no schema is taken at the agent file's word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

_TOKEN = re.compile(r"\[\]|[^.\[\]]+")
_COMBINERS = ("anyOf", "oneOf", "allOf")


def path_problem(schema: Mapping[str, Any], path: str) -> str | None:
    """Why ``path`` names no field of output ``schema`` (a JSON schema), or None if it
    may name one: it does where the schema declares it, or leaves that part open (no
    declared properties, or ``additionalProperties`` allowed explicitly)."""
    here: list[Any] = [schema]
    walked = ""
    for token in _TOKEN.findall(path):
        nexts: list[Any] = []
        known: set[str] = set()
        for candidate in _expand(here, schema):
            if candidate is True or candidate == {}:
                return None  # anything goes from here on
            if not isinstance(candidate, Mapping):
                continue
            node = cast(Mapping[str, Any], candidate)
            if token == "[]":
                if "items" in node or node.get("type") == "array":
                    nexts.append(node.get("items", True))
                continue
            properties = cast(Mapping[str, Any], node.get("properties") or {})
            known |= set(properties)
            if token in properties:
                nexts.append(properties[token])
            elif _open(node):
                return None
        shown = f"{walked}.{token}" if walked and token != "[]" else walked + token
        if not nexts:
            if token == "[]":
                return f"{walked or 'the output'} is not a list in the tool's output schema"
            fields = ", ".join(sorted(known)) or "none"
            where = f"{walked} has" if walked else "the output has"
            return f"{shown} is not in the tool's output schema ({where}: {fields})"
        here, walked = nexts, shown
    return None


def _open(node: Mapping[str, Any]) -> bool:
    """Whether an object schema admits names it does not declare, as far as we know."""
    extra = node.get("additionalProperties")
    if node.get("patternProperties"):
        return True
    if not node.get("properties"):
        return extra is not False and node.get("type") in (None, "object")
    return extra is True or isinstance(extra, Mapping)


def _expand(schemas: list[Any], root: Mapping[str, Any]) -> list[Any]:
    """``schemas`` with local ``$ref``\\ s followed and combinations opened, each once."""
    out: list[Any] = []
    todo = list(schemas)
    seen: set[int] = set()
    while todo:
        schema = todo.pop()
        if not isinstance(schema, Mapping):
            out.append(schema)
            continue
        node = cast(Mapping[str, Any], schema)
        if id(node) in seen:
            continue  # a cycle of references
        seen.add(id(node))
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = _resolve(root, ref)
            if target is None:
                out.append(True)  # a reference we cannot follow: take the file's word
            else:
                todo.append(target)
            continue
        combined = [part for key in _COMBINERS for part in node.get(key) or ()]
        if combined:
            todo.extend(combined)
            if not (set(node) - {*_COMBINERS, "title", "description"}):
                continue
        out.append(node)
    return out


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = cast(Mapping[str, Any], node)[part]
    return node
