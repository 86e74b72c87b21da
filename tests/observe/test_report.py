"""The HTML report: one self-contained file with the figures, inline SVG charts, every
name escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter import Journal
from charter.observe import cost_report, parse_period, render_report
from charter.observe._report import cost_chart, duration, outcome_chart, percent, usd
from observe.test_costs import populate


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    yield opened
    opened.close()


def html_of(journal: Journal, agent: str | None = None) -> str:
    return render_report(cost_report(journal, parse_period(None, None), agent=agent))


def test_the_report_states_each_agents_figures(journal: Journal) -> None:
    populate(journal)

    html = html_of(journal)

    summary = html[html.index("<h2>Summary</h2>") : html.index("Cost per day")]
    row = summary[summary.index("<td>refunder</td>") :].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    # runs, success, denied, failed, cost, cost/run, violations, approvals, hours, net, ROI
    assert cells == [
        "7",
        "67%",
        "1",
        "1",
        "$0.3660",
        "$0.0523",
        "1",
        "2",
        "0.90",
        "$53.63",
        "14,654%",
    ]
    assert "<td>mailer</td>" in summary
    assert "no baseline declared" in summary
    assert "All agents" in summary


def test_the_report_states_period_journal_and_assumptions(journal: Journal) -> None:
    populate(journal)
    found = cost_report(journal, parse_period("2020-01-01", None))

    html = render_report(found)

    assert "Runs started from 2020-01-01 00:00:00" in html
    assert f"<code>{found.journal}</code>" in html
    assert f"Generated {found.generated_at[:19].replace('T', ' ')}" in html
    assert "a person takes 15 min per run at $60.00 an hour; an approval takes 3 min." in html
    assert "No baseline declared" in html  # the mailer's section


def test_the_report_has_inline_svg_charts_and_fetches_nothing(journal: Journal) -> None:
    populate(journal)

    html = html_of(journal)

    assert html.count('<svg class="chart"') == 2
    assert '<rect class="st-succeeded"' in html
    assert '<rect class="st-denied"' in html
    assert "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "<script" not in html
    assert "@import" not in html and "url(" not in html


def test_tools_models_and_rules_are_tabled(journal: Journal) -> None:
    populate(journal)

    html = html_of(journal)

    assert '<td>refund_order</td><td class="num">1</td><td class="num">$0.2500</td>' in html
    assert '<td>lookup_order</td><td class="num">6</td>' in html
    assert '<td>m-large</td><td class="num">14</td>' in html
    assert '<td><code>no-email</code></td><td class="num">1</td><td>refunder</td>' in html


def test_names_and_descriptions_are_escaped(journal: Journal) -> None:
    populate(journal, name="<script>alert(1)</script>")

    html = html_of(journal)

    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>refunds</b>" not in html
    assert "&lt;b&gt;refunds&lt;/b&gt;" in html


def test_an_empty_journal_is_a_valid_report_saying_so(journal: Journal) -> None:
    html = html_of(journal)

    assert html.startswith("<!doctype html>") or "<!doctype html>" in html[:200]
    assert "No runs started in this period" in html
    assert html.rstrip().endswith("</html>")


def test_charts_show_every_day_of_the_period(journal: Journal) -> None:
    populate(journal)
    found = cost_report(journal, parse_period(None, None))

    costs, outcomes = cost_chart(found), outcome_chart(found)

    assert {t.key for t in costs.totals} == {"refunder", "mailer"}
    assert sum(t.cost_usd for t in costs.totals) == pytest.approx(found.overall.cost_usd)
    assert {t.key: t.count for t in outcomes.totals} == {
        "succeeded": 6,
        "denied": 1,
        "failed": 1,
        "unfinished": 1,
    }
    days = len(parse_period(found.since, found.until).days())  # 30 or 31 with the partial day
    plot_width = 720 - 64 - 12
    widths = [s.width for s in costs.segments]
    assert widths == pytest.approx([plot_width / days * 0.7] * len(widths))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (0.0, "$0.00"), (0.004, "$0.0040"), (12.5, "$12.50"), (-3.2, "-$3.20")],
)
def test_dollars(value: float | None, shown: str) -> None:
    assert usd(value) == shown


def test_percent_and_duration() -> None:
    assert (percent(0.8333), percent(0.05), percent(None)) == ("83%", "5.0%", "—")
    assert (duration(0.125), duration(20.0), duration(90.0)) == ("0.12 s", "20.0 s", "1.5 min")
    assert duration(7200.0) == "2.0 h"
