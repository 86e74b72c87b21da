"""A parent killed while its child runs is recovered without a second child."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from charter import Journal, Runner
from runtime._delegation_driver import agents


def test_a_parent_recovered_after_a_kill_mid_child_starts_no_second_child(
    tmp_path: Path,
) -> None:
    url, world = f"sqlite:///{tmp_path / 'journal.db'}", str(tmp_path / "world.db")
    driver = Path(__file__).with_name("_delegation_driver.py")
    killed = subprocess.run([sys.executable, str(driver), url, world], check=False, timeout=120)
    assert killed.returncode == -9
    journal = Journal(url)
    (parent_id,) = {r.run_id for r in journal.records_of_kind("delegate.started")}
    run = Runner(journal).recover(agents(world, kill=False), parent_id, actor="oncall")
    assert run.status == "completed", run.error
    children = [r for r in journal.records_of_kind("run.started") if "delegated_by" in r.payload]
    assert len(children) == 1
    assert len(list(journal.records_of_kind("delegate.started"))) == 1
    with closing(sqlite3.connect(world)) as db:
        assert db.execute("SELECT COUNT(*) FROM refunds").fetchone() == (1,)
    child_effect = next(r for r in journal.records(children[0].run_id) if r.kind == "step.effect")
    assert child_effect.payload.get("recovered") is True
