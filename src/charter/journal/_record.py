"""Journal records and how each one is hashed into the chain."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from charter._json import JsonEncoder

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first record."""


_CANONICAL = JsonEncoder(sort_keys=True, separators=(",", ":"))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 kept.

    A lone surrogate (JSON such as ``"\\ud800"`` decodes to one, say in a model's tool
    call) is not text UTF-8 can hold: it becomes U+FFFD, as a UTF-8 decoder would make it,
    so the record can be hashed, stored and shown.
    """
    text = _CANONICAL.encode(value)
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def record_hash(
    seq: int, run_id: str, kind: str, ts: str, prev_hash: str, payload_json: str
) -> str:
    """SHA-256 over every stored field, so editing any of them breaks the chain."""
    material = "\x1f".join((str(seq), run_id, kind, ts, prev_hash, payload_json))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def chained_hash(seq: int, run_id: str, kind: str, ts: str, prev_hash: str, payload: bytes) -> str:
    """:func:`record_hash` of a payload already encoded to UTF-8 (``payload``): the same
    digest, without joining the payload's text into the material and encoding it again."""
    digest = _sha256(f"{seq}\x1f{run_id}\x1f{kind}\x1f{ts}\x1f{prev_hash}\x1f".encode())
    digest.update(payload)
    return digest.hexdigest()


_sha256 = hashlib.sha256


_second: tuple[int, str] = (-1, "")
"""The second :func:`utc_stamp` last formatted, and its text up to the seconds."""


def utc_stamp() -> str:
    """Now in UTC as ISO 8601, exactly as ``datetime.now(UTC).isoformat()`` writes it (no
    fraction at a whole second), for a fraction of its cost: the date and time up to the
    second are formatted once per second and kept."""
    global _second
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    known, text = _second
    if second != known:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (second, text)  # one tuple: a thread reading it sees a matching pair
    return f"{text}.{micro:06d}+00:00" if micro else f"{text}+00:00"


@dataclass(frozen=True, slots=True)
class Record:
    """One appended journal entry."""

    seq: int
    """Position in the journal, contiguous from 1."""
    run_id: str
    kind: str
    """What happened: ``run.started``, ``step.proposed``, ``step.decided``, ``step.effect``,
    ``step.observed``, ``run.finished``, ..."""
    ts: str
    """UTC timestamp, ISO 8601."""
    payload_json: str
    """Canonical JSON of the payload, exactly as hashed."""
    prev_hash: str
    hash: str

    @property
    def payload(self) -> dict[str, Any]:
        """The payload, decoded.

        Raises:
            charter.journal.DamagedRecordError: it is not a JSON object (see
                :func:`charter.journal.decode`, which also checks its kind's fields).
        """
        try:
            decoded: Any = json.loads(self.payload_json)
        except (ValueError, RecursionError):
            decoded = None
        if not isinstance(decoded, dict):
            from charter.journal._decode import decode

            decode(self)  # raises, naming the record and the fault
        payload: dict[str, Any] = decoded  # pyright: ignore[reportUnknownVariableType]
        return payload

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (for export and display). A payload that is not a
        JSON object is exported as it is stored, as ``payload_json``, with ``damaged``
        saying what is wrong, so an export loses nothing and its hash can be checked."""
        from charter.journal._decode import DamagedRecordError

        exported: dict[str, Any] = {
            "seq": self.seq,
            "run_id": self.run_id,
            "kind": self.kind,
            "ts": self.ts,
        }
        try:
            exported["payload"] = self.payload
        except DamagedRecordError as exc:
            exported |= {"payload": None, "payload_json": self.payload_json, "damaged": exc.detail}
        return exported | {"prev_hash": self.prev_hash, "hash": self.hash}
