"""Task scope: what this run may do, derived from the trusted goal before anything else.

Least privilege per task: an agent asked to summarise a channel has no business sending
money, whatever a message in that channel says. Before the agent reads anything, the
charter's ``scope`` rules read the goal (trusted: whoever started the run wrote it) and
fix which tools the run may call and, for some, which values an argument may take. Every
later call outside that scope is denied or asks (``scope.outside``), as rule
``scope.tool`` (a tool the task does not need) or ``scope.args`` (an argument the task
did not name).

.. code-block:: yaml

    scope:
      outside: deny
      always: ["read_*", "search_*", "list_*"]     # any task may read
      rules:
        - id: email-a-report
          goal: '(?i)\\bemail\\b.*\\bto (?P<to>[\\w.+-]+@[\\w.-]+)'
          tools: [send_email]
          args:
            send_email.to: ["{to}"]               # each recipient must be one of these

        - id: reply
          goal: "(?i)\\breply to (?P<who>\\w+)'s email about (?P<topic>[\\w ]+)"
          tools: [send_email]
          bind:                                   # a field of the item the goal designates
            send_email.to:
              - from: [read_email.sender, list_inbox[].sender]
                where: {sender_name: "{who}", subject: "{topic}"}
        - id: phone-to-a-colleague
          goal: '(?i)\\bemail (?P<to>\\S+@\\S+\\w) my phone number'
          tools: [send_email]
          args: {send_email.to: ["{to}"]}
          carry:                                  # the user's own data the goal sends
            send_email: [get_profile.phone]

A rule applies when its ``goal`` regular expression matches the goal (``re.search``);
named groups bind values that ``args`` constraints use as ``{name}``. A constraint lists
the values an argument may take (text compared case-insensitively, a list argument
element by element); a tool several rules allow is constrained only if each of them
constrains it. A goal no rule matches may use the ``always`` tools only. A charter
without ``scope`` has no task scope.

``bind`` (goal-designated sources, :mod:`charter.policy._designate`) constrains an
argument to the value of a field of the item the goal designates, as the run reads it:
the value must be that item's (or one ``args`` lists), and an argument so bound is as
trusted as the goal (it chose the item) and as confidential as the field it was read
from, whatever else the run read. ``carry`` names, per tool, confidential output fields
(``tool.path``) the goal itself sends through that tool: their confidentiality does not
count against the call's arguments in the flow rules (each still carries whatever else
it holds, and an argument found holding another confidential field of the same output
whole loses the carry).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter.policy._decision import VERDICT_RANK, Decision
from charter.policy._designate import Binding, Designation, split_source

if TYPE_CHECKING:
    from charter.policy._charter import Charter
    from charter.tools import Tool

_TEMPLATE = re.compile(r"\{(\w+)\}")


class ScopeRule(BaseModel):
    """Tools (and argument values) a task whose goal matches ``goal`` may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Named in the journaled scope."""
    goal: str
    """A regular expression searched in the goal; named groups bind values."""
    tools: list[str] = Field(min_length=1)
    """Tool name patterns (shell globbing) the task may call."""
    args: dict[str, list[str]] = Field(default_factory=lambda: {})
    """``tool.argument`` → the values it may take (``{group}`` fills in a bound value)."""
    bind: dict[str, list[Binding]] = Field(default_factory=lambda: {})
    """``tool.argument`` → the fields of goal-designated items its value may come from."""
    carry: dict[str, list[str]] = Field(default_factory=lambda: {})
    """Tool → confidential output fields (``tool.path``) the goal sends through it."""

    @field_validator("goal")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _known_groups(self) -> ScopeRule:
        groups = set(re.compile(self.goal).groupindex)
        templates: list[tuple[str, list[str]]] = [(f"args.{k}", v) for k, v in self.args.items()]
        for key, bindings in self.bind.items():
            for index, binding in enumerate(bindings):
                where = binding.where
                templates += [(f"bind.{key}.{index}.where.{f}", [w]) for f, w in where.items()]
        for key in [*self.args, *self.bind]:
            if "." not in key:
                field_name = "args" if key in self.args else "bind"
                raise ValueError(f"{field_name}.{key}: write tool.argument")
        for sources in self.carry.values():
            for source in sources:
                split_source(source)
        for at, values in templates:
            for value in values:
                for name in _TEMPLATE.findall(value):
                    if name not in groups:
                        raise ValueError(
                            f"{at}: {{{name}}} is not a named group of goal "
                            f"(groups: {', '.join(sorted(groups)) or 'none'})"
                        )
        return self


class ScopeRules(BaseModel):
    """A charter's ``scope`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outside: Literal["deny", "ask"] = "deny"
    """What a call outside the task's scope gets."""
    always: list[str] = Field(default_factory=lambda: [])
    """Tools every task may call (patterns), with no argument constraint."""
    rules: list[ScopeRule] = Field(default_factory=lambda: [])

    @model_validator(mode="after")
    def _unique(self) -> ScopeRules:
        ids = [rule.id for rule in self.rules]
        for index, rule_id in enumerate(ids):
            if rule_id in ids[:index]:
                raise ValueError(f"rules.{index}.id: {rule_id!r} is used twice")
        return self


class TaskScope(BaseModel):
    """What one run may do: tools, and the values some of their arguments may take."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[str, ...] = ()
    """The scope rules the goal matched."""
    tools: tuple[str, ...] = ()
    """Tool name patterns the run may call."""
    args: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {})
    """``tool.argument`` → allowed values (case-folded)."""
    outside: Literal["deny", "ask"] = "deny"
    bind: dict[str, tuple[Binding, ...]] = Field(default_factory=lambda: {})
    """``tool.argument`` → goal-designated sources its value may also come from (an
    argument named here is constrained: ``args`` lists the goal's own values, if any)."""
    carry: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {})
    """Tool → confidential output fields the goal sends through it."""
    designated: dict[str, tuple[Designation, ...]] = Field(default_factory=lambda: {})
    """What each ``bind`` designates in what the run has read (:meth:`resolved`); never
    journaled with the scope (it changes as the run reads)."""

    def to_json(self) -> dict[str, Any]:
        """As journaled at run start (``run.scoped``)."""
        payload = self.model_dump(mode="json", exclude={"designated", "bind", "carry"})
        if self.bind:
            payload["bind"] = {k: [b.to_json() for b in v] for k, v in self.bind.items()}
        if self.carry:
            payload["carry"] = {k: list(v) for k, v in self.carry.items()}
        return payload

    def resolved(self, designated: Mapping[str, tuple[Designation, ...]]) -> TaskScope:
        """This scope with what its bindings designate now (see :meth:`bound`)."""
        return self.model_copy(update={"designated": dict(designated)})

    def bound(self, tool: str, arg: str, value: Any) -> tuple[Designation, ...]:
        """The designations that hold ``value`` (every element of a list) for
        ``tool.arg``: empty when no binding of this resolved scope holds it."""
        designations = self.designated.get(f"{tool}.{arg}", ())
        values: list[Any] = (
            list(cast(list[Any], value)) if isinstance(value, (list, tuple)) else [value]
        )
        keys = [str(v).strip().casefold() for v in values]
        if not keys:
            return ()
        holding = tuple(d for d in designations if any(k in d.values for k in keys))
        held = {v for d in holding for v in d.values}
        return holding if all(k in held for k in keys) else ()

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> TaskScope:
        """The scope a ``run.scoped`` record journaled."""
        return cls.model_validate(dict(payload))

    def govern(self, tool: Tool, args: Mapping[str, Any], decision: Decision) -> Decision:
        """``decision`` unless this scope objects more strongly (deny wins over ask)."""
        objection = self.check(tool, args, decision.policy)
        if objection is None or VERDICT_RANK[objection.verdict] <= VERDICT_RANK[decision.verdict]:
            return decision
        return objection

    def check(self, tool: Tool, args: Mapping[str, Any], policy: str) -> Decision | None:
        """The scope's objection to calling ``tool`` with ``args``, or None."""
        if not any(fnmatch.fnmatchcase(tool.name, p) for p in self.tools):
            why = f"tool {tool.name!r} is outside this task's scope"
            if self.rules:
                why += f" (from {', '.join(self.rules)})"
            return Decision(self.outside, ("scope.tool",), why, policy)
        for name, value in args.items():
            key = f"{tool.name}.{name}"
            named = self.args.get(key)
            if named is None:
                continue
            designations = self.designated.get(key, ())
            allowed = {*named, *(v for d in designations for v in d.values)}
            values: list[Any] = (
                list(cast(list[Any], value)) if isinstance(value, (list, tuple)) else [value]
            )
            stray = [v for v in values if str(v).strip().casefold() not in allowed]
            if stray or not values:
                why = f"{name}={stray[0] if stray else value!r} of {tool.name!r} is not one "
                if key in self.bind:
                    held = [
                        f"{', '.join(d.values)} (read at step {d.read_at[0][0]} as "
                        f"{d.read_at[0][1]})"
                        for d in designations
                        if d.values
                    ]
                    problems = [d.problem for d in designations if d.problem]
                    why += "this task named or its goal designated: " + "; ".join(
                        [*(f"named {v}" for v in sorted(named)), *held, *problems] or ["nothing"]
                    )
                else:
                    why += f"this task named ({', '.join(named)})"
                return Decision(self.outside, ("scope.args",), why, policy)
        return None


def derive_scope(scope: ScopeRules, goal: str) -> TaskScope:
    """The task scope the charter's rules give ``goal`` (read before any tool output)."""
    matched: list[ScopeRule] = []
    bindings: list[dict[str, str]] = []
    fill = _filler
    for rule in scope.rules:
        found = re.search(rule.goal, goal)
        if found is not None:
            matched.append(rule)
            bindings.append({k: v for k, v in found.groupdict().items() if v is not None})
    tools = list(scope.always)
    for rule in matched:
        tools.extend(p for p in rule.tools if p not in tools)
    constrained: dict[str, set[str]] = {}
    bound: dict[str, list[Binding]] = {}
    carry: dict[str, list[str]] = {}
    for rule, groups in zip(matched, bindings, strict=True):
        for key, values in rule.args.items():
            filled = {fill(v, groups).strip().casefold() for v in values}
            # A value whose group did not match allows nothing (fail closed).
            constrained.setdefault(key, set()).update(v for v in filled if "\0" not in v)
        for key, sources in rule.bind.items():
            constrained.setdefault(key, set())
            bound.setdefault(key, []).extend(
                b.model_copy(update={"where": {f: fill(w, groups) for f, w in b.where.items()}})
                for b in sources
            )
        for key, fields in rule.carry.items():
            carry.setdefault(key, []).extend(f for f in fields if f not in carry.get(key, []))

    def free(tool_name: str) -> bool:  # some source lets the task call it unconstrained
        if any(fnmatch.fnmatchcase(tool_name, p) for p in scope.always):
            return True
        return any(
            any(fnmatch.fnmatchcase(tool_name, p) for p in rule.tools)
            and not any(key.split(".", 1)[0] == tool_name for key in [*rule.args, *rule.bind])
            for rule in matched
        )

    args = {
        key: tuple(sorted(values))
        for key, values in constrained.items()
        if not free(key.split(".", 1)[0])
    }
    return TaskScope(
        rules=tuple(rule.id for rule in matched),
        tools=tuple(tools),
        args=args,
        outside=scope.outside,
        bind={k: tuple(v) for k, v in bound.items()},
        carry={k: tuple(v) for k, v in carry.items()},
    )


def _filler(template: str, groups: Mapping[str, str]) -> str:
    """``template`` with each ``{group}`` filled in (NUL where the group did not match)."""
    return _TEMPLATE.sub(lambda m: groups.get(m[1], "\0"), template)


def govern_scope(
    charter: Charter, goal: str, tool: Tool, args: Mapping[str, Any], decision: Decision
) -> Decision:
    """``decision`` unless the task scope objects more strongly (deny wins over ask)."""
    if charter.scope is None:
        return decision
    return derive_scope(charter.scope, goal).govern(tool, args, decision)
