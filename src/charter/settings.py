"""Where charter keeps its state, resolved from the environment.

``CHARTER_HOME`` (default ``./.charter``) holds the journal database and the demo world;
``CHARTER_DATABASE_URL`` points the journal at another database (any SQLAlchemy URL);
``CHARTER_SIGNING_KEY`` (default ``$CHARTER_HOME/keys/journal-ed25519.pem``) is the Ed25519
private key that signs journal checkpoints;
``CHARTER_MODEL_CACHE`` (default ``$XDG_CACHE_HOME/charter/models``) holds the joined
local model file;
``CHARTER_LEASE_TTL`` (default 30) is how many seconds a run's lease outlives its owner's
last renewal.
"""

from __future__ import annotations

import os
from pathlib import Path


def charter_home() -> Path:
    """Directory for the default journal and demo world (created on demand)."""
    return Path(os.environ.get("CHARTER_HOME", ".charter"))


def database_url() -> str:
    """SQLAlchemy URL of the journal; a SQLite file under :func:`charter_home` by default."""
    url = os.environ.get("CHARTER_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{charter_home() / 'journal.db'}"


def signing_key_path() -> Path:
    """The Ed25519 private key (PEM) that signs journal checkpoints; created on first use."""
    explicit = os.environ.get("CHARTER_SIGNING_KEY")
    if explicit:
        return Path(explicit)
    return charter_home() / "keys" / "journal-ed25519.pem"


def model_cache_dir() -> Path:
    """Directory the embedded model file is joined into."""
    explicit = os.environ.get("CHARTER_MODEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "charter" / "models"


def lease_ttl() -> float:
    """Seconds a run's lease lasts unrenewed (``CHARTER_LEASE_TTL``, default 30).

    Raises:
        ConfigError: the value is not a positive number.
    """
    raw = os.environ.get("CHARTER_LEASE_TTL", "30")
    try:
        ttl = float(raw)
    except ValueError:
        ttl = 0.0
    if not ttl > 0 or ttl == float("inf"):
        from charter.errors import ConfigError

        raise ConfigError(f"CHARTER_LEASE_TTL={raw!r}: give a positive number of seconds")
    return ttl
