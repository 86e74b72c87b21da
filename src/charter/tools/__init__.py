"""Tools, their contracts, and the inventory."""

from charter.tools._declared import declared_tool
from charter.tools._inventory import Inventory
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
    "SideEffect",
    "Tool",
    "ToolArgumentsError",
    "ToolContract",
    "Trust",
    "declared_tool",
    "tool",
]
