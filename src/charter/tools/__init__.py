"""Tools, their contracts, and the inventory."""

from charter.tools._contracts import ContractSpec, apply_contracts
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
    "ContractSpec",
    "Inventory",
    "Preview",
    "SideEffect",
    "Tool",
    "ToolArgumentsError",
    "ToolContract",
    "Trust",
    "apply_contracts",
    "preview_call",
    "tool",
]
