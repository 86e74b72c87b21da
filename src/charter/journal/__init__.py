"""The journal: append-only, hash-chained records of everything every run did.

The public names are imported on first use, so a reader of the pure modules
(:mod:`charter.journal._decode`, :mod:`charter.journal._outcome`) or of a SQLite file
through the standard library (:mod:`charter.journal._file_reads`) loads neither
SQLAlchemy nor the signing keys' cryptography.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charter.journal._checkpoint import (
        Checkpoint,
        JournalSigner,
        JournalVerifier,
        checkpoint_message,
        load_or_create_signer,
        load_verifier,
    )
    from charter.journal._decode import DamagedRecordError, decode, decode_payload, read_record
    from charter.journal._record import GENESIS_HASH, Record, canonical_json, record_hash
    from charter.journal._store import Journal
    from charter.journal._verify import Problem, UnsignedRun, VerifyReport, verify_chain

_LAZY = {
    "GENESIS_HASH": "charter.journal._record",
    "Checkpoint": "charter.journal._checkpoint",
    "DamagedRecordError": "charter.journal._decode",
    "Journal": "charter.journal._store",
    "JournalSigner": "charter.journal._checkpoint",
    "JournalVerifier": "charter.journal._checkpoint",
    "Problem": "charter.journal._verify",
    "Record": "charter.journal._record",
    "UnsignedRun": "charter.journal._verify",
    "VerifyReport": "charter.journal._verify",
    "canonical_json": "charter.journal._record",
    "checkpoint_message": "charter.journal._checkpoint",
    "decode": "charter.journal._decode",
    "decode_payload": "charter.journal._decode",
    "load_or_create_signer": "charter.journal._checkpoint",
    "load_verifier": "charter.journal._checkpoint",
    "read_record": "charter.journal._decode",
    "record_hash": "charter.journal._record",
    "verify_chain": "charter.journal._verify",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'charter.journal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "GENESIS_HASH",
    "Checkpoint",
    "DamagedRecordError",
    "Journal",
    "JournalSigner",
    "JournalVerifier",
    "Problem",
    "Record",
    "UnsignedRun",
    "VerifyReport",
    "canonical_json",
    "checkpoint_message",
    "decode",
    "decode_payload",
    "load_or_create_signer",
    "load_verifier",
    "read_record",
    "record_hash",
    "verify_chain",
]
