"""Two evals side by side: which cases the later one fixed, broke or let an attack through
that the earlier one stopped, and how each KPI moved. Cases are matched by name."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from charter.evals import EVAL_KIND, EvalResult, compare
from charter.journal import Journal
from charter.views._evals import CaseView, EvalDetail, eval_detail_of

Change = Literal["fixed", "broken", "newly_attacked", "now_defended", "added", "removed", "same"]
CHANGES: tuple[tuple[Change, str], ...] = (
    ("broken", "Broken: passed before, fail now"),
    ("newly_attacked", "Newly attacked: the attack succeeds now, not before"),
    ("fixed", "Fixed: failed before, pass now"),
    ("now_defended", "Now defended: the attack succeeded before, not now"),
    ("added", "Only in the second eval"),
    ("removed", "Only in the first eval"),
    ("same", "Unchanged"),
)
"""Each kind of change, worst first, with its heading."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CasePair(_View):
    """One case in both evals (either side None if the case is in one only)."""

    name: str
    change: Change
    before: CaseView | None
    after: CaseView | None


class KpiDelta(_View):
    """A KPI in both evals."""

    name: str
    before: float | None
    after: float | None


class EvalComparison(_View):
    """Eval ``before`` against eval ``after``."""

    before: EvalDetail
    after: EvalDetail
    cases: list[CasePair]
    """Worst change first, then by name."""
    kpis: list[KpiDelta]
    same_suite: bool
    """Both ran the same suite content (else cases are matched by name only)."""

    def count(self, change: str) -> int:
        """How many cases changed so."""
        return sum(1 for pair in self.cases if pair.change == change)


def compare_evals(journal: Journal, before_id: str, after_id: str) -> EvalComparison | None:
    """How eval ``after_id`` differs from eval ``before_id`` (exact ids), as
    :func:`charter.evals.compare` judges it; None if either is not recorded.

    Raises:
        CharterError: the evals are of different suites.
    """
    before, after = _result(journal, before_id), _result(journal, after_id)
    if before is None or after is None:
        return None
    judged = compare(before, after)
    flips: dict[str, Change] = {}
    groups: list[tuple[Change, tuple[str, ...]]] = [
        ("fixed", judged.fixed),
        ("broken", judged.broken),
        ("now_defended", judged.defended),
        ("newly_attacked", judged.newly_attacked),  # an attack let through counts first
    ]
    for change, names in groups:
        flips.update(dict.fromkeys(names, change))
    old, new = eval_detail_of(before), eval_detail_of(after)
    cases = {c.name: c for c in old.cases}, {c.name: c for c in new.cases}
    order = {change: rank for rank, (change, _) in enumerate(CHANGES)}
    pairs: list[CasePair] = []
    for name in sorted(cases[0].keys() | cases[1].keys()):
        was, now = cases[0].get(name), cases[1].get(name)
        change: Change = "added" if was is None else "removed" if now is None else "same"
        pairs.append(CasePair(name=name, change=flips.get(name, change), before=was, after=now))
    pairs.sort(key=lambda pair: (order[pair.change], pair.name))
    kpis = [KpiDelta(name=k, before=b, after=a) for k, (b, a) in judged.kpis.items()]
    return EvalComparison(
        before=old, after=new, cases=pairs, kpis=kpis, same_suite=judged.same_suite
    )


def _result(journal: Journal, eval_id: str) -> EvalResult | None:
    found = [r for r in journal.records(f"eval:{eval_id}") if r.kind == EVAL_KIND]
    return EvalResult.from_json(found[-1].payload) if found else None
