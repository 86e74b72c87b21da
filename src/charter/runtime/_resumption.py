"""What continuing a journaled run needs, for every surface that continues one (the CLI's
``runs resume`` and ``approvals approve``, the HTTP service): the agent the run belongs to,
the approval request it waits for, and handing its resume to the workers.

The agent of a run is, in order: the agent file the caller names, the caller's own agent of
that name (the server's ``--agents``), the file the run started from. A run that waits for
nothing is refused before anything is queued, and a resume is queued only once its agent
file loads, so a bad file is refused to the operator, not found later by a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from charter.agent import Agent, load_agent
from charter.errors import RunStateError
from charter.journal import Journal
from charter.journal._kinds import RunWaiting, payload_as
from charter.runtime._runner import history, waiting_record

KnownAgent = Callable[[str], tuple[Agent, Path] | None]
"""The caller's own agent of a name (loaded, with its file), or None if it has none."""


def agent_of_run(
    journal: Journal,
    run_id: str,
    *,
    agent_file: Path | None = None,
    known: KnownAgent | None = None,
    hint: str = "",
) -> tuple[Agent, Path]:
    """The agent of run ``run_id``, loaded, and the file it was loaded from.

    Args:
        journal: the journal holding the run.
        run_id: the whole run id.
        agent_file: the file the caller names, used before anything else.
        known: the caller's own agents by name, used before the file the run started from.
        hint: how the caller can name an agent file, added to the error when none is known.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: no agent file is known for the run (or its file is gone).
        ConfigError: the agent file does not load.
    """
    started = history(journal, run_id)[0].payload
    if agent_file is not None:
        return load_agent(agent_file), agent_file
    name = str(started.get("agent", ""))
    found = known(name) if known is not None else None
    if found is not None:
        return found
    source = started.get("source")
    if not source or not Path(str(source)).exists():
        why = "was not started from an agent file" if not source else f"file {source} is gone"
        raise RunStateError(f"run {run_id}'s agent {name!r} {why}{hint}")
    return load_agent(str(source)), Path(str(source))


def waiting_request(journal: Journal, run_id: str) -> str:
    """The id of the approval request run ``run_id`` waits for.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run is not waiting for an approval.
    """
    waiting = waiting_record(history(journal, run_id))
    if waiting is None:
        raise RunStateError(f"run {run_id} is not waiting for an approval")
    return str(payload_as(RunWaiting, waiting.payload)["request_id"])


def queue_resume(
    journal: Journal,
    run_id: str,
    actor: str,
    *,
    agent_file: Path | None = None,
    known: KnownAgent | None = None,
    hint: str = "",
) -> str:
    """Hand the resume of waiting run ``run_id`` to ``charter worker``; return the request
    it waits for. Queueing the same resume twice is harmless (one workflow per request).

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run is not waiting, or no agent file is known for it.
        ConfigError: its agent file does not load.
        JournalError: the queue cannot be reached.
    """
    from charter.runtime._worker import submit_resume  # DBOS loads only to queue

    request_id = waiting_request(journal, run_id)
    _agent, path = agent_of_run(journal, run_id, agent_file=agent_file, known=known, hint=hint)
    submit_resume(run_id, request_id, path, actor)
    return request_id
