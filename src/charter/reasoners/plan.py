"""The ``plan`` reasoner: a plan fixed from the trusted goal before anything untrusted is read.

Plan-then-execute, after CaMeL (Debenedetti et al., 2025). A *planner* sees the goal, the
agent's instructions and the tools' signatures, never a tool's output, and writes the
whole plan up front: which tools to call in which order and where each argument comes
from. Running it reads tool outputs only to fill in the values the plan has a place for,
so text injected into a ticket or a document cannot add a call, drop one or change a tool.

Every argument keeps value-level provenance: the proposal names the run steps whose
outputs the value was computed from (:attr:`Proposal.sources`), and the charter's flow
rules judge the argument by those outputs alone. A refund target a trusted tool looked up
from the goal stays trusted after the run has read an untrusted ticket; one pulled out of
the ticket carries the ticket's label and needs approval (``flow.untrusted-target``).

.. code-block:: yaml

    reasoner:
      kind: plan
      plans:                          # the first plan whose match finds the goal runs
        - match: 'ticket (?P<ticket_id>\\d+)'
          steps:
            - id: ticket
              call: get_ticket
              args: {ticket_id: "{goal.ticket_id}"}
            - id: order
              call: lookup_order
              args:
                order_id:
                  $extract: {from: "{steps.ticket.result.body}", pattern: 'order (\\d+)',
                             type: integer}
            - respond: "Order {steps.order.result.order_id} is {steps.order.result.status}."

Steps are written as in the ``rules`` reasoner. Strings are templates: ``{goal.<name>}``
(a named group of ``match``, or ``text``, the whole goal) is a constant from the trusted
goal; ``{steps.<id>.result.<path>}`` is a value from an earlier step's output. A string
that is exactly one placeholder keeps the value's type. ``$extract`` pulls one value of a
JSON ``type`` (string, integer, number, boolean) out of text, with a regular expression
(``pattern``: its group ``value``, else its first group, else the whole match) or by
asking the quarantined model (``ask``: no tools, and its reply can only be a value of that
type). ``when`` runs a step only if its template renders truthy.

A value's sources are the steps it was read from plus, transitively, the sources of those
steps' arguments (a trusted lookup keyed by an order number a ticket chose describes the
order the ticket chose), plus the sources of the ``when`` guarding its step.

The plan stops at the first step whose observation is not ``ok`` (denied, failed, ...)
and says which step and why; nothing is ever re-planned from what a tool returned. A plan
that does not fit the agent's tools (unknown tool or argument, a field the tool does not
return) runs nothing.

With ``planner: model``, when no static plan matches, a model (``model:``, the embedded
one or an ``llm`` endpoint) writes ``{"steps": [...], "answer": "..."}`` under a JSON
schema: only the agent's tools, their argument types, and placeholders naming fields the
tools return. The plan is then checked like a static one and, if it fails, sampled again
with a fixed seed (twice at most). Static plans are the dependable path: a 1.5B model
writes plausible plans, not always useful ones.

The reasoner keeps no state it cannot rebuild: progress is re-derived from the run's
turns, and a plan is a pure function of the goal, instructions and tools (a model writes
it greedily; it is cached per process and written again elsewhere).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from charter.errors import ConfigError
from charter.reasoners._base import FinalAnswer, Proposal, RunContext, ToolCall, Usage
from charter.reasoners._planner import (
    EndpointModel,
    JsonModel,
    LocalModel,
    as_dict,
    extract_value,
    first_error,
    params_of,
    parse_plan,
    plan_schema,
    planner_messages,
    resolve_ref,
    result_of,
)
from charter.reasoners._template import (
    MissingValueError,
    path_parts,
    placeholders,
    reference_problem,
    render,
    text_of,
)
from charter.reasoners.llm import LLMSpec
from charter.reasoners.local import LocalSpec
from charter.tools import Tool

__all__ = ["Extraction", "Plan", "PlanReasoner", "PlanSpec", "PlanStep", "StaticPlan"]

ValueType = Literal["string", "integer", "number", "boolean"]
_STEP_ID = re.compile(r"^[A-Za-z_]\w*$")
_FALSY: tuple[Any, ...] = (None, False, 0, "", "false", "False", "no", [], {})
_RESAMPLES = 2
"""Extra, seeded samples drawn when the model's plan does not pass the checks."""
_CACHE_SIZE = 64


class Extraction(BaseModel):
    """``$extract``: one typed value pulled out of text an earlier step returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(alias="from")
    """Template of the text to read, such as ``{steps.ticket.result.body}``."""
    pattern: str | None = None
    """Regular expression; the value is its group ``value``, first group or whole match."""
    ask: str | None = None
    """What the quarantined model should find, such as "the order number asked about"."""
    type: ValueType = "string"
    """JSON type of the value."""

    @model_validator(mode="after")
    def _one_method(self) -> Extraction:
        if (self.pattern is None) == (self.ask is None):
            raise ValueError("needs exactly one of 'pattern' or 'ask'")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, RecursionError, OverflowError) as exc:  # nested or repeated too far
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
        return self


class PlanStep(BaseModel):
    """One step: ``call`` a tool with ``args``, or ``respond`` with the final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    """Name later templates use: ``{steps.<id>.result...}``."""
    call: str | None = None
    args: dict[str, Any] = Field(default_factory=lambda: {})
    """JSON values, templates and ``{"$extract": {...}}``."""
    respond: str | None = None
    when: str | None = None
    """Template; the step is skipped when it renders falsy (false, 0, empty, missing)."""

    @model_validator(mode="after")
    def _shape(self) -> PlanStep:
        if (self.call is None) == (self.respond is None):
            raise ValueError("each step needs exactly one of 'call' or 'respond'")
        if self.respond is not None and (self.args or self.id is not None):
            raise ValueError("a respond step takes no 'id' or 'args'")
        if self.id is not None and not _STEP_ID.match(self.id):
            raise ValueError(f"id {self.id!r} must be a name: letters, digits and _")
        for where, node in _nodes(self.args, "args"):
            if isinstance(node, Extraction):
                continue
            if isinstance(node, _BadExtraction):
                raise ValueError(f"{where}.$extract: {node.message}")
        return self


class Plan(BaseModel):
    """Steps in order; the first ``respond`` reached gives the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[PlanStep] = Field(min_length=1)

    def check_references(self, captures: set[str]) -> None:
        """Raise ValueError naming the first placeholder that names no earlier value.

        Args:
            captures: the names ``{goal.<name>}`` may use.
        """
        earlier: list[str] = []
        for index, step in enumerate(self.steps):
            where = f"steps.{index}" + (f" ({step.id})" if step.id else "")
            templates = [("when", step.when), ("respond", step.respond)]
            for field, node in [*templates, *_nodes(step.args, "args")]:
                if isinstance(node, Extraction):
                    field, node = f"{field}.$extract.from", node.source
                if isinstance(node, str):
                    for path in placeholders(node):
                        problem = reference_problem(path, captures, earlier)
                        if problem:
                            raise ValueError(f"{where} {field}: {{{path}}} {problem}")
            if step.id is not None:
                if step.id in earlier:
                    raise ValueError(f"{where}: id {step.id!r} is used twice")
                earlier.append(step.id)


class StaticPlan(Plan):
    """A plan written in the agent file, used for goals its ``match`` finds."""

    match: str | None = None
    """Regex searched in the goal; named groups become ``{goal.<name>}``. None: any goal."""

    @model_validator(mode="after")
    def _valid(self) -> StaticPlan:
        try:
            pattern = re.compile(self.match or "")
        except (re.error, RecursionError, OverflowError) as exc:  # nested or repeated too far
            raise ValueError(f"match is not a valid regular expression: {exc}") from exc
        self.check_references({"text", *pattern.groupindex})
        return self


ModelSpec = Annotated[LocalSpec | LLMSpec, Field(discriminator="kind")]


class PlanSpec(BaseModel):
    """YAML configuration of a ``plan`` reasoner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["plan"] = "plan"
    planner: Literal["static", "model"] = "static"
    """``static``: only ``plans``. ``model``: ``plans`` first, else ``model`` writes one."""
    plans: list[StaticPlan] = Field(default_factory=lambda: [])
    model: ModelSpec | None = None
    """The model that writes plans (``planner: model``) and answers ``ask`` extractions."""
    max_plan_tokens: int = Field(default=768, ge=64)
    """Longest plan the model may write."""
    max_plan_steps: int = Field(default=10, ge=1, le=50)
    """Most steps a model-written plan may have."""

    @model_validator(mode="after")
    def _complete(self) -> PlanSpec:
        if self.planner == "static" and not self.plans:
            raise ValueError("planner static needs at least one plan under 'plans'")
        if self.planner == "model" and self.model is None:
            raise ValueError("planner model needs 'model' ({kind: local} or {kind: llm, ...})")
        if self.model is None:
            for p, plan in enumerate(self.plans):
                for s, step in enumerate(plan.steps):
                    for where, node in _nodes(step.args, "args"):
                        if isinstance(node, Extraction) and node.ask is not None:
                            raise ValueError(
                                f"plans.{p}.steps.{s} {where}.$extract.ask needs 'model' "
                                "to extract with; give one, or use 'pattern'"
                            )
        return self


@dataclass(frozen=True, slots=True)
class _BadExtraction:
    message: str


def _nodes(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Template strings, :class:`Extraction` s and bad ``$extract`` s in an argument tree."""
    obj = as_dict(value)
    if obj is not None:
        if set(obj) == {"$extract"}:
            try:
                yield where, Extraction.model_validate(obj["$extract"])
            except ValidationError as exc:
                yield where, _BadExtraction(first_error(exc))
            return
        for key, item in obj.items():
            yield from _nodes(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(cast(list[Any], value)):
            yield from _nodes(item, f"{where}.{index}")
    elif isinstance(value, str):
        yield where, value


# --- running a plan ----------------------------------------------------------------------


class _Stop(Exception):
    """The plan cannot go on; the message is the run's answer."""

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage or Usage()


@dataclass(slots=True)
class _Scope:
    goal: dict[str, Any]
    results: dict[str, Any]
    deps: dict[str, frozenset[int]]
    """Step id -> the run steps its output depends on (itself and its arguments' sources)."""

    def render(self, template: str) -> Any:
        steps = {id_: {"result": result} for id_, result in self.results.items()}
        return render(template, {"goal": self.goal, "steps": steps})

    def sources(self, value: Any) -> frozenset[int]:
        """Run steps the templates in ``value`` read from, transitively."""
        found: set[int] = set()
        for _, node in _nodes(value, ""):
            text = node.source if isinstance(node, Extraction) else node
            if isinstance(text, str):
                for path in placeholders(text):
                    parts = path_parts(path)
                    if parts[0] == "steps" and len(parts) > 1:
                        found |= self.deps.get(parts[1], frozenset())
        return frozenset(found)


def _coerce_capture(value: str | None) -> Any:
    # As in the rules reasoner: captured digits become ints so integer arguments validate.
    if value is not None and value.isascii() and value.isdecimal():
        return int(value)
    return value


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens)


def _tool_problems(plan: Plan, tools: Sequence[Tool]) -> list[str]:
    """What in ``plan`` does not fit ``tools``: unknown tools, arguments, result fields."""
    by_name = {t.name: t for t in tools}
    step_tool: dict[str, Tool] = {}
    problems: list[str] = []
    for index, step in enumerate(plan.steps):
        where = f"steps.{index}" + (f" ({step.id})" if step.id else "")
        if step.call is not None:
            found = by_name.get(step.call)
            if found is None:
                offered = ", ".join(by_name) or "none"
                problems.append(
                    f"{where} calls {step.call!r}, not a tool of this agent ({offered})"
                )
                continue
            params = params_of(found)
            known = cast(dict[str, Any], params.get("properties", {}))
            for name, value in step.args.items():
                if name not in known:
                    problems.append(f"{where} args.{name}: {step.call} takes {', '.join(known)}")
                    continue
                extract = (as_dict(value) or {}).get("$extract")
                accepted = _json_types(as_dict(known[name]) or {}, params)
                if as_dict(extract) is not None and len(cast(dict[str, Any], value)) == 1:
                    kind = str(cast(dict[str, Any], extract).get("type", "string"))
                    if not accepted & _FITS.get(kind, set()):
                        problems.append(
                            f"{where} args.{name}: $extract type {kind} does not fit "
                            f"{step.call}'s {'|'.join(sorted(accepted))} argument"
                        )
            missing = [n for n in params.get("required", []) if n not in step.args]
            if missing:
                problems.append(f"{where} args: {step.call} needs {', '.join(missing)}")
            if step.id is not None:
                step_tool[step.id] = found
        templates = [("when", step.when), ("respond", step.respond)]
        for field, node in [*templates, *_nodes(step.args, "args")]:
            text = node.source if isinstance(node, Extraction) else node
            for path in placeholders(text) if isinstance(text, str) else []:
                parts = path_parts(path)
                source = step_tool.get(parts[1]) if parts[0] == "steps" else None
                if source is not None and not _has_field(source, parts[3:]):
                    problems.append(
                        f"{where} {field}: {{{path}}}: {source.name} returns no such field"
                    )
    return problems


_FITS: dict[str, set[str]] = {
    "string": {"string", "any"},
    "integer": {"integer", "number", "any"},
    "number": {"number", "any"},
    "boolean": {"boolean", "any"},
}


def _json_types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    # The JSON types a parameter accepts; "any" when the schema does not say.
    schema = resolve_ref(schema, root)
    if "anyOf" in schema:
        found: set[str] = set()
        for option in schema["anyOf"]:
            found |= _json_types(option, root)
        return found
    kind = schema.get("type")
    return {kind} if isinstance(kind, str) else {"any"}


def _has_field(t: Tool, path: list[str]) -> bool:
    # False only when the result schema says for sure the field is not there.
    root = result_of(t)
    if root is None:
        return True
    schema = root
    for part in path:
        schema = resolve_ref(schema, root)
        options = [resolve_ref(s, root) for s in schema.get("anyOf", [schema])]
        nxt: dict[str, Any] | None = None
        for option in options:
            props = as_dict(option.get("properties"))
            items = as_dict(option.get("items"))
            if props is not None and part in props:
                nxt = as_dict(props[part])
            elif items is not None and part.isdigit():
                nxt = items
            elif option.get("additionalProperties") or not (
                {"type", "enum", "const"} & set(option)
            ):
                return True  # nothing known about this value's shape
            if nxt is not None:
                break
        if nxt is None:
            return False
        schema = nxt
    return True


# --- the reasoner --------------------------------------------------------------------------


class PlanReasoner:
    """Plan-then-execute with value-level provenance; see the module docstring."""

    kind = "plan"

    def __init__(self, spec: PlanSpec) -> None:
        self.spec = spec
        self._patterns = [re.compile(p.match or "") for p in spec.plans]
        self._model: JsonModel | None = None
        if isinstance(spec.model, LocalSpec):
            self._model = LocalModel(spec.model)
        elif isinstance(spec.model, LLMSpec):
            self._model = EndpointModel(spec.model)
        self._written: OrderedDict[str, Plan | str] = OrderedDict()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """Journaled configuration: each static plan's match and calls, never secrets."""
        plans = [
            p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in self.spec.plans
        ]
        digest = hashlib.sha256(json.dumps(plans, sort_keys=True).encode()).hexdigest()
        out: dict[str, Any] = {
            "kind": self.kind,
            "planner": self.spec.planner,
            "plans": [
                {"match": p.match, "calls": [s.call for s in p.steps if s.call is not None]}
                for p in self.spec.plans
            ],
            "plans_sha256": digest[:16],
        }
        if self._model is not None:
            out["model"] = self._model.describe()
        return out

    def check_tools(self, tools: Sequence[Tool], where: str) -> None:
        """Raise :class:`ConfigError` if a static plan does not fit ``tools``.

        Args:
            tools: the agent's tools.
            where: the file and field to name in the message.
        """
        for index, plan in enumerate(self.spec.plans):
            problems = _tool_problems(plan, tools)
            if problems:
                raise ConfigError(f"{where}: plans.{index} {problems[0]}")

    def propose(self, context: RunContext) -> Proposal:
        """The next step of the run's plan, with each argument's sources.

        Raises:
            ReasonerUnavailableError: The model that writes plans or extracts is unavailable.
        """
        usage, model = Usage(), ""
        plan, captures = self._static(context.goal)
        if plan is not None and not context.turns:
            problems = _tool_problems(plan, context.tools)
            if problems:
                return Proposal(
                    FinalAnswer(f"The plan cannot run: {problems[0]}; nothing was run.")
                )
        if plan is None and self.spec.planner == "model" and self._model is not None:
            written, usage = self._write(context, self._model)
            model = self._model.name
            if isinstance(written, str):
                return Proposal(FinalAnswer(written), usage, model)
            plan, captures = written, {"text": context.goal}
        if plan is None:
            matches = ", ".join(repr(p.match) for p in self.spec.plans)
            return Proposal(FinalAnswer(f"No plan of this agent matches the goal ({matches})."))
        try:
            return self._next(plan, captures, context, usage, model)
        except _Stop as stop:
            if stop.usage.total and self._model is not None:
                usage, model = _add(usage, stop.usage), self._model.name
            return Proposal(FinalAnswer(str(stop)), usage, model)

    def _static(self, goal: str) -> tuple[Plan | None, dict[str, Any]]:
        for plan, pattern in zip(self.spec.plans, self._patterns, strict=True):
            found = pattern.search(goal)
            if found is not None:
                groups = {k: _coerce_capture(v) for k, v in found.groupdict().items()}
                return plan, {"text": goal} | groups
        return None, {}

    def _write(self, context: RunContext, model: JsonModel) -> tuple[Plan | str, Usage]:
        """The model's plan for ``context`` (cached), or why it could not write one."""
        tools = [[t.name, t.description, params_of(t)] for t in context.tools]
        key = hashlib.sha256(
            json.dumps([context.goal, context.instructions, tools], sort_keys=True).encode()
        ).hexdigest()
        with self._lock:
            if key in self._written:
                self._written.move_to_end(key)
                return self._written[key], Usage()
        messages = planner_messages(context)
        schema = plan_schema(context.tools, self.spec.max_plan_steps)
        usage, problem = Usage(), ""
        written: Plan | str = ""
        for seed in range(_RESAMPLES + 1):
            text, used = model.complete(messages, schema, self.spec.max_plan_tokens, seed)
            usage = _add(usage, used)
            try:
                plan = parse_plan(text)
            except ValueError as exc:
                problem = str(exc)
                continue
            problems = _tool_problems(plan, context.tools)
            if not problems:
                written = plan
                break
            problem = problems[0]
        else:
            written = f"The planner could not write a valid plan ({problem}); nothing was run."
        with self._lock:
            self._written[key] = written
            while len(self._written) > _CACHE_SIZE:
                self._written.popitem(last=False)
        return written, usage

    def _next(
        self,
        plan: Plan,
        captures: dict[str, Any],
        context: RunContext,
        usage: Usage,
        model: str,
    ) -> Proposal:
        scope = _Scope(captures, {}, {})
        turns = context.turns
        position = 0  # turns consumed; turn i was observed at run step i + 1
        for index, step in enumerate(plan.steps):
            name = step.id or f"#{index + 1}"
            guard: frozenset[int] = frozenset()
            if step.when is not None:
                try:
                    condition = scope.render(step.when)
                except MissingValueError:
                    condition = None  # a condition on a value that is not there is false
                if condition in _FALSY:
                    continue
                guard = scope.sources(step.when)
            if step.respond is not None:
                return Proposal(
                    FinalAnswer(text_of(self._render(step.respond, scope, name))), usage, model
                )
            assert step.call is not None
            sources = {arg: scope.sources(value) | guard for arg, value in step.args.items()}
            if position == len(turns):
                args: dict[str, Any] = {}
                for arg, value in step.args.items():
                    args[arg], used = self._resolve(value, scope, name, arg)
                    if used.total and self._model is not None:
                        usage, model = _add(usage, used), self._model.name
                return Proposal(
                    ToolCall(step.call, args),
                    usage,
                    model,
                    sources=_with_defaults(step.call, sources, guard, context.tools),
                )
            turn = turns[position]
            position += 1
            if turn.call.tool != step.call:
                raise _Stop(
                    f"The run left the plan at step {position}: it called {turn.call.tool!r} "
                    f"where the plan calls {step.call!r} ({name}); stopping."
                )
            observation = turn.observation
            if observation.status != "ok":
                raise _Stop(
                    f"Plan stopped at step {position} ({name}: {step.call}): "
                    f"{observation.render(500)}"
                )
            if step.id is not None:
                scope.results[step.id] = observation.content
                scope.deps[step.id] = frozenset({position}).union(guard, *sources.values())
        return Proposal(FinalAnswer("Plan complete."), usage, model)

    @staticmethod
    def _render(template: str, scope: _Scope, name: str) -> Any:
        try:
            return scope.render(template)
        except MissingValueError as exc:
            raise _Stop(f"Plan step {name} needs {{{exc}}}, which is not available.") from exc

    def _resolve(self, value: Any, scope: _Scope, name: str, arg: str) -> tuple[Any, Usage]:
        obj = as_dict(value)
        if obj is not None and set(obj) == {"$extract"}:
            return self._extract(Extraction.model_validate(obj["$extract"]), scope, name, arg)
        if obj is not None:
            out: dict[str, Any] = {}
            usage = Usage()
            for key, item in obj.items():
                out[key], used = self._resolve(item, scope, name, arg)
                usage = _add(usage, used)
            return out, usage
        if isinstance(value, list):
            items = [self._resolve(v, scope, name, arg) for v in cast(list[Any], value)]
            total = Usage()
            for _, used in items:
                total = _add(total, used)
            return [v for v, _ in items], total
        if isinstance(value, str):
            return self._render(value, scope, name), Usage()
        return value, Usage()

    def _extract(
        self, extraction: Extraction, scope: _Scope, name: str, arg: str
    ) -> tuple[Any, Usage]:
        text = text_of(self._render(extraction.source, scope, name))
        what = extraction.ask or f"pattern {extraction.pattern!r}"
        failed = f"Plan step {name}: could not extract {arg} ({what}) from {extraction.source}"
        if extraction.pattern is not None:
            found = re.search(extraction.pattern, text)
            if found is None:
                raise _Stop(f"{failed}: no match.")
            if "value" in found.re.groupindex:
                raw = found.group("value")
            else:
                raw = found.group(1) if found.re.groups else found.group(0)
            try:
                return _typed(raw or "", extraction.type), Usage()
            except ValueError as exc:
                raise _Stop(f"{failed}: {exc}.") from exc
        assert self._model is not None and extraction.ask is not None
        got, usage = extract_value(self._model, extraction.ask, extraction.type, text)
        if got is None:
            raise _Stop(f"{failed}: the extractor found none.", usage)
        return got, usage


def _typed(raw: str, kind: ValueType) -> Any:
    text = raw.strip()
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"{text[:40]!r} is not an integer")
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a number") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
        raise ValueError(f"{text[:40]!r} is not true or false")
    return text


def _with_defaults(
    tool: str, sources: Mapping[str, frozenset[int]], guard: frozenset[int], tools: Sequence[Tool]
) -> dict[str, tuple[int, ...]]:
    # An argument the plan leaves out takes the tool's default, a constant (guarded like
    # the rest of the call). Naming it keeps the runtime from giving it the whole
    # context's label.
    out = {name: tuple(sorted(steps)) for name, steps in sources.items()}
    for t in tools:
        if t.name == tool:
            for name in params_of(t).get("properties", {}):
                out.setdefault(name, tuple(sorted(guard)))
    return out
