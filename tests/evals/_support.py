"""Paths and agent files shared by the eval tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NORMAL = ROOT / "examples" / "evals" / "support-normal.suite.yaml"
ADVERSARIAL = ROOT / "examples" / "evals" / "support-adversarial.suite.yaml"
SUPPORT_AGENT = ROOT / "src" / "charter" / "demo" / "support.agent.yaml"
PLAN_AGENT = ROOT / "examples" / "plan.agent.yaml"

UNDEFENDED = """\
name: support-agent
version: "2"
toolsets:
  - ref: charter.demo.tools:toolset
reasoner: {kind: rules, steps: [{respond: nothing to do}]}
charter:
  name: tool-list-only
  flows: {confidential_to_external: allow, untrusted_target: allow}
"""

GATED_AGENT = """\
name: rollout-agent
version: "1"
toolsets:
  - ref: charter.demo.tools:toolset
    options: {world: WORLD}
reasoner: {kind: rules, steps: [{respond: nothing to do}]}
charter:
  name: gated
  phase: shadow
  rollout:
    gates:
      supervised:
        - {suite: support-normal, reasoner: script, kpi: success_rate, min: 0.8}
"""
"""A shadow agent gated on the normal suite; WORLD is replaced by its world's path."""
