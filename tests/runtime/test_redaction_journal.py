"""A value a ``redact`` rule masks before a tool runs never reaches the journal: not in the
proposal, not after a crash and its recovery, not after a replay; the ledger, recovery and
replay work from the masked call, which is the call the tool gets."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, field_validator

from charter import Charter, Journal, Runner, tool
from charter._transcript import describe
from charter.agent import Agent
from charter.governance import GovernedRun
from charter.journal import load_or_create_signer
from charter.observe import JournalTracer
from charter.policy._redact import PLACEHOLDER
from charter.runtime._replay import replay
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import run_detail

EMAIL = "maya.lindqvist@home.example"
PHONE = "+46 70 123 45 67"
BODY = f"Hello, reach me at {EMAIL} or {PHONE} about the chair."

TOOLS = '''
import json
import os
from pathlib import Path

from charter import tool

NOTES = Path(os.environ["NOTES"])


def _calls() -> dict:
    return json.loads(NOTES.read_text()) if NOTES.exists() else {"calls": [], "done": {}}


@tool(side_effect="write")
def send_note(customer_id: int, body: str, idempotency_key: str | None = None) -> dict:
    """Send a note to a customer, once per idempotency key."""
    data = _calls()
    data["calls"].append({"body": body, "key": idempotency_key})
    first = idempotency_key not in data["done"]
    if first:
        data["done"][idempotency_key] = body
    NOTES.write_text(json.dumps(data))
    if os.environ.get("CRASH_AFTER_EFFECT") and len(data["calls"]) == 1:
        os._exit(9)  # the process dies after the effect, before charter journals it
    return {"sent": first}


@tool(side_effect="write")
def post_note(customer_id: int, body: str) -> dict:
    """Post a note (cannot recognise a retry)."""
    data = _calls()
    data["calls"].append({"body": body, "key": None})
    NOTES.write_text(json.dumps(data))
    return {"posted": True}


@tool()
def find_customer(query: str) -> dict:
    """Find a customer."""
    return {"customer_id": 7}
'''

DRIVER = """
import sys
from pathlib import Path
from charter import Journal, Runner
from charter.journal import load_or_create_signer
sys.path.insert(0, sys.argv[1])
from redaction_case import agent
journal = Journal(sys.argv[2], load_or_create_signer(Path(sys.argv[3])))
Runner(journal).run(agent(sys.argv[1]), "write to customer 7")
"""

CASE = """
from pathlib import Path
import importlib.util
from charter import Charter
from charter.testing import ScriptedReasoner, call, make_agent, respond

BODY = {body!r}
CHARTER = Charter.model_validate({charter!r})


def agent(home):
    spec = importlib.util.spec_from_file_location("note_tools", Path(home) / "note_tools.py")
    tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools)
    script = [call("send_note", customer_id=7, body=BODY), respond("sent")]
    return make_agent([tools.send_note], ScriptedReasoner(script), charter=CHARTER)
"""

CHARTER: dict[str, Any] = {
    "name": "notes",
    "redact": [
        {
            "id": "contact",
            "tools": ["send_note", "post_note", "find_customer", "no_such_tool"],
            "on": ["arguments"],
            "patterns": ["email", "phone"],
        }
    ],
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NOTES", str(tmp_path / "notes.json"))
    (tmp_path / "note_tools.py").write_text(TOOLS)
    return tmp_path


def _tools(home: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("note_tools", home / "note_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _agent(home: Path, script: list[Any], **charter: Any) -> Agent:
    tools = _tools(home)
    found = [tools.send_note, tools.post_note, tools.find_customer]
    return make_agent(
        found, ScriptedReasoner(script), charter=Charter.model_validate(CHARTER | charter)
    )


def _journal(home: Path) -> Journal:
    return Journal(f"sqlite:///{home / 'j.db'}", load_or_create_signer(home / "k.pem"))


def _calls(home: Path) -> list[dict[str, Any]]:
    return list(json.loads((home / "notes.json").read_text())["calls"])


def _assert_no_raw_value(home: Path, journal: Journal) -> None:
    """Neither value is in the journal's files (database, WAL), any record, any view of
    a run, or any transcript line."""
    for path in home.glob("j.db*"):
        data = path.read_bytes()
        for raw in (EMAIL, PHONE, EMAIL.split("@")[0]):
            assert raw.encode() not in data, f"{raw!r} found in {path.name}"
    records = list(journal.records())
    text = json.dumps([r.payload for r in records])
    text += " ".join(str(describe(r)) for r in records)
    for run_id in {r.run_id for r in records if r.kind == "run.started"}:
        text += repr(run_detail(journal, run_id))
    assert EMAIL not in text and PHONE not in text


def test_a_masked_argument_is_journaled_only_masked_with_its_digest_and_label(
    home: Path,
) -> None:
    journal = _journal(home)
    agent = _agent(home, [call("send_note", customer_id=7, body=BODY), respond("sent")])

    run = Runner(journal).run(agent, "write to customer 7")

    assert run.status == "completed", run.error
    (received,) = _calls(home)
    proposed = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.proposed")
    assert proposed["action"]["args"]["body"] == received["body"]  # the call the tool got
    assert len(PLACEHOLDER.findall(received["body"])) == 2
    masked = proposed["redacted"]
    assert [(m["rule"], m["kind"]) for m in masked] == [("contact", "email"), ("contact", "phone")]
    assert all(len(m["digest"]) == 64 and m["label"]["trust"] for m in masked)
    detail = run_detail(journal, run.run_id)
    assert detail is not None  # proposal and decision both record them: listed once
    assert [r.placeholder for r in detail.steps[0].redactions] == [m["placeholder"] for m in masked]
    _assert_no_raw_value(home, journal)
    assert journal.verify().ok


def test_a_call_that_never_runs_is_journaled_masked_too(home: Path) -> None:
    journal = _journal(home)
    script = [
        call("no_such_tool", body=BODY),  # unknown: nothing validates it
        call("send_note", customer_id="seven", body=BODY),  # its schema refuses it
        respond("gave up"),
    ]

    run = Runner(journal).run(_agent(home, script), "write to customer 7")

    assert run.status == "completed", run.error
    statuses = [
        r.payload["status"] for r in journal.records(run.run_id) if r.kind == "step.observed"
    ]
    assert statuses == ["unknown_tool", "invalid_arguments"]
    _assert_no_raw_value(home, journal)
    detail = run_detail(journal, run.run_id)
    assert detail is not None
    shown = [(r.where, r.path, r.rule) for s in detail.steps[:2] for r in s.redactions]
    assert shown == [("argument", "body", "redact.contact")] * 4  # email, phone; two calls


def test_a_proposal_stopped_by_a_pause_is_journaled_masked(home: Path) -> None:
    journal = _journal(home)
    runner = Runner(journal)
    agent = _agent(home, [call("find_customer", query=f"who is {EMAIL}"), respond("x")])

    class PauseAfterReasoning(ScriptedReasoner):
        def propose(self, context: Any) -> Any:
            proposal = super().propose(context)
            runner.controls.pause(agent.name, actor="ops", reason="incident")
            return proposal

    agent.reasoner = PauseAfterReasoning(agent.reasoner.script)  # type: ignore[attr-defined]
    run = runner.run(agent, "find the customer")

    assert run.status == "stopped"
    assert any(r.kind == "step.proposed" for r in journal.records(run.run_id))
    _assert_no_raw_value(home, journal)


def test_a_crash_after_the_effect_recovers_once_with_the_masked_call(home: Path) -> None:
    (home / "redaction_case.py").write_text(CASE.format(body=BODY, charter=CHARTER))
    url = f"sqlite:///{home / 'j.db'}"
    env = os.environ | {"CRASH_AFTER_EFFECT": "1"}
    driver = [sys.executable, "-c", DRIVER, str(home), url, str(home / "k.pem")]
    crashed = subprocess.run(driver, env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 9, crashed.stderr
    journal = _journal(home)
    run_id = next(r.run_id for r in journal.records() if r.kind == "run.started")
    _assert_no_raw_value(home, journal)

    agent = _agent(home, [call("send_note", customer_id=7, body=BODY), respond("sent")])
    run = Runner(journal).recover(agent, run_id)

    assert run.status == "completed", run.error
    first, retried = _calls(home)
    assert retried == first  # the same masked body, under the same key
    assert PLACEHOLDER.search(first["body"]) and first["key"] == f"{run_id}:1:1"
    effect = next(r.payload for r in journal.records(run_id) if r.kind == "step.effect")
    assert effect["recovered"] and effect["result"] == {"sent": False}  # done once
    assert [s.changed for s in replay(journal, agent, run_id)] == [False, False]
    assert [s.now.verdict for s in replay(journal, agent, run_id) if s.now] == ["redact"]
    _assert_no_raw_value(home, journal)
    assert journal.verify().ok


def test_a_repeat_of_a_masked_write_is_recognised_after_the_run_moved(home: Path) -> None:
    journal = _journal(home)
    agent = _agent(home, [])

    with GovernedRun.open(journal, agent, goal="write to customer 7") as first:
        verdict = first.govern("post_note", {"customer_id": 7, "body": BODY})
        assert verdict.verdict == "redact" and verdict.runs
        first.record(verdict, result={"posted": True})
        again = first.govern("post_note", {"customer_id": 7, "body": BODY})
        assert again.verdict == "deny" and "charter.repeat_writes" in again.rules
        run_id = first.run_id
    with GovernedRun.resume(journal, agent, run_id) as resumed:  # the ledger from the journal
        again = resumed.govern("post_note", {"customer_id": 7, "body": BODY})
        assert again.verdict == "deny" and "charter.repeat_writes" in again.rules
        other = resumed.govern("post_note", {"customer_id": 7, "body": f"{BODY} Thanks."})
        assert other.runs  # another value, another call
        resumed.record(other, result={"posted": True})
        resumed.finish(answer="posted")
    _assert_no_raw_value(home, journal)


def test_a_masked_write_in_doubt_blocks_its_target_after_the_run_moved(home: Path) -> None:
    journal = _journal(home)
    agent = _agent(home, [])

    with GovernedRun.open(journal, agent, goal="write to customer 7") as first:
        verdict = first.govern("post_note", {"customer_id": 7, "body": BODY})
        first.record(verdict, error="connection reset", in_doubt=True)
        again = first.govern("post_note", {"customer_id": 7, "body": BODY})
        assert again.verdict == "deny" and again.rules == ("effect.in_doubt",)
        run_id = first.run_id
    with GovernedRun.resume(journal, agent, run_id) as resumed:
        again = resumed.govern("post_note", {"customer_id": 7, "body": BODY})
        assert again.verdict == "deny" and again.rules == ("effect.in_doubt",)
        resumed.finish(answer="left for an operator")
    _assert_no_raw_value(home, journal)


def test_spans_of_a_run_with_masked_arguments_never_carry_the_value(home: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    journal = _journal(home)
    agent = _agent(home, [call("send_note", customer_id=7, body=BODY), respond("sent")])

    run = Runner(journal, on_record=JournalTracer(provider)).run(agent, "write to customer 7")

    assert run.status == "completed", run.error
    spans = exporter.get_finished_spans()
    assert spans
    shown = repr([(s.name, dict(s.attributes or {}), s.events) for s in spans])
    assert EMAIL not in shown and PHONE not in shown
    assert "charter.redacted.args" in shown


def _old_style_journal(home: Path, agent: Agent) -> tuple[Journal, str]:
    """A run journaled as charter journaled one before masked calls were journaled masked
    (the proposal as the model made it), its masked write decided and never recorded."""
    scratch = Journal(f"sqlite:///{home / 'scratch.db'}")
    with GovernedRun.open(scratch, agent, goal="write to customer 7") as governed:
        assert governed.govern("send_note", {"customer_id": 7, "body": BODY}).runs
        run_id = governed.run_id
        records = list(scratch.records(run_id))
    journal = _journal(home)
    entries: list[tuple[str, str, dict[str, Any]]] = []
    for record in records:
        payload = dict(record.payload)
        if record.kind == "run.started":
            payload.pop("governed_by")  # a run of charter's own loop
        if record.kind == "step.proposed":
            payload.pop("redacted")
            payload["action"] = {"tool": "send_note", "args": {"customer_id": 7, "body": BODY}}
        entries.append((record.run_id, record.kind, payload))
    journal.append(entries)
    return journal, run_id


def test_a_journal_written_before_still_replays_recovers_and_verifies(home: Path) -> None:
    agent = _agent(home, [respond("done")])
    journal, run_id = _old_style_journal(home, agent)
    assert journal.verify().ok

    replayed = replay(journal, agent, run_id)

    assert [(s.then or {}).get("verdict") for s in replayed] == ["redact"]
    assert [s.now.verdict for s in replayed if s.now] == ["redact"]
    run = Runner(journal).recover(agent, run_id)
    # Retried from that journal, the tool would get the values it was given masked: it
    # is left in doubt for an operator instead.
    assert run.status == "stopped" and "unmasked" in str(run.error)
    assert not (home / "notes.json").exists()
    assert journal.verify().ok


def test_an_interrupted_call_with_a_value_given_back_is_not_retried_without_it(
    home: Path,
) -> None:
    restoring = {
        "id": "found",
        "tools": ["find_customer"],
        "on": ["outputs"],
        "fields": ["customer_id"],
        "restore": ["send_note.customer_id", "send_note.body"],
    }
    agent = _agent(home, [], redact=[*CHARTER["redact"], restoring])
    scratch = Journal(f"sqlite:///{home / 'scratch.db'}")
    with GovernedRun.open(scratch, agent, goal="write to the customer") as governed:
        found = governed.govern("find_customer", {"query": "maya"})
        shown = governed.record(found, result={"customer_id": "cust-7"})
        placeholder = str(shown.content["customer_id"])
        note = governed.govern("send_note", {"customer_id": 7, "body": f"for {placeholder}"})
        assert note.runs and "cust-7" in note.args["body"]
        run_id = governed.run_id
        records = list(scratch.records(run_id))
    journal = _journal(home)
    journal.append(
        [
            (r.run_id, r.kind, {k: v for k, v in r.payload.items() if k != "governed_by"})
            for r in records
        ]
    )

    run = Runner(journal).recover(agent, run_id)

    assert run.status == "stopped" and "held by the stopped process" in str(run.error)
    assert not (home / "notes.json").exists()
    assert "cust-7" not in json.dumps([r.payload for r in journal.records(run_id)])


sent: list[dict[str, str]] = []


@tool(trust="untrusted")
def read_ticket(ticket_id: int) -> str:
    """A customer's ticket (third-party text)."""
    return "My chair broke. Please write back."


@tool(side_effect="external", targets=("to",))
def send_mail(to: str, body: str) -> str:
    """Send an email."""
    sent.append({"to": to, "body": body})
    return "sent"


def test_an_approved_masked_call_taken_up_by_another_process_is_decided_as_it_was(
    tmp_path: Path,
) -> None:
    sent.clear()
    charter = Charter.model_validate(
        {
            "name": "mail",
            "rules": [
                {"id": "mail-asks", "effect": "ask", "tools": ["send_mail"]},
                {
                    "id": "untrusted-recipient",
                    "effect": "deny",
                    "tools": ["send_mail"],
                    "when": 'context.args_labels.to.trust == "untrusted"',
                },
            ],
            "redact": [{"id": "recipient", "tools": ["send_mail"], "args": ["to"]}],
        }
    )
    script = [
        call("read_ticket", ticket_id=4),
        call("send_mail", to=EMAIL, body="We are on it."),
        respond("written"),
    ]
    journal = _journal(tmp_path)
    agent = make_agent([read_ticket, send_mail], ScriptedReasoner(script), charter=charter)
    run = Runner(journal).run(agent, f"Answer ticket 4 by writing to {EMAIL}")
    assert run.status == "waiting"
    Runner(journal).approvals.approve(str(run.waiting_for), "dana", "fine")

    agent = make_agent([read_ticket, send_mail], ScriptedReasoner(script), charter=charter)
    resumed = Runner(journal).resume(agent, run.run_id, actor="dana")  # held values: none

    assert resumed.status == "completed", resumed.error
    assert len(sent) == 1 and PLACEHOLDER.fullmatch(sent[0]["to"])  # as masked, once
    first, again = [
        r.payload
        for r in journal.records(run.run_id)
        if r.kind == "step.decided" and r.payload["tool"] == "send_mail"
    ]
    # The goal vouched for the address; its placeholder, labelled as journaled, still is.
    assert again["verdict"] == first["verdict"] == "ask"
    assert again["rules"] == first["rules"] == ["mail-asks"]
    assert [s.now.verdict for s in replay(journal, agent, run.run_id) if s.now] == ["allow", "ask"]
    # The goal holds it (trusted input, not a tool's argument); no other record does.
    later = [r.payload for r in journal.records(run.run_id) if r.kind != "run.started"]
    assert EMAIL not in json.dumps(later)


class Invitee(BaseModel):
    email: str
    note: str = ""

    @field_validator("email")
    @classmethod
    def _on_file(cls, value: str) -> str:
        raise ValueError(f"{value} is not a customer on file")


@tool(side_effect="write")
def invite(customer: Invitee) -> str:
    """Invite a customer by address."""
    return "invited"


def test_a_refusal_quoting_a_masked_value_is_journaled_masked(tmp_path: Path) -> None:
    charter = Charter.model_validate(
        {
            "name": "invites",
            "redact": [{"id": "address", "tools": ["invite"], "args": ["customer.email"]}],
        }
    )
    script = [call("invite", customer={"email": EMAIL}), respond("could not")]
    journal = _journal(tmp_path)
    agent = make_agent([invite], ScriptedReasoner(script), charter=charter)

    run = Runner(journal).run(agent, "invite the customer")

    assert run.status == "completed", run.error
    observed = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.observed")
    assert observed["status"] == "invalid_arguments"
    assert "is not a customer on file" in observed["text"] and EMAIL not in observed["text"]
    assert PLACEHOLDER.search(observed["text"])
    assert EMAIL not in json.dumps([r.payload for r in journal.records(run.run_id)])
