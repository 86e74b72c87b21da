"""Errors charter raises on bad input or an unavailable dependency.

Every error carries a one-line message that says what was wrong, where, and how to fix it;
the CLI prints exactly that line and exits non-zero.
"""

from __future__ import annotations


class CharterError(Exception):
    """Base class of every error charter raises deliberately."""


class ConfigError(CharterError):
    """An agent, charter or settings file is malformed (the message names file and field)."""


class UnknownToolError(CharterError):
    """A name refers to no tool in the inventory."""


class ReasonerUnavailableError(CharterError):
    """A reasoner cannot produce proposals: endpoint unreachable, model cache corrupt, ..."""


class JournalError(CharterError):
    """The journal store cannot be opened or written."""


class JournalContentionError(JournalError):
    """An append kept colliding with other writers until its bounded wait ran out; nothing
    of it was stored, and trying again later is safe."""


class RunNotFoundError(CharterError):
    """No run with the given id exists in the journal."""


class ApprovalError(CharterError):
    """An approval cannot be given, found or used (unknown id, not eligible, decided)."""


class ApprovalNotFoundError(ApprovalError):
    """No approval request has the given id."""


class ApprovalRefusedError(ApprovalError):
    """This person may not decide this request (not an approver at its level, or it is
    their own run's request and the charter forbids self-approval)."""


class RunStateError(CharterError):
    """A run cannot do what was asked in its current state (e.g. resume a finished run)."""


class AmbiguousIdError(CharterError):
    """A shortened run or request id is the prefix of more than one (the message lists
    them)."""


class RunOwnedError(RunStateError):
    """Another live process holds the run's lease: it drives the run until the lease ends."""


class LeaseLostError(RunStateError):
    """This process no longer holds the run's lease (another claimed it after it expired):
    nothing more was journaled or done for the run here."""
