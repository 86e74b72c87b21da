"""Tests for charters: loading from YAML, decisions, policy hashes, tool checks."""

from pathlib import Path

import pytest

from charter.errors import ConfigError
from charter.policy import Budgets, Charter, Decision, ToolRules, load_charter

VALID = """\
name: support
version: "3"
description: Support desk policy.
tools:
  allow: ["lookup_*", refund_order]
  deny: [send_email]
budgets:
  max_steps: 12
  max_tokens: 40000
  max_wall_seconds: 600
"""


def _write(tmp_path: Path, text: str, name: str = "support.charter.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _charter(allow: list[str] | None = None, deny: list[str] | None = None) -> Charter:
    rules = ToolRules(allow=allow if allow is not None else ["*"], deny=deny or [])
    return Charter(name="test", tools=rules)


# --- loading -----------------------------------------------------------------------------------


def test_load_charter_reads_every_field(tmp_path: Path) -> None:
    charter = load_charter(_write(tmp_path, VALID))

    assert charter.name == "support"
    assert charter.version == "3"
    assert charter.description == "Support desk policy."
    assert charter.tools == ToolRules(allow=["lookup_*", "refund_order"], deny=["send_email"])
    assert charter.budgets == Budgets(max_steps=12, max_tokens=40000, max_wall_seconds=600)


def test_load_charter_accepts_a_string_path(tmp_path: Path) -> None:
    charter = load_charter(str(_write(tmp_path, VALID)))

    assert charter.name == "support"


def test_minimal_charter_gets_defaults(tmp_path: Path) -> None:
    charter = load_charter(_write(tmp_path, "name: minimal\n"))

    assert charter.version == "1"
    assert charter.tools.allow == ["*"]
    assert charter.tools.deny == []
    assert charter.budgets.max_steps == 20
    assert charter.budgets.max_tokens is None
    assert charter.budgets.max_wall_seconds is None


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: support\nversion: '1'\nbad: : :\n", name="broken.yaml")

    with pytest.raises(ConfigError) as info:
        load_charter(path)

    message = str(info.value)
    assert message.startswith(f"{path}: line 3: invalid YAML:")
    assert "broken.yaml" in message


def test_non_mapping_top_level_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "- name: support\n- name: other\n")

    with pytest.raises(ConfigError) as info:
        load_charter(path)

    assert str(info.value) == f"{path}: expected a mapping at the top level, got list"


def test_empty_file_is_rejected_as_non_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "")

    with pytest.raises(ConfigError, match="expected a mapping at the top level, got NoneType"):
        load_charter(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as info:
        load_charter(path)

    assert str(info.value) == f"{path}: file not found"


def test_unknown_top_level_field_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: support\nbudget: {max_steps: 3}\n")

    with pytest.raises(ConfigError) as info:
        load_charter(path)

    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "field budget: Extra inputs are not permitted" in message


def test_unknown_nested_field_is_named_with_its_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: support\ntools:\n  allowed: [x]\n")

    with pytest.raises(ConfigError, match=r"field tools\.allowed: Extra inputs are not permitted"):
        load_charter(path)


def test_zero_max_steps_names_budgets_max_steps(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: support\nbudgets:\n  max_steps: 0\n")

    with pytest.raises(ConfigError) as info:
        load_charter(path)

    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "field budgets.max_steps: Input should be greater than or equal to 1" in message


def test_non_positive_wall_seconds_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: support\nbudgets:\n  max_wall_seconds: 0\n")

    with pytest.raises(ConfigError, match=r"field budgets\.max_wall_seconds"):
        load_charter(path)


def test_missing_name_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: '2'\n")

    with pytest.raises(ConfigError, match="field name: Field required"):
        load_charter(path)


def test_empty_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="name"):
        Charter(name="")


# --- decide ------------------------------------------------------------------------------------


def test_allow_pattern_globs_tool_names() -> None:
    decision = _charter(allow=["lookup_*"]).decide("lookup_order")

    assert decision.verdict == "allow"
    assert decision.allowed is True
    assert decision.rules == ("tools.allow",)
    assert decision.reason == "charter allows tool 'lookup_order'"


def test_glob_does_not_match_a_different_prefix() -> None:
    decision = _charter(allow=["lookup_*"]).decide("refund_order")

    assert decision.verdict == "deny"


def test_glob_matching_is_case_sensitive() -> None:
    decision = _charter(allow=["lookup_*"]).decide("Lookup_order")

    assert decision.verdict == "deny"


def test_exact_allow_entry_allows_that_tool() -> None:
    assert _charter(allow=["refund_order"]).decide("refund_order").allowed is True


def test_deny_wins_over_allow() -> None:
    decision = _charter(allow=["*"], deny=["send_*"]).decide("send_email")

    assert decision.verdict == "deny"
    assert decision.allowed is False
    assert decision.rules == ("tools.deny",)
    assert decision.reason == "charter denies tool 'send_email'"


def test_tool_not_in_allow_list_is_denied_by_default_rule() -> None:
    decision = _charter(allow=["lookup_order"]).decide("refund_order")

    assert decision.verdict == "deny"
    assert decision.rules == ("tools.default-deny",)
    assert decision.reason == "tool 'refund_order' is not in the charter's allow list"


def test_empty_allow_list_denies_everything() -> None:
    decision = _charter(allow=[]).decide("lookup_order")

    assert decision.rules == ("tools.default-deny",)


def test_decision_carries_the_policy_hash() -> None:
    charter = _charter(allow=["lookup_*"], deny=["lookup_secret"])

    for name in ("lookup_order", "lookup_secret", "other"):
        assert charter.decide(name).policy == charter.policy_hash


def test_deny_helper_builds_a_denial_with_the_given_rule() -> None:
    charter = _charter()

    decision = charter.deny("inventory.revoked", "tool 'x' has been revoked")

    assert decision == Decision(
        verdict="deny",
        rules=("inventory.revoked",),
        reason="tool 'x' has been revoked",
        policy=charter.policy_hash,
    )


def test_decision_to_json() -> None:
    decision = Decision(verdict="allow", rules=("tools.allow",), reason="ok", policy="abc")

    assert decision.to_json() == {
        "verdict": "allow",
        "rules": ["tools.allow"],
        "reason": "ok",
        "policy": "abc",
    }


# --- policy hash -------------------------------------------------------------------------------


def test_policy_hash_is_sixteen_hex_characters() -> None:
    policy_hash = _charter().policy_hash

    assert len(policy_hash) == 16
    int(policy_hash, 16)


def test_policy_hash_is_stable_for_equal_content(tmp_path: Path) -> None:
    first = load_charter(_write(tmp_path, VALID, name="a.yaml"))
    second = load_charter(_write(tmp_path, VALID, name="b.yaml"))

    assert first.policy_hash == second.policy_hash


def test_policy_hash_ignores_yaml_formatting(tmp_path: Path) -> None:
    reformatted = (
        "budgets: {max_wall_seconds: 600, max_tokens: 40000, max_steps: 12}\n"
        "tools: {deny: [send_email], allow: ['lookup_*', 'refund_order']}\n"
        "description: 'Support desk policy.'\n"
        "version: '3'\n"
        "name: support  # comment\n"
    )
    first = load_charter(_write(tmp_path, VALID, name="a.yaml"))
    second = load_charter(_write(tmp_path, reformatted, name="b.yaml"))

    assert first.policy_hash == second.policy_hash


@pytest.mark.parametrize(
    "changed",
    [
        VALID.replace("max_steps: 12", "max_steps: 13"),
        VALID.replace("[send_email]", "[send_email, delete_account]"),
        VALID.replace('version: "3"', 'version: "4"'),
        VALID.replace("Support desk policy.", "Support desk policy, v2."),
    ],
    ids=["budget", "deny", "version", "description"],
)
def test_policy_hash_changes_when_content_changes(tmp_path: Path, changed: str) -> None:
    original = load_charter(_write(tmp_path, VALID, name="a.yaml"))
    edited = load_charter(_write(tmp_path, changed, name="b.yaml"))

    assert edited != original
    assert edited.policy_hash != original.policy_hash


def test_policy_hash_of_a_model_copy_reflects_its_new_content() -> None:
    original = _charter(allow=["*"])
    _ = original.policy_hash  # computed and cached once, as any decide() would

    edited = original.model_copy(update={"tools": ToolRules(allow=["*"], deny=["send_email"])})

    assert edited.policy_hash == _charter(allow=["*"], deny=["send_email"]).policy_hash


# --- check_tools -------------------------------------------------------------------------------


def test_check_tools_accepts_patterns_that_each_match_a_tool() -> None:
    charter = _charter(allow=["lookup_*", "refund_order"], deny=["send_email"])

    charter.check_tools(["lookup_order", "refund_order", "send_email"], "agent.yaml")


def test_check_tools_rejects_an_allow_pattern_matching_no_tool() -> None:
    charter = _charter(allow=["lookup_*", "refund_ordr"])

    with pytest.raises(ConfigError) as info:
        charter.check_tools(["lookup_order", "refund_order"], "support.charter.yaml")

    assert str(info.value) == (
        "support.charter.yaml: field tools.allow: 'refund_ordr' matches no tool; "
        "known tools: lookup_order, refund_order"
    )


def test_check_tools_rejects_a_deny_pattern_matching_no_tool() -> None:
    charter = _charter(allow=["*"], deny=["send_mail"])

    with pytest.raises(ConfigError, match=r"^c\.yaml: field tools\.deny: 'send_mail' matches no"):
        charter.check_tools(["send_email"], "c.yaml")


def test_check_tools_with_no_known_tools_says_none() -> None:
    with pytest.raises(ConfigError, match="known tools: none"):
        _charter(allow=["*"]).check_tools([], "c.yaml")


def test_a_new_field_left_at_its_default_keeps_the_policy_version() -> None:
    charter = Charter(name="c", rules=[])
    same = Charter(name="c", rules=[], rollback_on=[])  # a field a later release added
    changed = Charter(name="c", rollback_on=["failed"])

    assert same.policy_hash == charter.policy_hash
    assert changed.policy_hash != charter.policy_hash
