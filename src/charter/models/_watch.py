"""The drift watch of running agents: a step hook the runtime calls after each step.

Registered when :mod:`charter.models` is imported (an agent calling a model does so
through its tools, :func:`charter.models.model_tool`), so the runtime never imports the
model registry.
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any, cast

from charter.journal import Journal
from charter.models._artifact import ModelNotFoundError
from charter.models._drift import check_drift
from charter.models._registry import ModelRegistry
from charter.reasoners._base import Observation
from charter.runtime._hooks import register_step_hook
from charter.runtime._session import Session

_seen: weakref.WeakKeyDictionary[Journal, Counter[str]] = weakref.WeakKeyDictionary()
"""Predictions seen per watched model and journal, to check drift every few of them."""


def watch_drift(journal: Journal, session: Session, observation: Observation) -> None:
    """Check a watched model for drift every half window of its predictions (its
    charter's ``models:``); a breach journals ``model.drift`` and its actions at once."""
    content = observation.content
    watches = session.agent.charter.models
    if not watches or observation.status != "ok" or not isinstance(content, dict):
        return
    model = cast(dict[str, Any], content).get("model")
    watch = next((w for w in watches if w.model == model), None)
    if watch is None:
        return
    counts = _seen.setdefault(journal, Counter())
    counts[watch.model] += 1
    # Every half window: each check is a batch of tests, so checking after every
    # prediction would multiply false alarms.
    if counts[watch.model] % max(watch.min_samples, watch.window // 2):
        return
    try:
        check_drift(
            journal,
            ModelRegistry(journal),
            watch,
            actor="charter:drift-watch",
            notifications=session.agent.charter.notifications,
        )
    except ModelNotFoundError:  # a tool's output that only looked like a prediction
        return


register_step_hook(watch_drift)
