"""Anomaly rules: patterns of behaviour that trigger an incident playbook.

A charter lists anomalies under ``anomalies:``; each has a kind, its thresholds and a
playbook (what the runtime does when it fires):

.. code-block:: yaml

    anomalies:
      - id: refund-burst
        kind: tool_rate            # an agent calls matching tools too often
        tools: [refund_order]
        max_calls: 5
        per_seconds: 60
        playbook: [pause_agent, notify]
      - id: read-then-mail
        kind: sequence             # a run calls these tools in this order
        sequence: [lookup_customer, send_email]
        playbook: [stop_run, notify]
      - id: probing
        kind: repeated_denials     # an agent's calls keep being denied
        max_denials: 3
        per_seconds: 300
        playbook: [revoke_tool, notify]
    notifications:
      webhook_url: https://hooks.example.com/charter

Playbook actions: ``pause_agent`` (the kill switch: every run of the agent stops),
``stop_run`` (this run only), ``revoke_tool`` (the tool that fired the rule, for this
agent) and ``notify`` (a message to the journal's outbox, posted to the webhook).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AnomalyKind = Literal["tool_rate", "sequence", "repeated_denials"]
PlaybookAction = Literal["pause_agent", "stop_run", "revoke_tool", "notify"]


class AnomalyRule(BaseModel):
    """One anomaly: what to watch for, and the playbook to run when it is seen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Journaled as ``anomaly.<id>``."""
    kind: AnomalyKind
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """``tool_rate``: which tools count (shell globbing)."""
    max_calls: int | None = Field(default=None, ge=1)
    """``tool_rate``: more calls than this within ``per_seconds`` fires the rule."""
    max_denials: int | None = Field(default=None, ge=1)
    """``repeated_denials``: this many denials within ``per_seconds`` fires the rule."""
    per_seconds: float = Field(default=60.0, gt=0)
    sequence: list[str] = Field(default_factory=lambda: [])
    """``sequence``: tool name patterns a run calls in this order (others may come
    between)."""
    playbook: list[PlaybookAction] = Field(default_factory=lambda: ["notify"], min_length=1)
    reason: str = ""
    """What the incident says; defaults to a description of the rule."""

    @model_validator(mode="after")
    def _thresholds(self) -> AnomalyRule:
        needs = {"tool_rate": "max_calls", "repeated_denials": "max_denials"}.get(self.kind)
        if needs is not None and getattr(self, needs) is None:
            raise ValueError(f"a {self.kind} anomaly needs {needs}")
        if self.kind == "sequence" and len(self.sequence) < 2:
            raise ValueError("a sequence anomaly needs at least two tools in sequence")
        return self

    def describe(self) -> str:
        """The reason, or a sentence saying what the rule saw."""
        if self.reason:
            return self.reason
        match self.kind:
            case "tool_rate":
                return (
                    f"more than {self.max_calls} call(s) of {', '.join(self.tools)} "
                    f"within {self.per_seconds:g}s"
                )
            case "sequence":
                return f"tool sequence {' → '.join(self.sequence)}"
            case _:
                return f"{self.max_denials} denied call(s) within {self.per_seconds:g}s"


class Notifications(BaseModel):
    """Where ``notify`` playbook actions are delivered, besides the journal's outbox."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str | None = None
    """An http(s) URL that receives each notification as a JSON POST."""
    timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"webhook_url must be an http(s) URL, got {value!r}")
        return value
