"""A run's summary as the runs list shows it, from the few records it is made of.

The summary is computed here once, from rows, whatever read them: the read model reads
them through SQLAlchemy (any database), and ``charter runs`` on a SQLite file through the
standard library's ``sqlite3`` (:mod:`charter.journal._file_reads`), so listing runs
loads neither SQLAlchemy nor the read model's Pydantic views. The rows come through
:class:`RunReads`: the record counts of each run by kind, then the payloads of each run's
newest end records (and of the proposals of runs the runner did not finish), then, for
runs journaled before ``run.finished`` carried an outcome, all their records. This module
imports neither.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypedDict, TypeVar

from charter.journal._decode import DamagedRecordError, decode_payload
from charter.journal._kinds import RunFinished, RunStarted, RunWaiting, StepProposed, payload_as
from charter.journal._outcome import Outcome, OutcomeTally

T = TypeVar("T")

DENY = '"verdict":"deny"'
"""A denial in a ``step.decided`` payload. Payloads are canonical JSON, where a quote
inside a string is escaped, so this text can only be the verdict itself."""

_ENDS = ("run.finished", "run.waiting", "rollback.finished")


class Started(NamedTuple):
    """A run's ``run.started`` record, its payload decoded (empty, with the damage, if it
    cannot be read)."""

    seq: int
    run_id: str
    ts: str
    payload: dict[str, Any]
    damage: DamagedRecordError | None = None


def started(seq: int, run_id: str, ts: str, payload_json: str) -> Started:
    """A ``run.started`` row, its payload decoded; an empty one, with the damage, if it
    cannot be read."""
    try:
        return Started(seq, run_id, ts, decode_payload(seq, run_id, "run.started", payload_json))
    except DamagedRecordError as exc:
        return Started(seq, run_id, ts, {}, exc)


class Payload(NamedTuple):
    """One of a run's records the summary reads, its payload decoded."""

    seq: int
    kind: str
    ts: str
    payload: dict[str, Any]


class SummaryFields(TypedDict):
    """A run's summary: the fields of :class:`charter.views.RunSummary`."""

    run_id: str
    agent: str
    agent_version: str
    policy: str
    goal: str
    actor: str
    started_at: str
    status: str
    damaged: str | None
    outcome: Outcome | None
    waiting_for: str | None
    steps: int
    tokens: int
    cost_usd: float | None
    denials: int
    asks: int
    anomalies: int
    answer: str | None
    error: str | None
    finished_at: str | None
    forked_from: str | None
    forked_at: int | None
    delegated_by: str | None
    delegated_at: int | None
    rolled_back: bool
    seq: int


class RunReads(Protocol):
    """The reads a page of summaries takes, each over at most 500 runs or records."""

    def kind_counts(self, run_ids: Sequence[str]) -> Iterable[tuple[str, str, int, int, int]]:
        """``(run_id, kind, count, newest seq, denials)`` of the runs' records per kind;
        denials counts the records whose payload holds :data:`DENY`."""
        ...

    def rows_at(self, seqs: Sequence[int]) -> Iterable[tuple[int, str, str, str, str]]:
        """``(seq, run_id, kind, ts, payload)`` of the records at ``seqs``."""
        ...

    def proposals(self, run_ids: Sequence[str]) -> Iterable[tuple[int, str, str, str, str]]:
        """``(seq, run_id, kind, ts, payload)`` of the runs' ``step.proposed`` records."""
        ...

    def records(self, run_ids: Sequence[str]) -> Iterable[tuple[int, str, str, str]]:
        """``(seq, run_id, kind, payload)`` of every record of the runs, in seq order."""
        ...


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: well under every database's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def summaries(reads: RunReads, runs: list[Started]) -> list[SummaryFields]:
    """Summaries of the runs whose ``run.started`` records are ``runs``, in order."""
    ids = [s.run_id for s in runs]
    latest: dict[str, dict[str, int]] = defaultdict(dict)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    denials: dict[str, int] = defaultdict(int)
    for chunk in chunks(ids):
        for run_id, kind, count, seq, deny in reads.kind_counts(chunk):
            counts[run_id][kind], latest[run_id][kind] = count, seq
            if kind == "step.decided":
                denials[run_id] = deny
    newest = [latest[i][k] for i in ids for k in _ENDS if k in latest[i]]
    # Steps and tokens of a run the runner finished are in its run.finished; others'
    # come from their proposals.
    unmetered = [i for i in ids if not finished_by_runner(latest[i])]
    rows = [reads.rows_at(chunk) for chunk in chunks(newest)]
    rows += [reads.proposals(chunk) for chunk in chunks(unmetered)]
    payloads: dict[str, list[Payload]] = defaultdict(list)
    damage = {s.run_id: s.damage for s in runs if s.damage is not None}
    for found in rows:
        for seq, run_id, kind, ts, payload in found:
            try:
                decoded = decode_payload(seq, run_id, kind, payload)
            except DamagedRecordError as exc:
                if run_id not in damage or damage[run_id].seq > exc.seq:
                    damage[run_id] = exc
                continue
            payloads[run_id].append(Payload(seq, kind, ts, decoded))
    outcomes = _outcomes(reads, payloads)
    shown: list[SummaryFields] = []
    for s in runs:
        if s.run_id in damage:
            shown.append(damaged(s, damage[s.run_id]))
            continue
        fields = summary(
            s, latest[s.run_id], counts[s.run_id], denials[s.run_id], payloads[s.run_id]
        )
        fields["outcome"] = outcomes.get(s.run_id)
        shown.append(fields)
    return shown


def damaged(run: Started, damage: DamagedRecordError) -> SummaryFields:
    """A run one of whose records cannot be read: what is known, and which record."""
    p = run.payload
    return SummaryFields(
        run_id=run.run_id,
        agent=str(p.get("agent", "?")),
        agent_version=str(p.get("agent_version", "")),
        policy="",
        goal=str(p.get("goal", "")),
        actor=str(p.get("actor", "")),
        started_at=run.ts,
        status="damaged",
        damaged=f"record {damage.seq} ({damage.kind}): {damage.detail}",
        outcome=None,
        waiting_for=None,
        steps=0,
        tokens=0,
        cost_usd=None,
        denials=0,
        asks=0,
        anomalies=0,
        answer=None,
        error=None,
        finished_at=None,
        forked_from=None,
        forked_at=None,
        delegated_by=None,
        delegated_at=None,
        rolled_back=False,
        seq=run.seq,
    )


def _outcomes(reads: RunReads, ends: dict[str, list[Payload]]) -> dict[str, Outcome | None]:
    """Each finished run's outcome, from its ``run.finished`` and ``rollback.finished``
    records (``ends``); a run journaled before ``run.finished`` carried one has it derived
    from all its records, by the same rules."""
    tallies: dict[str, OutcomeTally] = {}
    legacy: list[str] = []
    for run_id, found in ends.items():
        finished = [r.payload for r in found if r.kind == "run.finished"]
        if not finished:
            continue
        if "outcome" not in finished[-1]:
            legacy.append(run_id)
            continue
        tally = tallies[run_id] = OutcomeTally()
        for r in sorted(found, key=lambda r: r.seq):
            tally.add(r.kind, r.payload)
    for chunk in chunks(legacy):
        for seq, run_id, kind, payload in reads.records(chunk):
            try:
                decoded = decode_payload(seq, run_id, kind, payload)
            except DamagedRecordError:
                continue  # the run's own reading names it
            tallies.setdefault(run_id, OutcomeTally()).add(kind, decoded)
    return {run_id: tally.outcome() for run_id, tally in tallies.items()}


def finished_by_runner(latest: dict[str, int]) -> bool:
    """Whether the run's newest ``run.finished`` (by ``latest``, newest seq per kind) is
    the runner's own, which carries its steps, tokens and cost."""
    # A rollback of a waiting run journals its run.finished after rollback.started, with
    # no steps, tokens or cost; the runner's own always comes before any rollback.
    finished = latest.get("run.finished")
    return finished is not None and finished < latest.get("rollback.started", finished + 1)


def summary(
    run: Started,
    latest: dict[str, int],
    counts: dict[str, int],
    denials: int,
    payloads: list[Payload],
) -> SummaryFields:
    """The summary of a sound run (its outcome not yet set), from its record counts and
    newest seqs by kind, its denials and the payloads :func:`summaries` read."""
    p = payload_as(RunStarted, run.payload)
    origin = p.get("forked_from")
    delegated = p.get("delegated_by")
    ordered = sorted(payloads, key=lambda r: r.seq)
    finish = next(
        (
            (r.ts, payload_as(RunFinished, r.payload))
            for r in ordered[::-1]
            if r.kind == "run.finished"
        ),
        None,
    )
    waiting = next(
        (payload_as(RunWaiting, r.payload) for r in ordered[::-1] if r.kind == "run.waiting"), None
    )
    proposals = [payload_as(StepProposed, r.payload) for r in ordered if r.kind == "step.proposed"]
    charter: dict[str, Any] = dict(p.get("charter") or {})
    status = "running"
    if finish is not None:
        status = str(finish[1]["status"])
    elif latest.get("run.waiting", 0) > latest.get("run.resumed", 0):
        status = "waiting"
    if finished_by_runner(latest):
        assert finish is not None
        steps, tokens = int(finish[1]["steps"]), int(finish[1]["tokens"])
        spent = finish[1].get("cost_usd")  # a cancelled waiting run's end has none
        cost: float | None = None if spent is None else float(spent)
    else:
        kept = int(origin.get("step", 1)) - 1 if origin else 0
        steps = max([kept, *(int(q["step"]) for q in proposals)])
        tokens = sum(_tokens(q) for q in proposals)
        cost = None
    return SummaryFields(
        run_id=run.run_id,
        agent=str(p["agent"]),
        agent_version=str(p.get("agent_version", "")),
        policy=str(charter.get("policy", "")),
        goal=str(p["goal"]),
        actor=str(p.get("actor", "")),
        started_at=run.ts,
        status=status,
        damaged=None,
        outcome=None,
        waiting_for=str(waiting["request_id"]) if status == "waiting" and waiting else None,
        steps=steps,
        tokens=tokens,
        cost_usd=cost,
        denials=denials,
        asks=counts.get("approval.requested", 0),
        anomalies=counts.get("anomaly.detected", 0),
        answer=finish[1].get("answer") if finish else None,
        error=finish[1].get("error") if finish else None,
        finished_at=finish[0] if finish else None,
        forked_from=str(origin["run"]) if origin else None,
        forked_at=int(origin["step"]) if origin else None,
        delegated_by=str(delegated["run"]) if delegated else None,
        delegated_at=int(delegated["step"]) if delegated else None,
        rolled_back="rollback.finished" in counts,
        seq=run.seq,
    )


def _tokens(proposed: StepProposed) -> int:
    """Every token count a proposal journaled (old ones may name other counts too)."""
    counts: dict[str, Any] = dict(proposed.get("tokens") or {})
    return sum(int(n) for n in counts.values())


def runs_in_file(url: str, *, limit: int) -> list[SummaryFields] | None:
    """The ``limit`` newest runs of the SQLite journal file ``url`` names, as
    :func:`charter.views.list_runs` summarises them, read through ``sqlite3`` alone (no
    SQLAlchemy, no Pydantic); None when the journal must be read the general way: not a
    plain SQLite file URL, not at this charter's newest schema, or a read the file failed
    (the general way then says why).

    Raises:
        JournalError: there is no file there, or it is empty.
    """
    from charter.journal._file_reads import open_file_reads

    reads = open_file_reads(url)
    if reads is None:
        return None
    try:
        if limit <= 0:
            return []
        rows = reads.started_page(limit)
        return summaries(reads, [started(int(s), r, ts, p) for s, r, ts, p in rows])
    except sqlite3.Error:
        return None
    finally:
        reads.close()
