"""Agents: instructions + tools + a reasoner + a charter, loadable from YAML.

.. code-block:: yaml

    name: support-agent
    version: "3"
    instructions: You help customers of Acme with orders and refunds.
    toolsets:
      - ref: charter.demo.tools:toolset      # module:attribute
        options: {world: .charter/demo-world.db}
    tools: [lookup_order, refund_order]      # optional: a subset of the toolsets
    reasoner: {kind: local}
    charter: support.charter.yaml            # path relative to this file, or inline

A toolset reference names a :class:`~charter.tools.Tool`, a list of tools, or a callable
taking the ``options`` mapping and returning tools. A toolset ``openapi: <document>``
makes one tool per operation of an OpenAPI document instead (see
:class:`~charter.tools.OpenAPIToolset`), and ``mcp: {...}`` the tools of an MCP server
(see :mod:`charter.integrations.mcp`).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator

from charter._yaml import load_model, read_yaml_mapping
from charter.errors import ConfigError
from charter.journal import canonical_json
from charter.policy import (
    CallLimiter,
    Charter,
    Decision,
    Label,
    Phase,
    RateLimiter,
    decide_call,
    load_charter,
)
from charter.reasoners import PlanReasoner, Reasoner, ReasonerSpec, build_reasoner
from charter.tools import (
    Inventory,
    OpenAPIToolset,
    Tool,
    ToolContract,
    apply_contracts,
    openapi_tools,
)

_CONTRACT_FIELDS = tuple(f.name for f in fields(ToolContract))
"""A contract's fields, in order: its values are JSON-ready as they are (strings, numbers,
booleans, tuples of strings), so the version digest reads them without ``asdict``'s deep
copies and hashes the same canonical JSON."""


@dataclass(slots=True)
class Agent:
    """A goal-directed worker whose every action its charter governs."""

    name: str
    instructions: str
    inventory: Inventory
    reasoner: Reasoner
    charter: Charter
    version: str = "1"
    limiter: RateLimiter = field(default_factory=RateLimiter)
    """Counts calls against the charter's rate limits across this agent's runs."""
    source: str = ""
    """The agent file it was loaded from, if any (journaled, so a run can be resumed)."""

    def __post_init__(self) -> None:
        if self.charter.contracts:  # contracts the charter declares for others' tools
            tools = apply_contracts(
                self.inventory, self.charter.contracts, self.source or self.charter.name
            )
            self.inventory = Inventory(tools)

    def tools(self) -> list[Tool]:
        """Tools offered to the reasoner (revoked and refused ones are withheld)."""
        return [
            t for t in self.inventory if not self.inventory.is_revoked(t.name) and t.refusal is None
        ]

    def govern(
        self,
        tool: Tool,
        args: Mapping[str, Any] | None = None,
        *,
        repeat: bool = False,
        revoked: str | None = None,
        labels: Mapping[str, Label] | None = None,
        limiter: CallLimiter | None = None,
        phase: Phase | None = None,
    ) -> Decision:
        """The charter's decision on calling ``tool`` with ``args`` now.

        Args:
            tool: the tool proposed.
            args: its validated arguments, JSON-ready (charter conditions may read them).
            repeat: an identical call of this tool already completed in this run.
            revoked: why an operator revoked the tool, if one did.
            labels: each argument's information-flow label (see :func:`decide_call`).
            limiter: counts calls against the charter's rate limits; default: this
                agent's in-process :attr:`limiter` (a runner passes one that reads the
                journal, so limits hold across processes).
            phase: this version's rollout phase, as conditions see it (default: the
                charter's starting phase).
        """
        if revoked is not None or self.inventory.is_revoked(tool.name):
            why = f": {revoked}" if revoked else ""
            return self.charter.deny(
                "inventory.revoked", f"tool {tool.name!r} has been revoked{why}"
            )
        if tool.refusal is not None:
            return self.charter.deny(tool.refusal.rule, tool.refusal.reason)
        contract = tool.contract
        if (
            repeat
            and contract.side_effect != "read"
            and not contract.idempotent
            and not self.charter.allow_repeat_writes
        ):
            return self.charter.deny(
                "charter.repeat_writes",
                f"an identical {tool.name} call already completed in this run; "
                "repeating it would do it twice",
            )
        decision = decide_call(self.charter, tool, args or {}, labels, agent=self.name, phase=phase)
        if decision.verdict in ("allow", "redact"):  # a redacted call runs too
            exceeded = (limiter or self.limiter).admit(tool.name, self.charter.rate_limits)
            if exceeded is not None:
                return self.charter.deny(
                    f"rate_limits.{exceeded.id}",
                    f"rate limit {exceeded.id}: at most {exceeded.max_calls} call(s) of "
                    f"{', '.join(exceeded.tools)} per {exceeded.per_seconds:g}s",
                )
        return decision

    @property
    def version_id(self) -> str:
        """This exact version: the declared ``version`` and a digest of everything that
        decides what the agent does (instructions, reasoner, tools and their contracts,
        charter). Rollout phases and evals belong to a version id, so editing a prompt or
        a charter without bumping ``version`` still starts over at the charter's phase."""
        body = canonical_json(
            {
                "instructions": self.instructions,
                # Threads change speed, not behaviour, and differ between hosts: an eval
                # on one machine must count for the same version on another.
                "reasoner": {k: v for k, v in self.reasoner.describe().items() if k != "threads"},
                "tools": {
                    t.name: {
                        name: getattr(t.contract, name)
                        for name in _CONTRACT_FIELDS
                        if name != "fields" or t.contract.fields  # digests kept as they were
                    }
                    for t in self.inventory
                },
                "charter": self.charter.policy_hash,
            }
        )
        return f"{self.version}+{hashlib.sha256(body.encode()).hexdigest()[:10]}"

    def manifest(self, version_id: str | None = None) -> dict[str, Any]:
        """What a run journals about the agent it ran (never secrets).

        Args:
            version_id: :attr:`version_id`, when the caller has it already (a run computes
                it once).
        """
        return {
            "agent": self.name,
            "agent_version": self.version,
            "version_id": version_id or self.version_id,
            "reasoner": self.reasoner.describe(),
            "charter": {
                "name": self.charter.name,
                "version": self.charter.version,
                "policy": self.charter.policy_hash,
            },
            "tools": self.inventory.names(),
            **self._tool_provenance(),
        } | ({"source": self.source} if self.source else {})

    def _tool_provenance(self) -> dict[str, Any]:
        """Which tools are refused and why, and where tools came from (e.g. an MCP
        server and the hash of the definition loaded)."""
        refused = {t.name: t.refusal.detail for t in self.inventory if t.refusal is not None}
        origins = {t.name: t.origin for t in self.inventory if t.origin is not None}
        return ({"refused_tools": refused} if refused else {}) | (
            {"tool_origins": origins} if origins else {}
        )


class ToolsetSpec(BaseModel):
    """Where tools come from: ``module:attribute`` plus options for a factory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(pattern=r"^\w[\w.]*:[\w.]+$")
    options: dict[str, Any] = Field(default_factory=lambda: {})


class McpToolsetSpec(BaseModel):
    """An MCP server's tools (its fields: :class:`charter.integrations.mcp.McpServerSpec`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mcp: dict[str, Any]


def _toolset_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a toolset as the kind its key names (``openapi:``, ``mcp:`` or ``ref:``),
    so an error names that kind's fields only."""
    if isinstance(value, Mapping) and "openapi" in value:
        return OpenAPIToolset.model_validate(value)
    if isinstance(value, Mapping) and "mcp" in value:
        return McpToolsetSpec.model_validate(value)
    if isinstance(value, Mapping):
        return ToolsetSpec.model_validate(value)
    return handler(value)


class AgentSpec(BaseModel):
    """The agent file's schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: str = "1"
    description: str = ""
    instructions: str = ""
    toolsets: list[
        Annotated[ToolsetSpec | OpenAPIToolset | McpToolsetSpec, WrapValidator(_toolset_kind)]
    ] = Field(min_length=1)
    tools: list[str] | None = None
    reasoner: ReasonerSpec
    charter: str | Charter


def import_ref(ref: str, where: str) -> Any:
    """The object ``module:attr.path`` names; a :class:`ConfigError` starting ``where``
    when the module cannot be imported or lacks the attribute."""
    module_name, _, attr_path = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module {module_name!r}: {exc}") from exc
    for attr in attr_path.split("."):
        if not hasattr(target, attr):
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr_path!r}")
        target = getattr(target, attr)
    return target


def resolve_toolset(spec: ToolsetSpec, source: str) -> list[Tool]:
    """Import and expand one toolset reference."""
    where = f"{source}: field toolsets ({spec.ref})"
    target = import_ref(spec.ref, where)
    if callable(target) and not isinstance(target, Tool):
        target = target(spec.options)
    if isinstance(target, Tool):
        target = [target]
    if not isinstance(target, Iterable) or isinstance(target, str | bytes | Mapping):
        raise ConfigError(
            f"{where}: expected a tool or tools, got {type(cast(object, target)).__name__}"
        )
    tools: list[Any] = list(cast(Iterable[Any], target))
    if not all(isinstance(t, Tool) for t in tools):
        raise ConfigError(f"{where}: expected tools, got {[type(t).__name__ for t in tools]}")
    return tools


def resolve_mcp_toolset(spec: McpToolsetSpec, source: str) -> list[Tool]:
    """The tools of the MCP server ``spec`` names (needs the ``mcp`` extra)."""
    try:
        from charter.integrations.mcp import mcp_toolset
    except ImportError as exc:
        raise ConfigError(f"{source}: field toolsets (mcp): {exc}") from exc
    return mcp_toolset(spec.mcp, source)


def build_agent(spec: AgentSpec, *, base_dir: Path, source: str) -> Agent:
    """Assemble an :class:`Agent` from a validated spec."""
    inventory = Inventory()
    for toolset in spec.toolsets:
        provided = (
            openapi_tools(toolset, base_dir=base_dir, source=source)
            if isinstance(toolset, OpenAPIToolset)
            else resolve_mcp_toolset(toolset, source)
            if isinstance(toolset, McpToolsetSpec)
            else resolve_toolset(toolset, source)
        )
        for item in provided:
            if item.name in inventory:
                raise ConfigError(f"{source}: field toolsets: tool {item.name!r} defined twice")
            inventory.add(item)
    if spec.tools is not None:
        repeated = sorted({n for n in spec.tools if spec.tools.count(n) > 1})
        if repeated:
            raise ConfigError(f"{source}: field tools: {', '.join(repeated)} listed twice")
        unknown = [n for n in spec.tools if n not in inventory]
        if unknown:
            raise ConfigError(
                f"{source}: field tools: unknown tool(s) {', '.join(unknown)}; "
                f"the toolsets provide {', '.join(inventory.names())}"
            )
        inventory = Inventory(inventory.get(n) for n in spec.tools)
    if isinstance(spec.charter, Charter):
        charter, charter_source = spec.charter, f"{source} (charter)"
    else:
        charter_path = base_dir / spec.charter
        charter, charter_source = load_charter(charter_path), str(charter_path)
    charter.check_tools(inventory.names(), charter_source)
    charter.check_against(inventory, charter_source)
    charter.compiled.warm(inventory, spec.name)  # the first governed call pays no parsing
    reasoner = build_reasoner(spec.reasoner)
    if isinstance(reasoner, PlanReasoner):  # a plan that cannot run is a load-time error
        reasoner.check_tools(list(inventory), f"{source}: field reasoner")
    return Agent(
        name=spec.name,
        instructions=spec.instructions,
        inventory=inventory,
        reasoner=reasoner,
        charter=charter,
        version=spec.version,
    )


def load_agent(path: Path | str, *, overrides: Mapping[str, Any] | None = None) -> Agent:
    """Read an agent file (and its charter); raise :class:`ConfigError` on any bad input.

    Args:
        path: the agent YAML file.
        overrides: top-level fields replacing the file's (e.g. ``{"reasoner": {...}}``).
    """
    path = Path(path)
    data = read_yaml_mapping(path) | dict(overrides or {})
    spec = load_model(AgentSpec, data, str(path))
    agent = build_agent(spec, base_dir=path.parent, source=str(path))
    agent.source = str(path.resolve())
    return agent
