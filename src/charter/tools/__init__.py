"""Tools, their contracts, and the inventory."""

from charter.tools._contracts import ContractSpec, apply_contracts
from charter.tools._declared import declared_tool
from charter.tools._inventory import Inventory
from charter.tools._openapi import OpenAPIToolset, openapi_tools
from charter.tools._preview import Preview, preview_call
from charter.tools._tool import (
    Confidentiality,
    SideEffect,
    Tool,
    ToolArgumentsError,
    ToolContract,
    ToolOutcomeUnknownError,
    ToolRefusal,
    Trust,
    tool,
)

__all__ = [
    "Confidentiality",
    "ContractSpec",
    "Inventory",
    "OpenAPIToolset",
    "Preview",
    "SideEffect",
    "Tool",
    "ToolArgumentsError",
    "ToolContract",
    "ToolOutcomeUnknownError",
    "ToolRefusal",
    "Trust",
    "apply_contracts",
    "declared_tool",
    "openapi_tools",
    "preview_call",
    "tool",
]
