"""JSON text for the hot path: the encoder built once, not once per call.

``json.JSONEncoder.encode`` builds its C encoder, and the dictionary that detects circular
references, on every call; for the small payloads of a governed step that costs about as
much as encoding them. :class:`JsonEncoder` builds the same C encoder once, without that
dictionary, so it is reusable across calls and threads. Its text is the encoder's text
byte for byte; a circular value, which the markerless encoder meets as a RecursionError, is
handed to the checking encoder, which raises what it always did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


class JsonEncoder:
    """``json.JSONEncoder(ensure_ascii=False, default=str, ...).encode``, faster.

    Args:
        sort_keys: sort every object's keys.
        separators: ``(item separator, key separator)``.
        skipkeys: leave out object keys that are not str, int, float, bool or None
            (instead of raising TypeError).
    """

    def __init__(
        self,
        *,
        sort_keys: bool = False,
        separators: tuple[str, str] = (", ", ": "),
        skipkeys: bool = False,
    ) -> None:
        self._checked = json.JSONEncoder(
            sort_keys=sort_keys,
            separators=separators,
            skipkeys=skipkeys,
            ensure_ascii=False,
            default=str,
        )
        self._fast: Callable[[Any, int], Sequence[str]] | None = None
        make: Any = getattr(json.encoder, "c_make_encoder", None)
        if make is not None:
            item, key = separators
            try:
                self._fast = make(
                    None, str, json.encoder.encode_basestring, None, key, item, sort_keys,
                    skipkeys, True,
                )  # fmt: skip
            except TypeError:  # another signature in another Python: the checked path
                self._fast = None

    def encode(self, value: Any) -> str:
        """``value`` as JSON text (UTF-8 kept, unknown objects as ``str()``)."""
        if self._fast is None:
            return self._checked.encode(value)
        try:
            return "".join(self._fast(value, 0))
        except RecursionError:
            # A cycle, or nesting too deep: the checking encoder raises ValueError for a
            # cycle ("Circular reference detected") and RecursionError for depth, as ever.
            return self._checked.encode(value)
