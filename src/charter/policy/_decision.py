"""Decisions: what the charter says about one proposed action, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from charter.journal._kinds import Decided

Verdict = Literal["allow", "deny", "ask", "redact", "simulate"]
"""``allow`` runs the action; ``deny`` refuses it; ``ask`` waits for an approval; ``redact``
runs it with sensitive values removed; ``simulate`` journals what would have happened."""

VERDICT_RANK: dict[str, int] = {"allow": 0, "redact": 1, "simulate": 2, "ask": 3, "deny": 4}
"""Which verdict wins when several rules match: the higher rank (deny wins)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The charter's verdict on one action, with the rules that produced it."""

    verdict: Verdict
    rules: tuple[str, ...]
    """Ids of the rules that matched, e.g. ``("tools.deny",)``."""
    reason: str
    """One sentence a reviewer can read."""
    policy: str
    """Version hash of the charter that decided."""

    @property
    def allowed(self) -> bool:
        """Whether the action may run now."""
        return self.verdict == "allow"

    def to_json(self) -> Decided:
        """JSON form, as journaled."""
        return {
            "verdict": self.verdict,
            "rules": list(self.rules),
            "reason": self.reason,
            "policy": self.policy,
        }
