"""Labels and provenance: the public API the runtime itself uses.

Every value an agent sees carries a :class:`Label` (trust and confidentiality): the goal
is trusted; a tool's output carries its contract's label, field by field where the
contract labels output fields by path (:func:`label_output`). :class:`RunLabels` (also
called :class:`Provenance`) keeps what a run has seen and gives each argument of a
proposed call its label; :func:`decide_call` is the charter's decision on that call.
A harness that drives its own loop uses the same pieces the runner does::

    from charter.labels import RunLabels, decide_call

    seen = RunLabels(goal)
    for step, (tool, args, output_text) in enumerate(calls, 1):
        decision = decide_call(charter, tool, args, seen.arg_labels(tool, args))
        ...
        seen.observe(tool, output_text, step, args=args)

The task scope (:func:`derive_scope`) and answer checks (:func:`check_answer`) are the
two other decision inputs the runtime takes from here; contracts for tools charter did
not write are declared with :class:`ContractSpec` and :func:`apply_contracts`. A scope's
goal-designated sources (:class:`Binding`) are resolved over what the run read with
``seen.resolve(scope)`` (each a :class:`Designation`, by step and field); pass the
resolved scope to ``seen.arg_labels(tool, args, scope=...)`` and decide within it with
``scope.govern(tool, args, decision)``.
"""

from charter.policy._answer import AnswerCheck, check_answer, check_run_answer, find_sensitive
from charter.policy._designate import Binding, Designation, designate
from charter.policy._fields import field_label, label_output, tool_label, widest_label
from charter.policy._flow import GOAL_LABEL, Label, check_flows, decide_call, join_all
from charter.policy._scope import ScopeRule, ScopeRules, TaskScope, derive_scope, govern_scope
from charter.runtime._provenance import Provenance, RunLabels, canonical, goal_numbers
from charter.tools._contracts import ContractSpec, apply_contracts

__all__ = [
    "GOAL_LABEL",
    "AnswerCheck",
    "Binding",
    "ContractSpec",
    "Designation",
    "Label",
    "Provenance",
    "RunLabels",
    "ScopeRule",
    "ScopeRules",
    "TaskScope",
    "apply_contracts",
    "canonical",
    "check_answer",
    "check_flows",
    "check_run_answer",
    "decide_call",
    "derive_scope",
    "designate",
    "field_label",
    "find_sensitive",
    "goal_numbers",
    "govern_scope",
    "join_all",
    "label_output",
    "tool_label",
    "widest_label",
]
