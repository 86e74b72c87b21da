"""Charter conditions compiled to Python, with Cedar's evaluation semantics.

Calling Cedar through cedarpy costs a JSON round trip per decision (the request is
serialised, parsed again in Rust, and the answer parsed back), which is most of a
decision's time. The conditions charters are written with are small: attributes of the
call's context, the tool and the agent, literals, comparisons, ``&&``, ``||``, ``!``,
``has``, ``like``, sets and records. :func:`compile_slice` turns one tool's rules into one
Python function that evaluates each condition exactly as Cedar does:

* ``&&``, ``||`` and ``if`` evaluate left to right and short-circuit; an operand or
  condition that is not a boolean is a type error;
* ``==`` and ``!=`` compare any two values (different types are unequal; sets compare
  as sets, records field by field, entities by type and id);
* ``<``, ``<=``, ``>``, ``>=``, ``+``, ``-``, ``*`` take longs only; arithmetic outside
  signed 64 bits is an overflow error;
* reading an attribute a record or entity lacks is an error, ``has`` never is on a record
  or entity;
* a rule whose condition errs matches nothing, and the error is reported with its rule id.

Anything else (extension functions such as ``ip`` or ``decimal``, ``in``, tags, scope
constraints) is not compiled: :func:`compile_slice` returns None and Cedar decides that
tool. A call whose arguments Cedar could not take as they are (integers outside 64 bits,
text that is not Unicode, deep nesting) is handed to Cedar too (see
:func:`representable`), so Cedar's own error stays the answer. The differential test in
``tests/policy/test_predicate.py`` holds the two to the same verdicts and rule ids.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

import cedarpy
from cedarpy import pst

_MIN, _MAX = -(2**63), 2**63 - 1
_DEPTH = 32
"""Deeper arguments go to Cedar, which has nesting limits of its own."""


class EntityUid(NamedTuple):
    """A Cedar entity reference: ``Agent::"support"``."""

    type: str
    id: str


class CedarError(Exception):
    """A condition could not be evaluated (Cedar's evaluation error)."""


Entities = Mapping[EntityUid, Mapping[str, Any]]
SliceFunction = Callable[
    [dict[str, Any], EntityUid, EntityUid, Entities], tuple[list[str], list[tuple[str, str]]]
]
"""``(context, principal, resource, entities) -> (matched rule ids, (rule id, error))``."""


def representable(value: Any, depth: int = 0) -> bool:
    """Whether Cedar takes ``value`` (already through ``cedar_value``) as it is."""
    kind: type[object] = type(cast(object, value))
    if kind is str:
        return value.isascii() or _unicode(value)
    if kind is bool:
        return True
    if kind is int:
        return _MIN <= value <= _MAX
    if depth >= _DEPTH:
        return False
    if kind is list:
        return all(representable(item, depth + 1) for item in cast(list[Any], value))
    if kind is dict:
        return all(
            _unicode(key) and representable(item, depth + 1)
            for key, item in cast(dict[str, Any], value).items()
        )
    return False


def _unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


# Run-time helpers the generated code calls (names are bound in its namespace).


def _type_name(value: Any) -> str:
    kind: type[object] = type(cast(object, value))
    if kind is bool:
        return "bool"
    if kind is int:
        return "long"
    if kind is str:
        return "string"
    if kind is list:
        return "set"
    if kind is dict:
        return "record"
    if kind is EntityUid:
        return f"(entity of type `{value.type}`)"
    return kind.__name__


def _expected(wanted: str, value: Any) -> CedarError:
    return CedarError(f"type error: expected {wanted}, got {_type_name(value)}")


def _bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _expected("bool", value)


def _long(value: Any) -> int:
    if type(value) is int:
        return value
    raise _expected("long", value)


def _longs(*values: Any) -> bool:
    for value in values:
        _long(value)
    raise AssertionError("unreachable: an operand is not a long")


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _expected("string", value)


def _set(value: Any) -> list[Any]:
    if type(value) is list:
        return cast(list[Any], value)
    raise _expected("set", value)


def _record_or_entity(value: Any, entities: Entities) -> Mapping[str, Any] | None:
    """The attributes of a record or entity (None: an entity not in the store)."""
    kind: type[object] = type(cast(object, value))
    if kind is dict:
        return cast(dict[str, Any], value)
    if kind is EntityUid:
        return entities.get(value)
    raise _expected("one of [record, (entity of type `any_entity_type`)]", value)


def _get(value: Any, attr: str, entities: Entities) -> Any:
    attrs = _record_or_entity(value, entities)
    if attrs is None:
        raise CedarError(f"entity `{value.type}::{value.id!r}` does not exist")
    if attr in attrs:
        return attrs[attr]
    what = "record" if type(value) is dict else f"`{value.type}::{value.id!r}`"
    raise CedarError(f"{what} does not have the attribute `{attr}`")


def _absent(attr: str) -> Any:
    raise CedarError(f"record does not have the attribute `{attr}`")


def _has(value: Any, attrs: tuple[str, ...], entities: Entities) -> bool:
    for index, attr in enumerate(attrs):
        found = _record_or_entity(value, entities)
        if found is None or attr not in found:
            return False
        if index + 1 < len(attrs):
            value = found[attr]
    return True


def _key(value: Any) -> Any:
    """A hashable form that is equal exactly when Cedar's ``==`` holds."""
    kind: type[object] = type(cast(object, value))
    if kind is list:
        return ("set", frozenset(_key(item) for item in cast(list[Any], value)))
    if kind is dict:
        items = cast(dict[str, Any], value).items()
        return ("record", frozenset((k, _key(item)) for k, item in items))
    return (kind, value)


def _eq(left: Any, right: Any) -> bool:
    kind: type[object] = type(cast(object, left))
    if kind is not type(right):
        return False
    if kind is list or kind is dict:
        return _key(left) == _key(right)
    return left == right


def _contains(container: Any, item: Any) -> bool:
    members = _set(container)
    kind: type[object] = type(cast(object, item))
    if kind is not list and kind is not dict:
        return any(type(m) is kind and m == item for m in members)
    wanted = _key(item)
    return any(_key(m) == wanted for m in members)


def _contains_all(container: Any, items: Any) -> bool:
    members = {_key(m) for m in _set(container)}
    return all(_key(i) in members for i in _set(items))


def _contains_any(container: Any, items: Any) -> bool:
    members = {_key(m) for m in _set(container)}
    return any(_key(i) in members for i in _set(items))


def _is_empty(container: Any) -> bool:
    return not _set(container)


def _checked(result: int) -> int:
    if _MIN <= result <= _MAX:
        return result
    raise CedarError(f"integer overflow: {result} is outside 64 bits")


def _add(left: Any, right: Any) -> int:
    return _checked(_long(left) + _long(right))


def _sub(left: Any, right: Any) -> int:
    return _checked(_long(left) - _long(right))


def _mul(left: Any, right: Any) -> int:
    return _checked(_long(left) * _long(right))


def _neg(value: Any) -> int:
    return _checked(-_long(value))


def _is(value: Any, entity_type: str) -> bool:
    if type(value) is EntityUid:
        return value.type == entity_type
    raise _expected("(entity of type `any_entity_type`)", value)


_COMPARE = {"less": "<", "less_eq": "<=", "greater": ">", "greater_eq": ">="}
_ARITHMETIC = {"add": "_add", "sub": "_sub", "mul": "_mul"}
_SET_OPS = {
    "contains": "_contains",
    "contains_all": "_contains_all",
    "contains_any": "_contains_any",
}
_BOOLEAN = (pst.BinaryOp, pst.HasAttr, pst.Like, pst.Is, pst.BoolLit)


class Unsupported(Exception):
    """The condition uses something only Cedar evaluates."""


class _Writer:
    """Python source for one slice: expressions, temporaries and constants."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self.temps = 0
        self.reads: set[str] = set()
        """The context attributes the code reads (``*``: the context as a whole)."""

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def boolean(self, node: pst.Expr) -> str:
        """Code for ``node`` that raises unless its value is a bool."""
        code = self.expr(node)
        if _is_boolean(node):
            return code
        return f"_bool({code})"

    def expr(self, node: pst.Expr) -> str:
        match node:
            case pst.Var(name="context"):
                self.reads.add("*")
                return "C"
            case pst.Var(name="principal"):
                return "P"
            case pst.Var(name="resource"):
                return "R"
            case pst.Var(name="action"):
                return "_ACTION"
            case pst.BoolLit(value=value):
                return repr(value)
            case pst.LongLit(value=value):
                return f"({value!r})"
            case pst.StringLit(value=value):
                return self.constant(value)
            case pst.EntityLit(value=uid):
                return self.constant(EntityUid(str(uid.type), uid.id))
            case pst.GetAttr(base=pst.Var(name="context"), attr=attr) if attr in _CONTEXT:
                self.reads.add(attr)
                return _CONTEXT[attr]
            case pst.GetAttr(base=base, attr=attr) if _is_record(base):
                # Inline: a record's attribute is read on every rule and is the hot path.
                record, key = self.expr(base), self.constant(attr)
                return f"({record}[{key}] if {key} in {record} else _absent({key}))"
            case pst.GetAttr(base=base, attr=attr):
                return f"_get({self.expr(base)}, {self.constant(attr)}, E)"
            case pst.HasAttr(base=base, attrs=attrs):
                return f"_has({self.expr(base)}, {self.constant(tuple(attrs))}, E)"
            case pst.Like(base=base, pattern=pattern):
                return f"_like(_string({self.expr(base)}), {self.constant(like_segments(pattern))})"
            case pst.Is(base=base, entity_type=entity_type, in_expr=None):
                return f"_is({self.expr(base)}, {self.constant(str(entity_type))})"
            case pst.IfThenElse(cond=cond, then_expr=then, else_expr=other):
                return f"({self.expr(then)} if {self.boolean(cond)} else {self.expr(other)})"
            case pst.Set(elements=elements):
                return "[" + "".join(f"{self.expr(e)}, " for e in elements) + "]"
            case pst.Record(fields=fields):
                items = "".join(f"{self.constant(k)}: {self.expr(v)}, " for k, v in fields.items())
                return "{" + items + "}"
            case pst.UnaryOp(op="not", arg=arg):
                return f"(not {self.boolean(arg)})"
            case pst.UnaryOp(op="neg", arg=arg):
                return f"_neg({self.expr(arg)})"
            case pst.UnaryOp(op="is_empty", arg=arg):
                return f"_is_empty({self.expr(arg)})"
            case pst.BinaryOp(op=op, left=left, right=right):
                return self.binary(op, left, right)
            case _:
                raise Unsupported(type(node).__name__)

    def binary(self, op: str, left: pst.Expr, right: pst.Expr) -> str:
        if op == "and":
            return f"({self.boolean(left)} and {self.boolean(right)})"
        if op == "or":
            return f"({self.boolean(left)} or {self.boolean(right)})"
        if op in ("eq", "not_eq"):
            code = f"_eq({self.expr(left)}, {self.expr(right)})"
            return code if op == "eq" else f"(not {code})"
        if op in _COMPARE:
            # Both operands are evaluated (left first) before either is type-checked.
            first, symbol = self.temp(), _COMPARE[op]
            if isinstance(right, pst.LongLit):
                return (
                    f"({first} {symbol} {right.value!r} "
                    f"if type({first} := {self.expr(left)}) is int else _longs({first}))"
                )
            second = self.temp()
            return (
                f"({first} {symbol} {second} if (type({first} := {self.expr(left)}) is int) "
                f"& (type({second} := {self.expr(right)}) is int) else _longs({first}, {second}))"
            )
        if op in _ARITHMETIC:
            return f"{_ARITHMETIC[op]}({self.expr(left)}, {self.expr(right)})"
        if op in _SET_OPS:
            return f"{_SET_OPS[op]}({self.expr(left)}, {self.expr(right)})"
        raise Unsupported(op)


_CONTEXT = {
    "args": "A",
    "labels": "L",
    "args_labels": 'C["args_labels"]',
    "phase": 'C["phase"]',
    "hour": 'C["hour"]',
    "weekday": 'C["weekday"]',
    "date": 'C["date"]',
}
"""The context's own attributes, always present (see ``CompiledCharter.decide``)."""


def _is_record(node: pst.Expr) -> bool:
    """Whether ``node`` is always a record (``context.args``, ``context.labels``,
    ``context.args_labels``)."""
    return (
        isinstance(node, pst.GetAttr)
        and isinstance(node.base, pst.Var)
        and node.base.name == "context"
        and node.attr in ("args", "labels", "args_labels")
    )


def _is_boolean(node: pst.Expr) -> bool:
    if isinstance(node, pst.UnaryOp):
        return node.op in ("not", "is_empty")
    if isinstance(node, pst.BinaryOp):
        return node.op not in _ARITHMETIC
    return isinstance(node, _BOOLEAN)


def like_segments(pattern: tuple[pst.PatternElem, ...]) -> tuple[str, ...]:
    """The literal text between a ``like`` pattern's wildcards."""
    segments = [""]
    for element in pattern:
        if isinstance(element, pst.Wildcard):
            segments.append("")
        else:
            segments[-1] += element.value
    return tuple(segments)


def like(text: str, segments: tuple[str, ...]) -> bool:
    """Whether ``text`` matches the pattern: greedy, without backtracking, so an argument
    cannot make a pattern with many wildcards take exponential time (as a regex would)."""
    if len(segments) == 1:
        return text == segments[0]
    first, last = segments[0], segments[-1]
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    at, end = len(first), len(text) - len(last)
    for middle in segments[1:-1]:
        found = text.find(middle, at, end)
        if found < 0:
            return False
        at = found + len(middle)
    return True


_HELPERS: dict[str, Any] = {
    "_bool": _bool,
    "_long": _long,
    "_longs": _longs,
    "_string": _string,
    "_get": _get,
    "_has": _has,
    "_like": like,
    "_absent": _absent,
    "_eq": _eq,
    "_contains": _contains,
    "_contains_all": _contains_all,
    "_contains_any": _contains_any,
    "_is_empty": _is_empty,
    "_add": _add,
    "_sub": _sub,
    "_mul": _mul,
    "_neg": _neg,
    "_is": _is,
    "_ACTION": EntityUid("Action", "call"),
    "CedarError": CedarError,
}


class NotOneCondition(ValueError):
    """The text closes the condition and adds policies of its own."""


@functools.lru_cache(maxsize=4096)
def condition_tree(when: str) -> pst.Expr | None:
    """The expression of a rule's condition (None: one the node types cannot represent,
    or several ``when``/``unless`` clauses). Parsed once per text.

    Raises:
        ValueError: the text is not Cedar (the message names the syntax error).
        NotOneCondition: the text closes the condition and opens policies of its own.
    """
    text = f"permit(principal, action, resource) when {{ {when} }};"
    cedarpy.PolicySet.from_str(text)  # raises ValueError naming the syntax error
    try:
        tree = cedarpy.policies_to_pst(text)
    except ValueError:  # syntax newer than the node types: count the policies in JSON
        parsed: Any = json.loads(cedarpy.policies_to_json_str(text))
        if len(parsed["staticPolicies"]) != 1 or parsed["templates"]:
            raise NotOneCondition(when) from None
        return None
    if len(tree.static_policies) != 1 or tree.templates:
        raise NotOneCondition(when)
    (policy,) = tree.static_policies.values()
    clause = policy.clauses[0] if len(policy.clauses) == 1 else None
    return clause.expr if isinstance(clause, pst.When) else None


Condition = Callable[
    [dict[str, Any], dict[str, Any], dict[str, str], EntityUid, EntityUid, Entities], bool
]
"""``(context, context.args, context.labels, principal, resource, entities) -> matches``;
raises :class:`CedarError` where Cedar's evaluation errs."""


def compile_condition(when: str) -> Condition | None:
    """A rule's condition as a Python function, or None when only Cedar evaluates it.

    Compiled once per text (when the charter is built, which also checks it)."""
    return _compiled(when)[0]


def condition_reads(when: str) -> frozenset[str]:
    """The context attributes a compiled condition reads (``args``, ``hour``, ...;
    ``*``: the context as a whole); empty for one only Cedar evaluates."""
    return _compiled(when)[1]


@functools.lru_cache(maxsize=4096)
def _compiled(when: str) -> tuple[Condition | None, frozenset[str]]:
    tree = condition_tree(when)
    if tree is None:
        return None, frozenset()
    writer = _Writer()
    try:
        code = writer.boolean(tree)
        source = f"def _condition(C, A, L, P, R, E):\n    return {code}\n"
        namespace: dict[str, Any] = {**_HELPERS, **writer.constants}
        exec(compile(source, "<charter condition>", "exec"), namespace)
    except (Unsupported, SyntaxError, RecursionError, MemoryError):
        return None, frozenset()  # beyond the subset, or nested deeper than Python compiles
    return cast(Condition, namespace["_condition"]), frozenset(writer.reads)


class CompiledSlice(NamedTuple):
    """One tool's rules compiled to Python, and what of the context they read."""

    evaluate: SliceFunction
    reads: frozenset[str]
    """The context attributes any of the conditions reads (``*``: all of it): the
    caller need build only these, besides ``args`` and ``labels``."""


def compile_slice(rules: list[tuple[str, str | None]]) -> CompiledSlice | None:
    """One function deciding which of ``rules`` (``(id, condition)``) match, or None when
    a condition uses something only Cedar evaluates."""
    checks: list[tuple[str, Condition | None]] = []
    reads: set[str] = set()
    for rule_id, when in rules:
        condition = None if when is None else compile_condition(when)
        if when is not None and condition is None:
            return None
        if when is not None:
            reads |= condition_reads(when)
        checks.append((rule_id, condition))

    def evaluate(
        context: dict[str, Any], principal: EntityUid, resource: EntityUid, entities: Entities
    ) -> tuple[list[str], list[tuple[str, str]]]:
        args, labels = context["args"], context["labels"]
        matched: list[str] = []
        errors: list[tuple[str, str]] = []
        for rule_id, condition in checks:
            if condition is None:
                matched.append(rule_id)
                continue
            try:
                if condition(context, args, labels, principal, resource, entities):
                    matched.append(rule_id)
            except CedarError as exc:
                errors.append((rule_id, str(exc)))
            except RecursionError:
                errors.append((rule_id, "expression too deep to evaluate"))
        return matched, errors

    return CompiledSlice(evaluate, frozenset(reads))
