"""Checks on the free-text inputs of the demo tools, with messages meant for a reasoner."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def require_text(name: str, value: str) -> None:
    """Refuse an empty or blank ``value`` for the argument ``name``."""
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


def email_address(value: str) -> str:
    """``value`` stripped, if it looks like ``name@example.com``; ValueError otherwise."""
    address = value.strip()
    if not _EMAIL.match(address):
        raise ValueError(f"{value!r} is not an email address like name@example.com")
    return address
