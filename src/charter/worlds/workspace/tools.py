"""The workspace world's tools, built by :func:`toolset`
(``charter.worlds.workspace.tools:toolset`` in an agent file).

Contracts are declared as an integrator would: reads, writes to the organisation's own
systems, and external calls (sending mail, sharing files, inviting people, moving money,
booking); what third parties wrote is untrusted; the address book and profile are
personal data; each write or external call names the arguments that choose whom or what
it acts on (``targets``); a few can be undone (``compensate``). Tools enforce what the
systems enforce (an IBAN's shape, a file that exists), never company policy: that is the
charter's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from charter.errors import ConfigError
from charter.tools import Tool
from charter.worlds.workspace._drive import drive_tools
from charter.worlds.workspace._mail import mail_tools
from charter.worlds.workspace._money import money_tools
from charter.worlds.workspace.world import create_world


def toolset(options: Mapping[str, Any]) -> list[Tool]:
    """Tools over a workspace world.

    Args:
        options: ``world``: path of the world's SQLite file (required); created and seeded
            if missing.

    Raises:
        ConfigError: an option is unknown, or ``world`` is missing or not a path, or names
            a file that is not a workspace world.
    """
    unknown = sorted(set(options) - {"world"})
    if unknown:
        raise ConfigError(
            "charter.worlds.workspace.tools:toolset: unknown option(s) "
            f"{', '.join(unknown)}; known: world"
        )
    raw = options.get("world")
    if not isinstance(raw, str | Path) or not str(raw):
        raise ConfigError(
            "charter.worlds.workspace.tools:toolset: option world must be the path of the "
            f"world's SQLite file; got {raw!r}"
        )
    world = Path(raw).expanduser()
    try:
        create_world(world)
    except ValueError as exc:
        raise ConfigError(f"charter.worlds.workspace.tools:toolset: {exc}") from exc
    return build_tools(world)


def build_tools(world: Path) -> list[Tool]:
    """Every workspace tool bound to an existing world file."""
    return [*mail_tools(world), *drive_tools(world), *money_tools(world)]
