"""Information flow: labels on values, and the charter's rules on where they may go.

Every tool output carries a label: trust (``trusted`` | ``untrusted``) and confidentiality
(``public`` < ``internal`` < ``pii`` < ``secret``). Labels join upward: anything derived
from an untrusted value is untrusted, from a pii value at least pii. The runtime gives each
argument of a proposed call a label (see :mod:`charter.runtime._provenance`); the flow
rules then decide:

* ``flow.confidential-to-external``: an argument labelled ``pii`` or ``secret`` going to
  an ``external`` tool (default **deny**);
* ``flow.untrusted-target``: an untrusted value choosing a target argument (the tool
  contract's ``targets``: recipient, account, order) of a ``write`` or ``external`` tool
  (default **ask**: a human approves or not).

:func:`decide_call` is the whole decision for one call (Cedar rules and flow rules,
deny wins) and is the entry point for external harnesses: give it a tool, arguments and
each argument's label, get the charter's :class:`~charter.policy.Decision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from charter.policy._decision import VERDICT_RANK, Decision

if TYPE_CHECKING:
    from charter.policy._charter import Charter
    from charter.policy._rollout import Phase
    from charter.tools import Tool

_CONFIDENTIALITY = ("public", "internal", "pii", "secret")
_LEVEL = {name: level for level, name in enumerate(_CONFIDENTIALITY)}
FlowEffect = Literal["deny", "ask", "allow"]


@dataclass(frozen=True, slots=True)
class Label:
    """Where a value may go: its trust and confidentiality."""

    trust: Literal["trusted", "untrusted"] = "trusted"
    confidentiality: Literal["public", "internal", "pii", "secret"] = "internal"

    def __post_init__(self) -> None:
        if self.trust not in ("trusted", "untrusted"):
            raise ValueError(f"unknown trust label {self.trust!r}; use trusted or untrusted")
        if self.confidentiality not in _CONFIDENTIALITY:
            raise ValueError(
                f"unknown confidentiality label {self.confidentiality!r}; "
                f"use one of {', '.join(_CONFIDENTIALITY)}"
            )

    def join(self, other: Label) -> Label:
        """The label of a value derived from both (untrusted and the more confidential win)."""
        mine, theirs = _LEVEL[self.confidentiality], _LEVEL[other.confidentiality]
        # Usually one label already covers the other (a run's context joined with what it
        # has seen): return it rather than build an equal one.
        if mine >= theirs and (self.trust == "untrusted" or other.trust == "trusted"):
            return self
        if theirs >= mine and (other.trust == "untrusted" or self.trust == "trusted"):
            return other
        return Label("untrusted", _CONFIDENTIALITY[max(mine, theirs)])  # type: ignore[arg-type]

    @property
    def confidential(self) -> bool:
        """pii or secret."""
        return self.confidentiality in ("pii", "secret")

    def to_json(self) -> dict[str, str]:
        """JSON form, as journaled and as Cedar conditions see it."""
        return {"trust": self.trust, "confidentiality": self.confidentiality}


GOAL_LABEL = Label("trusted", "internal")
"""What the goal a run was started with carries: whoever starts a run is trusted."""
_BOTTOM = Label("trusted", "public")


def join_all(labels: Mapping[str, Label] | None) -> Label:
    """The join of every label (trusted, public when there are none)."""
    joined = _BOTTOM
    for label in (labels or {}).values():
        joined = joined.join(label)
    return joined


class Flows(BaseModel):
    """What the default flow rules do: ``deny``, ``ask`` (approval) or ``allow`` (off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidential_to_external: FlowEffect = "deny"
    """pii or secret arguments into an external tool."""
    untrusted_target: FlowEffect = "ask"
    """An untrusted value choosing a target of a write or external tool."""
    unknown_provenance: Literal["untrusted", "trusted"] = "untrusted"
    """The trust of an argument whose provenance nobody gave (fail closed by default)."""
    answer: Literal["allow", "flag", "redact", "ask", "deny"] = "flag"
    """What a final answer carrying a link, an address, a phone or an account number
    found only in untrusted fields does: ``flag`` (journaled), ``redact`` (replaced
    before the answer is kept), ``ask`` (an approver sees it first), ``deny`` (withheld);
    see :mod:`charter.policy._answer`."""


def check_flows(charter: Charter, tool: Tool, arg_labels: Mapping[str, Label]) -> Decision | None:
    """The flow rules' verdict on a call, or None when no flow rule objects."""
    flows, contract = charter.flows, tool.contract
    found: list[tuple[Literal["deny", "ask"], str, str]] = []
    c2e, target = flows.confidential_to_external, flows.untrusted_target
    if contract.side_effect == "external" and c2e != "allow":
        leaking = sorted(n for n, label in arg_labels.items() if label.confidential)
        if leaking:
            found.append(
                (
                    c2e,
                    "flow.confidential-to-external",
                    f"{', '.join(leaking)} of external tool {tool.name!r} carry "
                    f"{join_all({n: arg_labels[n] for n in leaking}).confidentiality} data",
                )
            )
    if contract.side_effect != "read" and target != "allow":
        chosen = sorted(
            t for t in contract.targets if t in arg_labels and arg_labels[t].trust == "untrusted"
        )
        if chosen:
            found.append(
                (
                    target,
                    "flow.untrusted-target",
                    f"untrusted data chose {', '.join(chosen)} of {tool.name!r}",
                )
            )
    if not found:
        return None
    strongest: Literal["deny", "ask"] = "deny" if any(e == "deny" for e, _, _ in found) else "ask"
    chosen_rules = tuple(rule for effect, rule, _ in found if effect == strongest)
    reason = "; ".join(why for effect, _, why in found if effect == strongest)
    return Decision(strongest, chosen_rules, reason, charter.policy_hash)


def decide_call(
    charter: Charter,
    tool: Tool,
    args: Mapping[str, Any],
    arg_labels: Mapping[str, Label] | None = None,
    *,
    agent: str = "agent",
    now: datetime | None = None,
    phase: Phase | None = None,
) -> Decision:
    """The charter's decision on one proposed call: Cedar rules and flow rules, deny wins.

    This is the hook for external harnesses (benchmarks, other runtimes): pass the tool,
    its validated JSON-ready arguments and the label of each argument. An argument
    without a label is of unknown provenance: untrusted and internal, unless the charter
    says ``flows.unknown_provenance: trusted``. Conditions see each argument's label as
    ``context.args_labels.<arg>`` and their join as ``context.labels``. ``phase`` is the
    agent version's rollout phase as conditions see it (default: the charter's starting
    phase); what the phase does to an allowed write (simulate it, ask) is the runtime's
    part.
    """
    labels = dict(arg_labels or {})
    missing = [name for name in args if name not in labels]
    if missing:
        unknown = Label(charter.flows.unknown_provenance, "internal")
        labels.update(dict.fromkeys(missing, unknown))
    decision = charter.decide(
        tool,
        args,
        agent=agent,
        now=now,
        labels=join_all(labels),
        phase=phase,
        args_labels=labels,
    )
    flow = check_flows(charter, tool, labels)
    if flow is not None and VERDICT_RANK[flow.verdict] > VERDICT_RANK[decision.verdict]:
        return flow
    return decision
