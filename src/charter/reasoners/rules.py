"""The ``rules`` reasoner: a deterministic, declarative procedure.

For audited fixed procedures and for tests. A procedure is a list of steps; each either
calls a tool or responds. Values are templated from the goal and from earlier results:

.. code-block:: yaml

    reasoner:
      kind: rules
      match: 'refund order (?P<order_id>\\d+)'
      steps:
        - id: order
          call: lookup_order
          args: {order_id: "{goal.order_id}"}
        - id: refund
          when: "{steps.order.result.refundable}"
          call: refund_order
          args: {order_id: "{goal.order_id}", amount_cents: "{steps.order.result.amount_cents}"}
        - respond: "Refund {steps.refund.result.refund_id} issued."

Templates are those of the ``plan`` reasoner (:mod:`charter.reasoners._template`): a
template that is exactly one ``{path}`` keeps the value's type; otherwise a string is
inserted as it is and any other value as JSON; ``[n]`` indexes a list. An earlier step is
read as ``{steps.<id>.result...}`` or ``{steps.<id>.status}``; a placeholder naming no part
of the goal (``text`` or a named group of ``match``) or no earlier step is refused when the
agent loads (one naming another field of an earlier step is missing when the run reads
it). The reasoner is stateless: progress is re-derived from the run's turns, so a resumed
or replayed run proposes exactly the same actions.
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter.reasoners._base import FinalAnswer, Proposal, RunContext, ToolCall
from charter.reasoners._template import MissingValueError, placeholders, reference_problem, render

_FALSY: tuple[Any, ...] = (None, False, 0, "", "false", "False", "no", [], {})


class RuleStep(BaseModel):
    """One step of a procedure: ``call`` a tool, or ``respond`` with a final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    """Name later templates use: ``{steps.<id>.result...}``."""
    call: str | None = None
    args: dict[str, Any] = Field(default_factory=lambda: {})
    respond: str | None = None
    when: str | None = None
    """Template; the step is skipped when it renders falsy (false, 0, empty, missing)."""
    on_error: Literal["stop", "continue"] = "stop"
    """What to do when the call's observation is not ``ok``."""

    @model_validator(mode="after")
    def _one_action(self) -> RuleStep:
        if (self.call is None) == (self.respond is None):
            raise ValueError("each step needs exactly one of 'call' or 'respond'")
        return self


class RulesSpec(BaseModel):
    """YAML configuration of a rules reasoner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rules"] = "rules"
    match: str | None = None
    """Regex searched in the goal; named groups become ``{goal.<name>}``."""
    steps: list[RuleStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid_regex(self) -> RulesSpec:
        if self.match is not None:
            try:
                re.compile(self.match)
            except (re.error, RecursionError, OverflowError) as exc:  # nested or repeated too far
                raise ValueError(f"match is not a valid regular expression: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _known_references(self) -> RulesSpec:
        # A placeholder naming no part of the goal or no earlier step is refused here,
        # when the agent loads, as the plan reasoner refuses it, not met mid-run.
        captures = {"text", *(re.compile(self.match).groupindex if self.match else ())}
        earlier: list[str] = []
        for index, step in enumerate(self.steps):
            where = f"steps.{index}" + (f" ({step.id})" if step.id else "")
            for field, text in _templates(step):
                for path in placeholders(text):
                    problem = reference_problem(path, captures, earlier, fields=None)
                    if problem:
                        raise ValueError(f"{where} {field}: {{{path}}} {problem}")
            if step.id is not None:
                if step.id in earlier:
                    raise ValueError(f"{where}: id {step.id!r} is used twice")
                earlier.append(step.id)
        return self


def _templates(step: RuleStep) -> list[tuple[str, str]]:
    """(field, text) of every template string in ``step``: when, respond, the args."""
    found = [(f, t) for f, t in (("when", step.when), ("respond", step.respond)) if t]
    stack: list[tuple[str, Any]] = [(f"args.{k}", v) for k, v in step.args.items()]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, dict):
            items = cast(dict[str, Any], value).items()
            stack.extend((f"{where}.{k}", v) for k, v in items)
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", v) for i, v in enumerate(cast(list[Any], value)))
    return found


class RulesReasoner:
    """Deterministic procedure runner; see the module docstring for the format."""

    kind = "rules"

    def __init__(self, spec: RulesSpec) -> None:
        self.spec = spec
        self._pattern = re.compile(spec.match) if spec.match else None

    def describe(self) -> dict[str, Any]:
        """Journaled configuration."""
        return {"kind": self.kind, "steps": len(self.spec.steps), "match": self.spec.match}

    def propose(self, context: RunContext) -> Proposal:
        """The next step of the procedure not yet taken in ``context``."""
        goal: dict[str, Any] = {"text": context.goal}
        if self._pattern is not None:
            found = self._pattern.search(context.goal)
            if found is None:
                return Proposal(
                    FinalAnswer(f"The goal does not match this procedure ({self.spec.match!r}).")
                )
            goal |= {k: _coerce(v) for k, v in found.groupdict().items()}
        scope: dict[str, Any] = {"goal": goal, "steps": {}}
        turns = iter(context.turns)
        for index, step in enumerate(self.spec.steps):
            label = step.id or f"#{index + 1}"
            try:
                if step.when is not None and _condition(step.when, scope) in _FALSY:
                    continue
                if step.respond is not None:
                    return Proposal(FinalAnswer(str(render(step.respond, scope))))
                assert step.call is not None
                args = render(step.args, scope)
            except MissingValueError as exc:
                return Proposal(
                    FinalAnswer(f"Procedure step {label} needs {{{exc.path}}}, not available.")
                )
            turn = next(turns, None)
            if turn is None:
                return Proposal(ToolCall(step.call, args))
            obs = turn.observation
            if step.id is not None:
                scope["steps"][step.id] = {"status": obs.status, "result": obs.content}
            if obs.status != "ok" and step.on_error == "stop":
                return Proposal(
                    FinalAnswer(f"Procedure stopped at step {label}: {obs.render(500)}")
                )
        return Proposal(FinalAnswer("Procedure complete."))


def _condition(template: str, scope: dict[str, Any]) -> Any:
    # A condition on a value that is not there is false: the step is skipped, not failed.
    try:
        return render(template, scope)
    except MissingValueError:
        return None


def _coerce(value: str | None) -> Any:
    # Captured digits become ints so tools with integer arguments validate. (isdecimal, not
    # isdigit: superscripts are "digits" that int() rejects.)
    if value is not None and value.isascii() and value.isdecimal():
        return int(value)
    return value
