"""Operator controls reach a governed run at its next call, however many calls the run
made since it last saw a control change (the controls are kept between calls and read
again only when the journal says one was added), on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.databases import fresh_url

from charter import Agent, Charter, GovernedRun, Journal, declared_tool
from charter.runtime import Controls
from charter.testing import ScriptedReasoner, make_agent

lookup = declared_tool(
    "lookup_order",
    args_schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
)
tag = declared_tool(
    "tag_order",
    args_schema={"type": "object", "properties": {"order_id": {"type": "integer"}}},
    side_effect="write",
    targets=("order_id",),
)


def _agent() -> Agent:
    built = Charter.model_validate({"name": "controlled", "budgets": {"max_steps": 50}})
    return make_agent([lookup, tag], ScriptedReasoner([]), charter=built, name="controlled")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield fresh_url(str(request.param), tmp_path)


def _calls(run: GovernedRun, tool: str, first: int, count: int) -> None:
    """Govern and record ``count`` allowed calls (the run's controls are cached by now)."""
    for order in range(first, first + count):
        verdict = run.govern(tool, {"order_id": order})
        assert verdict.runs, verdict
        run.record(verdict, result={"order_id": order})


def test_a_revocation_by_another_handle_denies_the_very_next_call(url: str) -> None:
    journal = Journal(url)
    run = GovernedRun.open(journal, _agent(), "look up orders")
    _calls(run, "lookup_order", 1, 5)

    Controls(Journal(url)).revoke("lookup_order", actor="secops", reason="leak suspected")
    denied = run.govern("lookup_order", {"order_id": 6})

    assert (denied.verdict, denied.rules) == ("deny", ("inventory.revoked",))
    assert "leak suspected" in denied.reason
    Controls(Journal(url)).restore("lookup_order", actor="secops")
    _calls(run, "lookup_order", 7, 1)  # lifted at the next call too
    run.finish("done")


def test_a_pause_by_another_handle_stops_the_run_at_its_next_write(url: str) -> None:
    journal = Journal(url)
    run = GovernedRun.open(journal, _agent(), "tag orders")
    _calls(run, "tag_order", 1, 3)

    Controls(Journal(url)).pause("controlled", actor="oncall", reason="incident 12")
    stopped = run.govern("tag_order", {"order_id": 4})

    assert (stopped.verdict, stopped.rules, stopped.runs) == ("deny", ("control.stopped",), False)
    assert run.run.status == "stopped"
    kinds = [r.kind for r in journal.records(run.run_id)]
    assert kinds[-3:] == ["step.proposed", "run.paused", "run.finished"]  # never decided


def test_a_revocation_by_another_process_denies_the_next_call(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    journal = Journal(url)
    run = GovernedRun.open(journal, _agent(), "look up orders")
    _calls(run, "lookup_order", 1, 4)
    script = textwrap.dedent(
        f"""
        from charter import Journal
        from charter.runtime import Controls
        Controls(Journal({url!r})).revoke("lookup_order", actor="secops", reason="from afar")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    denied = run.govern("lookup_order", {"order_id": 5})

    assert denied.rules == ("inventory.revoked",)
    assert "from afar" in denied.reason
    run.finish("done")


def test_a_control_written_through_the_runs_own_journal_applies_at_the_next_call(
    url: str,
) -> None:
    journal = Journal(url)
    run = GovernedRun.open(journal, _agent(), "look up orders")
    _calls(run, "lookup_order", 1, 3)

    Controls(journal).revoke("lookup_order", actor="secops", reason="same handle")

    assert run.govern("lookup_order", {"order_id": 4}).rules == ("inventory.revoked",)
    run.finish("done")
