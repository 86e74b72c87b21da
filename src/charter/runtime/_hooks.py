"""Watchers that run beside the loop, registered rather than woven in.

A step hook is called after each observed step of every run a :class:`Governor` records
(e.g. :mod:`charter.models` registers its drift watch when imported, so the runtime does
not import the model registry); a run hook after a run stops, finishes or fails (the
runner registers its rollout demotion and ``rollback_on``).
"""

from __future__ import annotations

from collections.abc import Callable

from charter.journal import Journal
from charter.reasoners._base import Observation
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
