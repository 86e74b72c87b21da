"""The HTTP service: a JSON API and a dashboard over the journal (``charter serve``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charter.server._app import create_app
    from charter.server._auth import PERMISSIONS, ROLES, Principal, TokenStore
    from charter.server._limits import ServerLimits

# Imported on first use: the CLI reads the journal through charter.views._runs, and
# a command that does not serve should not load FastAPI.
_LAZY = {
    "create_app": "charter.server._app",
    "PERMISSIONS": "charter.server._auth",
    "ROLES": "charter.server._auth",
    "Principal": "charter.server._auth",
    "TokenStore": "charter.server._auth",
    "ServerLimits": "charter.server._limits",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'charter.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["PERMISSIONS", "ROLES", "Principal", "ServerLimits", "TokenStore", "create_app"]
