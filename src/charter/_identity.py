"""Identities (token names, ``--as`` actors, charter approvers) in one comparable form.

Who started a run and who may approve it are compared by name; written exactly, "Sam",
"sam " and full-width "sam" would be three people, and each could approve sam's runs.
Every identity is normalised when it is made and again wherever two are compared.
"""

from __future__ import annotations

import unicodedata


def normalise_identity(name: str) -> str:
    """``name`` in the form identities are compared in: Unicode NFKC, case-folded,
    format characters (zero-width spaces, joiners) dropped, whitespace stripped and
    collapsed to single spaces. ``"  Sam\u00a0 Jones"`` and ``"sam jones"`` are equal."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())
