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

Raw Cedar policies are validated against the tools their scope can match (any tool, or
``resource == Tool::"name"``). Each rule or policy is first specialised to the tool (see
:mod:`charter.policy._fold`), so a condition that narrows itself to another tool is not
held against this one. Arguments Cedar has no type for (numbers that may be fractional,
open mappings, unions) are left out: a rule that reads one is not validated.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import cedarpy
from cedarpy import pst

from charter.errors import ConfigError
from charter.policy._cedar import tool_entity
from charter.policy._fold import fold
from charter.policy._predicate import condition_tree

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
    labels = _record({"trust": _STRING, "confidentiality": _STRING})
    args_labels: dict[str, Any] = {}
    for name in properties:
        args_labels[name] = dict(labels)
        if _may_be_absent(parameters, name):
            args_labels[name]["required"] = False
    for name, prop in properties.items():
        typed = cedar_type(prop, defs)
        if typed is None:
            untyped.add(name)
            continue
        if _may_be_absent(parameters, name):
            typed["required"] = False
        args[name] = typed
    context = _record(
        {
            "args": _record(args),
            "phase": _STRING,
            "hour": _LONG,
            "weekday": _LONG,
            "date": _STRING,
            "labels": labels,
            "args_labels": _record(args_labels),
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


def _reads_args(node: Any) -> set[str]:
    """The top-level arguments an expression reads or tests (``context.args.X``)."""
    found: set[str] = set()
    stack: list[Any] = [node]
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
        elif is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in fields(node))
    return found


_CALL = pst.EntityUid(pst.EntityType("Action"), "call")


def _rule_policy(rule: Rule) -> pst.Template | None:
    tree = condition_tree(cast(str, rule.when))
    if tree is None:  # several clauses, or syntax the node types do not model
        return None
    return pst.Template(
        id=rule.id,
        effect="permit",
        principal=pst.ScopeAny(),
        action=pst.ActionEq(_CALL),
        resource=pst.ScopeAny(),
        clauses=(pst.When(tree),),
        annotations=pst.FrozenMap({"id": rule.id}),
    )


def _raw_policies(text: str | None) -> list[pst.Template]:
    if not text:
        return []
    try:
        return list(cedarpy.policies_to_pst(text).static_policies.values())
    except ValueError:  # syntax the node types do not model: left to run time
        return []


def _applies(policy: pst.Template, tool_name: str) -> bool:
    """Whether a raw policy's scope can match a call of ``tool_name``."""
    action_ok = isinstance(policy.action, pst.ScopeAny) or policy.action == pst.ActionEq(_CALL)
    match policy.resource:
        case pst.ScopeAny():
            return action_ok
        case pst.ScopeEq(entity=pst.EntityUid(type=kind, id=name)):
            return action_ok and str(kind) == "Tool" and name == tool_name
        case pst.ScopeIs(entity_type=kind):
            return action_ok and str(kind) == "Tool"
        case _:
            return False


def check_charter(charter: Charter, tools: Iterable[Tool], source: str) -> None:
    """Validate each conditional rule and raw policy against every tool it applies to.

    Each is first specialised to the tool: the tool's contract attributes are known, so
    ``resource.name == "x" && ...`` on another tool is false and not checked further, as
    it is never evaluated further at run time.

    Raises:
        ConfigError: naming ``source``, the rule and the tool, and what is wrong.
    """
    conditional = [rule for rule in charter.rules if rule.when]
    raw = _raw_policies(charter.cedar)
    if not conditional and not raw:
        return
    whens = {rule.id: cast(str, rule.when) for rule in conditional}
    problems: list[str] = []
    for tool in tools:
        policies = [
            policy
            for rule in conditional
            if any(fnmatch.fnmatchcase(tool.name, p) for p in rule.tools)
            for policy in [_rule_policy(rule)]
            if policy is not None
        ] + [policy for policy in raw if _applies(policy, tool.name)]
        schema, untyped = tool_schema(tool)
        attributes = cast(dict[str, Any], tool_entity(tool)["attrs"])
        checked: dict[str, pst.Template] = {}
        for policy in policies:
            clauses = tuple(replace(c, expr=fold(c.expr, attributes)) for c in policy.clauses)
            never = any(
                c.expr == pst.BoolLit(isinstance(c, pst.Unless)) for c in clauses
            )  # a when that is false or an unless that is true: it cannot apply here
            if never or _reads_args(clauses) & untyped:
                continue
            policy_id = f"policy{len(checked)}"
            checked[policy_id] = replace(policy, id=policy_id, clauses=clauses)
        if checked:
            problems += _validate(checked, schema, tool, whens)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(dict.fromkeys(problems)))


def _validate(
    policies: dict[str, pst.Template], schema: dict[str, Any], tool: Tool, whens: dict[str, str]
) -> list[str]:
    tree = pst.PolicySet(templates={}, static_policies=policies, template_links=())
    text = str(cedarpy.PolicySet.from_pst(tree))
    engine: Any = cedarpy  # its dict parameters are untyped
    result: Any = engine.validate_policies(text, schema)
    if result.validation_passed:
        return []
    problems: list[str] = []
    for error in cast(list[cedarpy.ValidationError], result.errors):
        policy = policies.get(error.policy_id)
        rule_id = policy.annotations.get("id", error.policy_id) if policy else error.policy_id
        problems.append(f"rule {rule_id}: {_explain(error.error, rule_id, whens, tool)}")
    return problems


def _explain(message: str, rule_id: str, whens: dict[str, str], tool: Tool) -> str:
    missing = _MISSING.search(message)
    arguments = list(tool.parameters_schema().get("properties") or {})  # any tool's schema
    if missing is not None:
        path = missing[1]
        head, _, rest = path.partition(".")
        if not rest:
            return (
                f"condition reads context.args.{path}, but {tool.name} has no argument "
                f"{path} (it has {', '.join(arguments) or 'no arguments'})"
            )
        return f"condition reads context.args.{path}, which {tool.name}'s argument {head} lacks"
    message = _NAMED.sub(f"rule `{rule_id}`", _POLICY.sub("", message))
    if "optional attribute" in message:
        return (
            f"{message} (a call of {tool.name} may omit it: test it first, as in "
            f"`context.args has ... && ...`)"
        )
    where = f"when {whens[rule_id]!r}, " if rule_id in whens else "raw Cedar, "
    return f"{message} ({where}on {tool.name})"
