"""A registered model as a governed tool.

Agents call a model like any tool (``fraud_risk(amount_usd=..., ...)``): its arguments
are the model's input schema, validated by Pydantic; its result is
``{"score", "label", "model", "version"}``; the charter decides each call and the journal
records it (``step.effect`` carries the prediction and the version that made it), which
is also what drift checks read. The version is looked up at every call, so a promotion
takes effect at the next prediction, as a revocation does.

From an agent file:

.. code-block:: yaml

    toolsets:
      - ref: charter.models:tools
        options:
          models:
            - fraud_risk                                  # production, free
            - {name: churn, stage: staging, cost_usd: 0.0005, tool: churn_score}
          # database_url: postgresql://...              # default: the journal's
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from charter import settings
from charter.errors import ConfigError
from charter.journal import Journal
from charter.models._artifact import ModelError
from charter.models._card import Feature
from charter.models._registry import ModelRegistry
from charter.models._version import ModelVersion, Stage
from charter.tools import Confidentiality, Tool, ToolContract

_TYPES: dict[str, type] = {"float": float, "int": int, "bool": bool}


def features_model(name: str, inputs: list[Feature]) -> type[BaseModel]:
    """The Pydantic model of a model's inputs, as its tool's arguments."""
    fields: dict[str, Any] = {
        f.name: (_TYPES[f.type], Field(description=f.description or None)) for f in inputs
    }
    model_name = "".join(part.title() for part in name.split("_")) + "Args"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def model_tool(
    source: Journal | ModelRegistry,
    name: str,
    *,
    stage: Stage = "production",
    version: str | None = None,
    cost_usd: float = 0.0,
    tool_name: str | None = None,
    confidentiality: Confidentiality | None = None,
    timeout_s: float | None = 10.0,
    owner: str | None = None,
) -> Tool:
    """A tool that predicts with registered model ``name``.

    Args:
        source: the journal (whose database holds the registry) or a registry.
        name: the registered model.
        stage: which version each call uses: the production one, or the newest in
            ``staging``.
        version: pin one version instead of following ``stage``.
        cost_usd: price of one prediction (budgets and reports).
        tool_name: what agents call it; default: the model's name.
        confidentiality: label of predictions; default: the card's ``output``.
        timeout_s: seconds before a prediction is abandoned.
        owner: answerable for the tool; default: the card's owner.

    Raises:
        ModelNotFoundError: no such model, or no version at ``stage``.
    """
    registry = source if isinstance(source, ModelRegistry) else ModelRegistry(source)

    def resolve() -> ModelVersion:  # at every call: a promotion counts from the next one
        if version is not None:
            return registry.get(name, version, reference=False)
        return registry.current(name, stage, reference=False)

    built = resolve()
    inputs = built.inputs
    args_model = features_model(tool_name or name, inputs)

    def predict(**features: Any) -> dict[str, Any]:
        current = resolve()
        if current.inputs != inputs:
            raise ModelError(
                f"model {name!r} {current.version} takes other inputs than this tool was "
                f"built for ({built.version}); reload the agent"
            )
        (prediction,) = registry.predict(current, [features])
        return prediction.to_json(current)

    card = built.card
    use = card.intended_use.strip().rstrip(".")
    description = (
        f"Predict with model {name}" + (f": {use}" if use else "") + ". "
        "Returns {score, label, model, version}."
    )
    contract = ToolContract(
        side_effect="read",
        trust="trusted",
        confidentiality=confidentiality or built.output.confidentiality,
        idempotent=True,
        cost_usd=cost_usd,
        timeout_s=timeout_s,
        owner=owner if owner is not None else card.owner,
    )
    return Tool(
        name=tool_name or name,
        description=description,
        fn=predict,
        args_model=args_model,
        contract=contract,
    )


class _ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    stage: Stage = "production"
    version: str | None = None
    cost_usd: float = Field(default=0.0, ge=0)
    tool: str | None = None
    confidentiality: Confidentiality | None = None


class _ToolsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str | _ModelEntry] = Field(min_length=1)
    database_url: str | None = None


def tools(options: Mapping[str, Any]) -> list[Tool]:
    """Toolset factory for agent files (``ref: charter.models:tools``): one tool per
    listed model, reading the registry in ``database_url`` (default: the journal's,
    :func:`charter.settings.database_url`).

    Raises:
        ConfigError: malformed options, or a model that is not registered.
    """
    try:
        parsed = _ToolsOptions.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"charter.models:tools options: {problems}") from exc
    registry = ModelRegistry(Journal(parsed.database_url or settings.database_url()))
    made: list[Tool] = []
    for item in parsed.models:
        entry = _ModelEntry(name=item) if isinstance(item, str) else item
        try:
            made.append(
                model_tool(
                    registry,
                    entry.name,
                    stage=entry.stage,
                    version=entry.version,
                    cost_usd=entry.cost_usd,
                    tool_name=entry.tool,
                    confidentiality=entry.confidentiality,
                )
            )
        except ModelError as exc:
            raise ConfigError(f"charter.models:tools: {exc}") from exc
    return made
