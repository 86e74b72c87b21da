"""examples/own_loop.py runs as its docstring says: a plain loop governed by charter, its
refund approved from another process with ``charter approvals approve``."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_loop.py"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, CHARTER_HOME=str(tmp_path / "home"))
    env.pop("CHARTER_DATABASE_URL", None)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)


def _refunds(env: dict[str, str]) -> list[tuple[int, float]]:
    path = Path(env["CHARTER_HOME"]) / "own_loop.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT order_id, amount FROM refunds").fetchall()


def test_the_refund_waits_for_an_approval_given_by_another_process(env: dict[str, str]) -> None:
    first = _run(env, str(EXAMPLE))
    assert first.returncode == 3, first.stdout + first.stderr
    request = re.search(r"approvals approve (apr-[0-9a-f]+)", first.stdout)
    run_id = re.search(r"--resume ([0-9a-f]{32})", first.stdout)
    assert request and run_id, first.stdout
    assert _refunds(env) == []  # nothing refunded before the approval

    approved = _run(env, "-m", "charter", "approvals", "approve", request[1], "--as", "alice")
    assert approved.returncode == 0, approved.stdout + approved.stderr

    resumed = _run(env, str(EXAMPLE), "--resume", run_id[1])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "approved by alice" in resumed.stdout and "completed" in resumed.stdout
    assert _refunds(env) == [(1042, 42.0)]
    verified = _run(env, "-m", "charter", "audit", "verify")
    assert verified.returncode == 0 and "journal intact" in verified.stdout


def test_resuming_before_the_approval_is_refused(env: dict[str, str]) -> None:
    first = _run(env, str(EXAMPLE))
    run_id = re.search(r"--resume ([0-9a-f]{32})", first.stdout)
    assert run_id, first.stdout
    early = _run(env, str(EXAMPLE), "--resume", run_id[1])
    assert early.returncode == 2 and "waits for approval" in early.stderr
    assert _refunds(env) == []
