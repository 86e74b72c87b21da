"""Compensations a charter names for tools its caller's code runs (a framework's tools):
``module:function`` references, so a rollback can undo a completed call of such a tool
in any process that can import the module (``charter runs rollback``), not only in the
process that governed the run.

.. code-block:: yaml

    contracts:
      refund_order: {side_effect: write, targets: [order_id]}
    compensations:
      refund_order: shop.tools:cancel_refund   # called with result= and the call's arguments

The reference is checked when the charter loads (its syntax, and that it names a tool of
``contracts:``); the module is imported only when a compensation is needed.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from charter.errors import ConfigError

REFERENCE = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)
"""``package.module:function`` (an attribute path after the colon is allowed)."""


def check_reference(reference: str) -> str:
    """``reference`` if it is ``module:function``; raise ValueError saying what is wrong."""
    if not REFERENCE.match(reference):
        raise ValueError(
            f"{reference[:120]!r} is not an importable reference: write module:function "
            "(e.g. shop.tools:cancel_refund)"
        )
    return reference


def import_compensation(reference: str, where: str) -> Callable[..., Any]:
    """The callable ``reference`` (``module:function``) names.

    Args:
        reference: the charter's ``compensations:`` value.
        where: the charter and field, for the error.

    Raises:
        ConfigError: the module does not import, has no such attribute, or it is not
            callable.
    """
    module_name, _, path = check_reference(reference).partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or the module's own failure while loading
        raise ConfigError(
            f"{where}: module {module_name!r} does not import ({type(exc).__name__}: {exc}); "
            "install it or put it on PYTHONPATH"
        ) from exc
    for part in path.split("."):
        if not hasattr(found, part):
            raise ConfigError(f"{where}: {module_name!r} has no {path!r}")
        found = getattr(found, part)
    if not callable(found):
        raise ConfigError(f"{where}: {reference!r} is not callable")
    return found
