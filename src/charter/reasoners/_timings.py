"""Where one call of the embedded model spent its time, as llama.cpp measured it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StepTimings:
    """Where one model call's time went, from llama.cpp's own timings (logged at DEBUG)."""

    prompt_tokens: int
    """Tokens in the prompt."""
    cached_tokens: int
    """Of those, tokens the prompt cache already held (not read again)."""
    prompt_ms: float
    """Time reading the tokens not cached."""
    generated_tokens: int
    generation_ms: float
    """Time generating, grammar-constrained sampling included."""
    seconds: float
    """Wall time of the whole call."""

    @classmethod
    def of(cls, response: dict[str, Any], seconds: float) -> StepTimings:
        """The timings of a chat completion response (zeros where the server gave none)."""
        raw: Any = response.get("timings") or {}
        return cls(
            prompt_tokens=int(raw.get("cache_n", 0)) + int(raw.get("prompt_n", 0)),
            cached_tokens=int(raw.get("cache_n", 0)),
            prompt_ms=float(raw.get("prompt_ms", 0.0)),
            generated_tokens=int(raw.get("predicted_n", 0)),
            generation_ms=float(raw.get("predicted_ms", 0.0)),
            seconds=seconds,
        )

    def line(self) -> str:
        """One line for a log."""
        read = self.prompt_tokens - self.cached_tokens
        return (
            f"prompt {self.prompt_tokens} tokens ({self.cached_tokens} cached, {read} read in "
            f"{self.prompt_ms / 1000:.1f} s), {self.generated_tokens} generated in "
            f"{self.generation_ms / 1000:.1f} s, {self.seconds:.1f} s in all"
        )
