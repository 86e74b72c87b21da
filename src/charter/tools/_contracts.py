"""Contracts for tools charter did not write, declared in YAML by tool name.

A tool from an MCP server, an OpenAPI document or another framework arrives with a
schema but no contract charter can rely on. A charter's ``contracts`` section (or any
mapping given to :func:`apply_contracts`) declares one per tool name; what it leaves out
keeps the tool's own. Targets are checked against the tool's argument schema and field
labels against the path syntax, and a mistake is a :class:`~charter.errors.ConfigError`
naming the field.

.. code-block:: yaml

    contracts:
      slack_post:
        side_effect: external
        targets: [channel]
      slack_history:
        trust: untrusted
        fields: {"messages[].user": trusted, "messages[].ts": trusted}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from charter.errors import ConfigError
from charter.tools._tool import Confidentiality, SideEffect, Tool, Trust, check_field_label


class ContractSpec(BaseModel):
    """A tool's contract as YAML declares it; fields left out keep the tool's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side_effect: SideEffect | None = None
    trust: Trust | None = None
    confidentiality: Confidentiality | None = None
    targets: list[str] | None = None
    """Arguments choosing whom or what a write acts on (checked against the schema)."""
    fields: dict[str, str] = Field(default_factory=lambda: {})
    """Output field labels by path (see :attr:`charter.tools.ToolContract.fields`)."""
    idempotent: bool | None = None
    owner: str | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("fields")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for path, label in value.items():
            check_field_label(path, label)
        return value


def apply_contracts(
    tools: Iterable[Tool], contracts: Mapping[str, ContractSpec], source: str = "contracts"
) -> list[Tool]:
    """``tools`` with the declared contracts applied; raise :class:`ConfigError` naming
    ``source`` and the field for a tool nobody offers or a target that is not an argument."""
    found = list(tools)
    names = {t.name for t in found}
    for name in contracts:
        if name not in names:
            raise ConfigError(
                f"{source}: field contracts.{name}: no tool {name!r}; "
                f"known tools: {', '.join(sorted(names)) or 'none'}"
            )
    out: list[Tool] = []
    for item in found:
        spec = contracts.get(item.name)
        if spec is None:
            out.append(item)
            continue
        known = set(item.args_model.model_fields)
        for index, target in enumerate(spec.targets or ()):
            if target not in known:
                raise ConfigError(
                    f"{source}: field contracts.{item.name}.targets.{index}: {target!r} is "
                    f"not an argument of {item.name!r} (arguments: "
                    f"{', '.join(sorted(known)) or 'none'})"
                )
        update: dict[str, Any] = {
            key: value
            for key, value in spec.model_dump(exclude={"fields", "targets"}).items()
            if value is not None
        }
        if spec.targets is not None:
            update["targets"] = tuple(spec.targets)
        if spec.fields:
            update["fields"] = tuple(sorted(spec.fields.items()))
        try:
            contract = dataclasses.replace(item.contract, **update)
        except ValueError as exc:
            raise ConfigError(f"{source}: field contracts.{item.name}: {exc}") from exc
        out.append(dataclasses.replace(item, contract=contract))
    return out
