"""The inventory: which tools exist, who owns them, which are revoked."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from charter.errors import UnknownToolError
from charter.tools._tool import Tool


class Inventory:
    """Registry of tools by name. Revocation takes effect at the next lookup."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._revoked: set[str] = set()
        for item in tools:
            self.add(item)

    def add(self, item: Tool) -> None:
        """Register a tool; a second tool with the same name is an error."""
        if item.name in self._tools:
            raise ValueError(f"a tool named {item.name!r} is already in the inventory")
        self._tools[item.name] = item

    def get(self, name: str) -> Tool:
        """The tool called ``name``; raise :class:`UnknownToolError` with suggestions."""
        found = self._tools.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self._tools), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownToolError(f"unknown tool {name!r}{hint}; known tools: {known}")
        return found

    def find(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def revoke(self, name: str) -> None:
        """Withdraw a tool: any later proposal to call it is denied."""
        self.get(name)
        self._revoked.add(name)

    def restore(self, name: str) -> None:
        """Undo :meth:`revoke`."""
        self.get(name)
        self._revoked.discard(name)

    def is_revoked(self, name: str) -> bool:
        """Whether ``name`` has been revoked."""
        return name in self._revoked

    def names(self) -> list[str]:
        """Names of all registered tools, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)
