"""What the HTTP service does on behalf of its callers: start, resume, cancel and roll back
runs of the agents it knows, in its own threads or through the worker queue, and move
their versions between rollout phases.

The service knows the agent files it was started with (``--agents``) and, for runs it
did not start, the file each journaled run started from.

Runs whose owner died (a crashed server, a killed ``charter run``) are recovered here: when
the server starts and every lease period after, each run whose lease was never released
and has ended, or whose holder was a process of this host that is gone (the server's own
previous process, after a restart), is claimed and continued from the journal in the
background. Runs of agents this server cannot load are left for ``charter runs recover``.
With ``queue``, the workers recover runs instead (DBOS re-queues them).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from charter.agent import Agent, load_agent
from charter.errors import (
    ApprovalError,
    CharterError,
    ConfigError,
    RunNotFoundError,
    RunStateError,
)
from charter.evals import GateResult
from charter.evals import demote as demote_version
from charter.evals import promote as promote_version
from charter.journal import Journal
from charter.journal._lease import orphaned
from charter.policy import PHASES, Phase
from charter.runtime import Approvals, Runner
from charter.runtime._names import KnownNames
from charter.runtime._resumption import agent_of_run, queue_resume, waiting_request
from charter.runtime._rollback import RollbackReport, refuse_fileless_caller_run, rollback
from charter.runtime._runner import new_run_id
from charter.views._runs import ToolInfo

log = logging.getLogger("charter.server")


def agent_files(paths: list[Path]) -> dict[str, Path]:
    """Agent name → file, for agent files and directories of them (``*.agent.yaml``).

    Raises:
        ConfigError: a path does not exist, a file is not a valid agent, or two files
            define the same agent name.
    """
    found: dict[str, Path] = {}
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such agent file or directory")
        files = sorted(path.glob("*.agent.yaml")) if path.is_dir() else [path]
        for file in files:
            name = load_agent(file).name
            if name in found and found[name] != file.resolve():
                raise ConfigError(f"agent {name!r} is defined by both {found[name]} and {file}")
            found[name] = file.resolve()
    return found


@dataclass(frozen=True, slots=True)
class PhaseMove:
    """An agent version moved between rollout phases (journaled as ``control.phase``)."""

    agent: str
    version_id: str
    previous: Phase
    phase: Phase
    gates: list[GateResult] = field(default_factory=lambda: [])
    """The gates a promotion judged (all met); none for a demotion."""


class RunService:
    """Runs on behalf of API callers.

    Args:
        journal: the journal (with its signer, so runs end with a signed checkpoint).
        agents: agent name → agent file, the agents callers may start.
        queue: hand runs and resumes to ``charter worker`` processes instead of running
            them in this process.
        threads: runs executed at a time in this process (without ``queue``).
    """

    def __init__(
        self, journal: Journal, agents: dict[str, Path], *, queue: bool = False, threads: int = 4
    ) -> None:
        self.journal = journal
        self.agents = dict(agents)
        self.queue = queue
        self.tools: dict[str, list[ToolInfo]] = {
            name: [ToolInfo.from_tool(tool) for tool in load_agent(path).inventory]
            for name, path in self.agents.items()
        }
        """Agent name → its tools' contracts (the journal records tool names only)."""
        self.runner = Runner(journal, owner="server")
        self.approvals = Approvals(journal)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="charter-run")
        self._recovering: set[str] = set()
        """Orphaned runs handed to a thread and not yet done with."""
        self._guard = threading.Lock()
        self._stop_sweeping = threading.Event()
        self._sweeper: threading.Thread | None = None

    def known_names(self) -> KnownNames:
        """Agent and tool names the journal or this server's agent files know (an
        operator's control must name one of them, or say the name is new)."""
        tools = [info.name for infos in self.tools.values() for info in infos]
        return KnownNames.of(self.journal, agents=self.agents, tools=tools)

    def tool_costs(self) -> dict[str, float]:
        """Tool name → its contract's cost per call, over the known agents."""
        return {info.name: info.cost_usd for infos in self.tools.values() for info in infos}

    def close(self) -> None:
        """Stop taking runs; runs in progress finish first."""
        self._stop_sweeping.set()
        if self._sweeper is not None:
            self._sweeper.join()
        self._threads.shutdown(wait=True)
        self.runner.close()

    def recover_orphans(self) -> list[str]:
        """Continue in the background every run whose owner died (see the module); return
        their ids. Nothing with ``queue``: the workers recover queued runs."""
        if self.queue:
            return []
        taken: list[str] = []
        for lease in orphaned(self.journal.engine):
            with self._guard:
                if lease.run_id in self._recovering:
                    continue
            try:
                agent, _path = self.run_agent(lease.run_id)
            except RunNotFoundError:
                continue  # claimed, then died before journaling its start: nothing to continue
            except CharterError as exc:
                log.warning(
                    "orphaned run %s left for `charter runs recover`: %s", lease.run_id, exc
                )
                continue
            with self._guard:
                self._recovering.add(lease.run_id)
            self._threads.submit(self._background_recover, agent, lease.run_id)
            taken.append(lease.run_id)
        return taken

    def start_sweeping(self) -> None:
        """Recover orphaned runs now and every lease period after, until :meth:`close`."""
        if self.queue or self._sweeper is not None:
            return

        def sweep() -> None:
            while True:
                try:
                    self.recover_orphans()
                except CharterError as exc:  # a database blip: the next sweep tries again
                    log.warning("looking for orphaned runs failed: %s", exc)
                except Exception:
                    log.exception("looking for orphaned runs failed")
                if self._stop_sweeping.wait(self.runner.lease_ttl):
                    return

        self._sweeper = threading.Thread(target=sweep, name="charter-orphans", daemon=True)
        self._sweeper.start()

    def agent(self, name: str) -> tuple[Agent, Path]:
        """A known agent, loaded fresh from its file (so edits apply to the next run).

        Raises:
            ConfigError: no agent of that name, or its file no longer loads.
        """
        path = self.agents.get(name)
        if path is None:
            known = ", ".join(sorted(self.agents)) or "none (start the server with --agents)"
            raise ConfigError(f"unknown agent {name!r}; agents: {known}")
        return load_agent(path), path

    def loaded(self) -> dict[str, Agent | str]:
        """Every known agent, loaded fresh, or why its file no longer loads."""
        found: dict[str, Agent | str] = {}
        for name in sorted(self.agents):
            try:
                found[name] = self.agent(name)[0]
            except CharterError as error:
                found[name] = str(error)
        return found

    def promote(self, name: str, actor: str, reason: str, to: Phase | None = None) -> PhaseMove:
        """Move the version of agent ``name`` this server runs to ``to`` (default: the
        next phase) if every gate is met. See :func:`charter.evals.promote`.

        Raises:
            PromotionRefusedError: a gate is not met (nothing is journaled).
            ConfigError: unknown agent, its file no longer loads, or no reason.
            CharterError: ``to`` is not later than the current phase.
        """
        if not reason.strip():
            raise ConfigError("promoting an agent needs a reason (it is journaled)")
        agent, _path = self.agent(name)
        left, results = promote_version(self.journal, agent, actor=actor, reason=reason, to=to)
        phase = to or PHASES[PHASES.index(left) + 1]
        return PhaseMove(agent.name, agent.version_id, left, phase, results)

    def demote(self, name: str, to: Phase, actor: str, reason: str) -> PhaseMove:
        """Move the version of agent ``name`` this server runs back to ``to``. See
        :func:`charter.evals.demote`.

        Raises:
            ConfigError: unknown agent, its file no longer loads, or no reason.
            CharterError: ``to`` is not earlier than the current phase.
        """
        if not reason.strip():
            raise ConfigError("demoting an agent needs a reason (it is journaled)")
        agent, _path = self.agent(name)
        left = demote_version(self.journal, agent, to, actor=actor, reason=reason)
        return PhaseMove(agent.name, agent.version_id, left, to)

    def run_agent(self, run_id: str) -> tuple[Agent, Path]:
        """The agent of a journaled run: its known file by name, else the file it started from.

        Raises:
            RunNotFoundError: no such run.
            RunStateError: its agent file is unknown here.
        """
        return agent_of_run(self.journal, run_id, known=self._known_agent)

    def _known_agent(self, name: str) -> tuple[Agent, Path] | None:
        return self.agent(name) if name in self.agents else None

    def start(self, name: str, goal: str, actor: str, idempotency_key: str | None = None) -> str:
        """Start a run of agent ``name``; return its run id at once (it runs in the
        background, or in a worker with ``queue``).

        With ``idempotency_key``, a start that ``actor`` already made for this agent with
        that key returns the same run instead of starting another.

        Raises:
            ConfigError: unknown agent, an empty goal, or an unusable key.
            RunStateError: the key already started a run with another goal.
        """
        if not goal.strip():
            raise ConfigError("a run needs a goal")
        agent, path = self.agent(name)
        run_id = new_run_id()
        if idempotency_key is not None:
            from charter.runtime._starts import claim_start

            claim = claim_start(
                self.journal,
                agent=agent.name,
                actor=actor,
                key=idempotency_key,
                goal=goal,
                run_id=run_id,
            )
            if not claim.new and (claim.started or not self.queue):
                return claim.run_id
            run_id = claim.run_id  # queued again if never started: the queue keeps one
        if self.queue:
            from charter.runtime._worker import submit

            submit(path, goal, actor, run_id)
        else:
            self._threads.submit(self._background_run, agent, goal, actor, run_id)
        return run_id

    def waiting_request(self, run_id: str) -> str:
        """The approval request run ``run_id`` waits for.

        Raises:
            RunNotFoundError: no such run.
            RunStateError: the run is not waiting for an approval.
        """
        return waiting_request(self.journal, run_id)

    def decide(
        self, request_id: str, actor: str, verdict: Literal["approved", "denied"], reason: str
    ) -> str:
        """Approve or deny a pending request and resume its run; return the run id.

        A run no longer waiting (cancelled, finished) is refused before anything is
        decided, so a refused decision journals nothing.

        Raises:
            ApprovalError: unknown request, not pending, or ``actor`` may not decide it.
            RunStateError: the run is not waiting for this approval.
        """
        state = self.approvals.get(request_id)
        if state.status == "closed":  # its run ended: say how, not just "not waiting"
            raise ApprovalError(f"request {request_id} is closed: {state.closed_reason}")
        run_id = state.request.run_id
        self.waiting_request(run_id)
        if verdict == "approved":
            self.approvals.approve(request_id, actor, reason)
        else:
            self.approvals.deny(request_id, actor, reason)
        self.resume(run_id, actor)
        return run_id

    def resume(self, run_id: str, actor: str) -> None:
        """Continue a run whose approval request was just decided, in the background.

        Raises:
            RunStateError: the run is not waiting for an approval.
        """
        if self.queue:
            queue_resume(self.journal, run_id, actor, known=self._known_agent)
            return
        self.waiting_request(run_id)
        agent, _path = self.run_agent(run_id)
        self._threads.submit(self._background_resume, agent, run_id, actor)

    def cancel(self, run_id: str, actor: str, reason: str) -> str:
        """Cancel a run; return the state it was in. See :meth:`Runner.cancel`."""
        return self.runner.cancel(run_id, actor=actor, reason=reason)

    def rollback(self, run_id: str, actor: str) -> RollbackReport:
        """Undo a finished or waiting run's completed writes. See :func:`rollback`."""
        try:
            agent, _path = self.run_agent(run_id)
        except RunStateError:  # no agent file: say where a caller-governed run is undone
            refuse_fileless_caller_run(self.journal, run_id)
            raise
        return rollback(self.journal, agent, run_id, actor=actor)

    def _background_run(self, agent: Agent, goal: str, actor: str, run_id: str) -> None:
        try:
            self.runner.run(agent, goal, actor=actor, run_id=run_id)
        except Exception:  # the run journaled its failure; keep the thread pool alive
            log.exception("run %s failed", run_id)

    def _background_recover(self, agent: Agent, run_id: str) -> None:
        try:
            self.runner.recover(agent, run_id, actor="server:recovery")
            log.warning("recovered orphaned run %s", run_id)
        except RunStateError as exc:  # another process got to it first, or it ended
            log.info("orphaned run %s not recovered here: %s", run_id, exc)
        except Exception:
            log.exception("recovering run %s failed", run_id)
        finally:
            with self._guard:
                self._recovering.discard(run_id)

    def _background_resume(self, agent: Agent, run_id: str, actor: str) -> None:
        try:
            self.runner.resume(agent, run_id, actor=actor)
        except Exception:
            log.exception("resuming run %s failed", run_id)
