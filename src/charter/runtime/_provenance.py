"""Argument provenance for reasoners that read everything at once (llm, local, scripted).

Such a reasoner's proposal may draw on anything in its context, so each argument gets
the join of the labels of everything the run has seen: the goal, then every tool output.
One refinement keeps honest work flowing: a *target* argument (see
``ToolContract.targets``) whose exact value appears in a trusted source, the goal or a
trusted tool's output, is attributed to that source. "Refund order 1042" lets the agent
refund order 1042 after reading an untrusted ticket; an order number that only an
untrusted document mentions cannot become a refund's target without approval.
"""

from __future__ import annotations

import json
import re
from typing import Any

from charter.policy import GOAL_LABEL, Label
from charter.tools import Tool


class RunLabels:
    """What a run's reasoner has seen, as labels and trusted text."""

    def __init__(self, goal: str) -> None:
        self.context: Label = GOAL_LABEL
        """Join of everything seen so far."""
        self._trusted: list[str] = [goal]

    def observe(self, tool: Tool, text: str) -> None:
        """Account for ``tool``'s output (``text`` as the reasoner saw it)."""
        label = Label(tool.contract.trust, tool.contract.confidentiality)
        self.context = self.context.join(label)
        if label.trust == "trusted":
            self._trusted.append(text)

    def arg_labels(self, tool: Tool, args: dict[str, Any]) -> dict[str, Label]:
        """The label of each argument of a proposed call of ``tool``."""
        labels = dict.fromkeys(args, self.context)
        if self.context.trust == "untrusted":
            vouched = Label("trusted", self.context.confidentiality)
            for name in tool.contract.targets:
                if name in args and self._in_trusted_source(args[name]):
                    labels[name] = vouched
        return labels

    def _in_trusted_source(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if not text.strip():
            return False
        # Whole tokens only: order 104 must not be vouched for by "order 1042".
        pattern = re.compile(rf"(?<![\w@.-]){re.escape(text)}(?![\w@-])")
        return any(pattern.search(source) for source in self._trusted)
