"""Redaction through the governance API: the caller runs the masked arguments and gives
the model the masked result."""

from __future__ import annotations

from pathlib import Path

from charter import Charter, Journal, tool
from charter.governance import GovernedRun
from charter.policy._redact import PLACEHOLDER
from charter.testing import ScriptedReasoner, make_agent


@tool(side_effect="external")
def web_search(query: str) -> dict[str, str]:
    """Search the web."""
    return {}


@tool(confidentiality="internal", fields={"phone": "pii"})
def lookup_contact(name: str) -> dict[str, str]:
    """A contact."""
    return {}


CHARTER = Charter.model_validate(
    {
        "name": "c",
        "redact": [
            {"id": "queries", "tools": ["web_search"], "on": ["arguments"], "patterns": ["email"]},
            {"id": "contacts", "tools": ["lookup_contact"], "labels": ["pii"]},
        ],
    }
)


def test_the_caller_gets_masked_arguments_to_run_and_a_masked_result_to_show(
    tmp_path: Path,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    agent = make_agent([web_search, lookup_contact], ScriptedReasoner([]), charter=CHARTER)

    with GovernedRun.open(journal, agent, goal="find ana") as run:
        searched = run.govern("web_search", {"query": "who is ana@example.com"})
        assert searched.verdict == "redact" and searched.runs
        assert "ana@example.com" not in searched.args["query"]
        assert PLACEHOLDER.search(searched.args["query"])
        run.record(searched, result={"hits": 0})
        looked = run.govern("lookup_contact", {"name": "Ana"})
        shown = run.record(looked, result={"name": "Ana", "phone": "+34 600 123 456"})
        run.finish(answer="done")

    assert shown.content["name"] == "Ana"
    assert PLACEHOLDER.fullmatch(shown.content["phone"])
    records = " ".join(str(r.payload) for r in journal.records(run.run_id))
    # Neither the output value nor the masked argument reaches the journal.
    assert "+34 600 123 456" not in records and "ana@example.com" not in records
    proposed = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.proposed")
    assert proposed["action"]["args"] == searched.args
    assert [r["rule"] for r in proposed["redacted"]] == ["queries"]
    assert journal.verify().ok
