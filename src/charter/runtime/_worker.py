"""Queued runs on DBOS: ``charter submit`` enqueues, ``charter worker`` runs and recovers.

A submitted run is a DBOS workflow on the ``charter-runs`` queue, whose system database
sits beside the journal (a SQLite file under ``CHARTER_HOME``, or the same PostgreSQL
database, in DBOS's own schema). The workflow's one job is to bring its run to an end
state through the journal: it starts the run under the id chosen at submission, or, when
DBOS re-executes it after the worker died, finds the run already in the journal and
recovers it from there (:meth:`Runner.recover`), so no finished step runs again and an
interrupted write is retried only under its idempotency key. A restarted worker with the
same ``--id`` recovers the workflows its predecessor was running.

Why one workflow per run rather than one DBOS step per reasoning and tool call: the
journal already commits every step before and after it acts, and it is the record
recovery must agree with. Checkpointing each step a second time in DBOS would double the
commits per step and create a second truth to keep consistent.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions

from charter import __version__, settings
from charter.journal import Journal, load_or_create_signer

QUEUE = "charter-runs"
WORKFLOW = "charter.run"


def system_database_url() -> str:
    """Where DBOS keeps its workflow state: beside the journal."""
    url = settings.database_url()
    if url.startswith("sqlite"):
        home = settings.charter_home()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'workflows.sqlite'}"
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@DBOS.workflow(name=WORKFLOW)
def run_workflow(request: dict[str, Any]) -> dict[str, Any]:
    """Bring one submitted run to an end state (completed, waiting, stopped or failed)."""
    from charter.agent import load_agent
    from charter.runtime._runner import Runner

    journal = Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))
    run_id = str(request["run_id"])
    agent = load_agent(Path(request["agent_file"]))
    runner = Runner(journal)
    try:
        kinds = [r.kind for r in journal.records(run_id)]
        if not kinds:
            run = runner.run(
                agent, str(request["goal"]), actor=str(request["actor"]), run_id=run_id
            )
        elif "run.finished" in kinds or kinds[-1] == "run.waiting":
            return {
                "run_id": run_id,
                "status": "finished" if "run.finished" in kinds else "waiting",
            }
        else:  # the worker running it died: continue from the journal
            run = runner.recover(agent, run_id, actor=f"worker:{DBOS.workflow_id}")
    finally:
        runner.close()
        journal.close()
    return {"run_id": run_id, "status": run.status, "answer": run.answer, "error": run.error}


def submit(agent_file: Path, goal: str, actor: str, run_id: str) -> str:
    """Enqueue a run for the workers; return its run id (also the workflow id)."""
    url = system_database_url()
    DBOS.migrate(url)  # the queue's tables exist before the first worker starts
    client = DBOSClient(system_database_url=url)
    try:
        options: EnqueueOptions = {
            "queue_name": QUEUE,
            "workflow_name": WORKFLOW,
            "workflow_id": run_id,
            "app_version": __version__,
        }
        client.enqueue(
            options,
            {
                "run_id": run_id,
                "agent_file": str(agent_file.resolve()),
                "goal": goal,
                "actor": actor,
            },
        )
    finally:
        client.destroy()
    return run_id


def serve(executor_id: str, concurrency: int, stop: threading.Event) -> None:
    """Run queued runs (``concurrency`` at a time) until ``stop`` is set."""
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
        stop.wait()
    finally:
        DBOS.destroy()
