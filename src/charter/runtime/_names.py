"""Known agent and tool names, so that an operator's control names something real.

During an incident a typo in ``charter agents pause`` would journal a pause of an agent
that does not exist and leave the real one running, with exit status 0. Controls are
therefore refused for a name no known agent or tool has, with the nearest known names as
suggestions, unless the operator says the name is new on purpose (``--new-name``).

Known means: named by a run's manifest (``run.started``: its agent and its tools), by an
earlier control record (an agent paused or supervised before its first run, a tool
revoked ahead of time), or by agent files the caller loaded (``--agent-file``, the
server's ``--agents``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, cast

from charter.errors import CharterError
from charter.journal import Journal
from charter.journal._kinds import (
    ControlCancel,
    ControlPause,
    ControlPhase,
    ControlRestore,
    ControlResume,
    ControlRevoke,
    ControlSupervise,
    ControlUnsupervise,
)
from charter.journal._reads import distinct_manifests, payloads_of_kinds
from charter.runtime._controls import CONTROL_KINDS

NameKind = Literal["agent", "tool"]

_Control = (
    ControlPause
    | ControlResume
    | ControlSupervise
    | ControlUnsupervise
    | ControlRevoke
    | ControlRestore
    | ControlCancel
    | ControlPhase
)
"""A record of one of the ``CONTROL_KINDS``."""


class UnknownNameError(CharterError):
    """A control names an agent or tool that no run, control or loaded file knows."""


@dataclass(frozen=True, slots=True)
class KnownNames:
    """The agent and tool names a control may name without ``--new-name``."""

    agents: frozenset[str] = field(default_factory=lambda: frozenset[str]())
    tools: frozenset[str] = field(default_factory=lambda: frozenset[str]())

    @classmethod
    def of(
        cls,
        journal: Journal,
        *,
        agents: Iterable[str] = (),
        tools: Iterable[str] = (),
    ) -> KnownNames:
        """Names in ``journal``'s run manifests and control records, plus ``agents`` and
        ``tools`` (from agent files the caller loaded). Reads each distinct manifest once."""
        found_agents, found_tools = set(agents), set(tools)
        for agent, names in distinct_manifests(journal):
            found_agents.add(agent)
            found_tools.update(str(name) for name in names)
        for payload in payloads_of_kinds(journal, CONTROL_KINDS):
            p = cast(_Control, payload)  # as payload_as, for a union of models
            if tool := p.get("tool"):
                found_tools.add(str(tool))
            if agent := p.get("agent"):
                found_agents.add(str(agent))
        found_agents.discard("")
        return cls(frozenset(found_agents), frozenset(found_tools))

    def require(self, kind: NameKind, name: str) -> None:
        """Raise :class:`UnknownNameError` unless ``name`` is a known ``kind`` name.

        The message lists the closest known names ("did you mean ...") and how to name a
        new one on purpose.
        """
        known = self.agents if kind == "agent" else self.tools
        if name in known:
            return
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listed = ", ".join(sorted(known)[:10]) or "none yet"
        raise UnknownNameError(
            f"no known {kind} is named {name!r}{hint} (known {kind}s: {listed}); "
            f"to name a {kind} not seen yet on purpose, pass --new-name "
            '(in the API: "new_name": true)'
        )
