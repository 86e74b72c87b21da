"""A call whose outcome is unknown (its connection broke mid-call) is in doubt if it writes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from charter.journal import Journal
from charter.runtime import Runner
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.tools import ToolOutcomeUnknownError, tool


@tool(side_effect="write", targets=("to",))
def send(to: str) -> str:
    """Send something."""
    raise ToolOutcomeUnknownError("the connection closed mid-call")


@tool
def peek(to: str) -> str:
    """Read something."""
    raise ToolOutcomeUnknownError("the connection closed mid-call")


def test_a_write_with_an_unknown_outcome_is_in_doubt_and_blocks_its_target(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    script = [call("send", to="a"), call("send", to="a"), respond("x")]
    run = Runner(journal).run(make_agent([send], ScriptedReasoner(script)), "g")
    effects = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effects[0]["in_doubt"] is True and "closed mid-call" in effects[0]["error"]
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[1]["rules"] == ["effect.in_doubt"]


def test_a_read_with_an_unknown_outcome_is_only_an_error(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    run = Runner(journal).run(
        make_agent([peek], ScriptedReasoner([call("peek", to="a"), respond("x")])), "g"
    )
    (effect,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effect["status"] == "error" and effect["in_doubt"] is False


def test_a_late_answer_that_is_still_unknown_leaves_the_write_in_doubt(tmp_path: Path) -> None:
    finished = threading.Event()

    @tool(side_effect="write", timeout_s=0.2)
    def transfer(to: str) -> str:
        """Send money."""
        time.sleep(0.6)
        finished.set()
        raise ToolOutcomeUnknownError("the connection closed before the answer")

    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    runner = Runner(journal)
    run = runner.run(
        make_agent([transfer], ScriptedReasoner([call("transfer", to="a"), respond("x")])), "g"
    )
    (effect,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert (effect["status"], effect["in_doubt"]) == ("timeout", True)
    assert finished.wait(10)
    time.sleep(0.3)  # the late-result callback runs right after the call ends
    kinds = [r.kind for r in journal.records(run.run_id)]
    assert "effect.resolved" not in kinds  # not "did_not_happen": nobody knows
