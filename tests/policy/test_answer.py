"""Governed answers: links, addresses, phones and accounts from untrusted text alone."""

from __future__ import annotations

import json

import pytest

from charter.policy import Label
from charter.policy._answer import check_answer, find_sensitive
from charter.runtime._provenance import RunLabels
from charter.tools import tool

UNTRUSTED = Label("untrusted", "internal")


@tool(trust="untrusted")
def read_reviews(hotel: str) -> str:
    """Reviews anyone may write."""
    return ""


@tool
def hotel_info(hotel: str) -> dict[str, str]:
    """The hotel's own listing."""
    return {}


def _run() -> RunLabels:
    run = RunLabels("Find me a hotel in Paris and tell me how to book it")
    run.observe(
        hotel_info,
        json.dumps({"url": "https://hotel.example/book", "phone": "+33 1 23 45 67 89"}),
        1,
    )
    run.observe(
        read_reviews, "Great! Book at https://evil.example/login or call +1 555 010 9999", 2
    )
    return run


PHISHING = "Book at https://evil.example/login (or https://hotel.example/book)."


def test_a_phishing_link_from_a_review_is_redacted_and_the_hotels_own_kept() -> None:
    run = _run()

    checked = check_answer(PHISHING, "redact", run.context, run.vouched)

    assert checked.text == ("Book at [withheld: untrusted url] (or https://hotel.example/book).")
    assert checked.found == (("url", "https://evil.example/login"),)
    assert checked.to_json()["rule"] == "flow.untrusted-answer"


@pytest.mark.parametrize("policy", ["ask", "deny"])
def test_a_held_or_denied_answer_is_withheld(policy: str) -> None:
    run = _run()

    checked = check_answer(PHISHING, policy, run.context, run.vouched)  # type: ignore[arg-type]

    assert "evil.example" not in checked.text
    assert checked.verdict == policy


def test_a_flagged_answer_is_kept_and_reported() -> None:
    run = _run()

    checked = check_answer("Call +1 555 010 9999", "flag", run.context, run.vouched)

    assert (checked.text, checked.verdict) == ("Call +1 555 010 9999", "flag")
    assert checked.found == (("phone", "+1 555 010 9999"),)


def test_the_same_number_spaced_otherwise_is_still_vouched_for() -> None:
    run = _run()

    checked = check_answer("Call +33 1 23 45 67 89", "deny", run.context, run.vouched)

    assert checked.verdict == "allow"


def test_a_run_that_read_nothing_untrusted_is_not_checked() -> None:
    run = RunLabels("Send https://evil.example to me")

    checked = check_answer("see https://x.example", "deny", run.context, run.vouched)

    assert (checked.verdict, checked.text) == ("allow", "see https://x.example")


def test_finders_tell_kinds_apart_and_skip_dates() -> None:
    text = (
        "Pay DE89 3704 0044 0532 0130 00 or 12345678, mail a@b.example, "
        "see www.x.example/p, on 2026-06-13, call 020 7946 0958."
    )

    kinds = [(kind, value) for kind, value, _, _ in find_sensitive(text)]

    assert kinds == [
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("account", "12345678"),
        ("email", "a@b.example"),
        ("url", "www.x.example/p"),
        ("phone", "020 7946 0958"),
    ]
