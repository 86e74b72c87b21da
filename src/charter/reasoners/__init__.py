"""Reasoners propose the next action of a run: ``rules``, ``plan``, ``llm``, ``local``."""

from charter.reasoners._base import (
    Action,
    FinalAnswer,
    Observation,
    ObservationStatus,
    Proposal,
    Reasoner,
    RunContext,
    ToolCall,
    Turn,
    Usage,
)
from charter.reasoners._spec import LocalSpec, ReasonerSpec, build_reasoner
from charter.reasoners.llm import LLMReasoner, LLMSpec
from charter.reasoners.plan import PlanReasoner, PlanSpec
from charter.reasoners.rules import RulesReasoner, RulesSpec, RuleStep

__all__ = [
    "Action",
    "FinalAnswer",
    "LLMReasoner",
    "LLMSpec",
    "LocalSpec",
    "Observation",
    "ObservationStatus",
    "PlanReasoner",
    "PlanSpec",
    "Proposal",
    "Reasoner",
    "ReasonerSpec",
    "RuleStep",
    "RulesReasoner",
    "RulesSpec",
    "RunContext",
    "ToolCall",
    "Turn",
    "Usage",
    "build_reasoner",
]
