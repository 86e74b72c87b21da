"""The one service the CLI and the HTTP API continue runs through: the agent of a run, the
request it waits for, and queueing its resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter import Runner
from charter.agent import Agent, load_agent
from charter.errors import ConfigError, RunNotFoundError, RunStateError
from charter.journal import Journal
from charter.runtime import _worker
from charter.runtime._resumption import agent_of_run, queue_resume, waiting_request

TOOLS = '''
from charter import tool

@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, amount_cents: int) -> dict:
    """Refund an order."""
    return {"order_id": order_id}
'''

AGENT = """
name: refunder
reasoner:
  kind: rules
  match: 'refund (?P<order_id>\\d+) for (?P<cents>\\d+)'
  steps:
    - id: refund
      call: refund_order
      args: {order_id: "{goal.order_id}", amount_cents: "{goal.cents}"}
    - respond: "done"
toolsets:
  - ref: resumption_tools:refund_order
charter:
  name: refunds
  rules:
    - id: big-refunds
      effect: ask
      tools: [refund_order]
      when: context.args.amount_cents > 5000
      reason: refunds over $50 need a manager
"""


@pytest.fixture
def agent_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "resumption_tools.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    path = tmp_path / "agent.yaml"
    path.write_text(AGENT)
    return path


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    yield opened
    opened.close()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Path, str]]:
    """What was handed to the workers (the queue itself is not started)."""
    calls: list[tuple[str, str, Path, str]] = []

    def submit_resume(run_id: str, request_id: str, agent_file: Path, actor: str) -> str:
        calls.append((run_id, request_id, agent_file, actor))
        return "workflow"

    monkeypatch.setattr(_worker, "submit_resume", submit_resume)
    return calls


def _start(journal: Journal, agent: Agent, cents: int) -> str:
    runner = Runner(journal)
    try:
        return runner.run(agent, f"refund 7 for {cents}").run_id
    finally:
        runner.close()


def test_the_agent_is_the_named_file_then_the_callers_own_then_the_runs_file(
    journal: Journal, agent_file: Path, tmp_path: Path
) -> None:
    run_id = _start(journal, load_agent(agent_file), 9000)
    other = tmp_path / "other.yaml"
    other.write_text(AGENT.replace("name: refunder", "name: other"))
    mine = load_agent(agent_file)

    assert agent_of_run(journal, run_id, agent_file=other)[0].name == "other"
    assert agent_of_run(journal, run_id, known=lambda name: (mine, tmp_path))[1] == tmp_path
    assert agent_of_run(journal, run_id, known=lambda name: None)[1] == agent_file


def test_a_run_whose_agent_file_is_gone_says_so_with_the_callers_hint(
    journal: Journal, agent_file: Path
) -> None:
    run_id = _start(journal, load_agent(agent_file), 9000)
    agent_file.unlink()

    with pytest.raises(RunStateError, match=r"agent 'refunder' file .* is gone; pass --agent"):
        agent_of_run(journal, run_id, hint="; pass --agent FILE")


def test_the_waiting_request_is_the_one_journaled(journal: Journal, agent_file: Path) -> None:
    waiting = Runner(journal).run(load_agent(agent_file), "refund 7 for 9000")

    assert waiting.status == "waiting"
    assert waiting_request(journal, waiting.run_id) == waiting.waiting_for


def test_a_run_that_waits_for_nothing_is_refused_and_nothing_is_queued(
    journal: Journal, agent_file: Path, queued: list[tuple[str, str, Path, str]]
) -> None:
    done = _start(journal, load_agent(agent_file), 100)

    with pytest.raises(RunStateError, match="is not waiting for an approval"):
        queue_resume(journal, done, "dana")
    with pytest.raises(RunNotFoundError):
        queue_resume(journal, "no-such-run", "dana")
    assert queued == []


def test_a_resume_is_queued_only_once_its_agent_file_loads(
    journal: Journal, agent_file: Path, queued: list[tuple[str, str, Path, str]]
) -> None:
    waiting = Runner(journal).run(load_agent(agent_file), "refund 7 for 9000")
    agent_file.write_text("name: [broken")

    with pytest.raises(ConfigError):
        queue_resume(journal, waiting.run_id, "dana")
    assert queued == []

    agent_file.write_text(AGENT)
    request = queue_resume(journal, waiting.run_id, "dana")

    assert request == waiting.waiting_for
    assert queued == [(waiting.run_id, request, agent_file, "dana")]
