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

An agent may hand work to other agents, each offered to it as one tool:

.. code-block:: yaml

    delegate:
      - agent: billing.agent.yaml            # path relative to this file
        name: ask_billing                    # the tool's name (default: the agent's)
        description: Refunds and invoices; give it the order and what to do.

Calling such a tool starts a run of the sub-agent on the task the caller wrote, governed
by its own charter and by every charter above it (see :mod:`charter.runtime._delegation`).
Delegation nests at most :data:`MAX_DELEGATION_DEPTH` levels; a cycle (an agent that
delegates, however indirectly, to itself) is refused at load.
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
from charter.journal._kinds import CharterRef, RunStarted
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
from charter.policy._fields import widest_label
from charter.reasoners import PlanReasoner, Reasoner, ReasonerSpec, build_reasoner
from charter.tools import (
    Inventory,
    OpenAPIToolset,
    Tool,
    ToolContract,
    apply_contracts,
    openapi_tools,
)

MAX_DELEGATION_DEPTH = 3
"""How many levels of sub-agents an agent file may nest below itself."""

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
    description: str = ""
    """What the agent does, in a line (its file's ``description``)."""
    delegates: dict[str, Delegate] = field(default_factory=lambda: dict[str, Delegate]())
    """The sub-agents it may hand work to, by the name of the tool that calls each."""
    _version: tuple[tuple[Any, ...], str] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """:attr:`version_id` and what it was computed from (every run asks for it)."""

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
        # Threads change speed, not behaviour, and differ between hosts: an eval on one
        # machine must count for the same version on another.
        reasoner = {k: v for k, v in self.reasoner.describe().items() if k != "threads"}
        # A sub-agent's own version decides what a delegation does.
        delegates = {n: d.agent.version_id for n, d in sorted(self.delegates.items())}
        # Tools and charters are immutable: the same objects digest the same (held by
        # the key, so no other object can take their place at the same address).
        key = (self.version, self.instructions, reasoner, self.charter, tuple(self.inventory))
        key += (delegates,)
        cached = self._version
        if cached is not None and _same(cached[0], key):
            return cached[1]
        body = canonical_json(
            {
                "instructions": self.instructions,
                "reasoner": reasoner,
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
            | ({"delegates": delegates} if delegates else {})
        )
        version_id = f"{self.version}+{hashlib.sha256(body.encode()).hexdigest()[:10]}"
        self._version = (key, version_id)
        return version_id

    def manifest(self, goal: str, actor: str, version_id: str | None = None) -> RunStarted:
        """The ``run.started`` record of a run of this agent towards ``goal``, started by
        ``actor``: what it journals about the agent it ran (never secrets).

        Args:
            goal: the run's goal.
            actor: who started the run.
            version_id: :attr:`version_id`, when the caller has it already (a run computes
                it once).
        """
        started = RunStarted(
            agent=self.name,
            goal=goal,
            agent_version=self.version,
            version_id=version_id or self.version_id,
            reasoner=self.reasoner.describe(),
            charter=CharterRef(
                name=self.charter.name,
                version=self.charter.version,
                policy=self.charter.policy_hash,
            ),
            tools=self.inventory.names(),
            actor=actor,
        )
        # Which tools are refused and why, and where tools came from (e.g. an MCP server
        # and the hash of the definition loaded).
        refused = {t.name: t.refusal.detail for t in self.inventory if t.refusal is not None}
        if refused:
            started["refused_tools"] = refused
        origins = {t.name: t.origin for t in self.inventory if t.origin is not None}
        if origins:
            started["tool_origins"] = origins
        if self.source:
            started["source"] = self.source
        return started


def _same(known: tuple[Any, ...], key: tuple[Any, ...]) -> bool:
    """Whether :attr:`Agent.version_id`'s inputs are those it was computed from: the
    charter and the tools the very same objects, the rest equal."""
    version, instructions, reasoner, charter, tools, delegates = known
    return (
        key[3] is charter
        and len(key[4]) == len(tools)
        and all(a is b for a, b in zip(key[4], tools, strict=True))
        and key[0] == version
        and key[1] == instructions
        and key[2] == reasoner
        and key[5] == delegates
    )


@dataclass(frozen=True, slots=True)
class Delegate:
    """A sub-agent an agent may hand work to, through the tool named ``tool``."""

    tool: str
    """The name of the tool the parent calls it by."""
    agent: Agent
    """The sub-agent, loaded from its own file with its own charter."""


class DelegateArgs(BaseModel):
    """The arguments of a delegation: what the sub-agent is asked to do."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="What the sub-agent should do, in full.")


def _refuse_direct_call(**_: Any) -> Any:
    raise RuntimeError(
        "a delegation is run by charter, not called: govern it in a charter run (Runner) or "
        "through GovernedRun.govern, which starts the sub-agent's run"
    )


def delegate_tool(name: str, description: str, child: Agent) -> Tool:
    """The tool through which an agent hands a task to ``child``.

    Its contract is the widest of what the child may do: a write if any tool under it
    writes, its output untrusted (or pii, secret) if any output under it may be. The
    labels a call's result actually carries are those of what the child read (the
    runtime's part).
    """
    under = list(_tools_under(child))
    side_effect: Any = (
        "external"
        if any(t.contract.side_effect == "external" for t in under)
        else "write"
        if any(t.contract.side_effect == "write" for t in under)
        else "read"
    )
    label = Label("trusted", "public")
    for found in under:
        label = label.join(widest_label(found.contract))
    contract = ToolContract(
        side_effect=side_effect,
        trust=label.trust,
        # A secret output is withheld where it is read, in the child: what the child
        # answers is its own text (labelled secret if it saw one), not withheld again.
        confidentiality="pii" if label.confidentiality == "secret" else label.confidentiality,
        timeout_s=None,  # bounded by the budgets the child shares with its parent
        owner=child.name,
    )
    return Tool(
        name=name,
        description=description or f"Hand a task to the {child.name} agent.",
        fn=_refuse_direct_call,
        args_model=DelegateArgs,
        contract=contract,
        origin={"delegate": child.name, "source": child.source},
        takes_key=True,  # a retried delegation finds the child its key started
    )


def _tools_under(agent: Agent) -> Iterable[Tool]:
    """Every tool of ``agent`` and of its sub-agents, however deep."""
    for found in agent.inventory:
        if found.name in agent.delegates:
            yield from _tools_under(agent.delegates[found.name].agent)
        else:
            yield found


class DelegateSpec(BaseModel):
    """One sub-agent in an agent file's ``delegate:`` list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field(min_length=1)
    """The sub-agent's file, relative to this agent file."""
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w-]*$")
    """The tool's name (default: the sub-agent's name)."""
    description: str = ""
    """What the parent's reasoner is told the sub-agent does."""


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
    ] = Field(default_factory=lambda: [])
    delegate: list[DelegateSpec] = Field(default_factory=lambda: [])
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


def build_agent(
    spec: AgentSpec, *, base_dir: Path, source: str, _chain: tuple[Path, ...] = ()
) -> Agent:
    """Assemble an :class:`Agent` from a validated spec."""
    if not spec.toolsets and not spec.delegate:
        raise ConfigError(f"{source}: field toolsets: an agent needs a toolset or a delegate")
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
    delegates = _load_delegates(spec, base_dir, source, _chain)
    for tool_name, delegate in delegates.items():
        if tool_name in inventory:
            raise ConfigError(
                f"{source}: field delegate: {tool_name!r} is also a tool; give the "
                "delegate another name (name: ...)"
            )
        inventory.add(delegate_tool(tool_name, delegate.description, delegate.agent))
    governed = list(inventory)  # what its charter may name: its tools and those under it
    for delegate in delegates.values():
        governed += [t for t in _tools_under(delegate.agent) if t.name not in inventory]
    if isinstance(spec.charter, Charter):
        charter, charter_source = spec.charter, f"{source} (charter)"
    else:
        charter_path = base_dir / spec.charter
        charter, charter_source = load_charter(charter_path), str(charter_path)
    charter.check_tools({t.name for t in governed}, charter_source)
    charter.check_against(_unique(governed), charter_source)
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
        delegates={n: Delegate(n, d.agent) for n, d in delegates.items()},
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    agent: Agent
    description: str


def _unique(tools: list[Tool]) -> list[Tool]:
    """``tools`` without a second tool of a name already listed."""
    seen: dict[str, Tool] = {}
    for found in tools:
        seen.setdefault(found.name, found)
    return list(seen.values())


def _load_delegates(
    spec: AgentSpec, base_dir: Path, source: str, chain: tuple[Path, ...]
) -> dict[str, _Loaded]:
    """The sub-agents ``spec`` delegates to, loaded, by tool name; a cycle or a chain
    deeper than :data:`MAX_DELEGATION_DEPTH` is refused."""
    loaded: dict[str, _Loaded] = {}
    here = chain or (Path(source).resolve(),)
    for index, entry in enumerate(spec.delegate):
        where = f"{source}: field delegate.{index}"
        path = (base_dir / entry.agent).resolve()
        if path in here:
            cycle = " -> ".join(p.name for p in (*here[here.index(path) :], path))
            raise ConfigError(
                f"{where}: delegation cycle {cycle}; an agent may not delegate to itself"
            )
        if len(here) > MAX_DELEGATION_DEPTH:
            raise ConfigError(
                f"{where}: delegation nested deeper than {MAX_DELEGATION_DEPTH} levels "
                f"({' -> '.join(p.name for p in (*here, path))})"
            )
        if not path.is_file():
            raise ConfigError(f"{where}: no agent file {entry.agent!r} (looked for {path})")
        child = _load(path, None, (*here, path))
        name = entry.name or child.name.replace("-", "_")
        if name in loaded:
            raise ConfigError(f"{where}: two delegates named {name!r}; set name: on one")
        loaded[name] = _Loaded(child, entry.description or child.description)
    return loaded


def _load(path: Path, overrides: Mapping[str, Any] | None, chain: tuple[Path, ...]) -> Agent:
    data = read_yaml_mapping(path) | dict(overrides or {})
    spec = load_model(AgentSpec, data, str(path))
    agent = build_agent(spec, base_dir=path.parent, source=str(path), _chain=chain)
    agent.source = str(path.resolve())
    agent.description = spec.description
    return agent


def load_agent(path: Path | str, *, overrides: Mapping[str, Any] | None = None) -> Agent:
    """Read an agent file (and its charter); raise :class:`ConfigError` on any bad input.

    Args:
        path: the agent YAML file.
        overrides: top-level fields replacing the file's (e.g. ``{"reasoner": {...}}``).
    """
    path = Path(path)
    return _load(path, overrides, (path.resolve(),))
