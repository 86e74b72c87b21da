"""The agent a rollback of a caller-governed run (a framework integration's) undoes its
writes with, built from the charter alone: one declared tool per tool its
``contracts:`` names, each with the compensation its ``compensations:`` imports.

The framework's tools themselves are not needed: a rollback calls compensations only,
with the arguments and result the journal holds. A tool without a compensation is
reported irreversible, as for a native run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from charter.agent import Agent
from charter.errors import ConfigError, RunStateError
from charter.journal import Journal
from charter.policy import load_charter
from charter.runtime._history import history
from charter.testing import ScriptedReasoner
from charter.tools import Inventory, declared_tool


def caller_rollback_agent(journal: Journal, run_id: str, charter_file: Path) -> Agent:
    """The agent undoing run ``run_id``'s writes under the charter in ``charter_file``.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run is not caller-governed, or its charter has another name.
        ConfigError: the charter does not load, names no compensations, or one of them
            does not import.
    """
    started = history(journal, run_id)[0].payload
    if started.get("governed_by") != "caller":
        raise RunStateError(
            f"run {run_id} is run by charter's own loop: roll it back with its agent file "
            "(--agent), not a charter"
        )
    charter = load_charter(charter_file)
    described: Any = started.get("charter")
    ran_under = (
        str(cast(dict[str, Any], described).get("name", "")) if isinstance(described, dict) else ""
    )
    if charter.name != ran_under:
        raise RunStateError(
            f"run {run_id} ran under charter {ran_under!r}, not {charter.name!r} ({charter_file})"
        )
    if not charter.compensations:
        raise ConfigError(
            f"{charter_file}: field compensations: none named, so nothing could be undone "
            "here; name each write's undo (tool: module:function), or roll the run back in "
            "the code that governs it"
        )
    undo = charter.compensation_callables()
    tools = [
        declared_tool(
            name,
            side_effect=spec.side_effect or "read",
            idempotent=bool(spec.idempotent),
            compensate=undo.get(name),
        )
        for name, spec in charter.contracts.items()
    ]
    return Agent(
        name=str(started.get("agent", "")),
        instructions="",
        inventory=Inventory(tools),
        reasoner=ScriptedReasoner([]),
        charter=charter.model_copy(update={"contracts": {}, "compensations": {}}),
    )
