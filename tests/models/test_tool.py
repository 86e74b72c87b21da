"""A registered model as a governed tool: typed arguments, journaled predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter, Journal, Runner, load_agent
from charter.errors import ConfigError
from charter.models import ModelError, ModelNotFoundError, ModelRegistry, model_tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.tools import ToolArgumentsError
from models._support import skops_model, spec

ORDER = {"amount": 480.0, "age": 3, "mismatch": True}


@pytest.fixture
def production(registry: ModelRegistry, tmp_path: Path) -> ModelRegistry:
    registry.register(
        skops_model(tmp_path / "m.skops"), name="fraud_risk", version="1", spec=spec(), actor="a"
    )
    registry.promote("fraud_risk", "1", actor="a")
    return registry


def test_the_tool_takes_the_input_schema_as_typed_arguments(production: ModelRegistry) -> None:
    fraud_risk = model_tool(production, "fraud_risk", cost_usd=0.002)

    schema = fraud_risk.parameters_schema()

    assert fraud_risk.name == "fraud_risk"
    assert schema["required"] == ["amount", "age", "mismatch"]
    assert schema["properties"]["amount"]["type"] == "number"
    assert schema["properties"]["amount"]["description"] == "Order amount."
    assert schema["properties"]["age"]["type"] == "integer"
    assert schema["properties"]["mismatch"]["type"] == "boolean"
    assert schema["additionalProperties"] is False
    with pytest.raises(ToolArgumentsError, match=r"age"):
        fraud_risk.validate_args(ORDER | {"age": "three"})
    with pytest.raises(ToolArgumentsError, match=r"colour"):
        fraud_risk.validate_args(ORDER | {"colour": "red"})


def test_the_contract_is_a_trusted_read_at_a_price_per_prediction(
    production: ModelRegistry,
) -> None:
    contract = model_tool(production, "fraud_risk", cost_usd=0.002).contract

    assert (contract.side_effect, contract.trust, contract.confidentiality) == (
        "read",
        "trusted",
        "internal",
    )
    assert (contract.cost_usd, contract.owner, contract.idempotent) == (0.002, "risk-team", True)
    assert model_tool(production, "fraud_risk", confidentiality="pii").contract.confidentiality == (
        "pii"
    )


def test_an_agent_calls_the_model_and_the_journal_holds_prediction_and_version(
    production: ModelRegistry,
) -> None:
    journal = production.journal
    fraud_risk = model_tool(journal, "fraud_risk", cost_usd=0.002)
    agent = make_agent(
        [fraud_risk], ScriptedReasoner([call("fraud_risk", **ORDER), respond("risky")])
    )

    run = Runner(journal).run(agent, "Is this order fraud?")

    assert run.status == "completed"
    (effect,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effect["tool"] == "fraud_risk" and effect["status"] == "ok"
    assert effect["result"]["model"] == "fraud_risk" and effect["result"]["version"] == "1"
    assert effect["result"]["label"] == 1 and effect["result"]["score"] > 0.5
    assert run.steps[0].observation is not None
    assert "fraud_risk" in run.steps[0].observation.render()


def test_invalid_arguments_reach_the_reasoner_not_the_model(production: ModelRegistry) -> None:
    journal = production.journal
    agent = make_agent(
        [model_tool(journal, "fraud_risk")],
        ScriptedReasoner([call("fraud_risk", amount="lots"), respond("ok")]),
    )

    run = Runner(journal).run(agent, "g")

    observation = run.steps[0].observation
    assert observation is not None and observation.status == "invalid_arguments"
    assert not [r for r in journal.records(run.run_id) if r.kind == "step.effect"]


def test_the_charter_governs_the_model_like_any_tool(production: ModelRegistry) -> None:
    journal = production.journal
    charter = Charter.model_validate(
        {
            "name": "c",
            "rules": [
                {
                    "id": "no-huge-orders",
                    "effect": "deny",
                    "tools": ["fraud_risk"],
                    "when": "context.args.age < 1",
                }
            ],
        }
    )
    agent = make_agent(
        [model_tool(journal, "fraud_risk")],
        ScriptedReasoner([call("fraud_risk", **(ORDER | {"age": 0})), respond("ok")]),
        charter=charter,
    )

    run = Runner(journal).run(agent, "g")

    assert run.steps[0].decision is not None and run.steps[0].decision.verdict == "deny"


def test_a_promotion_takes_effect_at_the_next_prediction(
    production: ModelRegistry, tmp_path: Path
) -> None:
    fraud_risk = model_tool(production, "fraud_risk")
    production.register(
        skops_model(tmp_path / "v2.skops"), name="fraud_risk", version="2", spec=spec(), actor="a"
    )
    first = fraud_risk.invoke(fraud_risk.validate_args(ORDER))

    production.promote("fraud_risk", "2", actor="a")

    assert first["version"] == "1"
    assert fraud_risk.invoke(fraud_risk.validate_args(ORDER))["version"] == "2"


def test_a_staging_tool_uses_the_newest_staging_version(
    production: ModelRegistry, tmp_path: Path
) -> None:
    production.register(
        skops_model(tmp_path / "v2.skops"), name="fraud_risk", version="2", spec=spec(), actor="a"
    )

    candidate = model_tool(production, "fraud_risk", stage="staging", tool_name="fraud_risk_next")

    assert candidate.name == "fraud_risk_next"
    assert candidate.invoke(candidate.validate_args(ORDER))["version"] == "2"


def test_a_tool_for_a_model_without_production_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register(
        skops_model(tmp_path / "m.skops"), name="fraud_risk", version="1", spec=spec(), actor="a"
    )

    with pytest.raises(ModelNotFoundError, match=r"no production version.*charter models promote"):
        model_tool(registry, "fraud_risk")


def test_an_archived_model_stops_predicting(production: ModelRegistry) -> None:
    fraud_risk = model_tool(production, "fraud_risk")
    production.archive("fraud_risk", "1", actor="a")

    with pytest.raises(ModelError, match=r"no production version"):
        fraud_risk.invoke(fraud_risk.validate_args(ORDER))


def test_an_agent_file_loads_models_through_the_toolset_factory(
    production: ModelRegistry, tmp_path: Path
) -> None:
    (tmp_path / "scorer.agent.yaml").write_text(
        f"""
name: scorer
toolsets:
  - ref: charter.models:tools
    options:
      database_url: {production.journal.url}
      models:
        - fraud_risk
        - {{name: fraud_risk, stage: production, tool: fraud_risk_paid, cost_usd: 0.01}}
reasoner:
  kind: rules
  steps:
    - id: score
      call: fraud_risk_paid
      args: {{amount: 480.0, age: 3, mismatch: true}}
    - respond: "risk {{steps.score.result.score}} by version {{steps.score.result.version}}"
charter: {{name: scorer-charter}}
"""
    )

    agent = load_agent(tmp_path / "scorer.agent.yaml")
    run = Runner(production.journal).run(agent, "score the order")

    assert agent.inventory.names() == ["fraud_risk", "fraud_risk_paid"]
    assert agent.inventory.get("fraud_risk_paid").contract.cost_usd == 0.01
    assert run.status == "completed" and run.answer is not None
    assert run.answer.endswith("by version 1")


def test_the_toolset_factory_reports_unknown_models(journal: Journal) -> None:
    from charter.models import tools

    with pytest.raises(ConfigError, match=r"charter.models:tools: no model named 'nope'"):
        tools({"models": ["nope"], "database_url": journal.url})
    with pytest.raises(ConfigError, match=r"models"):
        tools({"database_url": journal.url})
