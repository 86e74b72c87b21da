"""Watchers that run beside the loop, registered rather than woven in.

A step hook is called after each observed step of every run a :class:`Governor` records
(e.g. :mod:`charter.models` registers its drift watch when imported, so the runtime does
not import the model registry); a run hook after a run stops, finishes or fails (the
runner registers its rollout demotion and ``rollback_on``).
"""

from __future__ import annotations

from collections.abc import Callable

from charter.journal import Journal, Record
from charter.reasoners._base import Observation
from charter.runtime._controls import Controls
from charter.runtime._rollback import rollback
from charter.runtime._rollout import demote_if_breached
from charter.runtime._session import Session

StepHook = Callable[[Journal, Session, Observation], None]
"""``hook(journal, session, observation)``, after each observed step."""
RunHook = Callable[[Session], None]
"""``hook(session)``, after a run stops driving (finished, failed or waiting)."""

_step_hooks: list[StepHook] = []


def register_step_hook(hook: StepHook) -> None:
    """Call ``hook`` after every observed step of every run (once, however often it is
    registered)."""
    if hook not in _step_hooks:
        _step_hooks.append(hook)


def step_hooks() -> tuple[StepHook, ...]:
    """The registered step hooks, in registration order."""
    return tuple(_step_hooks)


def rollout_watch(journal: Journal, controls: Controls) -> RunHook:
    """A run hook demoting the agent version when its charter says its recent runs breach
    a KPI (``rollout.demote``)."""

    def watch(session: Session) -> None:
        agent = session.agent
        demotion = agent.charter.rollout.demote
        if demotion is None or session.run.status == "waiting":
            return
        phase = controls.state().phase_of(agent.name, session.version_id)
        demote_if_breached(
            journal,
            controls,
            agent=agent.name,
            version_id=session.version_id,
            phase=phase or agent.charter.phase,
            demotion=demotion,
        )

    return watch


def rollback_on(journal: Journal, on_record: Callable[[Record], None] | None) -> RunHook:
    """A run hook undoing the run's writes when its charter says so for the way it ended
    (``rollback_on``)."""

    def roll_back(session: Session) -> None:
        run = session.run
        if run.status not in session.agent.charter.rollback_on:
            return
        report = rollback(
            journal,
            session.agent,
            run.run_id,
            actor=f"charter:rollback_on:{run.status}",
            on_record=on_record,
        )
        run.rolled_back = True
        run.outcome = report.outcome or run.outcome

    return roll_back
