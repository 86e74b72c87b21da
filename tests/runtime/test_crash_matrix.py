"""Crash matrix: workers killed with SIGKILL at every point of a run, hundreds of times.

Each case plays one run of a scenario (``_crash_driver.SCENARIOS``: reads, keyed writes,
an idempotent write, writes that cannot recognise a retry, calls that ask for approval).
A phase of the run (start, recover, resume after an approval) with a kill planned runs
in a worker forked from a forkserver, which SIGKILLs itself:

- right after the k-th record of its phase is committed, for every k: before a call
  (``step.decided``), after it (``step.effect``), between steps, while the run waits for
  an approval (``run.waiting``), after the approval was used, after the run finished;
- inside its n-th tool call, for every n, before or after the call's side effect.

The test then recovers the run (or, once it waits and its request is approved, resumes
it) until it has finished; unkilled phases run in the test's own process. Systematic
cases kill the first phase at each of its points in every scenario, and the resume phase
of the approval scenarios at each of its points (106 cases); seeded random chains then
also kill the recoveries and resumes that follow, up to three more times (70 cases).
About 280 kills per backend in all, reported at the end of the module's output.

After each case: the run completed, or stopped with exactly one effect journaled
``in_doubt`` (only a write that cannot recognise a retry may end so); no side effect
happened twice, none happened without the journal saying so (done, or in doubt), and a
completed run's writes all happened; no step has two effects; every record a worker was
told about is in the journal with the same hash; the hash chain verifies.

Racing cases kill the first phase mid-run, then start two recoveries at once: exactly one
drives the run (the other is refused by the run's lease, or finds it finished), and the
same invariants hold, with one ``run.recovered`` in the journal.

Runs on SQLite (a journal file per case) and, when ``CHARTER_TEST_POSTGRES_URL`` is set,
on PostgreSQL (one journal for the module, emptied first).
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from charter import Journal
from charter.runtime import Approvals
from charter.runtime._runner import new_run_id, run_state
from databases import fresh_postgres_url
from runtime._crash_driver import (
    SCENARIOS,
    UNCOUNTED,
    Job,
    Kill,
    Phase,
    Where,
    create_world,
    drive,
    work,
    world_effects,
)

pytestmark = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="needs SIGKILL and a forkserver",
)

MAX_PHASES = 12
"""A run still unfinished after this many phases fails the case (recovery is stuck)."""

CHAINS = 70
"""Seeded random cases that also kill the recoveries."""

CHAIN_KILLS: list[Where] = ["record", "record", "before_effect", "after_effect"]
"""What the further kills of a chain are drawn from: a record kill twice as often, as every
recovery journals records but not every one calls a tool."""

PRELOAD = [
    "charter",
    "charter.runtime",
    "charter.testing",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "alembic.command",
]
"""Imported once by the forkserver, so a worker starts in milliseconds instead of a
second. (The driver itself is imported by each worker: Python 3.11's forkserver preloads
without the parent's ``sys.path``.)"""

Start = Callable[[Job], int]
"""Runs a phase in a worker; returns the worker's exit code."""


@dataclass(frozen=True, slots=True)
class Case:
    """One run of a scenario and where its workers die."""

    scenario: str
    kills: tuple[Kill | None, ...]
    """The kill planned for each phase in order (None: the phase is not killed); phases
    after these are not killed either."""
    name: str


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """What one phase of a played case did."""

    phase: Phase
    exitcode: int
    kinds: tuple[str, ...]
    """Kinds of the records the phase was told about, except uncounted ones."""

    @property
    def killed(self) -> bool:
        return self.exitcode == -signal.SIGKILL


def _play(case: Case, journal: Journal, url: str, workdir: Path, start: Start) -> list[PhaseResult]:
    """Play ``case`` until its run has finished, and check the invariants; return what
    each phase did."""
    run_id = new_run_id()
    world, seen = workdir / "world.db", workdir / "seen.log"
    create_world(str(world))
    seen.touch()
    phase: Phase = "run"
    results: list[PhaseResult] = []
    for index in range(MAX_PHASES):
        kill = case.kills[index] if index < len(case.kills) else None
        job = Job(url, str(world), str(seen), case.scenario, run_id, phase, kill)
        told_before = len(seen.read_text().splitlines())
        if kill is None:
            drive(journal, job)
            exitcode = 0
        else:
            exitcode = start(job)
        assert exitcode in (0, -signal.SIGKILL), f"the {phase} worker exited with {exitcode}"
        told = [line.split()[2] for line in seen.read_text().splitlines()[told_before:]]
        results.append(PhaseResult(phase, exitcode, tuple(k for k in told if k not in UNCOUNTED)))
        records = list(journal.records(run_id))
        state = run_state(records)
        if state == "finished":
            _check_invariants(journal, run_id, case.scenario, world, seen)
            return results
        if state == "waiting":
            waiting = next(r for r in reversed(records) if r.kind == "run.waiting")
            request_id = str(waiting.payload["request_id"])
            approvals = Approvals(journal)
            if approvals.get(request_id).status == "pending":
                approvals.approve(request_id, "dana", "crash matrix")
            phase = "resume"
        else:
            phase = "recover"
    pytest.fail(f"run {run_id} of {case.name} did not finish within {MAX_PHASES} phases")


def _check_invariants(
    journal: Journal, run_id: str, scenario: str, world: Path, seen: Path
) -> None:
    records = list(journal.records(run_id))

    # The run ended once: completed, or stopped on one call left in doubt.
    finished = [r.payload for r in records if r.kind == "run.finished"]
    assert len(finished) == 1 and records[-1].kind == "run.finished", [r.kind for r in records]
    outcome = finished[0]
    effects = [r.payload for r in records if r.kind == "step.effect"]
    doubts = [e for e in effects if e["status"] == "in_doubt"]
    if outcome["status"] == "completed":
        assert not doubts and outcome["answer"] == SCENARIOS[scenario].answer, outcome
    else:
        assert outcome["status"] == "stopped" and "in doubt" in str(outcome["error"]), outcome
        assert [e["tool"] for e in doubts] == ["ship"], "only an unkeyed write may be in doubt"

    per_step = Counter(int(e["step"]) for e in effects)
    assert set(per_step.values()) <= {1}, f"steps with several effects: {per_step}"

    # The world agrees with the journal: no write twice, none behind the journal's back.
    calls = {
        int(r.payload["step"]): r.payload["action"]
        for r in records
        if r.kind == "step.proposed" and "tool" in r.payload["action"]
    }
    done: Counter[tuple[str, int]] = Counter()
    doubted: set[tuple[str, int]] = set()
    for effect in effects:
        action = calls[int(effect["step"])]
        write = (str(action["tool"]), int(action["args"]["order_id"]))
        if effect["status"] == "ok":
            done[write] += 1
        elif effect["status"] == "in_doubt":
            doubted.add(write)
    happened = Counter(world_effects(str(world)))
    writes = SCENARIOS[scenario].writes
    assert set(happened) <= set(writes), happened
    for write in writes:
        assert happened[write] <= 1, f"{write} happened {happened[write]} times"
        assert done[write] <= 1, f"{write} journaled as done {done[write]} times"
        if done[write]:
            assert happened[write] == 1, f"{write} journaled as done but never happened"
        elif write not in doubted:
            assert happened[write] == 0, f"{write} happened but the journal does not say so"
        if outcome["status"] == "completed":
            assert done[write] == 1, f"the run completed without {write}"

    # Every record a worker was told about is stored, unchanged.
    told = [line.split() for line in seen.read_text().splitlines()]
    stored: dict[int, str] = {}
    for owner in {run for _, run, _, _ in told}:
        stored |= {r.seq: r.hash for r in journal.records(owner)}
    lost = [(seq, kind) for seq, _, kind, digest in told if stored.get(int(seq)) != digest]
    assert not lost, f"records told to workers but not in the journal as told: {lost}"

    report = journal.verify()
    assert report.ok, report.problems


# --- the matrix -------------------------------------------------------------------------


def _dry_run(scenario: str) -> list[PhaseResult]:
    """The phases of an unkilled run of ``scenario``, to enumerate its kill points."""

    def no_worker(job: Job) -> int:
        raise AssertionError(f"a dry run started a worker for {job}")

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'journal.db'}"
        journal = Journal(url)
        try:
            return _play(Case(scenario, (), "dry run"), journal, url, Path(tmp), no_worker)
        finally:
            journal.close()


def _kill_points(phase: PhaseResult) -> list[tuple[Kill, str]]:
    """Every kill point of ``phase``, each with a label for test ids."""
    points = [
        (Kill("record", k), f"after-{kind}#{k}") for k, kind in enumerate(phase.kinds, start=1)
    ]
    for n in range(1, phase.kinds.count("step.effect") + 1):
        points.append((Kill("before_effect", n), f"call{n}-before-effect"))
        points.append((Kill("after_effect", n), f"call{n}-after-effect"))
    return points


def _matrix() -> list[Case]:
    cases: list[Case] = []
    for scenario in SCENARIOS:
        for index, phase in enumerate(_dry_run(scenario)):
            for kill, label in _kill_points(phase):
                name = f"{scenario}-{phase.phase}-{label}"
                cases.append(Case(scenario, (*([None] * index), kill), name))
    rng = random.Random(20261124)
    systematic = list(cases)
    for number in range(CHAINS):
        kills = (first := rng.choice(systematic)).kills
        for _ in range(rng.randint(1, 3)):
            where = rng.choice(CHAIN_KILLS)
            kills = (*kills, Kill(where, rng.randint(1, 3) if where == "record" else 1))
        plan = "-".join(str(kill) for kill in kills)
        cases.append(Case(first.scenario, kills, f"chain{number:02d}-{first.scenario}-{plan}"))
    return cases


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def start() -> Start:
    """Start workers from a forkserver that has charter imported already."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)

    def run_worker(job: Job) -> int:
        worker = context.Process(target=work, args=(job,))
        worker.start()
        worker.join(timeout=60)
        if worker.exitcode is None:
            worker.kill()
            worker.join()
            pytest.fail(f"the {job.phase} worker of a {job.scenario} run hung")
        return worker.exitcode

    return run_worker


@dataclass(slots=True)
class Backend:
    """Where the journals of the cases are, and how many kills were injected."""

    name: str
    shared: Journal | None = None
    """One journal for every case (PostgreSQL); None: a SQLite file per case."""
    kills: int = 0

    @contextmanager
    def journal(self, workdir: Path) -> Generator[tuple[Journal, str]]:
        """A case's journal and its URL."""
        if self.shared is not None:
            yield self.shared, self.shared.url
            return
        url = f"sqlite:///{workdir / 'journal.db'}"
        journal = Journal(url)
        try:
            yield journal, url
        finally:
            journal.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        found = Backend("sqlite")
    else:
        # An emptied database: verify() then walks this module's records only.
        found = Backend("postgresql", Journal(fresh_postgres_url()))
    yield found
    if found.shared is not None:
        found.shared.close()
    reporter: Any = request.config.pluginmanager.get_plugin("terminalreporter")
    capture: Any = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and found.kills:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"crash matrix: {found.kills} SIGKILLs injected on {found.name}")


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in _matrix()])
def test_a_killed_run_finishes_without_repeating_or_losing_anything(
    case: Case, backend: Backend, start: Start, tmp_path: Path
) -> None:
    with backend.journal(tmp_path) as (journal, url):
        phases = _play(case, journal, url, tmp_path, start)
    backend.kills += sum(phase.killed for phase in phases)
    first = next(index for index, kill in enumerate(case.kills) if kill is not None)
    assert phases[first].killed, f"the first planned kill, {case.kills[first]}, never fired"


RACES = [
    (scenario, kill)
    for scenario in ("shop", "blind")
    for kill in (Kill("after_effect", 2), Kill("before_effect", 4), Kill("record", 3))
]
"""Where the first worker dies before two recoveries race: inside a write (after or before
its effect) and between steps."""


@pytest.mark.parametrize(
    ("scenario", "kill"), [pytest.param(*race, id=f"race-{race[0]}-{race[1]}") for race in RACES]
)
def test_two_recoveries_racing_drive_the_run_once(
    scenario: str, kill: Kill, backend: Backend, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    run_id = new_run_id()
    world, seen = tmp_path / "world.db", tmp_path / "seen.log"
    create_world(str(world))
    seen.touch()
    with backend.journal(tmp_path) as (journal, url):
        first = context.Process(
            target=work, args=(Job(url, str(world), str(seen), scenario, run_id, "run", kill),)
        )
        first.start()
        first.join(60)
        assert first.exitcode == -signal.SIGKILL
        backend.kills += 1
        assert run_state(list(journal.records(run_id))) == "running"
        job = Job(url, str(world), str(seen), scenario, run_id, "recover", None)
        racers = [context.Process(target=work, args=(job,)) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)

        # One drove the run to its end; the other raised (owned, or nothing to recover).
        assert sorted(racer.exitcode != 0 for racer in racers) == [False, True]
        kinds = [r.kind for r in journal.records(run_id)]
        assert kinds.count("run.recovered") == 1, kinds
        _check_invariants(journal, run_id, scenario, world, seen)
