"""Argument provenance: the label each argument of a proposed call carries.

A reasoner that keeps value-level provenance (``plan``) names, for each argument, the
steps whose outputs it came from; the argument's label is the join of those outputs'
labels and the goal's. Any other reasoner (llm, local, scripted) reads everything at
once: its proposal may draw on anything in its context, so each argument gets the join
of the labels of everything the run has seen, the goal and then every tool output.

One refinement keeps honest work flowing: a *target* argument (see
``ToolContract.targets``) whose exact value appears in a trusted source, the goal or a
trusted tool's output, is attributed to that source. "Refund order 1042" lets the agent
refund order 1042 after reading an untrusted ticket; an order number that only an
untrusted document mentions cannot become a refund's target without approval.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from charter.policy import GOAL_LABEL, Label
from charter.tools import Tool


class RunLabels:
    """What a run's reasoner has seen, as labels and trusted text."""

    def __init__(self, goal: str) -> None:
        self.context: Label = GOAL_LABEL
        """Join of everything seen so far."""
        self._trusted: list[str] = [goal]
        self._steps: dict[int, Label] = {}
        self._untrusted: dict[int, tuple[str, str]] = {}
        """Step → (tool, output text) of every untrusted output: what an approver is
        shown as the text that may have chosen an argument."""

    def observe(
        self,
        tool: Tool,
        text: str,
        step: int = 0,
        *,
        args: dict[str, Any] | None = None,
        sources: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        """Account for ``tool``'s output at ``step`` (``text`` as the reasoner saw it).

        ``args`` and ``sources``: the call's validated arguments and their provenance. A
        trusted tool's output vouches for the values it contains only if trusted values
        chose those arguments (:meth:`trusted_keys`): looking up an order number that an
        untrusted email chose does not make that order number trusted just because the
        lookup echoes it back. Without ``args`` the output vouches.
        """
        label = Label(tool.contract.trust, tool.contract.confidentiality)
        vouches = label.trust == "trusted" and (
            args is None or self.trusted_keys(args, sources)  # before this output counts
        )
        self.context = self.context.join(label)
        self._steps[step] = self._steps.get(step, GOAL_LABEL).join(label)
        if vouches:
            self._trusted.append(text)
        if label.trust == "untrusted":
            self._untrusted[step] = (tool.name, text)

    def untrusted_sources(
        self,
        args: Mapping[str, Any],
        labels: Mapping[str, Label],
        sources: Mapping[str, tuple[int, ...]] | None = None,
        *,
        per_arg: int = 3,
        width: int = 80,
    ) -> dict[str, list[dict[str, Any]]]:
        """For each argument labelled untrusted, the untrusted outputs that may have
        chosen it: ``{"step", "tool", "excerpt", "found"}``, up to ``per_arg`` of them.

        ``found`` says the output holds the argument's value verbatim (the excerpt is
        ``width`` characters either side of it); without such an output, the excerpts
        are the beginnings of the untrusted outputs the reasoner had seen (with
        ``sources``, of those the argument came from).
        """
        found: dict[str, list[dict[str, Any]]] = {}
        for name, label in labels.items():
            if label.trust != "untrusted" or name not in args:
                continue
            steps = sorted(self._untrusted)
            if sources is not None and name in sources:
                steps = [s for s in sources[name] if s in self._untrusted]
            value = args[name]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            pattern = (
                re.compile(rf"(?<![\w@.-]){re.escape(text)}(?![\w@-])")
                if value is not None and not isinstance(value, bool) and text.strip()
                else None
            )
            matches: list[dict[str, Any]] = []
            for step in steps:
                tool, output = self._untrusted[step]
                hit = pattern.search(output) if pattern is not None else None
                if hit is not None:
                    matches.append(_excerpt(step, tool, output, hit.start(), hit.end(), width))
            if not matches:  # the value appears nowhere verbatim: show what was read
                matches = [
                    _excerpt(step, *self._untrusted[step], 0, 0, width, found=False)
                    for step in steps
                ]
            found[name] = matches[:per_arg]
        return found

    def trusted_keys(
        self, args: dict[str, Any], sources: Mapping[str, tuple[int, ...]] | None = None
    ) -> bool:
        """Whether trusted values chose every argument of a call (before it runs)."""
        if sources is not None:
            return all(self._label_of(sources.get(name)).trust == "trusted" for name in args)
        if self.context.trust == "trusted":
            return True
        return all(
            self._in_trusted_source(value)
            for value in args.values()
            if value is not None and not isinstance(value, bool)
        )

    def arg_labels(
        self,
        tool: Tool,
        args: dict[str, Any],
        sources: Mapping[str, tuple[int, ...]] | None = None,
    ) -> dict[str, Label]:
        """The label of each argument of a proposed call of ``tool``.

        With ``sources`` (value-level provenance), an argument is labelled by the outputs
        it came from; an argument ``sources`` does not name, or a step with no observed
        output, counts as the whole context (unknown provenance is never trusted more).
        """
        if sources is not None:
            return {name: self._label_of(sources.get(name)) for name in args}
        labels = dict.fromkeys(args, self.context)
        if self.context.trust == "untrusted":
            vouched = Label("trusted", self.context.confidentiality)
            for name in tool.contract.targets:
                if name in args and self._in_trusted_source(args[name]):
                    labels[name] = vouched
        return labels

    def _label_of(self, steps: tuple[int, ...] | None) -> Label:
        if steps is None:
            return self.context
        label = GOAL_LABEL
        for step in steps:
            seen = self._steps.get(step)
            if seen is None:
                return self.context
            label = label.join(seen)
        return label

    def _in_trusted_source(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if not text.strip():
            return False
        # Whole tokens only: order 104 must not be vouched for by "order 1042".
        pattern = re.compile(rf"(?<![\w@.-]){re.escape(text)}(?![\w@-])")
        return any(pattern.search(source) for source in self._trusted)


def _excerpt(
    step: int, tool: str, text: str, start: int, end: int, width: int, *, found: bool = True
) -> dict[str, Any]:
    """``text`` around ``start:end``, with an ellipsis where it was cut."""
    left, right = max(0, start - width), min(len(text), end + width)
    if not found:
        left, right = 0, min(len(text), 2 * width)
    excerpt = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    return {"step": step, "tool": tool, "excerpt": excerpt, "found": found}
