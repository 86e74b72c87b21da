"""Tests for loading agents from YAML and for the Agent's governance helpers."""

import dataclasses
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.agent import Agent, Delegate, load_agent
from charter.errors import ConfigError
from charter.policy import Charter
from charter.reasoners import RulesReasoner
from charter.testing import ScriptedReasoner, make_agent, respond
from charter.tools import tool

TOOL_MODULE = '''
from charter.tools import tool


@tool
def lookup_order(order_id: int) -> dict:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int) -> dict:
    """Refund an order."""
    return {"refunded": order_id}


@tool(side_effect="external")
def send_email(to: str, body: str) -> None:
    """Send an email."""


@tool(name="lookup_order")
def other_lookup(order_id: int) -> dict:
    """A second tool that reuses the name lookup_order."""
    return {}


TOOLS = [lookup_order, refund_order, send_email]
EMAIL = [send_email]
NOT_TOOLS = ["lookup_order", 3]
SEEN_OPTIONS = []


def toolset(options):
    SEEN_OPTIONS.append(options)
    if options.get("only_lookup"):
        return [lookup_order]
    return TOOLS


def forgetful_factory(options):
    TOOLS  # forgot to return the tools


class Namespace:
    tools = [lookup_order]
'''

CHARTER = """\
name: support
version: "2"
tools:
  allow: ["lookup_*", refund_order]
  deny: [send_email]
budgets:
  max_steps: 5
"""


@pytest.fixture
def tools_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of tools, importable under a name unique to this test."""
    name = f"agent_test_tools_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(TOOL_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    yield name
    sys.modules.pop(name, None)


def _agent_yaml(
    toolsets: str,
    *,
    charter: str = "charter: support.charter.yaml",
    extra: str = "",
    reasoner: str = "reasoner:\n  kind: rules\n  steps:\n    - respond: done\n",
) -> str:
    return (
        "name: support-agent\n"
        'version: "3"\n'
        "instructions: You help customers of Acme.\n"
        f"toolsets:\n{textwrap.indent(toolsets, '  ')}"
        f"{extra}"
        f"{reasoner}"
        f"{charter}\n"
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _standard(tmp_path: Path, module: str, **kwargs: str) -> Path:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    return _write(tmp_path / "agent.yaml", _agent_yaml(f"- ref: {module}:TOOLS\n", **kwargs))


# --- valid agents --------------------------------------------------------------------------------


def test_valid_agent_loads_with_charter_relative_to_the_agent_file(
    tmp_path: Path, tools_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "agents" / "policies" / "support.charter.yaml", CHARTER)
    agent_file = _write(
        tmp_path / "agents" / "support.agent.yaml",
        _agent_yaml(
            f"- ref: {tools_module}:TOOLS\n", charter="charter: policies/support.charter.yaml"
        ),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    agent = load_agent(agent_file)

    assert isinstance(agent, Agent)
    assert agent.name == "support-agent"
    assert agent.version == "3"
    assert agent.instructions == "You help customers of Acme."
    assert agent.inventory.names() == ["lookup_order", "refund_order", "send_email"]
    assert agent.charter.name == "support"
    assert agent.charter.budgets.max_steps == 5
    assert isinstance(agent.reasoner, RulesReasoner)


def test_load_agent_accepts_a_string_path(tmp_path: Path, tools_module: str) -> None:
    agent = load_agent(str(_standard(tmp_path, tools_module)))

    assert agent.name == "support-agent"


def test_inline_charter_is_used(tmp_path: Path, tools_module: str) -> None:
    inline = "charter:\n  name: inline\n  tools:\n    allow: [lookup_order]\n"
    agent_file = _write(
        tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:TOOLS\n", charter=inline)
    )

    agent = load_agent(agent_file)

    assert agent.charter.name == "inline"
    assert agent.charter.tools.allow == ["lookup_order"]
    assert agent.charter.decide("refund_order").rules == ("tools.default-deny",)


def test_tools_subset_keeps_only_the_named_tools_in_that_order(
    tmp_path: Path, tools_module: str
) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml",
        _agent_yaml(
            f"- ref: {tools_module}:TOOLS\n", extra="tools: [refund_order, lookup_order]\n"
        ),
    )

    agent = load_agent(agent_file)

    assert agent.inventory.names() == ["refund_order", "lookup_order"]


def test_single_tool_reference_is_a_toolset(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:lookup_order\n")
    )

    assert load_agent(agent_file).inventory.names() == ["lookup_order"]


def test_factory_toolset_receives_its_options(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml",
        _agent_yaml(f"- ref: {tools_module}:toolset\n  options: {{only_lookup: true}}\n"),
    )

    agent = load_agent(agent_file)

    assert agent.inventory.names() == ["lookup_order"]
    assert sys.modules[tools_module].SEEN_OPTIONS == [{"only_lookup": True}]


def test_dotted_attribute_path_is_followed(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:Namespace.tools\n")
    )

    assert load_agent(agent_file).inventory.names() == ["lookup_order"]


def test_several_toolsets_are_combined(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml",
        _agent_yaml(f"- ref: {tools_module}:lookup_order\n- ref: {tools_module}:EMAIL\n"),
    )

    assert load_agent(agent_file).inventory.names() == ["lookup_order", "send_email"]


# --- bad tools and toolsets ----------------------------------------------------------------------


def test_unknown_tool_in_subset_names_the_tools_field(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module, extra="tools: [lookup_order, refund_ordr]\n")

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value) == (
        f"{agent_file}: field tools: unknown tool(s) refund_ordr; "
        "the toolsets provide lookup_order, refund_order, send_email"
    )


def test_tool_listed_twice_in_subset_is_a_config_error(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module, extra="tools: [lookup_order, lookup_order]\n")

    with pytest.raises(ConfigError, match="field tools"):
        load_agent(agent_file)


def test_unimportable_toolset_module_names_toolsets(tmp_path: Path) -> None:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    missing = f"no_such_module_{uuid.uuid4().hex}"
    agent_file = _write(tmp_path / "agent.yaml", _agent_yaml(f"- ref: {missing}:TOOLS\n"))

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value).startswith(
        f"{agent_file}: field toolsets ({missing}:TOOLS): cannot import module '{missing}'"
    )


def test_missing_toolset_attribute_names_toolsets(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    agent_file = _write(tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:NOPE\n"))

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value) == (
        f"{agent_file}: field toolsets ({tools_module}:NOPE): "
        f"module '{tools_module}' has no attribute 'NOPE'"
    )


def test_toolset_of_non_tools_names_toolsets(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    agent_file = _write(tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:NOT_TOOLS\n"))

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value) == (
        f"{agent_file}: field toolsets ({tools_module}:NOT_TOOLS): "
        "expected tools, got ['str', 'int']"
    )


def test_factory_returning_none_names_toolsets(tmp_path: Path, tools_module: str) -> None:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    agent_file = _write(
        tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:forgetful_factory\n")
    )

    with pytest.raises(ConfigError, match=r"field toolsets"):
        load_agent(agent_file)


def test_malformed_toolset_reference_names_its_field(tmp_path: Path) -> None:
    _write(tmp_path / "support.charter.yaml", CHARTER)
    agent_file = _write(tmp_path / "agent.yaml", _agent_yaml("- ref: just_a_module\n"))

    with pytest.raises(ConfigError, match=r"field toolsets\.0\.ref: String should match pattern"):
        load_agent(agent_file)


def test_duplicate_tool_names_across_toolsets_are_rejected(
    tmp_path: Path, tools_module: str
) -> None:
    _write(tmp_path / "support.charter.yaml", "name: support\n")
    agent_file = _write(
        tmp_path / "agent.yaml",
        _agent_yaml(f"- ref: {tools_module}:TOOLS\n- ref: {tools_module}:other_lookup\n"),
    )

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value) == f"{agent_file}: field toolsets: tool 'lookup_order' defined twice"


# --- bad charters and reasoners ------------------------------------------------------------------


def test_charter_pattern_matching_no_tool_names_the_charter_file(
    tmp_path: Path, tools_module: str
) -> None:
    charter_file = _write(
        tmp_path / "support.charter.yaml",
        "name: support\ntools:\n  allow: [lookup_order, refund_ordr]\n",
    )
    agent_file = _write(tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:TOOLS\n"))

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value).startswith(
        f"{charter_file}: field tools.allow: 'refund_ordr' matches no tool"
    )


def test_inline_charter_pattern_matching_no_tool_names_the_agent_file(
    tmp_path: Path, tools_module: str
) -> None:
    inline = "charter:\n  name: inline\n  tools:\n    deny: [delete_*]\n"
    agent_file = _write(
        tmp_path / "agent.yaml", _agent_yaml(f"- ref: {tools_module}:TOOLS\n", charter=inline)
    )

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value).startswith(
        f"{agent_file} (charter): field tools.deny: 'delete_*' matches no tool"
    )


def test_missing_charter_file_is_a_config_error(tmp_path: Path, tools_module: str) -> None:
    agent_file = _write(
        tmp_path / "agent.yaml",
        _agent_yaml(f"- ref: {tools_module}:TOOLS\n", charter="charter: absent.charter.yaml"),
    )

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    assert str(info.value) == f"{tmp_path / 'absent.charter.yaml'}: file not found"


def test_bad_reasoner_kind_names_reasoner(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module, reasoner="reasoner: {kind: oracle}\n")

    with pytest.raises(ConfigError) as info:
        load_agent(agent_file)

    message = str(info.value)
    assert message.startswith(f"{agent_file}: field reasoner: ")
    assert "'oracle'" in message


def test_invalid_rules_reasoner_names_reasoner(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(
        tmp_path, tools_module, reasoner="reasoner:\n  kind: rules\n  steps: []\n"
    )

    with pytest.raises(ConfigError, match=r"field reasoner\.rules\.steps"):
        load_agent(agent_file)


def test_missing_agent_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_agent(tmp_path / "nope.yaml")


def test_unknown_agent_field_is_named(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module, extra="model: gpt\n")

    with pytest.raises(ConfigError, match="field model: Extra inputs are not permitted"):
        load_agent(agent_file)


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_replace_a_top_level_field(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module)

    agent = load_agent(
        agent_file,
        overrides={
            "name": "renamed",
            "reasoner": {"kind": "rules", "steps": [{"respond": "a"}, {"respond": "b"}]},
        },
    )

    assert agent.name == "renamed"
    assert agent.reasoner.describe()["steps"] == 2


def test_overrides_are_validated_like_the_file(tmp_path: Path, tools_module: str) -> None:
    agent_file = _standard(tmp_path, tools_module)

    with pytest.raises(ConfigError, match=f"{agent_file}: field reasoner"):
        load_agent(agent_file, overrides={"reasoner": {"kind": "psychic"}})


# --- governance and manifest ---------------------------------------------------------------------


def test_govern_follows_the_charter(tmp_path: Path, tools_module: str) -> None:
    agent = load_agent(_standard(tmp_path, tools_module))
    lookup = agent.inventory.get("lookup_order")
    email = agent.inventory.get("send_email")

    assert agent.govern(lookup).rules == ("tools.allow",)
    assert agent.govern(email).rules == ("tools.deny",)


def test_govern_denies_a_revoked_tool(tmp_path: Path, tools_module: str) -> None:
    agent = load_agent(_standard(tmp_path, tools_module))
    refund = agent.inventory.get("refund_order")
    agent.inventory.revoke("refund_order")

    decision = agent.govern(refund)

    assert decision.verdict == "deny"
    assert decision.rules == ("inventory.revoked",)
    assert decision.reason == "tool 'refund_order' has been revoked"
    assert decision.policy == agent.charter.policy_hash


def test_govern_allows_again_after_restore(tmp_path: Path, tools_module: str) -> None:
    agent = load_agent(_standard(tmp_path, tools_module))
    refund = agent.inventory.get("refund_order")
    agent.inventory.revoke("refund_order")
    agent.inventory.restore("refund_order")

    assert agent.govern(refund).allowed is True


def test_revoked_tools_are_withheld_from_the_reasoner(tmp_path: Path, tools_module: str) -> None:
    agent = load_agent(_standard(tmp_path, tools_module))
    agent.inventory.revoke("send_email")

    assert [t.name for t in agent.tools()] == ["lookup_order", "refund_order"]


def test_manifest_names_agent_charter_hash_and_tools(tmp_path: Path, tools_module: str) -> None:
    path = _standard(tmp_path, tools_module)
    agent = load_agent(path)

    manifest = agent.manifest("refund order 42", "ops")

    assert manifest == {
        "agent": "support-agent",
        "goal": "refund order 42",
        "actor": "ops",
        "agent_version": "3",
        "version_id": agent.version_id,
        "reasoner": {"kind": "rules", "steps": 1, "match": None},
        "charter": {"name": "support", "version": "2", "policy": agent.charter.policy_hash},
        "tools": ["lookup_order", "refund_order", "send_email"],
        "source": str(Path(path).resolve()),
    }
    assert "charter" in manifest and len(manifest["charter"]["policy"]) == 16


def test_version_id_changes_with_what_decides_behaviour(tmp_path: Path, tools_module: str) -> None:
    path = _standard(tmp_path, tools_module)
    agent = load_agent(path)
    same = load_agent(path)
    assert agent.version_id == same.version_id
    assert agent.version_id.startswith("3+")

    agent.instructions += " Be brief."
    assert agent.version_id != same.version_id
    same.charter = same.charter.model_copy(update={"phase": "shadow"})
    assert same.version_id not in (agent.version_id, load_agent(path).version_id)


def test_version_id_ignores_how_many_threads_a_host_gives_the_model() -> None:
    from charter.reasoners.local import LocalReasoner

    def version(threads: int) -> str:
        reasoner = LocalReasoner(threads=threads)
        return make_agent([], reasoner).version_id

    assert version(2) == version(16)


def _uncached(agent: Agent) -> str:
    """``agent.version_id`` worked out afresh, from a copy that has no memory of it."""
    return dataclasses.replace(agent).version_id


def test_a_kept_version_id_follows_every_change_of_what_it_digests() -> None:
    @tool
    def first(order_id: int) -> int:
        """One tool."""
        return order_id

    @tool(side_effect="write")
    def second(order_id: int) -> int:
        """Another tool."""
        return order_id

    agent = make_agent([first], ScriptedReasoner([]), name="kept")
    seen = {agent.version_id}

    agent.charter = Charter.model_validate({"name": "other", "budgets": {"max_steps": 3}})
    assert agent.version_id == _uncached(agent) and agent.version_id not in seen
    seen.add(agent.version_id)
    agent.inventory.add(second)  # the same inventory, one tool more
    assert agent.version_id == _uncached(agent) and agent.version_id not in seen
    seen.add(agent.version_id)
    agent.reasoner = ScriptedReasoner([respond("done")])  # a script one step longer
    assert agent.version_id == _uncached(agent) and agent.version_id not in seen
    seen.add(agent.version_id)
    agent.version = "2"
    assert agent.version_id == _uncached(agent) and agent.version_id not in seen


def test_a_reasoner_that_describes_itself_differently_is_another_version() -> None:
    class Tunable(ScriptedReasoner):
        temperature = 0.0

        def describe(self) -> dict[str, Any]:
            return super().describe() | {"temperature": self.temperature}

    reasoner = Tunable([])
    agent = make_agent([], reasoner, name="tunable")
    before = agent.version_id

    reasoner.temperature = 0.7  # the same object, described otherwise

    assert agent.version_id != before
    assert agent.version_id == _uncached(agent)


def test_two_agents_of_one_name_keep_their_own_version_ids() -> None:
    @tool
    def read_a(key: str) -> str:
        """Read A."""
        return key

    @tool(side_effect="write")
    def write_b(key: str) -> str:
        """Write B."""
        return key

    reader = make_agent([read_a], ScriptedReasoner([]), name="twin")
    writer = make_agent([write_b], ScriptedReasoner([]), name="twin")

    assert reader.version_id != writer.version_id
    assert (reader.version_id, writer.version_id) == (_uncached(reader), _uncached(writer))


def test_a_delegate_changed_after_its_parent_was_digested_changes_the_parent() -> None:
    child = make_agent([], ScriptedReasoner([]), name="child")
    parent = make_agent([], ScriptedReasoner([]), name="parent")
    parent.delegates = {"ask_child": Delegate("ask_child", child)}
    before = parent.version_id

    child.instructions += " Answer in French."

    assert parent.version_id != before
    assert parent.version_id == _uncached(parent)
