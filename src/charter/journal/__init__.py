"""The journal: append-only, hash-chained records of everything every run did."""

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
