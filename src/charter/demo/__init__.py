"""The demo world: a customer-operations company for agents to act on.

:mod:`charter.demo.world` creates and opens the world's SQLite file;
:mod:`charter.demo.tools` builds the tools an agent uses on it
(``charter.demo.tools:toolset`` in an agent file); :mod:`charter.demo.scenarios` holds the
attacks planted in it and the legitimate goals, each judged by what it left in the world.
"""

from charter.demo.world import (
    DEFAULT_WORLD_FILENAME,
    connect,
    create_world,
    default_world_path,
)

__all__ = ["DEFAULT_WORLD_FILENAME", "connect", "create_world", "default_world_path"]
