"""Tools, their contracts, and the inventory."""

from charter.tools._inventory import Inventory
from charter.tools._preview import Preview, preview_call
from charter.tools._tool import (
    Confidentiality,
    SideEffect,
    Tool,
    ToolArgumentsError,
    ToolContract,
    Trust,
    tool,
)

__all__ = [
    "Confidentiality",
    "Inventory",
    "Preview",
    "SideEffect",
    "Tool",
    "ToolArgumentsError",
    "ToolContract",
    "Trust",
    "preview_call",
    "tool",
]
