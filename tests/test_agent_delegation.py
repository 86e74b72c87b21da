"""Agent files that delegate: sub-agents as tools, cycles and depth refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.agent import MAX_DELEGATION_DEPTH, load_agent
from charter.cli import app
from charter.errors import ConfigError


def _agent_file(
    directory: Path,
    name: str,
    delegates: list[str] = (),  # type: ignore[assignment]
    *,
    tools: str = "[lookup_order]",
    charter: str = "{name: c}",
) -> Path:
    lines = [
        f"name: {name}",
        f"description: the {name} agent",
        "toolsets: [{ref: 'charter.demo.tools:toolset'}]",
        f"tools: {tools}",
        "reasoner: {kind: rules, steps: [{respond: done}]}",
        f"charter: {charter}",
    ]
    if delegates:
        lines.append("delegate:")
        lines += [f"  - {{agent: {d}.agent.yaml}}" for d in delegates]
    path = directory / f"{name}.agent.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_delegate_entry_becomes_a_tool_of_the_parent(tmp_path: Path) -> None:
    _agent_file(tmp_path, "billing", tools="[lookup_order, refund_order]")
    parent = load_agent(_agent_file(tmp_path, "front", ["billing"]))
    found = parent.inventory.get("billing")
    assert found.description == "the billing agent"
    assert found.contract.side_effect == "write"  # the widest of what the child may do
    assert parent.delegates["billing"].agent.name == "billing"
    assert list(found.args_model.model_fields) == ["task"]


def test_the_parents_charter_may_name_its_childrens_tools(tmp_path: Path) -> None:
    _agent_file(tmp_path, "billing", tools="[lookup_order, refund_order]")
    path = _agent_file(
        tmp_path, "front", ["billing"], charter="{name: c, tools: {deny: [refund_order]}}"
    )
    assert load_agent(path).charter.tools.deny == ["refund_order"]


def test_a_delegation_cycle_is_refused_at_load_in_one_line(tmp_path: Path) -> None:
    _agent_file(tmp_path, "a", ["b"])
    _agent_file(tmp_path, "b", ["a"])
    with pytest.raises(ConfigError) as caught:
        load_agent(tmp_path / "a.agent.yaml")
    message = str(caught.value)
    assert "delegation cycle a.agent.yaml -> b.agent.yaml -> a.agent.yaml" in message
    assert "\n" not in message


def test_an_agent_delegating_to_itself_is_a_cycle(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="delegation cycle"):
        load_agent(_agent_file(tmp_path, "a", ["a"]))


def test_delegation_nested_too_deep_is_refused_at_load(tmp_path: Path) -> None:
    names = [f"level{n}" for n in range(MAX_DELEGATION_DEPTH + 2)]
    for name, below in zip(names, [*names[1:], None], strict=True):
        _agent_file(tmp_path, name, [below] if below else [])
    with pytest.raises(ConfigError, match=f"deeper than {MAX_DELEGATION_DEPTH} levels"):
        load_agent(tmp_path / "level0.agent.yaml")
    assert load_agent(tmp_path / "level1.agent.yaml").delegates  # one level less loads


def test_a_missing_sub_agent_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"field delegate.0: no agent file 'nobody.agent.yaml'"):
        load_agent(_agent_file(tmp_path, "a", ["nobody"]))


def test_a_delegate_named_like_a_tool_is_refused(tmp_path: Path) -> None:
    _agent_file(tmp_path, "lookup_order")
    with pytest.raises(ConfigError, match="'lookup_order' is also a tool"):
        load_agent(_agent_file(tmp_path, "a", ["lookup_order"]))


def test_the_cli_refuses_a_cycle_with_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    _agent_file(tmp_path, "a", ["b"])
    _agent_file(tmp_path, "b", ["a"])
    result = CliRunner().invoke(app, ["run", str(tmp_path / "a.agent.yaml"), "x"])
    assert result.exit_code == 2
    assert "delegation cycle" in result.output
    assert len(result.output.strip().splitlines()) == 1
