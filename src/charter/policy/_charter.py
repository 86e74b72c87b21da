"""Charters: an agent's policy, written in YAML.

A first schema: which tools may run, and budgets of steps, tokens and wall time. Every
decision names the rules that produced it and the charter's version hash.

.. code-block:: yaml

    name: support
    version: "1"
    tools:
      allow: ["lookup_*", refund_order]
      deny: [send_email]
    budgets:
      max_steps: 12
      max_tokens: 40000
      max_wall_seconds: 600
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Collection, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from charter._yaml import load_model, read_yaml_mapping
from charter.errors import ConfigError
from charter.journal import canonical_json
from charter.policy._decision import Decision


class ToolRules(BaseModel):
    """Which tools the agent may call. Patterns use shell globbing (``lookup_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(default_factory=lambda: ["*"])
    """Tools that may run; anything not matched is denied."""
    deny: list[str] = Field(default_factory=lambda: [])
    """Tools that never run; deny wins over allow."""


class Budgets(BaseModel):
    """Limits that stop a run when exceeded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(default=20, ge=1)
    """Reasoning steps (proposals) per run."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Prompt plus completion tokens per run."""
    max_wall_seconds: float | None = Field(default=None, gt=0)
    """Elapsed seconds per run."""


class Charter(BaseModel):
    """An agent's policy. Load one with :func:`load_charter` or build it in code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: str = "1"
    description: str = ""
    tools: ToolRules = Field(default_factory=ToolRules)
    budgets: Budgets = Field(default_factory=Budgets)
    allow_repeat_writes: bool = False
    """Let a run repeat a completed, non-idempotent write or external call with identical
    arguments (by default the repeat is denied: it would do the thing twice)."""

    @cached_property
    def policy_hash(self) -> str:
        """Short version hash of the policy content, journaled with every decision."""
        body = canonical_json(self.model_dump(mode="json"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Charter:
        """A copy with ``update`` applied; its policy hash reflects the new content."""
        copied = super().model_copy(update=update, deep=deep)
        cached = cast(dict[str, Any], copied.__dict__)
        cached.pop("policy_hash", None)  # the cached hash described the original
        return copied

    def check_tools(self, known: Collection[str], source: str) -> None:
        """Fail if a rule names no known tool (a typo would silently deny or allow)."""
        for field_name, patterns in (("allow", self.tools.allow), ("deny", self.tools.deny)):
            for pattern in patterns:
                if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
                    raise ConfigError(
                        f"{source}: field tools.{field_name}: {pattern!r} matches no tool; "
                        f"known tools: {', '.join(sorted(known)) or 'none'}"
                    )

    def decide(self, tool_name: str) -> Decision:
        """Verdict for calling ``tool_name`` (deny wins over allow)."""
        if any(fnmatch.fnmatchcase(tool_name, p) for p in self.tools.deny):
            return self._decision("deny", "tools.deny", f"charter denies tool {tool_name!r}")
        if any(fnmatch.fnmatchcase(tool_name, p) for p in self.tools.allow):
            return self._decision("allow", "tools.allow", f"charter allows tool {tool_name!r}")
        return self._decision(
            "deny", "tools.default-deny", f"tool {tool_name!r} is not in the charter's allow list"
        )

    def deny(self, rule: str, reason: str) -> Decision:
        """A denial by a rule outside the tool lists (inventory, agent scope, budgets)."""
        return self._decision("deny", rule, reason)

    def _decision(self, verdict: Any, rule: str, reason: str) -> Decision:
        return Decision(verdict=verdict, rules=(rule,), reason=reason, policy=self.policy_hash)


def load_charter(path: Path | str) -> Charter:
    """Read a charter YAML file; raise :class:`ConfigError` naming file and field."""
    path = Path(path)
    return load_model(Charter, read_yaml_mapping(path), str(path))
