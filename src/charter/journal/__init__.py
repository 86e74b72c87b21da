"""The journal: append-only, hash-chained records of everything every run did."""

from charter.journal._checkpoint import (
    Checkpoint,
    JournalSigner,
    JournalVerifier,
    checkpoint_message,
    load_or_create_signer,
    load_verifier,
)
from charter.journal._record import GENESIS_HASH, Record, canonical_json, record_hash
from charter.journal._store import Journal
from charter.journal._verify import Problem, VerifyReport, verify_chain

__all__ = [
    "GENESIS_HASH",
    "Checkpoint",
    "Journal",
    "JournalSigner",
    "JournalVerifier",
    "Problem",
    "Record",
    "VerifyReport",
    "canonical_json",
    "checkpoint_message",
    "load_or_create_signer",
    "load_verifier",
    "record_hash",
    "verify_chain",
]
