"""Start keys: a run started twice with one idempotency key is one run.

A client that retries a start (its request timed out, its process restarted) sends the
same key again. The first start claims the key for a new run id in the journal's
database (its ``journal_meta`` table, whose primary key makes the claim atomic across
processes); every later start with that key, by the same actor for the same agent, is
given that run id back instead of a new run. The same key with another goal is refused:
it is a client bug, and guessing which goal was meant could pay the wrong thing.

A claim whose run has not started yet (its starter is still starting it, or died between
the claim and the run's first record) is still the same run: the caller gets its id, and
a queue may safely enqueue it again (the queue deduplicates by run id).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from charter.errors import ConfigError, RunStateError
from charter.journal import Journal

MAX_KEY_LENGTH = 200
"""Longest idempotency key accepted."""


@dataclass(frozen=True, slots=True)
class StartClaim:
    """The run a start request with an idempotency key is about."""

    run_id: str
    new: bool
    """This request claimed the key: the caller starts the run. False: an earlier request
    with the key did (or is doing) so, and the caller must not start another."""
    started: bool
    """The run has journaled its start (always False for a new claim)."""


def check_key(key: str) -> str:
    """``key`` if it is a usable idempotency key.

    Raises:
        ConfigError: it is empty, over ``MAX_KEY_LENGTH`` characters, or not printable.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ConfigError(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters; "
            f"got {key[:40]!r}{'...' if len(key) > 40 else ''}"
        )
    return key


def claim_start(
    journal: Journal, *, agent: str, actor: str, key: str, goal: str, run_id: str
) -> StartClaim:
    """Claim ``key`` (of ``actor`` starting ``agent``) for ``run_id``, or find the run an
    earlier start with it claimed.

    Raises:
        ConfigError: the key is not usable (:func:`check_key`).
        RunStateError: the key already started a run with another goal.
        JournalError: the journal cannot be reached.
    """
    check_key(key)
    scope = hashlib.sha256(json.dumps([agent, actor, key]).encode()).hexdigest()
    meta_key = f"start:{scope[:56]}"
    goal_hash = hashlib.sha256(goal.encode()).hexdigest()
    claim = {
        "run_id": run_id,
        "goal_sha256": goal_hash,
        "agent": agent,
        "at": datetime.now(UTC).isoformat(),
    }
    found = journal.claim(meta_key, json.dumps(claim, sort_keys=True))
    if found is None:
        return StartClaim(run_id, new=True, started=False)
    earlier = json.loads(found)
    earlier_id = str(earlier["run_id"])
    if earlier["goal_sha256"] != goal_hash:
        raise RunStateError(
            f"idempotency key {key!r} already started run {earlier_id} with another goal; "
            "a new run needs a new key"
        )
    started = earlier_id in journal.run_ids_with_prefix(earlier_id)
    return StartClaim(earlier_id, new=False, started=started)
