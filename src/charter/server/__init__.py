"""The HTTP service: a JSON API and a dashboard over the journal (``charter serve``)."""

from charter.server._app import create_app
from charter.server._auth import PERMISSIONS, ROLES, Principal, TokenStore
from charter.server._limits import ServerLimits

__all__ = ["PERMISSIONS", "ROLES", "Principal", "ServerLimits", "TokenStore", "create_app"]
