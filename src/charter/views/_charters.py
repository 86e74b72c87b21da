"""Charters as a person reads them: an agent version's charter from the journal's
``policy.version`` records (each charter version is journaled once, in full, the first time
a run uses it), the history of the agent's charter versions, and a readable diff between
two of them."""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from charter.journal import DamagedRecordError, Journal, canonical_json
from charter.journal._kinds import PolicyVersion, payload_as
from charter.views._costs import AgentVersion, agents

SECTIONS: list[tuple[str, str]] = [
    ("tools", "Tools allowed and denied"),
    ("contracts", "Tool contracts"),
    ("flows", "Information flows"),
    ("scope", "Task scope"),
    ("budgets", "Budgets"),
    ("rate_limits", "Rate limits"),
    ("anomalies", "Anomaly rules and playbooks"),
    ("approvals", "Approvals"),
    ("rollout", "Rollout gates"),
    ("models", "Watched models"),
    ("rollback_on", "Rollback"),
    ("prices", "Model prices"),
    ("notifications", "Notifications"),
]
"""The charter's parts shown after its rules, in this order, with their headings."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CharterPage(_View):
    """One agent version's charter and the agent's charter history."""

    agent: str
    version: AgentVersion
    charter: dict[str, Any] | None
    """The charter as journaled; None if this journal does not hold its version."""
    history: list[AgentVersion]
    """The agent's versions, oldest first."""


class DiffLine(_View):
    """A line of a unified diff: ``add``, ``del``, ``hunk`` or ``same``."""

    kind: str
    text: str


def charter_page(journal: Journal, agent: str, version: str) -> CharterPage | None:
    """The charter of ``agent``'s ``version`` (its newest charter version if several);
    None if the journal knows no such agent version."""
    found = next((a for a in agents(journal) if a.name == agent), None)
    if found is None:
        return None
    matching = [v for v in found.versions if v.version == version]
    if not matching:
        return None
    chosen = matching[-1]
    return CharterPage(
        agent=agent,
        version=chosen,
        charter=policy_charter(journal, chosen.policy),
        history=found.versions,
    )


def policy_charter(journal: Journal, policy: str) -> dict[str, Any] | None:
    """The charter journaled for policy version ``policy``; None if there is none."""
    named = f'"policy":{canonical_json(policy)}'
    for record in journal.records_of_kinds(["policy.version"], payload_contains=named):
        try:
            p = record.payload
        except DamagedRecordError:
            continue
        if not isinstance(p.get("charter"), dict):  # damaged: not a charter
            continue
        version = payload_as(PolicyVersion, p)
        if version.get("policy") == policy:
            return version["charter"]
    return None


def readable(charter: dict[str, Any]) -> str:
    """The charter as YAML, its keys in the charter's own order, for people and diffs."""
    return yaml.safe_dump(charter, sort_keys=False, allow_unicode=True, width=100)


def charter_diff(journal: Journal, old: str, new: str) -> list[DiffLine] | None:
    """A unified diff from policy version ``old`` to ``new`` (their YAML); None if either
    is not in the journal; no lines if they are the same."""
    before, after = policy_charter(journal, old), policy_charter(journal, new)
    if before is None or after is None:
        return None
    lines = difflib.unified_diff(
        readable(before).splitlines(),
        readable(after).splitlines(),
        fromfile=old[:16],
        tofile=new[:16],
        lineterm="",
        n=3,
    )
    shown: list[DiffLine] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        shown.append(DiffLine(kind=kind, text=line))
    return shown
