"""Evals: scenarios and suites run against an agent version, and promotion on their evidence.

``load_suite`` reads a suite file and checks it against a fresh world; ``run_suite`` runs
its cases (each in its own world and journal, in parallel) and returns an
:class:`EvalResult` with per-case outcomes and the suite's KPIs; ``record_eval`` journals
it; ``promote`` moves an agent version to a later rollout phase when the gates its charter
declares are met by recorded evals (see :mod:`charter.policy._rollout`).
"""

from charter.evals._execute import ApproverPolicy, ReasonerMode, plant, run_suite
from charter.evals._gates import (
    GateResult,
    PromotionRefusedError,
    current_phase,
    demote,
    gate_results,
    promote,
)
from charter.evals._results import (
    EVAL_KIND,
    CaseResult,
    Comparison,
    EvalResult,
    compare,
    get_eval,
    list_evals,
    record_eval,
)
from charter.evals._suite import (
    Case,
    Scenario,
    Suite,
    Variant,
    cases,
    check_tools,
    load_suite,
)

__all__ = [
    "EVAL_KIND",
    "ApproverPolicy",
    "Case",
    "CaseResult",
    "Comparison",
    "EvalResult",
    "GateResult",
    "PromotionRefusedError",
    "ReasonerMode",
    "Scenario",
    "Suite",
    "Variant",
    "cases",
    "check_tools",
    "compare",
    "current_phase",
    "demote",
    "gate_results",
    "get_eval",
    "list_evals",
    "load_suite",
    "plant",
    "promote",
    "record_eval",
    "run_suite",
]
