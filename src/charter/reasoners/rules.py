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

A template that is exactly one ``{path}`` keeps the value's type; otherwise values are
formatted into the text. The reasoner is stateless: progress is re-derived from the run's
turns, so a resumed or replayed run proposes exactly the same actions.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter.reasoners._base import FinalAnswer, Proposal, RunContext, ToolCall

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")
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


class _MissingValue(LookupError):
    pass


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    value: Any = scope
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]  # pyright: ignore[reportUnknownVariableType]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):  # pyright: ignore[reportUnknownArgumentType]
            value = value[int(part)]  # pyright: ignore[reportUnknownVariableType]
        else:
            raise _MissingValue(path)
    return value  # pyright: ignore[reportUnknownVariableType]


def render(template: Any, scope: dict[str, Any]) -> Any:
    """Substitute ``{path}`` placeholders in ``template`` (strings, lists, dicts)."""
    if isinstance(template, dict):
        return {k: render(v, scope) for k, v in template.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(template, list):
        return [render(v, scope) for v in template]  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return _lookup(whole.group(1), scope)
    return _PLACEHOLDER.sub(lambda m: str(_lookup(m.group(1), scope)), template)


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
            except _MissingValue as exc:
                return Proposal(
                    FinalAnswer(f"Procedure step {label} needs {{{exc}}}, not available.")
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
    except _MissingValue:
        return None


def _coerce(value: str | None) -> Any:
    # Captured digits become ints so tools with integer arguments validate. (isdecimal, not
    # isdigit: superscripts are "digits" that int() rejects.)
    if value is not None and value.isascii() and value.isdecimal():
        return int(value)
    return value
