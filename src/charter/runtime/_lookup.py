"""Shortened ids: a unique prefix of a run or approval request id stands for the id.

Lists print ids whole, but people type the start of one; every command and API route that
takes a run or request id accepts a prefix that names exactly one. An ambiguous prefix is
refused with the candidates, so nobody approves or cancels the wrong one by accident.
"""

from __future__ import annotations

from charter.errors import (
    AmbiguousIdError,
    ApprovalNotFoundError,
    RunNotFoundError,
)
from charter.journal import Journal, canonical_json
from charter.journal._kinds import ApprovalRequested, payload_as

CANDIDATES_SHOWN = 5


def _one(prefix: str, matches: list[str], what: str, listed_by: str) -> str | None:
    if prefix in matches:
        return prefix
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        more = " and more" if len(matches) >= CANDIDATES_SHOWN else ""
        raise AmbiguousIdError(
            f"{what} id {prefix!r} is ambiguous: it starts "
            f"{', '.join(matches[:CANDIDATES_SHOWN])}{more}; type more of it ({listed_by})"
        )
    return None


def resolve_run_id(journal: Journal, prefix: str) -> str:
    """The run id that ``prefix`` starts (or is).

    Raises:
        RunNotFoundError: no run id starts with ``prefix`` (or it is empty).
        AmbiguousIdError: several do; the message lists them.
    """
    if prefix:
        found = _one(prefix, journal.run_ids_with_prefix(prefix), "run", "`charter runs`")
        if found is not None:
            return found
    raise RunNotFoundError(f"no run with id {prefix!r}; `charter runs` lists them")


def resolve_request_id(journal: Journal, prefix: str) -> str:
    """The approval request id that ``prefix`` starts (or is).

    Raises:
        ApprovalNotFoundError: no request id starts with ``prefix`` (or it is empty).
        AmbiguousIdError: several do; the message lists them.
    """
    if prefix:
        # Payloads are canonical JSON: the id's text follows this key exactly.
        key = canonical_json({"request_id": prefix})[1:-2]
        records = journal.records_of_kinds(("approval.requested",), payload_contains=key)
        ids = sorted({str(payload_as(ApprovalRequested, r.payload)["request_id"]) for r in records})
        matches = [i for i in ids if i.startswith(prefix)]
        found = _one(prefix, matches, "request", "`charter approvals list --all`")
        if found is not None:
            return found
    raise ApprovalNotFoundError(
        f"no approval request {prefix!r}; `charter approvals list` shows them"
    )
