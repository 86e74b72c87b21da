"""``charter runs rollback RUN --charter FILE`` undoes a LangGraph run's writes in a
process of its own, through the compensations the charter's ``compensations:`` names;
anything it cannot resolve is one line and exit 2, with nothing journaled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import MemorySaver
from tests.integrations.langgraph.graphs import TOOLS, call, graph, refunds

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.langgraph import govern
from charter.policy import load_charter
from charter.runtime import rollback

ROOT = Path(__file__).resolve().parents[3]
UNDO_MODULE = """
import json, os

from charter import tool

@tool
def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"

def cancel_refund(result, order_id, amount):
    with open(os.environ["UNDO_LOG"], "a") as log:
        log.write(json.dumps({"order_id": order_id, "amount": amount, "result": result}) + "\\n")
    return f"refund of {order_id} cancelled"
"""
CONTRACTS: dict[str, Any] = {
    "lookup_order": {},
    "read_ticket": {"trust": "untrusted"},
    "refund_order": {"side_effect": "write", "targets": ["order_id"]},
    "crash_order": {},
}


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shop_undo.py").write_text(UNDO_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("UNDO_LOG", str(tmp_path / "undo.log"))
    return tmp_path


def _charter_file(where: Path, name: str = "refunds", **extra: Any) -> Path:
    path = where / f"{name}-{len(list(where.glob('*.yaml')))}.charter.yaml"
    body = {"name": name, "contracts": CONTRACTS} | extra
    path.write_text(yaml.safe_dump(body))
    return path


def _refunded(where: Path, charter_file: Path) -> str:
    """A finished LangGraph turn that looked an order up and refunded it."""
    journal = Journal(f"sqlite:///{where / 'charter.db'}")
    governor = govern(TOOLS, journal=journal, charter=charter_file, name="refunds")
    script = [
        call("lookup_order", {"order_id": 1042}, "c1"),
        call("refund_order", {"order_id": 1042, "amount": 42.0}, "c2"),
        AIMessage(content="Refunded."),
    ]
    app, _ = graph(governor, script, MemorySaver())
    governor.invoke(
        app, {"messages": [("user", "refund 1042")]}, {"configurable": {"thread_id": "t"}}
    )
    assert refunds() == [(1042, 42.0)]
    (started,) = journal.records_of_kind("run.started")
    journal.close()
    return started.run_id


def _cli(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(where)]),
        "CHARTER_DATABASE_URL": f"sqlite:///{where / 'charter.db'}",
        "CHARTER_HOME": str(where / "home"),
        "UNDO_LOG": str(where / "undo.log"),
    }
    return subprocess.run(
        [sys.executable, "-m", "charter", *args], env=env, capture_output=True, text=True
    )


def _kinds(where: Path, run_id: str) -> list[str]:
    journal = Journal(f"sqlite:///{where / 'charter.db'}")
    try:
        return [r.kind for r in journal.records(run_id)]
    finally:
        journal.close()


def _undone(where: Path) -> list[str]:
    log = where / "undo.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_cli_undoes_a_framework_runs_write_through_the_charters_compensation(
    where: Path,
) -> None:
    charter_file = _charter_file(where, compensations={"refund_order": "shop_undo:cancel_refund"})
    run_id = _refunded(where, charter_file)

    done = _cli(where, "runs", "rollback", run_id, "--charter", str(charter_file), "--as", "ops")
    assert done.returncode == 0, done.stdout + done.stderr
    (undone,) = _undone(where)
    assert '"order_id": 1042' in undone and "refunded 42.00 on order 1042" in undone
    kinds = _kinds(where, run_id)
    assert kinds.count("rollback.compensated") == 1 and kinds[-1] == "rollback.finished"
    again = _cli(where, "runs", "rollback", run_id, "--charter", str(charter_file))
    assert again.returncode == 2 and "already rolled back" in again.stderr
    assert len(_undone(where)) == 1  # never undone twice
    verified = _cli(where, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_write_the_charter_names_no_compensation_for_is_reported_irreversible(
    where: Path,
) -> None:
    charter_file = _charter_file(where, compensations={"crash_order": "shop_undo:cancel_refund"})
    run_id = _refunded(where, charter_file)

    done = _cli(where, "runs", "rollback", run_id, "--charter", str(charter_file))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "irreversible" in done.stdout and _undone(where) == []
    assert "rollback.irreversible" in _kinds(where, run_id)


@pytest.mark.parametrize(
    ("compensations", "name", "expected"),
    [
        ({}, "refunds", "field compensations: none named"),
        ({"refund_order": "no_such_module:undo"}, "refunds", "module 'no_such_module' does not"),
        ({"refund_order": "shop_undo:missing"}, "refunds", "'shop_undo' has no 'missing'"),
        ({"refund_order": "shop_undo:cancel_refund"}, "other", "ran under charter 'refunds'"),
    ],
)
def test_what_the_cli_cannot_resolve_is_one_line_and_nothing_is_journaled(
    where: Path, compensations: dict[str, str], name: str, expected: str
) -> None:
    run_id = _refunded(where, _charter_file(where))
    given = _charter_file(where, name, compensations=compensations)

    done = _cli(where, "runs", "rollback", run_id, "--charter", str(given))
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert not any(k.startswith("rollback.") for k in _kinds(where, run_id))
    assert _undone(where) == []


def test_without_a_charter_the_cli_names_the_options_and_the_api(where: Path) -> None:
    run_id = _refunded(where, _charter_file(where))

    done = _cli(where, "runs", "rollback", run_id)
    assert done.returncode == 2
    line = " ".join(done.stderr.split())
    assert "--charter FILE whose compensations:" in line and "charter.runtime.rollback" in line


def test_a_native_run_is_not_rolled_back_from_a_charter(where: Path) -> None:
    agent_file = where / "desk.agent.yaml"
    agent_file.write_text(
        "name: desk\nreasoner: {kind: rules, steps: [{respond: ok}]}\ncharter: {name: desk}\n"
        "toolsets: [{ref: 'shop_undo:ping'}]\n"
    )
    ran = _cli(where, "run", str(agent_file), "hello")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    journal = Journal(f"sqlite:///{where / 'charter.db'}")
    (started,) = journal.records_of_kind("run.started")
    journal.close()
    done = _cli(where, "runs", "rollback", started.run_id, "--charter", str(_charter_file(where)))
    assert done.returncode == 2 and "charter's own loop" in done.stderr


def test_the_integration_takes_the_charters_compensations_as_its_own(where: Path) -> None:
    charter_file = _charter_file(where, compensations={"refund_order": "shop_undo:cancel_refund"})
    run_id = _refunded(where, charter_file)
    journal = Journal(f"sqlite:///{where / 'charter.db'}")
    governor = govern(TOOLS, journal=journal, charter=charter_file, name="refunds")
    report = rollback(journal, governor.agent, run_id, actor="ops")
    journal.close()
    assert report.complete and len(_undone(where)) == 1


def test_a_charter_naming_a_bad_compensation_does_not_load(where: Path) -> None:
    bad_syntax = _charter_file(where, compensations={"refund_order": "os.system"})
    with pytest.raises(ConfigError, match=r"compensations\.refund_order: 'os\.system' is not"):
        load_charter(bad_syntax)
    unnamed = _charter_file(where, compensations={"wire_money": "shop_undo:cancel_refund"})
    with pytest.raises(ConfigError, match=r"compensations\.wire_money: no such tool in contracts"):
        load_charter(unnamed)
    missing = _charter_file(where, compensations={"refund_order": "no_such_module:undo"})
    with pytest.raises(ConfigError, match="no_such_module"):
        govern(TOOLS, journal=Journal("sqlite://"), charter=missing, name="refunds")
