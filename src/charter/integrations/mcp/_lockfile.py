"""The lockfile: the tool definitions an operator approved, per server.

``<agent>.mcp.lock`` sits beside the agent file and is reviewed in git. For each server it
holds each approved tool's whole wire definition (name, title, description, input and
output schema, annotations, everything the server sent) and its SHA-256 over canonical
JSON. A tool whose definition no longer hashes the same (a "rug pull") or that is not in
the lockfile is refused until ``charter mcp approve`` records it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from charter.errors import ConfigError
from charter.journal import canonical_json

LOCK_VERSION = 1
UNPINNED_RULE = "mcp.unpinned"
"""Rule id denying a tool the lockfile does not hold (a new tool, or no lockfile)."""
CHANGED_RULE = "mcp.changed"
"""Rule id denying a tool whose definition differs from the one approved."""

PinState = Literal["pinned", "changed", "new", "unlocked", "unpinned"]
"""``pinned`` matches the lockfile; ``changed`` differs; ``new`` is absent from it;
``unlocked``: there is no lockfile entry for the server at all; ``unpinned``: the agent
file says ``pin: false``."""


def definition_hash(definition: Mapping[str, Any]) -> str:
    """SHA-256 of a tool's wire definition as canonical JSON."""
    return hashlib.sha256(canonical_json(dict(definition)).encode()).hexdigest()


def lock_path(agent_file: Path) -> Path:
    """``support.agent.yaml`` → ``support.agent.mcp.lock`` beside it."""
    name = agent_file.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return agent_file.with_name(f"{name}.mcp.lock")


@dataclass(frozen=True, slots=True)
class PinCheck:
    """How one listed tool compares with the lockfile."""

    server: str
    tool: str
    state: PinState
    new_hash: str
    old_hash: str | None = None
    old_definition: dict[str, Any] | None = None
    new_definition: dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        """Whether the tool may be offered and called."""
        return self.state in ("pinned", "unpinned")

    @property
    def rule(self) -> str:
        """The rule id a call of a refused tool is denied with."""
        return CHANGED_RULE if self.state == "changed" else UNPINNED_RULE

    def reason(self, lockfile: Path) -> str:
        """One line for the denial and the operator."""
        approve = f"charter mcp approve <agent file> --tool {self.tool}"
        if self.state == "changed":
            return (
                f"mcp server {self.server!r} changed tool {self.tool!r} since it was approved "
                f"(sha256 {(self.old_hash or '')[:12]} → {self.new_hash[:12]}); review "
                f"`charter mcp diff`, then `{approve}`"
            )
        if self.state == "new":
            return (
                f"mcp server {self.server!r} offers tool {self.tool!r}, which {lockfile.name} "
                f"does not pin; review it, then `{approve}`"
            )
        return (
            f"mcp server {self.server!r} has no pinned tools: {lockfile.name} is missing or "
            "lacks it; run `charter mcp lock <agent file>` and review the lockfile"
        )

    def diff(self) -> str:
        """A unified diff of the approved and current definitions (empty if unchanged)."""
        if self.old_definition is None or self.new_definition is None:
            return ""
        old = json.dumps(self.old_definition, indent=2, sort_keys=True, ensure_ascii=True)
        new = json.dumps(self.new_definition, indent=2, sort_keys=True, ensure_ascii=True)
        lines = difflib.unified_diff(
            old.splitlines(), new.splitlines(), "approved", "current", lineterm=""
        )
        return "\n".join(lines)

    def record(self, lockfile: Path) -> dict[str, Any]:
        """What a run journals about a refused tool."""
        return {
            "server": self.server,
            "tool": self.tool,
            "state": self.state,
            "rule": self.rule,
            "old_sha256": self.old_hash,
            "new_sha256": self.new_hash,
            "diff": self.diff(),
            "lockfile": lockfile.name,
        }


class Lockfile:
    """The approved definitions of every server's tools, read from and written to JSON."""

    def __init__(self, path: Path, servers: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.path = path
        self.servers = servers
        """Server → tool → ``{"sha256": ..., "definition": {...}}``."""

    @classmethod
    def read(cls, path: Path) -> Lockfile:
        """The lockfile at ``path`` (empty when absent); ConfigError if it is malformed."""
        if not path.exists():
            return cls(path, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{path}: not a readable lockfile ({exc}); restore it from git"
            ) from exc
        problem = _problem(data)
        if problem:
            raise ConfigError(f"{path}: malformed lockfile: {problem}; restore it from git")
        return cls(path, cast(dict[str, dict[str, dict[str, Any]]], data["servers"]))

    def write(self) -> None:
        """Write the lockfile, stable and readable for review."""
        body = {"version": LOCK_VERSION, "servers": self.servers}
        text = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)  # never a half-written lockfile

    def has_server(self, server: str) -> bool:
        """Whether the lockfile holds an entry for ``server``."""
        return server in self.servers

    def check(self, server: str, definition: dict[str, Any], *, pin: bool = True) -> PinCheck:
        """Compare one listed tool with what was approved."""
        name = str(definition.get("name", ""))
        digest = definition_hash(definition)
        if not pin:
            return PinCheck(server, name, "unpinned", digest, new_definition=definition)
        if server not in self.servers:
            return PinCheck(server, name, "unlocked", digest, new_definition=definition)
        entry = self.servers[server].get(name)
        if entry is None:
            return PinCheck(server, name, "new", digest, new_definition=definition)
        state: PinState = "pinned" if entry["sha256"] == digest else "changed"
        return PinCheck(
            server, name, state, digest, entry["sha256"], entry["definition"], definition
        )

    def approve(self, server: str, definition: dict[str, Any]) -> None:
        """Pin ``definition`` for ``server`` (replacing what was approved)."""
        tools = self.servers.setdefault(server, {})
        tools[str(definition["name"])] = {
            "sha256": definition_hash(definition),
            "definition": definition,
        }


def _problem(data: Any) -> str:
    if not isinstance(data, dict) or cast(dict[str, Any], data).get("version") != LOCK_VERSION:
        return f"expected an object with version {LOCK_VERSION}"
    servers = cast(dict[str, Any], data).get("servers")
    if not isinstance(servers, dict):
        return "servers must be an object"
    for server, tools in cast(dict[str, Any], servers).items():
        if not isinstance(tools, dict):
            return f"server {server!r}: tools must be an object"
        listed = cast(dict[str, Any], tools)
        for name, entry in listed.items():
            if not isinstance(entry, dict):
                return f"server {server!r} tool {name!r}: expected an object"
            entry = cast(dict[str, Any], entry)
            definition = entry.get("definition")
            if not isinstance(definition, dict) or not isinstance(entry.get("sha256"), str):
                return f"server {server!r} tool {name!r}: needs sha256 and definition"
            if definition_hash(cast(dict[str, Any], definition)) != entry["sha256"]:
                return f"server {server!r} tool {name!r}: sha256 does not match its definition"
    return ""
