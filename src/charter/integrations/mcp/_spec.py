"""The agent file's ``mcp:`` toolset: which server, how to reach it, and the contracts of
its tools.

.. code-block:: yaml

    toolsets:
      - mcp:
          server: mail                      # names it in the lockfile and in rule ids
          command: python                   # stdio: a command, its args and env ...
          args: [mail_server.py]
          # url: https://mcp.example/mcp    # ... or streamable HTTP
          # headers: {Authorization: {env: MAIL_MCP_TOKEN}}
          trust: untrusted                  # what its outputs are labelled (default)
          defaults: {side_effect: read}     # every tool's contract ...
          tools:                            # ... and per tool
            send_email: {side_effect: write, targets: [to]}
            read_inbox:                     # labels of structured output fields
              fields: {"messages[].sender": trusted, "messages[].id": trusted}

A tool the agent file gives no contract (neither ``defaults`` nor ``tools``) is a
``write`` whose output is ``untrusted``: the server's own annotations never make a tool
look safer than the agent file says (see :func:`effective_contract`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter._yaml import load_model
from charter.errors import ConfigError
from charter.tools import Confidentiality, SideEffect, ToolContract, Trust


class EnvRef(BaseModel):
    """A value read from the environment when the server is reached (never journaled)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field(min_length=1)


class ContractSpec(BaseModel):
    """Contract fields the agent file sets for an MCP tool (unset ones fall back)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side_effect: SideEffect | None = None
    reads: tuple[str, ...] | None = None
    trust: Trust | None = None
    confidentiality: Confidentiality | None = None
    idempotent: bool | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)
    owner: str | None = None
    targets: tuple[str, ...] | None = None
    fields: dict[str, str] | None = None
    """Labels of structured output fields by path (``messages[].sender: trusted``), as
    a native contract's; a server's ``defaults`` apply to each tool whose output schema
    has the path, a tool's own must name paths its output schema has."""


class McpServerSpec(BaseModel):
    """One MCP server as a toolset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*$")
    """The server's name in the lockfile, in rule ids and in journal records."""
    command: str | None = None
    """stdio: the command that starts the server."""
    args: list[str] = Field(default_factory=lambda: [])
    env: dict[str, str | EnvRef] = Field(default_factory=lambda: {})
    """stdio: environment of the server process (values may be ``{env: NAME}``); it
    inherits only the SDK's safe defaults (PATH, HOME, ...), never charter's own."""
    cwd: str | None = None
    """stdio: the server's working directory, relative to the agent file's (default:
    the agent file's directory, so ``args`` may name a script beside it)."""
    url: str | None = Field(default=None, pattern=r"^https?://")
    """Streamable HTTP: the endpoint."""
    headers: dict[str, EnvRef] = Field(default_factory=lambda: {})
    """Streamable HTTP: headers, each taken from an environment variable, so that no
    secret is written in the agent file (nor journaled, nor shown to the model)."""
    pin: bool = True
    """Refuse tools whose definition is not in the lockfile (``pin: false`` trusts the
    server's word as it is; runs journal that its tools are unpinned)."""
    trust: Trust = "untrusted"
    """The trust label of every output of this server, unless a tool's contract says."""
    defaults: ContractSpec = Field(default_factory=ContractSpec)
    tools: dict[str, ContractSpec] = Field(default_factory=lambda: {})
    connect_timeout_s: float = Field(default=20.0, gt=0)
    """Seconds to start or reach the server and list its tools."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (streamable HTTP), not both")
        if self.url is None and self.headers:
            raise ValueError("headers apply to a url server only")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        """How the server is reached."""
        return "stdio" if self.command is not None else "http"

    def describe(self) -> dict[str, Any]:
        """What may be journaled about the server: never header or env values."""
        where = {"command": self.command, "args": self.args} if self.command else {"url": self.url}
        return {"server": self.server, "transport": self.transport, **where}

    def resolved_env(self) -> dict[str, str]:
        """The server process's extra environment; ConfigError naming a missing variable."""
        return {key: _value(value, f"env {key}") for key, value in self.env.items()}

    def resolved_headers(self) -> dict[str, str]:
        """The HTTP headers; ConfigError naming (never showing) a missing variable."""
        return {key: _value(value, f"header {key}") for key, value in self.headers.items()}


def load_server(options: Mapping[str, Any], agent_file: Path) -> McpServerSpec:
    """Validate one ``mcp:`` entry of ``agent_file``, its ``cwd`` resolved beside it."""
    spec = load_model(McpServerSpec, dict(options), f"{agent_file}: field toolsets (mcp)")
    if spec.command is None:
        return spec
    cwd = (agent_file.resolve().parent / (spec.cwd or ".")).resolve()
    return spec.model_copy(update={"cwd": str(cwd)})


def _value(value: str | EnvRef, what: str) -> str:
    if isinstance(value, str):
        return value
    found = os.environ.get(value.env)
    if found is None:
        raise ConfigError(f"{what}: environment variable {value.env} is not set")
    return found


def effective_contract(spec: McpServerSpec, name: str, annotations: dict[str, Any]) -> ToolContract:
    """The contract charter enforces for the server's tool ``name``.

    The agent file decides: per-tool fields, then the server's ``defaults``, then the
    fail-closed fallback (``write``, outputs labelled with the server's ``trust``, which
    defaults to ``untrusted``). The server's annotations only ever tighten it: a tool
    declared ``read`` that the server marks ``destructiveHint: true`` or ``readOnlyHint:
    false`` is a ``write``; ``readOnlyHint: true`` or ``idempotentHint: true`` never
    relax anything, since a changed or hostile server could claim them.
    """
    own = spec.tools.get(name, ContractSpec())
    fields: dict[str, Any] = {"side_effect": "write", "trust": spec.trust}
    labels: dict[str, str] = {}
    for layer in (spec.defaults, own):
        fields |= layer.model_dump(exclude_none=True)
        labels |= layer.fields or {}
    fields["fields"] = tuple(sorted(labels.items()))
    if fields["side_effect"] == "read" and (
        annotations.get("destructiveHint") is True or annotations.get("readOnlyHint") is False
    ):
        fields["side_effect"] = "write"
    try:
        return ToolContract(**fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"mcp server {spec.server}: tool {name}: {exc}") from exc
