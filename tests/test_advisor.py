"""charter advise: the criteria move the recommendation as documented, the cost arithmetic,
measured figures from a real journal, and the command line with its one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import charter.advisor
from charter import Charter, Journal, Runner, tool
from charter.advisor import (
    CRITERIA,
    OPTIONS,
    Advice,
    Measured,
    Option,
    Workflow,
    advise,
    load_workflow,
    measure,
)
from charter.cli import app
from charter.errors import ConfigError
from charter.testing import ScriptedReasoner, call, make_agent, respond

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "workflows"

BASE: dict[str, Any] = {
    "name": "base",
    "latency": {"p95_seconds": 60},
    "regulatory": [],
    "systems_touched": 2,
    "volume_per_month": 5000,
    "inputs": "structured",
    "task_variety": "narrow",
    "labelled_history": 5000,
    "error_cost_usd": 10,
    "manual_cost_usd": 3,
}
"""Every criterion at its neutral band where it has one: a narrow structured task a model
fits, scoring model 5, hybrid 3, agent 1."""


def _advice(measured: Measured | None = None, **changes: Any) -> Advice:
    return advise(Workflow.model_validate(BASE | changes), measured)


def _delta(before: Advice, after: Advice) -> tuple[int, int, int]:
    model, agent, hybrid = (after.scores[o] - before.scores[o] for o in OPTIONS)
    return model, agent, hybrid


def _points(advice: Advice, criterion: str) -> tuple[int, ...]:
    """The points the reasons of one criterion give model, agent, hybrid together."""
    reasons = [r for r in advice.reasons if r.criterion == criterion]
    assert reasons, f"no reason for {criterion}"
    return tuple(sum(r.points[o] for r in reasons) for o in OPTIONS)


# --- the criteria -------------------------------------------------------------------------


def test_the_base_workflow_is_a_model() -> None:
    advice = _advice()

    assert advice.recommendation == "model"
    assert advice.scores == {"model": 5, "agent": 1, "hybrid": 3}


@pytest.mark.parametrize(
    ("before", "after", "points"),
    [
        # Criteria that leave the estimates alone shift the scores by their documented points.
        ({}, {"latency": {"p95_seconds": 0.5}}, (3, -3, 2)),
        ({}, {"latency": {"p95_seconds": 10}}, (1, -1, 1)),
        ({}, {"systems_touched": 1}, (1, 0, 0)),
        ({}, {"systems_touched": 3}, (-2, 2, 2)),
        ({}, {"regulatory": ["explainability"]}, (1, -1, 2)),
        ({}, {"regulatory": ["human_approval"]}, (-1, 1, 2)),
        ({}, {"regulatory": ["audit_trail"]}, (0, 1, 1)),
        ({}, {"regulatory": ["data_residency"]}, (1, 0, 1)),
        ({"volume_per_month": 50_000}, {"volume_per_month": 50_000, "systems_touched": 3},
         (-2, 2, 4)),  # systems >= 3 (-2, +2, +2) and volume x systems (0, 0, +2)
    ],
)  # fmt: skip
def test_a_criterion_moves_the_scores_by_its_documented_points(
    before: dict[str, Any], after: dict[str, Any], points: tuple[int, int, int]
) -> None:
    assert _delta(_advice(**before), _advice(**after)) == points


@pytest.mark.parametrize(
    ("criterion", "changes", "points"),
    [
        ("volume_per_month", {"volume_per_month": 10_000}, (2, -1, 2)),
        ("volume_per_month", {"volume_per_month": 999}, (-1, 1, -1)),
        ("volume_per_month", {"volume_per_month": 1000}, (0, 0, 0)),
        ("inputs", {"inputs": "structured"}, (2, 0, 1)),
        ("inputs", {"inputs": "unstructured"}, (-2, 2, 0)),
        ("inputs", {"inputs": "mixed"}, (-1, 1, 2)),
        ("task_variety", {"task_variety": "narrow"}, (2, 0, 1)),
        ("task_variety", {"task_variety": "varied"}, (-2, 2, 0)),
        ("labelled_history", {"labelled_history": 10_000}, (2, 0, 2)),
        ("labelled_history", {"labelled_history": 1000}, (1, 0, 1)),
        ("labelled_history", {"labelled_history": 999}, (-3, 0, -2)),
        ("latency.p95_seconds", {"latency": {"p95_seconds": 0.999}}, (3, -3, 2)),
        ("latency.p95_seconds", {"latency": {"p95_seconds": 30}}, (0, 0, 0)),
        ("systems_touched", {"systems_touched": 0}, (1, 0, 0)),
    ],
)
def test_each_band_gives_its_documented_points(
    criterion: str, changes: dict[str, Any], points: tuple[int, int, int]
) -> None:
    assert _points(_advice(**changes), criterion) == points


def test_sub_second_latency_turns_an_agent_into_a_hybrid() -> None:
    agentish: dict[str, Any] = {"inputs": "unstructured", "systems_touched": 4}
    assert _advice(**agentish).recommendation == "agent"

    fast = _advice(**agentish, latency={"p95_seconds": 0.5})

    assert fast.recommendation == "hybrid"
    assert "latency.p95_seconds is 0.5 s" in fast.reasons[0].text


def test_high_volume_turns_an_agent_into_a_hybrid() -> None:
    varied: dict[str, Any] = {"task_variety": "varied", "labelled_history": 50_000}
    assert _advice(**varied).recommendation == "agent"

    assert _advice(**varied, volume_per_month=50_000).recommendation == "hybrid"


def test_low_volume_turns_a_hybrid_into_an_agent() -> None:
    assert _advice(inputs="mixed").recommendation == "hybrid"

    assert _advice(inputs="mixed", volume_per_month=500).recommendation == "agent"


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [("structured", "model"), ("unstructured", "agent"), ("mixed", "hybrid")],
)
def test_inputs_pick_model_agent_or_hybrid(inputs: str, expected: Option) -> None:
    assert _advice(inputs=inputs).recommendation == expected


def test_a_varied_task_is_an_agent() -> None:
    assert _advice(task_variety="varied").recommendation == "agent"


def test_without_labelled_history_a_model_is_out() -> None:
    advice = _advice(labelled_history=500)

    assert advice.recommendation == "agent"
    assert "fewer than the 1,000 a model needs" in next(
        r.text for r in advice.reasons if r.criterion == "labelled_history"
    )


def test_a_model_short_of_labels_is_recommended_with_a_warning() -> None:
    advice = _advice(labelled_history=500, latency={"p95_seconds": 0.5})

    assert advice.recommendation == "model"
    assert any(
        n.startswith("Recommending a model assumes a trained model, but labelled_history is 500")
        for n in advice.notes
    )


def test_many_systems_turn_a_model_into_a_hybrid() -> None:
    assert _advice(systems_touched=4).recommendation == "hybrid"


def test_approval_on_top_of_a_prediction_core_is_a_hybrid() -> None:
    assert _advice().recommendation == "model"

    assert _advice(regulatory=["human_approval"]).recommendation == "hybrid"


def test_explainability_turns_an_agent_into_a_hybrid() -> None:
    agentish: dict[str, Any] = {"inputs": "unstructured", "systems_touched": 4}
    assert _advice(**agentish).recommendation == "agent"

    assert _advice(**agentish, regulatory=["explainability"]).recommendation == "hybrid"


def test_data_residency_favours_where_the_data_lives() -> None:
    # agent 3, hybrid 3
    tied: dict[str, Any] = {"inputs": "unstructured", "labelled_history": 20_000}
    before = _advice(**tied)

    after = _advice(**tied, regulatory=["data_residency"])

    assert (before.recommendation, after.recommendation) == ("agent", "hybrid")


def test_audit_trail_favours_the_journaled_options() -> None:
    close: dict[str, Any] = {"volume_per_month": 50_000}  # model 7, hybrid 6
    before = _advice(**close)

    after = _advice(**close, regulatory=["audit_trail"])

    # A tie of 7, which the hybrid's higher net value breaks.
    assert (before.recommendation, after.recommendation) == ("model", "hybrid")
    assert "A close call: hybrid leads model by 0 point(s)" in after.notes[0]


def test_high_volume_across_systems_is_a_hybrid() -> None:
    advice = _advice(volume_per_month=50_000, systems_touched=3)

    assert advice.recommendation == "hybrid"
    assert _points(advice, "volume_per_month, systems_touched") == (0, 0, 2)


def test_economics_break_a_tie_of_fit_and_penalise_what_never_pays_back() -> None:
    cheap_errors = _advice(inputs="mixed", volume_per_month=500)
    assert cheap_errors.recommendation == "agent"

    # Costly mistakes make the hybrid (2% errors) worth more than the agent (5%).
    costly = _advice(inputs="mixed", volume_per_month=500, error_cost_usd=1000)

    assert costly.recommendation == "hybrid"
    (best, *_) = [r for r in costly.reasons if r.criterion == "economics"]
    assert best.points == {"model": 0, "agent": 0, "hybrid": 1}
    assert best.text.startswith("economics: hybrid has the highest net value")


def test_an_option_that_never_pays_back_loses_a_point_and_says_so() -> None:
    advice = _advice(volume_per_month=100, manual_cost_usd=1, error_cost_usd=0)

    losing = [r for r in advice.reasons if "would not pay back" in r.text]
    assert [r.points for r in losing] == [{"model": -1, "agent": -1, "hybrid": -1}]
    assert advice.estimate("model").payback_months is None
    assert any("would not pay back within 12 months" in n for n in advice.notes)


def test_advice_is_deterministic() -> None:
    assert _advice().model_dump() == _advice().model_dump()


def test_the_documented_table_matches_the_criteria() -> None:
    doc = (charter.advisor.__doc__ or "").split("=====")
    documented: list[tuple[int, ...]] = []
    for line in "".join(doc).splitlines():
        *_, model, agent, hybrid = ["", "", "", *line.split()]
        if all(re.fullmatch(r"[+-]?\d+", p) for p in (model, agent, hybrid)):
            documented.append((int(model), int(agent), int(hybrid)))

    assert documented == [c.points for c in CRITERIA if any(c.points)]


def test_the_module_example_runs() -> None:
    doc = charter.advisor.__doc__ or ""
    (example,) = re.findall(r"\.\. code-block:: python\n\n(.*?)\n\n", doc, flags=re.DOTALL)
    exec("\n".join(line.removeprefix("    ") for line in example.splitlines()), {})


# --- the estimates -------------------------------------------------------------------------

HAND = BASE | {
    "volume_per_month": 1000,
    "manual_cost_usd": 4,
    "error_cost_usd": 100,
    "agent_cost_per_case_usd": 0.10,
}
"""Manual: 1000 x ($4 + 3% x $100) = $7,000 a month."""


def test_estimates_match_hand_computed_figures() -> None:
    advice = advise(Workflow.model_validate(HAND))

    assert advice.manual_monthly_cost_usd == 7000
    agent, model, hybrid = (advice.estimate(o) for o in ("agent", "model", "hybrid"))
    # Agent: $0.10 x 1000 = $100 running, 5% x 1000 x $100 = $5,000 errors.
    assert (agent.cost_per_case_usd, agent.monthly_run_cost_usd) == (0.1, 100)
    assert (agent.monthly_error_cost_usd, agent.monthly_cost_usd) == (5000, 5100)
    assert agent.monthly_savings_usd == 1900  # 7000 - 5100
    assert agent.total_cost_usd == 76_200  # 15,000 + 12 x 5,100
    assert agent.all_in_cost_per_case_usd == pytest.approx(6.35)  # 76,200 / 12,000
    assert agent.net_usd == 7800  # 12 x 1,900 - 15,000
    assert agent.roi_percent == pytest.approx(10.2)  # 7,800 / 76,200
    assert agent.payback_months == pytest.approx(7.89)  # 15,000 / 1,900
    # Model (it fits: 3%): $500 running, $3,000 errors.
    assert (model.cost_per_case_usd, model.monthly_cost_usd) == (0.5, 3500)
    assert (model.monthly_savings_usd, model.total_cost_usd) == (3500, 72_000)
    assert model.net_usd == 12_000  # 12 x 3,500 - 30,000
    assert model.roi_percent == pytest.approx(16.7)
    assert model.payback_months == pytest.approx(8.57)  # 30,000 / 3,500
    # Hybrid: $500 + 20% x 1000 x $0.10 = $520 running; 2% x 1000 x $100 = $2,000 errors.
    assert (hybrid.monthly_run_cost_usd, hybrid.monthly_error_cost_usd) == (520, 2000)
    assert (hybrid.cost_per_case_usd, hybrid.monthly_savings_usd) == (0.52, 4480)
    assert hybrid.total_cost_usd == 70_240  # 40,000 + 12 x 2,520
    assert hybrid.net_usd == 13_760  # 12 x 4,480 - 40,000
    assert hybrid.roi_percent == pytest.approx(19.6)
    assert hybrid.payback_months == pytest.approx(8.93)


def test_given_figures_replace_the_defaults_and_are_listed_as_given() -> None:
    advice = advise(
        Workflow.model_validate(
            HAND | {"model_error_rate": 0.1, "horizon_months": 24, "model_build_cost_usd": 0}
        )
    )

    model = advice.estimate("model")
    assert model.monthly_error_cost_usd == 10_000  # 10% x 1000 x $100
    assert model.net_usd == 24 * (7000 - 10_500)
    assert model.payback_months is None
    sources = {a.name: a.source for a in advice.assumptions}
    assert sources["model_error_rate"] == sources["horizon_months"] == "given"
    assert sources["agent_error_rate"] == sources["hybrid_build_cost_usd"] == "default"


def test_every_figure_the_estimates_use_is_an_assumption() -> None:
    names = {a.name for a in _advice().assumptions}

    assert names == {
        "volume_per_month",
        "manual_cost_usd",
        "error_cost_usd",
        "agent_cost_per_case_usd",
        "model_cost_per_month_usd",
        "hybrid_agent_share",
        "agent_build_cost_usd",
        "model_build_cost_usd",
        "hybrid_build_cost_usd",
        "manual_error_rate",
        "agent_error_rate",
        "model_error_rate",
        "hybrid_error_rate",
        "horizon_months",
    }


def test_default_error_rates_follow_whether_a_model_fits() -> None:
    fits = {a.name: a.value for a in _advice().assumptions}
    unfit = {a.name: a.value for a in _advice(task_variety="varied").assumptions}

    assert (fits["model_error_rate"], fits["hybrid_error_rate"]) == (0.03, 0.02)
    assert (unfit["model_error_rate"], unfit["hybrid_error_rate"]) == (0.2, 0.05)


# --- measured figures from a real journal --------------------------------------------------


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


PRICED = {"scripted": {"prompt_per_million": 0, "completion_per_million": 1000}}
"""With 10 completion tokens a step: $0.01 a step."""


def _charter(**more: Any) -> Charter:
    return Charter.model_validate({"name": "desk", "prices": PRICED} | more)


def _run(runner: Runner, script: list[Any], charter: Charter, name: str = "refund-desk") -> None:
    reasoner = ScriptedReasoner(script, tokens_per_step=10)
    agent = make_agent([lookup_order, refund_order], reasoner, charter=charter, name=name)
    runner.run(agent, "handle the refund request", actor="sam")


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A journal with five runs of refund-desk and one of another agent."""
    path = tmp_path / "journal.db"
    journal = Journal(f"sqlite:///{path}")
    runner = Runner(journal)
    plain = _charter()
    for orders in ([1], [2], [3, 4]):  # completed: 2, 2 and 3 steps
        _run(runner, [*(call("lookup_order", order_id=o) for o in orders), respond("ok")], plain)
    tight = _charter(budgets={"max_steps": 1})  # stopped after 1 step
    _run(runner, [call("lookup_order", order_id=5), call("lookup_order", order_id=6)], tight)
    asking = _charter(rules=[{"id": "ask-refunds", "effect": "ask", "tools": ["refund_order"]}])
    _run(runner, [call("refund_order", order_id=7)], asking)  # waits for an approval
    _run(runner, [call("lookup_order", order_id=8)] * 9, tight, name="other")
    runner.close()
    journal.close()
    return path


def test_measure_reads_an_agents_runs_from_the_journal(journal_path: Path) -> None:
    measured = measure(Journal(f"sqlite:///{journal_path}"), "refund-desk")

    assert (measured.runs, measured.finished, measured.completed) == (5, 4, 3)
    assert (measured.succeeded, measured.denied, measured.failed) == (3, 1, 0)  # the budget
    assert measured.success_rate == 0.75
    assert measured.median_cost_usd == pytest.approx(0.02)  # of 0.02, 0.02, 0.03, 0.01
    assert measured.mean_cost_usd == pytest.approx(0.02)
    assert measured.approvals_per_run == pytest.approx(0.2)
    assert measured.median_steps == 2
    assert measured.median_duration_seconds is not None
    assert measured.median_duration_seconds >= 0


def test_runs_that_completed_after_a_denial_are_measured_as_errors(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    runner = Runner(journal)
    strict = _charter(rules=[{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}])
    for order in (1, 2, 3):
        _run(runner, [call("refund_order", order_id=order), respond("could not refund")], strict)
    runner.close()

    measured = measure(journal, "refund-desk")
    advice = advise(Workflow.model_validate(HAND), measured)

    assert (measured.finished, measured.completed, measured.denied) == (3, 3, 3)
    assert (measured.succeeded, measured.success_rate) == (0, 0.0)
    rate = next(a for a in advice.assumptions if a.name == "agent_error_rate")
    assert (rate.value, rate.source) == (1.0, "measured")


def test_measure_reads_page_by_page(journal_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(f"sqlite:///{journal_path}")
    whole = measure(journal, "refund-desk")
    monkeypatch.setattr(charter.advisor, "_PAGE", 2)

    assert measure(journal, "refund-desk") == whole


def test_measure_of_an_agent_without_runs_is_empty(journal_path: Path) -> None:
    measured = measure(Journal(f"sqlite:///{journal_path}"), "nobody")

    assert (measured.runs, measured.success_rate, measured.mean_cost_usd) == (0, None, None)


def test_measured_figures_replace_the_assumed_agent_cost_and_error_rate(
    journal_path: Path,
) -> None:
    measured = measure(Journal(f"sqlite:///{journal_path}"), "refund-desk")

    advice = advise(Workflow.model_validate(HAND), measured)

    figures = {a.name: a for a in advice.assumptions}
    assert figures["agent_cost_per_case_usd"].value == pytest.approx(0.02)
    assert figures["agent_cost_per_case_usd"].source == "measured"
    assert (figures["agent_error_rate"].value, figures["agent_error_rate"].source) == (
        0.25,
        "measured",
    )
    agent = advice.estimate("agent")
    assert agent.monthly_run_cost_usd == pytest.approx(20)  # 1000 x $0.02
    assert agent.monthly_error_cost_usd == pytest.approx(25_000)  # 25% x 1000 x $100
    assert advice.estimate("hybrid").monthly_run_cost_usd == pytest.approx(504)  # 500 + 200 x 0.02
    assert any(
        n.startswith("Measured: the 4 finished run(s) of 'refund-desk'") and "error rate" in n
        for n in advice.notes
    )


def test_measured_runs_that_never_finished_leave_the_assumptions(journal_path: Path) -> None:
    waiting = Measured(
        agent="slow",
        runs=2,
        finished=0,
        completed=0,
        success_rate=None,
        median_cost_usd=None,
        mean_cost_usd=None,
        approvals_per_run=1.0,
        median_steps=None,
        median_duration_seconds=None,
    )

    advice = advise(Workflow.model_validate(HAND), waiting)

    assert advice.estimate("agent").monthly_run_cost_usd == 100
    assert any("none finished" in n for n in advice.notes)


# --- the example workflows ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("fraud-screening.yaml", "model"),
        ("refund-handling.yaml", "hybrid"),
        ("vendor-onboarding.yaml", "agent"),
    ],
)
def test_example_workflows_get_their_documented_advice(example: str, expected: Option) -> None:
    path = EXAMPLES / example
    advice = advise(load_workflow(path))

    assert advice.recommendation == expected
    (said,) = [line for line in path.read_text().splitlines() if "recommends" in line]
    assert expected in said.split("recommends")[1]


# --- bad input -----------------------------------------------------------------------------


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workflow.yaml"
    path.write_text(text)
    return path


def _base_yaml(**changes: Any) -> str:
    return yaml.safe_dump(BASE | changes)


BAD: list[tuple[str, str]] = [
    ("name: [unclosed\n", "invalid YAML"),
    ("- a list\n", "expected a mapping"),
    (_base_yaml(colour="blue"), "field colour: Extra inputs are not permitted"),
    (_base_yaml(volume_per_month=-5), "field volume_per_month: Input should be greater than 0"),
    (_base_yaml(regulatory=["gdpr"]), "field regulatory.0: Input should be 'explainability'"),
    (_base_yaml(regulatory=["none", "audit_trail"]), "'none' cannot be listed with other"),
    (_base_yaml(systems_touched=-1), "field systems_touched: Input should be greater than or"),
    (_base_yaml(inputs="pdf"), "field inputs: Input should be 'structured'"),
    (_base_yaml(latency={"p95_seconds": 0}), "field latency.p95_seconds: Input should be greater"),
    (_base_yaml(labelled_history="lots"), "field labelled_history: Input should be a valid int"),
    ("name: x\n", "field latency: Field required"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_workflow_file_is_a_config_error_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _yaml(tmp_path, text)

    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_workflow(path)
    assert str(caught.value).startswith(str(path))


def test_none_alone_means_no_regulatory_constraint() -> None:
    assert _advice(regulatory=["none"]).reasons == _advice(regulatory=[]).reasons


# --- the command line ----------------------------------------------------------------------

cli = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    return tmp_path


def test_cli_prints_the_options_recommendation_reasons_and_assumptions(env: Path) -> None:
    result = cli.invoke(app, ["advise", str(EXAMPLES / "refund-handling.yaml")])

    assert result.exit_code == 0, result.output
    out = result.output
    assert "refund-handling: model, agent or hybrid?" in out
    assert re.search(r"hybrid\s+15\s+\$0\.0267\s+\$24,800", out)
    assert "recommendation: hybrid (score 15; model 2, agent 4)" in out
    assert "regulatory includes human_approval" in out
    assert re.search(r"hybrid_agent_share\s+20\.0%\s+default", out)
    assert "manual today: $216,000 a month" in out


def test_cli_json_is_the_advice(env: Path) -> None:
    result = cli.invoke(app, ["advise", str(EXAMPLES / "vendor-onboarding.yaml"), "--json"])

    assert result.exit_code == 0, result.output
    advice = Advice.model_validate_json(result.stdout)
    assert advice == advise(load_workflow(EXAMPLES / "vendor-onboarding.yaml"))
    assert json.loads(result.stdout)["recommendation"] == "agent"


ANSWERS = ["refunds", "3600", "human_approval, audit_trail", "4", "30000", "mixed", "narrow",
           "20000", "40", "6", "12"]  # fmt: skip
"""The refund-handling example, answered by hand."""


def test_cli_asks_each_figure_without_a_file(env: Path) -> None:
    result = cli.invoke(app, ["advise", "--json"], input="\n".join(ANSWERS) + "\n")

    assert result.exit_code == 0, result.output
    assert "Volume (cases per month) [1000]:" in result.stderr
    assert "Cost of one wrong outcome (USD) [50]:" in result.stderr
    # The test runner echoes the typed answers to stdout; a terminal shows them in place.
    advice = Advice.model_validate_json(result.stdout[result.stdout.index("{") :])
    example = advise(load_workflow(EXAMPLES / "refund-handling.yaml"))
    assert (advice.recommendation, advice.scores) == ("hybrid", example.scores)
    assert advice.estimates == example.estimates


def test_cli_questions_have_defaults(env: Path) -> None:
    result = cli.invoke(app, ["advise"], input="\n" * len(ANSWERS))

    assert result.exit_code == 0, result.output
    assert "my-workflow: model, agent or hybrid?" in result.output


def test_cli_asks_again_after_an_invalid_answer(env: Path) -> None:
    answers = [*ANSWERS[:2], "gdpr", *ANSWERS[2:4], "-5", *ANSWERS[4:6], "sometimes"]
    answers += ANSWERS[6:]

    result = cli.invoke(app, ["advise"], input="\n".join(answers) + "\n")

    assert result.exit_code == 0, result.output
    assert "Error: regulatory.0: Input should be 'explainability'," in result.output
    assert "or 'none' (got 'gdpr')" in result.output
    assert "Error: volume_per_month: Input should be greater than 0 (got '-5')" in result.output
    assert "Error: task_variety: Input should be 'narrow' or 'varied' (got 'sometimes')" in (
        result.output
    )
    assert "refunds: model, agent or hybrid?" in result.output


@pytest.mark.parametrize(("text", "message"), BAD)
def test_cli_bad_workflow_file_is_one_error_line_and_exit_2(
    env: Path, text: str, message: str
) -> None:
    path = _yaml(env, text)

    result = cli.invoke(app, ["advise", str(path)])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr.replace("\n", "")


def test_cli_missing_workflow_file_is_one_error_line(env: Path) -> None:
    result = cli.invoke(app, ["advise", str(env / "missing.yaml")])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {env / 'missing.yaml'}: file not found"


def test_cli_agent_option_uses_measured_figures(
    env: Path, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{journal_path}")
    workflow = str(EXAMPLES / "refund-handling.yaml")

    shown = cli.invoke(app, ["advise", workflow, "--agent", "refund-desk"])
    as_json = cli.invoke(app, ["advise", workflow, "--agent", "refund-desk", "--json"])

    assert shown.exit_code == as_json.exit_code == 0, shown.output
    assert (
        "measured refund-desk: 5 run(s), 4 finished, 75% succeeded (1 denied, 0 failed)"
        in shown.output
    )
    assert "note: Measured: the 4 finished run(s) of 'refund-desk'" in shown.output
    assert re.search(r"agent_cost_per_case_usd\s+\$0\.0200\s+measured", shown.output)
    advice = Advice.model_validate_json(as_json.stdout)
    assert advice.measured is not None and advice.measured.completed == 3


def test_cli_agent_without_runs_is_one_error_line(
    env: Path, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{journal_path}")

    result = cli.invoke(app, ["advise", "--agent", "nobody"], input="\n" * len(ANSWERS))

    assert result.exit_code == 2
    assert "Workflow name" not in result.output  # refused before any question
    assert result.stderr.strip() == (
        "error: no runs of agent 'nobody' in the journal; `charter runs` lists runs"
    )
