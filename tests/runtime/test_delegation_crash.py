"""A parent killed while its child runs, or just before the child starts, is recovered
without a second child, and the child's write happens once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from charter import Journal, Runner
from databases import fresh_url
from runtime._delegation_driver import agents


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("where", ["child-write", "delegate.started", "step.decided"])
def test_a_parent_recovered_after_a_kill_starts_no_second_child(
    tmp_path: Path, where: str, backend: str
) -> None:
    url, world = fresh_url(backend, tmp_path), str(tmp_path / "world.db")
    driver = Path(__file__).with_name("_delegation_driver.py")
    killed = subprocess.run(
        [sys.executable, str(driver), url, world, where], check=False, timeout=120
    )
    assert killed.returncode == -9
    journal = Journal(url)
    (parent_id,) = {r.run_id for r in journal.records_of_kind("run.started")} - {
        r.run_id for r in journal.records_of_kind("run.started") if "delegated_by" in r.payload
    }
    run = Runner(journal).recover(agents(world), parent_id, actor="oncall")
    assert run.status == "completed", run.error
    children = [r for r in journal.records_of_kind("run.started") if "delegated_by" in r.payload]
    assert len(children) == 1
    journaled = list(journal.records_of_kind("delegate.started"))
    assert len(journaled) == 1 and journaled[0].payload["child_run"] == children[0].run_id
    with closing(sqlite3.connect(world)) as db:
        assert db.execute("SELECT COUNT(*) FROM refunds").fetchone() == (1,)
    if where == "child-write":  # the child's own write was retried under its key, once
        effect = next(r for r in journal.records(children[0].run_id) if r.kind == "step.effect")
        assert effect.payload.get("recovered") is True
