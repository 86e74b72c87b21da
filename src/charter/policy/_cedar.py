"""Compiling a charter to Cedar, and deciding one action with it.

Every charter rule becomes one Cedar ``permit`` annotated with its id and effect, in a
policy set *sliced per tool* (only the rules whose tool patterns match that tool), parsed
once and cached. Raw Cedar from the charter's ``cedar`` field joins every slice with its
own ``permit``/``forbid`` meaning. One evaluation returns every matching rule; the verdict
follows from them:

1. a matching ``deny`` rule or raw ``forbid`` → **deny** (deny wins);
2. no matching ``allow`` rule (the tool lists, explicit allow rules, raw permits) →
   **deny** by ``tools.default-deny``;
3. otherwise the strongest matching obligation: **ask**, then **simulate**, then **redact**;
4. otherwise **allow**.

A rule whose condition cannot be evaluated (say it reads an argument the call lacks
without ``has``) makes the decision **deny** by ``policy.error``, naming the rule: a
broken policy fails closed. Slices without conditions decide the same way every time, so
their decision is computed once and Cedar is not called for them at all. Slices whose
conditions :mod:`charter.policy._predicate` compiles are evaluated in Python with
Cedar's semantics; Cedar decides the rest, and any call whose arguments it must judge
itself.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import cedarpy

from charter.errors import ConfigError
from charter.policy._decision import VERDICT_RANK, Decision, Verdict
from charter.policy._flow import Label
from charter.policy._predicate import EntityUid, SliceFunction, compile_slice, representable

if TYPE_CHECKING:
    from charter.policy._charter import Charter
    from charter.tools import Tool

_ACTION = 'Action::"call"'
_POLICY_ID = re.compile(r"policy `(policy\d+)`")
"""How Cedar names a policy in its errors; charter names the rule instead."""


def cedar_string(text: str) -> str:
    """``text`` as a Cedar string literal."""
    return json.dumps(text, ensure_ascii=False)


_ESCAPES = ("__entity", "__extn", "__expr")
"""Keys Cedar's JSON reads as entity references or extension values, not record fields."""
_EVERYTHING = frozenset({"*"})
_TIME = frozenset({"hour", "weekday", "date"})
_MAX_VERDICTS = 4096
"""Most decisions :meth:`CompiledCharter._matched` keeps made."""
_MIN_LONG, _MAX_LONG = -(2**63), 2**63 - 1


def _as_is(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """``args`` itself when :func:`cedar_value` would leave it equal and Cedar takes it as
    it is (:func:`representable`): a dict of ASCII names to ASCII text, booleans and
    64-bit integers, the common call; None for anything else (converted and checked)."""
    if type(args) is not dict:
        return None
    record = cast(dict[Any, Any], args)
    for key, value in record.items():
        if type(key) is not str or not key.isascii() or key in _ESCAPES:
            return None
        kind: type[object] = type(cast(object, value))
        if kind is str:
            if not cast(str, value).isascii():
                return None
        elif kind is int:
            if not _MIN_LONG <= value <= _MAX_LONG:
                return None
        elif kind is not bool:
            return None
    return record


def cedar_value(value: Any) -> Any:
    """A JSON value as Cedar accepts it in a context: no nulls, no floats.

    Raises:
        ValueError: a record has a key Cedar would read as an escape (``__entity``,
            ``__extn``): call data must never become an entity reference.
    """
    if isinstance(value, dict):
        record = cast(dict[Any, Any], value)
        for key in _ESCAPES:
            if key in record:
                raise ValueError(f"argument key {key!r} is reserved by Cedar")
        items = record.items()
        return {str(k): cedar_value(v) for k, v in items if v is not None}
    if isinstance(value, list | tuple):
        return [cedar_value(v) for v in cast(list[Any], value) if v is not None]
    if isinstance(value, float):
        # Cedar has no floats; integers stay comparable, anything else compares as text.
        return int(value) if value.is_integer() else str(value)
    return value


@dataclass(frozen=True, slots=True)
class _RuleInfo:
    effect: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Slice:
    policies: cedarpy.PolicySet | None
    static: Decision | None
    """The decision when no policy in the slice has a condition."""
    function: SliceFunction | None = None
    """The conditions compiled to Python, when Cedar is not needed to evaluate them."""
    reads: frozenset[str] = frozenset()
    """The context attributes :attr:`function` reads (``*``: all of it)."""
    order: Mapping[str, int] | None = None
    """Position of each rule id in the slice: matched ids are reported in this order."""


@dataclass(slots=True)
class _Subject:
    """The principal and resource of a request, in both forms the evaluators take."""

    graph: list[dict[str, Any]]
    """The entities as Cedar's JSON, parsed into ``cedar`` when Cedar is first needed."""
    principal: EntityUid
    resource: EntityUid
    entities: Mapping[EntityUid, Mapping[str, Any]]
    cedar: cedarpy.Entities | None = None

    def cedar_entities(self) -> cedarpy.Entities:
        """The entities parsed by Cedar (once: re-reading entity JSON costs more than Cedar)."""
        if self.cedar is None:
            self.cedar = _entities(self.graph)
        return self.cedar


class CompiledCharter:
    """A charter compiled to Cedar, ready to decide actions (thread-safe).

    With ``compile_conditions`` (the default), conditions simple enough are also compiled
    to Python (:mod:`charter.policy._predicate`) and evaluated without the round trip
    through cedarpy; ``False`` sends every conditional decision to Cedar.
    """

    def __init__(self, charter: Charter, *, compile_conditions: bool = True) -> None:
        self.charter = charter
        self.compile_conditions = compile_conditions
        self.policy = charter.policy_hash
        self._rules: dict[str, _RuleInfo] = {}
        self._slices: dict[str, _Slice] = {}
        self._policy_sets: dict[str, cedarpy.PolicySet] = {}
        self._subjects: dict[tuple[str, str, bool], _Subject] = {}
        self._labels: dict[Label | None, dict[str, str]] = {}
        self._verdicts: dict[tuple[str, ...], Decision] = {}
        self._lock = threading.Lock()
        self._raw = charter.cedar or ""
        for rule in charter.rules:
            self._rules[rule.id] = _RuleInfo(rule.effect, rule.reason)
        if self._raw:
            self._rules |= _raw_rule_infos(self._raw)  # validated when the charter was built

    def _applicable(self, tool_name: str) -> list[tuple[str, str, str | None]]:
        """``(id, effect, condition)`` of each charter rule whose patterns match the tool."""
        charter = self.charter
        found: list[tuple[str, str, str | None]] = []
        if any(fnmatch.fnmatchcase(tool_name, p) for p in charter.tools.deny):
            found.append(("tools.deny", "deny", None))
        if any(fnmatch.fnmatchcase(tool_name, p) for p in charter.tools.allow):
            found.append(("tools.allow", "allow", None))
        found.extend(
            (rule.id, rule.effect, rule.when)
            for rule in charter.rules
            if any(fnmatch.fnmatchcase(tool_name, p) for p in rule.tools)
        )
        return found

    def cedar_text(self, tool_name: str) -> str:
        """The Cedar policies that apply to ``tool_name``, as compiled."""
        policies = [_permit(*rule) for rule in self._applicable(tool_name)]
        if self._raw:
            policies.append(self._raw)
        return "\n".join(policies)

    def _slice(self, tool_name: str) -> _Slice:
        found = self._slices.get(tool_name)
        if found is not None:
            return found
        with self._lock:
            applicable = self._applicable(tool_name)
            if self._raw or any(when for _, _, when in applicable):
                built = self._conditional(tool_name, applicable)
            else:
                # No conditions: every applicable rule matches, so decide once.
                ids = [rule_id for rule_id, _, _ in applicable]
                built = _Slice(None, self._verdict(tool_name, ids, forbidden=[]))
            self._slices[tool_name] = built
            return built

    def _conditional(self, tool_name: str, applicable: list[tuple[str, str, str | None]]) -> _Slice:
        order = {rule_id: index for index, (rule_id, _, _) in enumerate(applicable)}
        compiled = None
        if self.compile_conditions and not self._raw:
            # Raw Cedar may constrain its scope or forbid: only plain rules are compiled.
            compiled = compile_slice([(rule_id, when) for rule_id, _, when in applicable])
        if compiled is not None:
            # Cedar is needed only for calls it must judge itself; parsed when first needed.
            return _Slice(None, None, compiled.evaluate, order=order, reads=compiled.reads)
        return _Slice(self._parsed(tool_name), None, None, order=order)

    def _parsed(self, tool_name: str) -> cedarpy.PolicySet:
        found = self._policy_sets.get(tool_name)
        if found is None:
            found = _parse(self.cedar_text(tool_name), f"charter {self.charter.name!r}")
            self._policy_sets[tool_name] = found
        return found

    def denies_every_call(self, tool_name: str) -> bool:
        """Whether every call of ``tool_name`` is denied, whatever its arguments and labels:
        a ``deny`` rule without a condition matches it, or no rule (and no raw Cedar)
        could allow it. A surface that lists tools (the MCP gateway) leaves such a tool
        out; any other is listed, and each call decided."""
        applicable = self._applicable(tool_name)
        if any(effect == "deny" and when is None for _, effect, when in applicable):
            return True
        return not self._raw and not any(effect == "allow" for _, effect, _ in applicable)

    def evaluated_in_python(self, tool_name: str) -> bool:
        """Whether ``tool_name``'s conditions are evaluated by compiled Python (else Cedar)."""
        return self._slice(tool_name).function is not None

    def warm(self, tools: Iterable[Tool | str], agent: str = "agent") -> None:
        """Compile each tool's slice and decide one call of it now, so that the first
        governed call does not pay for parsing (an agent does this when it loads)."""
        for item in tools:
            self.decide(item, {}, agent=agent)

    def _subject(self, tool: Tool | str, agent: str) -> _Subject:
        name = tool if isinstance(tool, str) else tool.name
        key = (name, agent, isinstance(tool, str))
        found = self._subjects.get(key)
        if found is None:
            resource = tool_entity(tool)
            principal: dict[str, Any] = {"uid": {"type": "Agent", "id": agent}, "attrs": {}}
            found = _Subject(
                graph=[resource, principal | {"parents": []}],
                principal=EntityUid("Agent", agent),
                resource=EntityUid("Tool", name),
                entities={
                    EntityUid("Agent", agent): {},
                    EntityUid("Tool", name): resource["attrs"],
                },
            )
            self._subjects[key] = found
        return found

    def decide(
        self,
        tool: Tool | str,
        args: Mapping[str, Any] | None = None,
        *,
        agent: str = "agent",
        now: datetime | None = None,
        labels: Label | None = None,
        phase: str | None = None,
        args_labels: Mapping[str, Label] | None = None,
    ) -> Decision:
        """The charter's verdict on calling ``tool`` with ``args`` (validated, JSON-ready).

        ``labels`` is the join of the arguments' labels, visible as ``context.labels``;
        ``args_labels`` each argument's, visible as ``context.args_labels.<arg>`` (an
        argument without one: the join);
        ``phase`` the agent version's rollout phase (default: the charter's starting one),
        visible as ``context.phase``.
        """
        name = tool if isinstance(tool, str) else tool.name
        piece = self._slice(name)
        if piece.static is not None:
            return piece.static
        given = args or {}
        context_args = _as_is(given)
        if context_args is None:
            try:
                context_args = cedar_value(dict(given))
            except ValueError as exc:
                return self._decision(
                    "deny", ("policy.error",), f"a rule could not be evaluated: {exc}"
                )
            in_python = piece.function is not None and representable(context_args)
        else:  # Cedar takes them as they are
            in_python = piece.function is not None
        shown = self._labels.get(labels)
        if shown is None:
            shown = self._labels[labels] = (labels or Label()).to_json()
        # Compiled conditions get only the attributes they read (the date, the hour, each
        # argument's label are built for the rules that look at them); Cedar gets all.
        reads = piece.reads if in_python else _EVERYTHING
        context: dict[str, Any] = {"args": context_args, "labels": shown}
        if "*" in reads or "phase" in reads:
            context["phase"] = phase or self.charter.phase
        if "*" in reads or not _TIME.isdisjoint(reads):
            moment = now or datetime.now(UTC)
            context["hour"] = moment.hour
            context["weekday"] = moment.weekday()
            context["date"] = moment.date().isoformat()
        if "*" in reads or "args_labels" in reads:
            context["args_labels"] = (
                {
                    name: (args_labels[name].to_json() if name in args_labels else shown)
                    for name in given
                }
                if args_labels
                else dict.fromkeys(given, shown)
            )
        subject = self._subject(tool, agent)
        if in_python:
            assert piece.function is not None
            ids, failures = piece.function(
                context, subject.principal, subject.resource, subject.entities
            )
            if not failures:
                return self._matched(name, ids)
            errors = [f"rule `{rule_id}`: {message}" for rule_id, message in failures]
            allowed = True
        else:
            allowed, ids, errors = self._authorize(piece, context, subject, name, agent)
        if errors:
            detail = "; ".join(errors)[:500]
            return self._decision(
                "deny", ("policy.error",), f"a rule could not be evaluated: {detail}"
            )
        return self._verdict(name, ids, forbidden=[] if allowed else ids)

    def _matched(self, tool_name: str, ids: list[str]) -> Decision:
        """:meth:`_verdict` when every rule in ``ids`` matched and none forbids: one
        decision per tool and set of matching rules, made once."""
        key = (tool_name, *ids)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdict(tool_name, ids, forbidden=[])
            if len(self._verdicts) >= _MAX_VERDICTS:  # a bound on memory, not on correctness
                self._verdicts.clear()
            self._verdicts[key] = found
        return found

    def _authorize(
        self, piece: _Slice, context: dict[str, Any], subject: _Subject, name: str, agent: str
    ) -> tuple[bool, list[str], list[str]]:
        request = {
            "principal": {"type": "Agent", "id": agent},
            "action": _ACTION,
            "resource": {"type": "Tool", "id": name},
            "context": context,
        }
        policies = piece.policies or self._parsed(name)
        allowed, ids, errors = _authorize(request, policies, subject.cedar_entities())
        order = piece.order or {}
        ids.sort(key=lambda rule_id: order.get(rule_id, len(order)))
        if errors:
            names = _policy_names(policies)
            errors = [
                _POLICY_ID.sub(lambda m: f"rule `{names.get(m[1], m[1])}`", e) for e in errors
            ]
        return allowed, ids, errors

    def _verdict(self, tool_name: str, ids: list[str], *, forbidden: list[str]) -> Decision:
        if forbidden:
            return self._decision(
                "deny", tuple(forbidden), self._reason(forbidden, tool_name, "deny")
            )
        effects = {
            rule_id: self._rules.get(rule_id, _RuleInfo("allow", "")).effect for rule_id in ids
        }
        if "tools.deny" in ids:
            effects["tools.deny"] = "deny"
        if "tools.allow" in ids:
            effects["tools.allow"] = "allow"
        denied = [i for i, e in effects.items() if e == "deny"]
        if denied:
            return self._decision("deny", tuple(denied), self._reason(denied, tool_name, "deny"))
        if not any(e == "allow" for e in effects.values()):
            return self._decision(
                "deny",
                ("tools.default-deny",),
                f"tool {tool_name!r} is not in the charter's allow list",
            )
        strongest = max(effects.values(), key=lambda e: VERDICT_RANK[e])
        chosen = tuple(i for i, e in effects.items() if e == strongest)
        return self._decision(
            cast(Verdict, strongest), chosen, self._reason(list(chosen), tool_name, strongest)
        )

    def _reason(self, ids: list[str], tool_name: str, effect: str) -> str:
        written = [self._rules[i].reason for i in ids if i in self._rules and self._rules[i].reason]
        if written:
            return "; ".join(written)
        verb = {"deny": "denies", "allow": "allows", "ask": "requires approval for"}.get(
            effect, f"applies {effect} to"
        )
        return f"charter {verb} tool {tool_name!r}"  # the rule ids travel in the decision

    def _decision(self, verdict: Verdict, rules: tuple[str, ...], reason: str) -> Decision:
        return Decision(verdict=verdict, rules=rules, reason=reason, policy=self.policy)


def _authorize(
    request: dict[str, Any], policies: cedarpy.PolicySet, entities: cedarpy.Entities
) -> tuple[bool, list[str], list[str]]:
    """``(allowed, ids of the determining policies, evaluation errors)``; cedarpy is untyped."""
    engine: Any = cedarpy
    result: Any = engine.is_authorized(request, policies, entities)
    diagnostics: Any = result.diagnostics
    by_reason: dict[str, str] = dict(diagnostics.id_annotations_by_reason or {})
    ids = [by_reason.get(str(reason), str(reason)) for reason in diagnostics.reasons]
    return bool(result.allowed), ids, [str(e) for e in diagnostics.errors]


def _policy_names(policies: cedarpy.PolicySet) -> dict[str, str]:
    """Cedar's positional policy ids (``policy0``) to the ``@id`` they carry."""
    try:
        tree = policies.to_pst()
    except ValueError:  # syntax the node types do not model: errors keep Cedar's ids
        return {}
    return {pid: p.annotations.get("id", pid) for pid, p in tree.static_policies.items()}


def _entities(graph: list[dict[str, Any]]) -> cedarpy.Entities:
    engine: Any = cedarpy  # untyped
    parsed: cedarpy.Entities = engine.Entities.from_json_str(json.dumps(graph))
    return parsed


def _permit(rule_id: str, effect: str, when: str | None) -> str:
    condition = f" when {{ {when} }}" if when else ""
    return (
        f"@id({cedar_string(rule_id)})\n@effect({cedar_string(effect)})\n"
        f"permit(principal, action == {_ACTION}, resource){condition};"
    )


def _parse(text: str, source: str) -> cedarpy.PolicySet:
    try:
        return cedarpy.PolicySet.from_str(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: invalid Cedar: {exc}") from exc


def tool_entity(tool: Tool | str) -> dict[str, Any]:
    """The tool as a Cedar entity (JSON form): its name and contract attributes."""
    if isinstance(tool, str):
        attrs: dict[str, Any] = {"name": tool}
    else:
        c = tool.contract
        attrs = {
            "name": tool.name,
            "side_effect": c.side_effect,
            "trust": c.trust,
            "confidentiality": c.confidentiality,
            "idempotent": c.idempotent,
            "reversible": tool.reversible,
            "owner": c.owner,
            "reads": list(c.reads),
        }
    return {"uid": {"type": "Tool", "id": attrs["name"]}, "attrs": attrs, "parents": []}


def raw_policy_ids(text: str) -> list[str]:
    """The ``@id`` of each raw Cedar policy; raise ValueError if unparseable or unnamed."""
    return list(_raw_rule_infos(text))


def _raw_rule_infos(text: str) -> dict[str, _RuleInfo]:
    """Effects of raw Cedar policies by their ``@id`` (``forbid`` → deny, else allow)."""
    cedarpy.PolicySet.from_str(text)  # raises ValueError naming the syntax error
    infos: dict[str, _RuleInfo] = {}
    tree: Any = json.loads(cedarpy.policies_to_json_str(text))
    for entry in cast(dict[str, Any], tree.get("staticPolicies", {})).values():
        annotations: dict[str, Any] = entry.get("annotations", {})
        rule_id = annotations.get("id")
        if not isinstance(rule_id, str):
            raise ValueError('every raw Cedar policy needs an @id("...") annotation')
        effect = str(
            annotations.get("effect", "deny" if entry.get("effect") == "forbid" else "allow")
        )
        if effect not in VERDICT_RANK:
            raise ValueError(
                f"policy {rule_id!r}: @effect({effect!r}) is none of {', '.join(VERDICT_RANK)}"
            )
        infos[rule_id] = _RuleInfo(effect, str(annotations.get("reason", "")))
    return infos
