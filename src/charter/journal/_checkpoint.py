"""Signed checkpoints: the journal head, signed with a key the database does not hold.

The hash chain shows that a record was edited, deleted or reordered, but someone who can
write the database can also recompute every hash after their edit. A checkpoint closes that
gap: it is an Ed25519 signature over ``(seq, hash)`` of the head at some moment, made with a
private key kept outside the database. Anyone holding the public key can then tell whether
any record at or before a checkpointed seq was rewritten since it was signed.

The signed message is :func:`checkpoint_message`: the ASCII bytes
``charter-journal-checkpoint``, a unit separator (``0x1f``), the decimal seq, another unit
separator and the record's hex hash, e.g. ``b"charter-journal-checkpoint\\x1f42\\x1f9f86..."``.
The prefix keeps a checkpoint signature from being valid for anything else signed with the
same key. A checkpoint's ``key_id`` and ``ts`` are not signed: ``key_id`` only selects which
public key to verify with, ``ts`` is informational.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.errors import JournalError

CHECKPOINT_DOMAIN = b"charter-journal-checkpoint\x1f"
"""Prefix of every signed checkpoint message (domain separation)."""


def checkpoint_message(seq: int, hash: str) -> bytes:
    """The exact bytes a checkpoint signs for record ``seq`` whose chain hash is ``hash``."""
    return CHECKPOINT_DOMAIN + f"{seq}\x1f{hash}".encode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that record ``seq`` of the journal had chain hash ``hash``."""

    seq: int
    hash: str
    key_id: str
    """Which key signed it (see :func:`key_id_of`)."""
    signature: str
    """The Ed25519 signature over :func:`checkpoint_message`, hex-encoded."""
    ts: str
    """UTC time it was made, ISO 8601 (not signed)."""


class JournalVerifier:
    """An Ed25519 public key that checks checkpoint signatures.

    Args:
        public_key: the key whose private half signs the checkpoints.
    """

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        """Wrap ``public_key``."""
        self._public_key = public_key
        self.key_id = key_id_of(public_key)

    def __repr__(self) -> str:
        return f"JournalVerifier(key_id={self.key_id!r})"

    def verify(self, checkpoint: Checkpoint) -> bool:
        """True when ``checkpoint`` carries this key's id and a valid signature over its seq
        and hash."""
        if checkpoint.key_id != self.key_id:
            return False
        try:
            signature = bytes.fromhex(checkpoint.signature)
            self._public_key.verify(signature, checkpoint_message(checkpoint.seq, checkpoint.hash))
        except (ValueError, InvalidSignature):
            return False
        return True

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo), for auditors."""
        return _public_pem(self._public_key)

    def verify_message(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``message``."""
        try:
            self._public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class JournalSigner:
    """An Ed25519 private key that signs journal checkpoints.

    The private key is never part of ``repr`` or any message; only its ``key_id`` is shown.

    Args:
        private_key: the signing key; keep it off the database host in production.
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        """Wrap ``private_key``."""
        self._private_key = private_key
        self.verifier = JournalVerifier(private_key.public_key())
        """The matching public key."""
        self.key_id = self.verifier.key_id

    def __repr__(self) -> str:
        return f"JournalSigner(key_id={self.key_id!r})"

    def sign(self, seq: int, hash: str) -> bytes:
        """The raw 64-byte signature over :func:`checkpoint_message` of ``(seq, hash)``."""
        return self._private_key.sign(checkpoint_message(seq, hash))

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo), for auditors."""
        return self.verifier.public_pem()

    def sign_message(self, message: bytes) -> bytes:
        """Sign another journal artefact (an approval receipt); callers domain-separate it."""
        return self._private_key.sign(message)


def _reason(exc: BaseException) -> str:
    # cryptography's messages describe the format problem, never the key bytes.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _kind(key: object) -> str:
    return type(key).__name__.lstrip("_")


def _load_private(path: Path) -> JournalSigner:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(
            f"cannot read signing key {path}: {exc.strerror or exc}; make it readable by this "
            "user, or point CHARTER_SIGNING_KEY at another key"
        ) from exc
    fix = (
        "restore the key from backup, or move the file aside so a new key is created "
        "(checkpoints signed with the old key still verify with its public key)"
    )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise JournalError(
            f"signing key {path} is not an unencrypted PEM private key ({_reason(exc)}); {fix}"
        ) from None  # the chained exception could carry parsing detail about the key bytes
    if not isinstance(key, Ed25519PrivateKey):
        raise JournalError(f"signing key {path} holds a {_kind(key)}, not an Ed25519 key; {fix}")
    return JournalSigner(key)


def _write_public(path: Path, signer: JournalSigner) -> None:
    # The .pub beside the key is a convenience copy for auditors; the private key is the
    # truth, so a missing or stale copy is rewritten.
    pub = path.with_name(path.name + ".pub")
    pem = signer.public_pem()
    with contextlib.suppress(OSError):
        if pub.read_text(encoding="ascii") == pem:
            return
    pub.write_text(pem, encoding="ascii")


def load_or_create_signer(path: Path) -> JournalSigner:
    """Load the Ed25519 signing key at ``path``, creating it first if there is none.

    A new key is written as unencrypted PEM PKCS8 with mode 0600 (its directory, if created
    here, with mode 0700), and its public key as PEM to ``<path>.pub`` beside it. Two
    processes creating the key at once end up sharing the one that was written first.

    Args:
        path: where the private key lives (see :func:`charter.settings.signing_key_path`).

    Raises:
        JournalError: the file is unreadable, not a PEM private key, or not Ed25519, or the
            key cannot be created there.
    """
    if path.exists():
        signer = _load_private(path)
        with contextlib.suppress(OSError):  # a read-only key directory is fine for signing
            _write_public(path, signer)
        return signer
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.chmod(0o700)  # mkdir's mode is filtered through the umask
        key = Ed25519PrivateKey.generate()
        signer = JournalSigner(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written whole to a temporary file (mkstemp creates it with mode 0600), then linked
        # into place: the key never exists half-written or readable by others, and link()
        # refuses to replace a key another process created meanwhile.
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return load_or_create_signer(path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        _write_public(path, signer)
    except OSError as exc:
        raise JournalError(
            f"cannot create signing key {path}: {exc.strerror or exc}; make its directory "
            "writable, or point CHARTER_SIGNING_KEY at a writable location"
        ) from exc
    return signer


def load_verifier(path: Path) -> JournalVerifier:
    """Load an Ed25519 public key (PEM, as written to ``<key>.pub``) to verify checkpoints.

    Raises:
        JournalError: the file is unreadable, not a PEM public key, or not Ed25519.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read public key {path}: {exc.strerror or exc}") from exc
    hint = "pass the .pub file written beside the signing key (`charter audit public-key`)"
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise JournalError(
            f"public key {path} is not a PEM public key ({_reason(exc)}); {hint}"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise JournalError(f"public key {path} holds a {_kind(key)}, not an Ed25519 key; {hint}")
    return JournalVerifier(key)
