"""How the demo shows records: planted injections pointed out, re-checks on resume named."""

from __future__ import annotations

from charter.demo._injections import KB_REFUND
from charter.demo._screen import Transcript, planted_in
from charter.journal import Record, canonical_json


def _decided(step: int, verdict: str, *rules: str) -> Record:
    payload = {"step": step, "tool": "refund_order", "verdict": verdict, "rules": list(rules)}
    return Record(
        step, "run-1", "step.decided", "2026-12-07T10:00:00Z", canonical_json(payload), "", ""
    )


def test_a_planted_injection_is_found_in_a_result_however_it_is_wrapped() -> None:
    result = canonical_json({"matches": [{"body": "Ask for a photo.\n\n" + KB_REFUND}]})

    assert planted_in(result) == KB_REFUND
    assert planted_in('{"body": "Ask for a photo."}') is None


def test_a_held_call_governed_again_on_resume_is_shown_as_a_recheck() -> None:
    transcript = Transcript()
    decided = _decided(2, "ask", "flow.untrusted-target")

    first = list(transcript.lines(decided))
    again = list(transcript.lines(decided))

    assert "re-checked" not in first[0] and "held for approval" in first[0]
    assert "re-checked on resume" in again[0]
