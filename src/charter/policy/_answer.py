"""Governed answers: the final answer passes the flows too.

An injection need not call a tool: it can ask the agent to tell the user something (a
"verify your account" link, a number to call, an account to pay). Before a run keeps its
answer, the links, e-mail addresses, phone numbers and account numbers (IBANs and other
long digit runs) in it are checked against the run's provenance: one that no trusted
source holds (the goal, a trusted field), in a run that has read untrusted text, came from
that text. The charter's ``flows.answer`` says what happens then:

* ``flag``: the answer is kept as it is, and the finding journaled;
* ``redact``: each such value is replaced by ``[withheld: untrusted <kind>]``;
* ``ask``: the answer is held (not shown): the run waits on an approval request for it,
  and an approver's receipt releases exactly the journaled text (bound to its digest);
* ``deny``: the answer is withheld;
* ``allow``: answers are not checked.

The answer's label (the join of what the run had read) is journaled with the finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from charter.policy._flow import Label

if TYPE_CHECKING:
    from charter.policy._charter import Charter


class RunLabelsLike(Protocol):
    """What answer checks read of a run's provenance (:class:`charter.labels.RunLabels`)."""

    @property
    def context(self) -> Label:
        """The join of what the run read."""
        ...

    def vouched(self, value: Any, steps: tuple[int, ...] | None = None) -> bool:
        """Whether a trusted source holds ``value``."""
        ...


AnswerVerdict = Literal["allow", "flag", "redact", "ask", "deny"]

_FINDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("account", re.compile(r"(?<![\w-])\d{8,}(?![\w-])")),
    ("phone", re.compile(r"(?<![\w+])\+?\d[\d ().-]{6,}\d(?!\w)")),
)
"""What an answer must not carry from untrusted text alone, most specific first."""
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
)


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    """What the flows made of a final answer."""

    text: str
    """The answer to keep (as written, redacted, or a notice that it was withheld)."""
    verdict: AnswerVerdict
    """``allow`` when nothing was found; otherwise the charter's ``flows.answer``."""
    found: tuple[tuple[str, str], ...]
    """``(kind, value)`` of each value only untrusted sources hold."""
    label: Label
    """The answer's label: the join of what the run had read."""

    def to_json(self) -> dict[str, Any]:
        """As journaled (``answer.checked``)."""
        return {
            "verdict": self.verdict,
            "rule": "flow.untrusted-answer" if self.found else None,
            "found": [{"kind": kind, "value": value} for kind, value in self.found],
            "labels": self.label.to_json(),
        }


def find_sensitive(text: str) -> list[tuple[str, str, int, int]]:
    """``(kind, value, start, end)`` of every link, address, phone and account number."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[str, str, int, int]] = []
    for kind, pattern in _FINDERS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue  # part of a more specific find (the digits of an IBAN)
            if kind == "phone" and (
                sum(c.isdigit() for c in match[0]) < 7 or _DATE.fullmatch(match[0].strip())
            ):
                continue
            taken.append((start, end))
            found.append((kind, match[0], start, end))
    return sorted(found, key=lambda item: item[2])


def check_answer(
    text: str,
    policy: AnswerVerdict,
    label: Label,
    vouched: Callable[[str], bool],
) -> AnswerCheck:
    """Check a final answer: ``label`` is the join of what the run read, ``vouched`` says
    whether a trusted source holds a value (see :class:`charter.labels.RunLabels`)."""
    if policy == "allow" or label.trust == "trusted":
        return AnswerCheck(text, "allow", (), label)
    hits = [hit for hit in find_sensitive(text) if not _vouched(hit[0], hit[1], vouched)]
    if not hits:
        return AnswerCheck(text, "allow", (), label)
    found = tuple((kind, value) for kind, value, _, _ in hits)
    kinds = ", ".join(sorted({kind for kind, _ in found}))
    if policy == "redact":
        pieces: list[str] = []
        cursor = 0
        for kind, _, start, end in hits:
            pieces.append(text[cursor:start] + f"[withheld: untrusted {kind}]")
            cursor = end
        return AnswerCheck("".join(pieces) + text[cursor:], policy, found, label)
    if policy in ("ask", "deny"):
        notice = f"[answer withheld: it carries {kinds} found only in untrusted text; " + (
            "held for an approver to release]" if policy == "ask" else "denied]"
        )
        return AnswerCheck(notice, policy, found, label)
    return AnswerCheck(text, policy, found, label)


def check_run_answer(charter: Charter, labels: RunLabelsLike, text: str) -> AnswerCheck:
    """:func:`check_answer` with the charter's ``flows.answer`` and a run's provenance."""
    return check_answer(text, charter.flows.answer, labels.context, labels.vouched)


def _vouched(kind: str, value: str, vouched: Callable[[str], bool]) -> bool:
    if vouched(value):
        return True
    if kind in ("phone", "iban", "account"):  # the same number written with other spacing
        compact = re.sub(r"[^\dA-Za-z+]", "", value)
        return compact != value and vouched(compact)
    return False
