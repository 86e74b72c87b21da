"""Worker liveness: heartbeats, silent peers, one takeover per dead worker, fencing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from charter.cli import app
from charter.errors import ConfigError
from charter.journal import Journal
from charter.runtime import _worker
from charter.runtime._workers import WorkerRegistry
from databases import fresh_url


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Journal:
    return Journal(fresh_url(request.param, tmp_path))


def _registry(journal: Journal, worker_id: str, clock: Clock) -> WorkerRegistry:
    return WorkerRegistry(journal, worker_id, dead_after=10, now_ms=clock)


def test_a_beating_worker_is_alive_and_a_silent_one_is_found(journal: Journal) -> None:
    clock = Clock()
    w1, w2 = _registry(journal, "w1", clock), _registry(journal, "w2", clock)
    w1.register()
    w2.register()

    clock.ms += 9_000
    assert w2.beat()
    assert w2.silent_peers() == []
    clock.ms += 2_000  # w1 silent for 11 s, w2 for 2 s

    assert [peer.worker_id for peer in w2.silent_peers()] == ["w1"]
    assert w1.silent_peers() == []  # w2 beat recently


def test_only_one_worker_takes_over_a_dead_one(journal: Journal) -> None:
    clock = Clock()
    dead, a, b = (_registry(journal, name, clock) for name in ("dead", "a", "b"))
    for worker in (dead, a, b):
        worker.register()
    clock.ms += 11_000
    a.beat()
    b.beat()
    (seen_by_a,) = a.silent_peers()
    (seen_by_b,) = b.silent_peers()

    assert a.claim(seen_by_a)
    assert not b.claim(seen_by_b)
    assert b.silent_peers() == []
    assert {row.worker_id: row.taken_over_by for row in a.workers()}["dead"] == "a"


def test_a_worker_that_beat_again_is_not_taken_over(journal: Journal) -> None:
    clock = Clock()
    slow, live = _registry(journal, "slow", clock), _registry(journal, "live", clock)
    slow.register()
    live.register()
    clock.ms += 11_000
    live.beat()
    (peer,) = live.silent_peers()

    clock.ms += 1
    assert slow.beat()  # it beat between the look and the claim

    assert not live.claim(peer)


def test_a_taken_over_worker_learns_it_at_its_next_beat(journal: Journal) -> None:
    clock = Clock()
    stalled, live = _registry(journal, "stalled", clock), _registry(journal, "live", clock)
    stalled.register()
    live.register()
    clock.ms += 11_000
    live.beat()
    assert live.claim(live.silent_peers()[0])

    assert not stalled.beat()


def test_a_restarted_worker_takes_its_row_back(journal: Journal) -> None:
    clock = Clock()
    first, live = _registry(journal, "w1", clock), _registry(journal, "live", clock)
    first.register()
    live.register()
    clock.ms += 11_000
    live.beat()
    assert live.claim(live.silent_peers()[0])

    restarted = _registry(journal, "w1", clock)
    restarted.register()

    assert restarted.beat()
    assert {row.worker_id: row.taken_over_by for row in live.workers()}["w1"] is None


def test_an_id_in_use_by_a_live_worker_elsewhere_is_refused(journal: Journal) -> None:
    clock = Clock()
    _registry(journal, "w1", clock).register()
    with journal.engine.begin() as conn:  # as if another host registered it
        conn.exec_driver_sql("UPDATE charter_workers SET host = 'elsewhere'")

    with pytest.raises(ConfigError, match=r"in use by pid .* on elsewhere"):
        _registry(journal, "w1", clock).register()


def test_an_id_in_use_by_a_running_process_here_is_refused(journal: Journal) -> None:
    clock = Clock()
    _registry(journal, "w1", clock).register()
    with journal.engine.begin() as conn:  # pid 1 runs on every host
        conn.exec_driver_sql("UPDATE charter_workers SET pid = 1")

    with pytest.raises(ConfigError, match="in use by pid 1"):
        _registry(journal, "w1", clock).register()


def test_the_id_of_a_process_that_died_here_is_reused_at_once(journal: Journal) -> None:
    clock = Clock()
    _registry(journal, "w1", clock).register()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with journal.engine.begin() as conn:  # a predecessor killed a moment ago
        conn.exec_driver_sql(f"UPDATE charter_workers SET pid = {int(gone.stdout)}")

    restarted = _registry(journal, "w1", clock)
    restarted.register()

    assert restarted.beat()
    assert [row.pid for row in restarted.workers()] == [os.getpid()]


def test_a_takeover_is_journaled(journal: Journal) -> None:
    clock = Clock()
    dead, live = _registry(journal, "dead", clock), _registry(journal, "live", clock)
    dead.register()
    live.register()
    clock.ms += 12_000
    (peer,) = live.silent_peers()

    live.record_takeover(peer, ["run-1"])

    (record,) = journal.records_of_kind("worker.taken_over")
    assert record.payload["worker"] == "dead"
    assert record.payload["by"] == "live"
    assert record.payload["runs"] == ["run-1"]
    assert record.payload["silent_seconds"] == 12.0


def test_a_worker_taken_over_exits_at_its_next_beat(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    stalled, live = _registry(journal, "stalled", clock), _registry(journal, "live", clock)
    stalled.register()
    live.register()
    clock.ms += 11_000
    live.beat()
    assert live.claim(live.silent_peers()[0])

    def exit_now(status: int) -> None:
        raise SystemExit(status)

    monkeypatch.setattr(_worker.os, "_exit", exit_now)
    with pytest.raises(SystemExit) as exited:
        _worker._beat(stalled)  # pyright: ignore[reportPrivateUsage]

    assert exited.value.code == _worker.EXIT_TAKEN_OVER


def test_a_failed_heartbeat_is_logged_and_the_worker_goes_on(
    journal: Journal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(journal, "w1", Clock())
    registry.register()

    def unreachable() -> bool:
        raise OperationalError("UPDATE charter_workers", {}, Exception("server closed"))

    monkeypatch.setattr(registry, "beat", unreachable)
    _worker._beat(registry)  # pyright: ignore[reportPrivateUsage]

    assert "heartbeat failed" in caplog.text


def test_workers_command_lists_each_worker_and_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    WorkerRegistry(journal, "w-live", dead_after=30).register()
    silent = WorkerRegistry(journal, "w-silent", dead_after=30, now_ms=lambda: 1_000)
    silent.register()

    result = CliRunner().invoke(app, ["workers"])

    assert result.exit_code == 0, result.output
    live, silent_row = (
        next(line for line in result.output.splitlines() if name in line)
        for name in ("w-live", "w-silent")
    )
    assert "alive" in live and "silent" not in live
    assert "silent" in silent_row and "alive" not in silent_row


def test_workers_command_says_when_there_are_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)

    result = CliRunner().invoke(app, ["workers"])

    assert result.exit_code == 0
    assert "no workers" in result.output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


AGENT = """
name: payer
reasoner: {kind: rules, steps: [{respond: "done"}]}
toolsets: [{ref: "charter.demo.tools:toolset"}]
tools: [lookup_order]
charter: {name: pay}
"""


@pytest.mark.parametrize("command", ["submit", "worker"])
def test_an_unreachable_database_is_a_clear_error(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    (tmp_path / "agent.yaml").write_text(AGENT)
    url = f"postgresql+psycopg://charter:secret@127.0.0.1:{_closed_port()}/x?connect_timeout=2"
    monkeypatch.setenv("CHARTER_DATABASE_URL", url)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    args = ["submit", str(tmp_path / "agent.yaml"), "go"] if command == "submit" else ["worker"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2
    assert "cannot open journal" in result.output
    assert "secret" not in result.output


def test_a_queue_that_cannot_be_opened_enqueues_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "home" / "workflows.sqlite").mkdir(parents=True)  # not a database file

    result = CliRunner().invoke(app, ["submit", str(tmp_path / "agent.yaml"), "go"])

    assert result.exit_code == 2
    assert "cannot reach the run queue" in result.output
    journal = Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}")
    assert list(journal.records()) == []
