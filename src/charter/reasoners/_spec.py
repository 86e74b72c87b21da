"""Reasoner configuration as written in agent files, and construction from it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.reasoners._base import Reasoner
from charter.reasoners.llm import LLMSpec
from charter.reasoners.rules import RulesSpec


class LocalSpec(BaseModel):
    """YAML configuration of the embedded ``local`` reasoner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local"] = "local"
    n_ctx: int = Field(default=4096, ge=512)
    """Context window in tokens."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads; default: all cores."""
    max_tokens: int = Field(default=256, ge=16)
    """Longest proposal the model may write."""


ReasonerSpec = Annotated[LocalSpec | LLMSpec | RulesSpec, Field(discriminator="kind")]


def build_reasoner(spec: LocalSpec | LLMSpec | RulesSpec) -> Reasoner:
    """Construct the reasoner a spec describes (the local model loads on first use)."""
    if isinstance(spec, RulesSpec):
        from charter.reasoners.rules import RulesReasoner

        return RulesReasoner(spec)
    if isinstance(spec, LLMSpec):
        from charter.reasoners.llm import LLMReasoner

        return LLMReasoner(spec)
    from charter.reasoners.local import LocalReasoner

    return LocalReasoner(n_ctx=spec.n_ctx, threads=spec.threads, max_tokens=spec.max_tokens)
