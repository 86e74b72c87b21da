"""Charters checked against the tools they govern, through a Cedar schema.

Each tool's call is described to Cedar as a schema: the agent (``Agent``), the tool
(``Tool`` with its contract's attributes) and the context, whose ``args`` record is the
tool's argument model (its pydantic JSON schema mapped to Cedar types: integers are
``Long``, text ``String``, booleans ``Boolean``, lists ``Set``, models ``Record``; an
argument that may be absent from a call, one with a default or that may be null, is an
optional attribute). Every conditional rule is validated by Cedar against the schema of
each tool it applies to, so a condition that reads an argument the tool does not have,
reads an optional one without ``has``, or compares values of different types is refused
when the agent loads, naming the rule and the file, instead of denying every call with
``policy.error`` at run time.

Arguments Cedar has no type for (numbers that may be fractional, open mappings, unions)
are left out: a rule that reads one is not validated. Raw Cedar is not validated either
(its policies choose their own tools with scope constraints).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import cedarpy
from cedarpy import pst

from charter.errors import ConfigError

if TYPE_CHECKING:
    from charter.policy._charter import Charter, Rule
    from charter.tools import Tool

_STRING = {"type": "String"}
_LONG = {"type": "Long"}
_BOOLEAN = {"type": "Boolean"}
_TOOL = {
    "name": _STRING,
    "side_effect": _STRING,
    "trust": _STRING,
    "confidentiality": _STRING,
    "idempotent": _BOOLEAN,
    "reversible": _BOOLEAN,
    "owner": _STRING,
    "reads": {"type": "Set", "element": _STRING},
}
_MISSING = re.compile(r"attribute `args\.([^`]+)` in context for .* not found")
_POLICY = re.compile(r"^for policy `policy\d+`, ")
_NAMED = re.compile(r"policy `policy\d+`")


def _record(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Record", "attributes": dict(attributes)}


def cedar_type(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Cedar type of values matching a JSON schema, or None when Cedar has none."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return None if target is None else cedar_type(target, defs)
    variants = _not_null(schema)
    if variants is not None:
        return cedar_type(variants, defs) if variants else None
    choices = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(choices, list):
        values = cast(list[Any], choices)
        if values and all(type(v) is str for v in values):
            return dict(_STRING)
        if values and all(type(v) is int for v in values):
            return dict(_LONG)
        return None
    kind = schema.get("type")
    simple = {"integer": _LONG, "string": _STRING, "boolean": _BOOLEAN}.get(str(kind))
    if simple is not None:
        return dict(simple)
    if kind == "array" and "prefixItems" not in schema:
        element = cedar_type(cast(Mapping[str, Any], schema.get("items", {})), defs)
        return None if element is None else {"type": "Set", "element": element}
    if kind == "object" and "properties" in schema and not schema.get("additionalProperties"):
        return _attributes(schema, defs)
    return None


def _not_null(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """For a union: its one non-null variant ({} when there are several), else None."""
    union = schema.get("anyOf", schema.get("oneOf"))
    if not isinstance(union, list):
        return None
    variants = [v for v in cast(list[Mapping[str, Any]], union) if v.get("type") != "null"]
    return variants[0] if len(variants) == 1 else {}


def _may_be_absent(schema: Mapping[str, Any], name: str) -> bool:
    """Whether a call may lack the attribute: not required, or null (dropped for Cedar)."""
    if name not in cast(list[str], schema.get("required", [])):
        return True
    prop = cast(Mapping[str, Any], schema["properties"][name])
    union = prop.get("anyOf", prop.get("oneOf", []))
    return prop.get("type") == "null" or any(
        v.get("type") == "null" for v in cast(list[Mapping[str, Any]], union)
    )


def _attributes(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any] | None:
    attributes: dict[str, Any] = {}
    for name, prop in cast(Mapping[str, Mapping[str, Any]], schema["properties"]).items():
        typed = cedar_type(prop, defs)
        if typed is None:
            return None
        if _may_be_absent(schema, name):
            typed["required"] = False
        attributes[name] = typed
    return _record(attributes)


def tool_schema(tool: Tool) -> tuple[dict[str, Any], set[str]]:
    """The Cedar schema of a call of ``tool``, and the arguments it leaves untyped."""
    parameters = tool.parameters_schema()
    defs = cast(Mapping[str, Any], parameters.get("$defs", {}))
    properties = cast(Mapping[str, Mapping[str, Any]], parameters.get("properties", {}))
    args: dict[str, Any] = {}
    untyped: set[str] = set()
    for name, prop in properties.items():
        typed = cedar_type(prop, defs)
        if typed is None:
            untyped.add(name)
            continue
        if _may_be_absent(parameters, name):
            typed["required"] = False
        args[name] = typed
    labels = _record({"trust": _STRING, "confidentiality": _STRING})
    context = _record(
        {
            "args": _record(args),
            "phase": _STRING,
            "hour": _LONG,
            "weekday": _LONG,
            "date": _STRING,
            "labels": labels,
        }
    )
    schema = {
        "": {
            "entityTypes": {"Agent": {}, "Tool": {"shape": _record(_TOOL)}},
            "actions": {
                "call": {
                    "appliesTo": {
                        "principalTypes": ["Agent"],
                        "resourceTypes": ["Tool"],
                        "context": context,
                    }
                }
            },
        }
    }
    return schema, untyped


def _reads_args(condition: str) -> set[str]:
    """The top-level arguments a condition reads or tests (``context.args.X``)."""
    text = f"permit(principal, action, resource) when {{ {condition} }};"
    found: set[str] = set()
    stack: list[Any] = list(cedarpy.policies_to_pst(text).static_policies.values())
    while stack:
        node = stack.pop()
        match node:
            case pst.GetAttr(base=pst.GetAttr(base=pst.Var(name="context"), attr="args"), attr=a):
                found.add(a)
            case pst.HasAttr(base=pst.GetAttr(base=pst.Var(name="context"), attr="args"), attrs=a):
                found.add(a[0])
            case _:
                pass
        if isinstance(node, Mapping):
            stack.extend(cast(Mapping[str, Any], node).values())
        elif isinstance(node, tuple):
            stack.extend(cast(tuple[Any, ...], node))
        elif hasattr(node, "__dataclass_fields__"):
            stack.extend(getattr(node, f) for f in node.__dataclass_fields__)
    return found


def check_charter(charter: Charter, tools: Iterable[Tool], source: str) -> None:
    """Validate each conditional rule against every tool it applies to.

    Raises:
        ConfigError: naming ``source``, the rule and the tool, and what is wrong.
    """
    conditional = [rule for rule in charter.rules if rule.when]
    if not conditional:
        return
    problems: list[str] = []
    for tool in tools:
        rules = [r for r in conditional if any(fnmatch.fnmatchcase(tool.name, p) for p in r.tools)]
        if not rules:
            continue
        schema, untyped = tool_schema(tool)
        checked = [r for r in rules if not (_reads_args(cast(str, r.when)) & untyped)]
        if checked:
            problems += _validate(checked, schema, tool)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(dict.fromkeys(problems)))


def _validate(rules: list[Rule], schema: dict[str, Any], tool: Tool) -> list[str]:
    text = "\n".join(
        f'@id({_quoted(r.id)})\npermit(principal, action == Action::"call", resource) '
        f"when {{ {r.when} }};"
        for r in rules
    )
    engine: Any = cedarpy  # its dict parameters are untyped
    result: Any = engine.validate_policies(text, schema)
    if result.validation_passed:
        return []
    names = cast(dict[str, str], result.id_annotations_by_policy_id)
    problems: list[str] = []
    for error in cast(list[cedarpy.ValidationError], result.errors):
        rule_id = names.get(error.policy_id, error.policy_id)
        rule = next(r for r in rules if r.id == rule_id)
        problems.append(f"rule {rule_id}: {_explain(error.error, rule, tool)}")
    return problems


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _explain(message: str, rule: Rule, tool: Tool) -> str:
    missing = _MISSING.search(message)
    arguments = list(tool.args_model.model_fields)
    if missing is not None:
        path = missing[1]
        head, _, rest = path.partition(".")
        if not rest:
            return (
                f"condition reads context.args.{path}, but {tool.name} has no argument "
                f"{path} (it has {', '.join(arguments) or 'no arguments'})"
            )
        return f"condition reads context.args.{path}, which {tool.name}'s argument {head} lacks"
    message = _NAMED.sub(f"rule `{rule.id}`", _POLICY.sub("", message))
    if "optional attribute" in message:
        return (
            f"{message} (a call of {tool.name} may omit it: test it first, as in "
            f"`context.args has ... && ...`)"
        )
    return f"{message} (when {rule.when!r}, on {tool.name})"
