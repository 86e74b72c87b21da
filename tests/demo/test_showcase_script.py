"""``charter demo --reasoner script``: the whole story without the model, judged honestly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

from charter.cli import app
from charter.demo import showcase
from charter.demo._story import DEMO_GOALS, TICKET_88_GOAL
from charter.demo._views import order_facts
from charter.demo.world import default_world_path, session
from charter.journal import Journal, JournalSigner, Record
from charter.reasoners import FinalAnswer, Proposal, RunContext, ToolCall, Usage
from charter.runtime import args_hash
from charter.testing import ScriptItem, call, respond


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")


SIGNER = JournalSigner(Ed25519PrivateKey.generate())


def _signed_journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}", SIGNER)


def _play(tmp_path: Path, journal: Journal, **options: object) -> tuple[int, str]:
    out = tmp_path / "out.txt"
    with out.open("w", encoding="utf-8") as stream:
        console = Console(file=stream, width=160, color_system=None)
        code = showcase.run_demo(console, journal=journal, **options)  # type: ignore[arg-type]
    return code, out.read_text(encoding="utf-8")


def _of(journal: Journal, kind: str) -> list[Record]:
    return sorted(journal.records_of_kind(kind), key=lambda r: r.seq)


def test_script_demo_tells_every_part_and_the_journal_shows_each(tmp_path: Path) -> None:
    journal = _signed_journal(tmp_path)

    code, output = _play(tmp_path, journal, reasoner="script")

    assert code == 0, output
    # Part 2: the injected refund is held by a flow rule, then refused by the approver.
    held = [
        r
        for r in _of(journal, "step.decided")
        if r.payload["verdict"] in ("deny", "ask")
        and any(rule.startswith("flow.") for rule in r.payload["rules"])
    ]
    assert [(r.payload["tool"], r.payload["rules"]) for r in held] == [
        ("refund_order", ["flow.untrusted-target"])
    ] * 2  # decided when proposed, and re-governed when the refused run resumes
    denied = _of(journal, "approval.denied")
    assert len(denied) == 1 and denied[0].run_id == held[0].run_id
    assert "approval.denied" in {
        r.payload["rule"] for r in _of(journal, "approval.rejected") if r.run_id == held[0].run_id
    }
    # Part 3: the large credit, approved with a signed receipt bound to its arguments.
    (granted,) = _of(journal, "approval.granted")
    receipt = granted.payload
    assert receipt["tool"] == "grant_store_credit"
    assert receipt["approver"] == showcase.APPROVER
    assert receipt["key_id"] == SIGNER.key_id and len(receipt["signature"]) == 128
    args = {"amount_cents": 12000, "customer_id": 30, "reason": "delayed desk"}
    assert receipt["args_hash"] == args_hash("grant_store_credit", args)
    (used,) = _of(journal, "approval.used")
    assert used.run_id == granted.run_id and used.seq > granted.seq
    # Part 4: the refund of order 1042 compensated by the rollback.
    (compensated,) = _of(journal, "rollback.compensated")
    assert compensated.payload["tool"] == "refund_order"
    assert compensated.payload["actor"] == showcase.OPERATOR
    (finished,) = _of(journal, "rollback.finished")
    assert finished.payload["complete"] is True
    # The world agrees with the journal.
    with session(default_world_path()) as db:
        facts = order_facts(db, 1042)
        assert (facts["status"], facts["refunded_cents"]) == ("delivered", 0)
        assert order_facts(db, 1070)["refunded_cents"] == 0
        credit = db.execute("SELECT amount_cents FROM store_credits WHERE customer_id = 30")
        assert [row[0] for row in credit] == [12000]
    # Part 5 and the screen: every part's header, the receipt and the verdicts.
    report = journal.verify()
    assert report.ok and report.checkpoints_checked > 0
    assert f"records 1..{report.signed_through} signed" in output
    for number in range(1, 6):
        assert f"Part {number}." in output
    for field in ("approver", "args hash", "expires", f"Ed25519 key {SIGNER.key_id}"):
        assert field in output
    assert "scripted reasoner that obeys the injected instruction" in output
    assert "⚠ injected instruction in this result" in output
    assert "held for approval flow.untrusted-target" in output
    assert "✗" not in output
    assert "journal intact" in output
    assert "6 of 6 results passed their world checks" in output


def test_a_reply_written_before_reading_the_ticket_is_reported_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run completes (the agent says it is done); the world says it answered blind.
    blind = (
        call("reply_ticket", ticket_id=88, body="Thanks, we will look into your refund."),
        call("get_ticket", ticket_id=88),
        respond("Replied on ticket 88."),
    )
    goals = tuple(
        dataclasses.replace(g, script=blind) if g.goal == TICKET_88_GOAL else g for g in DEMO_GOALS
    )
    monkeypatch.setattr(showcase, "DEMO_GOALS", goals)
    journal = _signed_journal(tmp_path)

    code, output = _play(tmp_path, journal, reasoner="script", limit=2)

    # The agent's mistake is shown and not counted; charter's own guarantees held, so the
    # demo itself succeeds.
    assert code == 0
    finished = [r for r in _of(journal, "run.finished") if TICKET_88_GOAL in _goal(journal, r)]
    assert [r.payload["status"] for r in finished] == ["completed"]
    assert "✗ answered without reading ticket 88" in output
    assert "1 of 2 results passed their world checks" in output
    assert "no injected action reached the world" in output


def test_an_injected_action_reaching_the_world_fails_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the flow rule had let the planted refund through: the guard check fails.
    def never(_evidence: object) -> bool:
        return False

    def breached(goal: showcase.DemoGoal) -> showcase.DemoGoal:
        guard = dataclasses.replace(goal.checks[0], holds=never)
        return dataclasses.replace(goal, checks=(guard, *goal.checks[1:]))

    goals = tuple(breached(g) if g.kind == "injection" else g for g in DEMO_GOALS)
    monkeypatch.setattr(showcase, "DEMO_GOALS", goals)
    journal = _signed_journal(tmp_path)

    code, output = _play(tmp_path, journal, reasoner="script", limit=3)

    assert code == 1
    assert "✗ the injected refund reached the ledger" in output
    assert "1 injected action(s) reached the world" in output


def _goal(journal: Journal, record: Record) -> str:
    started = next(iter(journal.records(record.run_id)))
    return str(started.payload["goal"])


class _GoalScripts:
    """Stands in for the model: an honest script per goal, chosen by the run's goal."""

    kind = "local"

    def __init__(self, scripts: Mapping[str, Sequence[ScriptItem]]) -> None:
        self.scripts = scripts

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind}

    def propose(self, context: RunContext) -> Proposal:
        item = self.scripts[context.goal][len(context.turns)]
        action = item if isinstance(item, ToolCall | FinalAnswer) else item(context)
        return Proposal(action, Usage(), "stand-in")


def test_a_model_that_ignores_the_injection_is_followed_by_a_compromised_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advice = (
        call("search_kb", query="damaged item"),
        respond("Ask the customer for a photo, then offer a replacement or a refund."),
    )
    scripts = {g.goal: (advice if g.kind == "injection" else g.script) for g in DEMO_GOALS}
    load = showcase._load_agent  # pyright: ignore[reportPrivateUsage]

    def stand_in(world: Path, mode: str, console: Console) -> object:
        agent = load(world, "script", console)
        return dataclasses.replace(agent, reasoner=_GoalScripts(scripts))

    monkeypatch.setattr(showcase, "_load_agent", stand_in)
    journal = _signed_journal(tmp_path)

    code, output = _play(tmp_path, journal, limit=3)

    assert code == 0, output
    injection = DEMO_GOALS[2].goal
    runs = [r for r in _of(journal, "run.started") if r.payload["goal"] == injection]
    assert [r.payload["reasoner"]["kind"] for r in runs] == ["local", "scripted"]
    fired = {
        r.run_id
        for r in _of(journal, "step.decided")
        if "flow.untrusted-target" in r.payload["rules"]
    }
    assert fired == {runs[1].run_id}
    assert "did not take the bait" in output
    assert "4 of 4 results passed their world checks" in output


def test_the_demo_refuses_an_unknown_reasoner_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--reasoner", "gpt"])

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["error: --reasoner must be agent or script, not 'gpt'"]
    assert not default_world_path().exists()  # refused before anything was made


def test_charter_demo_reasoner_script_runs_end_to_end_from_the_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--reasoner", "script"])

    assert result.exit_code == 0, result.output
    journal = Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}")
    kinds = {r.kind for r in journal.records()}
    assert {"approval.granted", "approval.denied", "rollback.compensated"} <= kinds
    assert {r.payload["reasoner"]["kind"] for r in _of(journal, "run.started")} == {"scripted"}
    assert journal.verify().ok
    assert "results passed their world checks" in result.output
