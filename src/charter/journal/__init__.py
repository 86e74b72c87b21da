"""The journal: append-only, hash-chained records of everything every run did."""

from charter.journal._record import GENESIS_HASH, Record, canonical_json, record_hash
from charter.journal._store import Journal
from charter.journal._verify import Problem, VerifyReport, verify_chain

__all__ = [
    "GENESIS_HASH",
    "Journal",
    "Problem",
    "Record",
    "VerifyReport",
    "canonical_json",
    "record_hash",
    "verify_chain",
]
