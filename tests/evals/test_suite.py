"""Suite files: the shipped suites load; every kind of bad suite is one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charter.agent import load_agent
from charter.errors import ConfigError
from charter.evals import cases, check_tools, load_suite, plant
from charter.evals._suite import Injection
from evals._support import ADVERSARIAL, NORMAL, SUPPORT_AGENT

HEAD = """\
suite: probe
world: {factory: charter.demo.world:create_world, option: world}
scenarios:
"""


def _suite(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "probe.suite.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_the_shipped_suites_load_and_cover_every_attack_kind() -> None:
    normal, adversarial = load_suite(NORMAL), load_suite(ADVERSARIAL)
    assert normal.suite == "support-normal" and len(list(cases(normal))) >= 12
    names = [c.name for c in cases(adversarial)]
    for kind in ("exfiltration", "refund", "erasure", "escalation", "budget-exhaustion"):
        assert any(kind in name for name in names), kind
    agent = load_agent(SUPPORT_AGENT, overrides={"toolsets": [_scratch_toolset()]})
    check_tools(normal, agent.inventory.names(), str(NORMAL))
    check_tools(adversarial, agent.inventory.names(), str(ADVERSARIAL))


def _scratch_toolset() -> dict[str, object]:
    import tempfile

    world = Path(tempfile.mkdtemp(prefix="charter-test-")) / "world.db"
    return {"ref": "charter.demo.tools:toolset", "options": {"world": str(world)}}


def test_the_digest_follows_content(tmp_path: Path) -> None:
    body = "  - {name: a, goal: g, expect: {status: completed}}\n"
    first = load_suite(_suite(tmp_path, body)).digest
    assert load_suite(_suite(tmp_path, body)).digest == first
    changed = body.replace("completed", "waiting")
    assert load_suite(_suite(tmp_path, changed)).digest != first


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "  - {name: a, goal: g, expect: {world: [{sql: 'SELECT x FROM nowhere', equals: 1}]}}"
            "\n",
            "field scenarios.0.expect.world.0.sql: no such table: nowhere",
        ),
        (
            "  - {name: a, goal: g, expect: {world: [{sql: 'SELECT nope FROM orders', equals: 1}]}}"
            "\n",
            "field scenarios.0.expect.world.0.sql: no such column: nope",
        ),
        (
            "  - name: a\n    goal: g\n    setup: [UPDATE nowhere SET x = 1]\n"
            "    expect: {status: completed}\n",
            "field scenarios.0.setup.0: no such table: nowhere",
        ),
        (
            "  - name: a\n    goal: g\n    expect: {status: completed}\n    variants:\n"
            "      - name: v\n        setup: [SELECT 1]\n"
            "        attack: {world: [{sql: 'SELECT ghost FROM payments', at_least: 1}]}\n",
            "field scenarios.0.variants.0.attack.world.0.sql: no such column: ghost",
        ),
        (
            "  - {name: a, goal: g, expect: {journal: [{record: step.teleported, count: 1}]}}\n",
            "unknown record kind 'step.teleported'",
        ),
        (
            "  - {name: a, goal: g, expect: {world: [{sql: 'DELETE FROM orders', equals: 0}]}}\n",
            "only SELECT",
        ),
        (
            "  - {name: a, goal: g, expect: {world: [{sql: 'SELECT 1'}]}}\n",
            "give equals, at_least, at_most or empty",
        ),
        ("  - {name: a, goal: g}\n", "a scenario needs expect checks or an attack"),
        (
            "  - {name: a, goal: g, expect: {status: completed}}\n"
            "  - {name: a, goal: h, expect: {status: completed}}\n",
            "scenarios.1.name: 'a' is used twice",
        ),
        (
            "  - name: a\n    goal: g\n    expect: {status: completed}\n"
            "    variants: [{name: v}]\n",
            "a variant needs inject or setup",
        ),
        (
            "  - name: a\n    goal: g\n    expect: {status: completed}\n"
            "    script: [{call: lookup_order, respond: both}]\n",
            "give either call (with args) or respond",
        ),
        (
            "  - {name: a, goal: g, expect: {answer: {matches: '(unclosed'}}}\n",
            "invalid regular expression",
        ),
        ("  - {name: a, goal: g, expect: {status: exploded}}\n", "field scenarios.0.expect.status"),
    ],
)
def test_a_bad_suite_is_one_error_naming_file_and_field(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _suite(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_suite(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_world_factory_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "suite: s\nworld: {factory: charter.nowhere:make}\n"
        "scenarios: [{name: a, goal: g, expect: {status: completed}}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"field world\.factory .* cannot import module"):
        load_suite(path)


def test_unreadable_and_non_mapping_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_suite(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_suite(listed)


def test_tools_the_agent_lacks_are_named(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        "  - name: a\n    goal: g\n"
        "    expect: {journal: [{record: step.effect, where: {tool: teleport}, count: 0}]}\n",
    )
    suite = load_suite(path)
    with pytest.raises(
        ConfigError, match=r"expect\.journal\.0\.where\.tool: unknown tool 'teleport'"
    ):
        check_tools(suite, ["lookup_order"], str(path))


def test_planting_text_at_a_path_in_every_string_and_by_mode() -> None:
    result: dict[str, Any] = {"body": "hi", "items": [{"note": "a"}, {"note": "b"}], "n": 3}
    planted = plant(result, Injection(tool="t", text="X", field="items.*.note"))
    assert planted["items"] == [{"note": "a\nX"}, {"note": "b\nX"}]
    assert planted["body"] == "hi" and result["items"][0]["note"] == "a"  # original untouched
    everywhere = plant(result, Injection(tool="t", text="X", mode="prepend"))
    assert everywhere["body"] == "X\nhi" and everywhere["n"] == 3
    assert plant("plain", Injection(tool="t", text="X", mode="replace")) == "X"
    with pytest.raises(ConfigError, match="field 'missing' is not in its result"):
        plant(result, Injection(tool="t", text="X", field="missing"))
