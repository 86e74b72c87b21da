"""Queued runs on DBOS: ``charter submit`` enqueues, ``charter worker`` runs and recovers.

A submitted run is a DBOS workflow on the ``charter-runs`` queue, whose system database
sits beside the journal (a SQLite file under ``CHARTER_HOME``, or the same PostgreSQL
database, in DBOS's own schema). The workflow's one job is to bring its run to an end
state through the journal: it starts the run under the id chosen at submission, or, when
DBOS re-executes it after the worker died, finds the run already in the journal and
recovers it from there (:meth:`Runner.recover`), so no finished step runs again and an
interrupted write is retried only under its idempotency key. A restarted worker with the
same ``--id`` recovers the workflows its predecessor was running; a worker that stays dead
is taken over by a live one (:mod:`charter.runtime._workers`), which hands its runs back to
the queue.

Why one workflow per run rather than one DBOS step per reasoning and tool call: the
journal already commits every step before and after it acts, and it is the record
recovery must agree with. Checkpointing each step a second time in DBOS would double the
commits per step and create a second truth to keep consistent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions
from sqlalchemy.exc import SQLAlchemyError

from charter import __version__, settings
from charter._permissions import private_directory, private_file
from charter.errors import JournalError, RunOwnedError
from charter.journal import Journal, load_or_create_signer
from charter.journal._store import safe_url
from charter.runtime._workers import WorkerRegistry

QUEUE = "charter-runs"
WORKFLOW = "charter.run"


def system_database_url() -> str:
    """Where DBOS keeps its workflow state: beside the journal."""
    url = settings.database_url()
    if url.startswith("sqlite"):
        home = settings.charter_home()
        private_directory(home)  # the runs' goals and results: private, like the journal
        private_file(home / "workflows.sqlite")
        return f"sqlite:///{home / 'workflows.sqlite'}"
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_shared: dict[str, Journal] = {}
"""The worker process's journal, opened once by :func:`serve` for all its runs."""


def _journal() -> Journal:
    found = _shared.get("journal")
    if found is None:
        found = Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))
        _shared["journal"] = found
    return found


@DBOS.workflow(name=WORKFLOW)
def run_workflow(request: dict[str, Any]) -> dict[str, Any]:
    """Bring one submitted run to an end state (completed, waiting, stopped or failed).

    ``request`` holds ``run_id``, ``agent_file`` and ``actor``, and either ``goal`` (a new
    run) or ``resume`` (continue the run once its approval request is decided).
    """
    from charter.agent import load_agent
    from charter.runtime._runner import Runner, run_state

    journal = _journal()
    run_id = str(request["run_id"])
    agent = load_agent(Path(request["agent_file"]))
    runner = Runner(journal, owner=f"worker:{DBOS.executor_id}")
    try:
        while True:
            records = list(journal.records(run_id))
            state = run_state(records) if records else None
            try:
                if state is None:
                    run = runner.run(
                        agent, str(request["goal"]), actor=str(request["actor"]), run_id=run_id
                    )
                elif state == "waiting" and request.get("resume"):
                    run = runner.resume(agent, run_id, actor=str(request["actor"]))
                elif state == "running":  # the worker driving it died: continue from the journal
                    run = runner.recover(agent, run_id, actor=f"worker:{DBOS.workflow_id}")
                else:
                    return {"run_id": run_id, "status": state}
            except RunOwnedError as exc:
                # Its former owner's lease has not ended yet (a worker on another host, taken
                # over); or a live process drives the run: look again once a lease could end.
                log.info("%s; retrying", exc)
                time.sleep(runner.lease_ttl / 3)
                continue
            break
    finally:
        runner.close()
    return {"run_id": run_id, "status": run.status, "answer": run.answer, "error": run.error}


def submit(agent_file: Path, goal: str, actor: str, run_id: str) -> str:
    """Enqueue a run for the workers; return its run id (also the workflow id).

    Raises:
        JournalError: the journal or the queue's database cannot be reached, or the journal
            has another schema; nothing is enqueued.
    """
    request = {"run_id": run_id, "agent_file": str(agent_file.resolve()), "goal": goal}
    _enqueue(run_id, request | {"actor": actor})
    return run_id


def submit_resume(run_id: str, request_id: str, agent_file: Path, actor: str) -> str:
    """Enqueue the continuation of a run whose approval request ``request_id`` was decided;
    return the workflow id. Enqueueing it twice is harmless: one workflow per request.

    Raises:
        JournalError: as :func:`submit`.
    """
    workflow_id = f"{run_id}:{request_id}"
    request = {"run_id": run_id, "agent_file": str(agent_file.resolve()), "resume": True}
    _enqueue(workflow_id, request | {"actor": actor})
    return workflow_id


def _enqueue(workflow_id: str, request: dict[str, Any]) -> None:
    Journal(settings.database_url()).close()  # reachable, and at this charter's schema
    url = system_database_url()
    try:
        DBOS.migrate(url)  # the queue's tables exist before the first worker starts
        client = DBOSClient(system_database_url=url)
    except Exception as exc:  # DBOS raises driver errors of either database
        raise JournalError(
            f"cannot reach the run queue at {safe_url(url)}: {str(exc).splitlines()[0]}"
        ) from exc
    try:
        options: EnqueueOptions = {
            "queue_name": QUEUE,
            "workflow_name": WORKFLOW,
            "workflow_id": workflow_id,
            "app_version": __version__,
        }
        client.enqueue(options, request)
    finally:
        client.destroy()


EXIT_TAKEN_OVER = 75
"""Exit status of a worker that found itself taken over (it was silent too long)."""

log = logging.getLogger("charter.worker")


def serve(
    executor_id: str,
    concurrency: int,
    stop: threading.Event,
    *,
    heartbeat: float = 2.0,
    dead_after: float = 30.0,
) -> None:
    """Run queued runs (``concurrency`` at a time) until ``stop`` is set.

    Beats every ``heartbeat`` seconds and takes over workers silent for ``dead_after``.

    Raises:
        JournalError: the database cannot be reached or has another schema.
        ConfigError: another live worker uses ``executor_id``.
    """
    journal = _journal()
    registry = WorkerRegistry(journal, executor_id, dead_after=dead_after)
    registry.register()
    config: DBOSConfig = {
        "name": "charter",
        "system_database_url": system_database_url(),
        "application_version": __version__,
        "executor_id": executor_id,
    }
    DBOS(config=config)
    DBOS.launch()  # recovers the workflows this executor id was running when it died
    DBOS.register_queue(QUEUE, worker_concurrency=concurrency)
    try:
        while not stop.wait(heartbeat):
            _beat(registry)
    finally:
        DBOS.destroy()
        journal.close()
        _shared.clear()


def _beat(registry: WorkerRegistry) -> None:
    """One heartbeat: prove this worker alive, then take over any silent peer."""
    try:
        if not registry.beat():
            # Another worker declared this one dead and requeued its runs: stop at once,
            # before anything this process still drives can act a second time.
            log.error("worker %s was taken over while silent; exiting", registry.worker_id)
            os._exit(EXIT_TAKEN_OVER)
        for peer in registry.silent_peers():
            if registry.claim(peer):
                # DBOS's own recovery of another executor's workflows (what its admin
                # endpoint calls): each PENDING one goes back to its queue, exactly once.
                handles = DBOS._recover_pending_workflows([peer.worker_id])  # pyright: ignore[reportPrivateUsage]
                runs = [handle.get_workflow_id() for handle in handles]
                registry.record_takeover(peer, runs)
                log.warning("took over worker %s: %d run(s) requeued", peer.worker_id, len(runs))
    except (SQLAlchemyError, JournalError) as exc:  # a database blip: try again next beat
        log.warning("worker %s heartbeat failed: %s", registry.worker_id, exc)
