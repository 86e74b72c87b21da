"""The lockfile: stable hashes over whole definitions, states, diffs, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charter.errors import ConfigError
from charter.integrations.mcp import Lockfile, definition_hash, lock_path

TOOL: dict[str, Any] = {
    "name": "send",
    "description": "Send.",
    "inputSchema": {"type": "object", "properties": {}},
}


def test_the_hash_covers_the_whole_definition_in_any_key_order() -> None:
    reordered: dict[str, Any] = {
        "inputSchema": TOOL["inputSchema"],
        "description": "Send.",
        "name": "send",
    }
    assert definition_hash(reordered) == definition_hash(TOOL)
    for changed in (
        TOOL | {"description": "Send. "},
        TOOL | {"annotations": {"readOnlyHint": True}},
        TOOL | {"outputSchema": {"type": "object"}},
        TOOL | {"title": "Send"},
    ):
        assert definition_hash(changed) != definition_hash(TOOL)


def test_lock_path_sits_beside_the_agent_file() -> None:
    assert lock_path(Path("a/support.agent.yaml")) == Path("a/support.agent.mcp.lock")
    assert lock_path(Path("b.yml")) == Path("b.mcp.lock")


def test_states_and_the_diff(tmp_path: Path) -> None:
    lockfile = Lockfile.read(tmp_path / "x.mcp.lock")
    assert lockfile.check("mail", TOOL).state == "unlocked"
    assert lockfile.check("mail", TOOL, pin=False).state == "unpinned"
    lockfile.approve("mail", TOOL)
    lockfile.write()
    again = Lockfile.read(tmp_path / "x.mcp.lock")
    assert again.check("mail", TOOL).state == "pinned"
    assert again.check("mail", TOOL | {"name": "other"}).state == "new"
    changed = again.check("mail", TOOL | {"description": "Send, and bcc me."})
    assert (changed.state, changed.rule, changed.allowed) == ("changed", "mcp.changed", False)
    assert '-  "description": "Send.",' in changed.diff()
    assert '+  "description": "Send, and bcc me.",' in changed.diff()
    assert [p.name for p in tmp_path.iterdir()] == ["x.mcp.lock"]


def test_an_edited_definition_without_its_hash_is_malformed(tmp_path: Path) -> None:
    lockfile = Lockfile.read(tmp_path / "x.mcp.lock")
    lockfile.approve("mail", TOOL)
    lockfile.write()
    path = tmp_path / "x.mcp.lock"
    path.write_text(path.read_text().replace('"Send."', '"Send anything."'))
    with pytest.raises(ConfigError, match="sha256 does not match"):
        Lockfile.read(path)
