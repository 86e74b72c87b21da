"""Reasoner configuration as written in agent files, and construction from it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from charter.reasoners._base import Reasoner
from charter.reasoners.llm import LLMSpec
from charter.reasoners.local import LocalSpec
from charter.reasoners.plan import PlanSpec
from charter.reasoners.rules import RulesSpec

__all__ = ["LocalSpec", "ReasonerSpec", "build_reasoner"]

ReasonerSpec = Annotated[LocalSpec | LLMSpec | RulesSpec | PlanSpec, Field(discriminator="kind")]


def build_reasoner(spec: LocalSpec | LLMSpec | RulesSpec | PlanSpec) -> Reasoner:
    """Construct the reasoner a spec describes (the local model loads on first use)."""
    if isinstance(spec, RulesSpec):
        from charter.reasoners.rules import RulesReasoner

        return RulesReasoner(spec)
    if isinstance(spec, PlanSpec):
        from charter.reasoners.plan import PlanReasoner

        return PlanReasoner(spec)
    if isinstance(spec, LLMSpec):
        from charter.reasoners.llm import LLMReasoner

        return LLMReasoner(spec)
    from charter.reasoners.local import LocalReasoner

    return LocalReasoner(n_ctx=spec.n_ctx, threads=spec.threads, max_tokens=spec.max_tokens)
