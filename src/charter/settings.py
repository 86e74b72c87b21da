"""Where charter keeps its state, resolved from the environment.

``CHARTER_HOME`` (default ``./.charter``) holds the journal database and the demo world;
``CHARTER_DATABASE_URL`` points the journal at another database (any SQLAlchemy URL);
``CHARTER_SIGNING_KEY`` (default ``$CHARTER_HOME/keys/journal-ed25519.pem``) is the Ed25519
private key that signs journal checkpoints;
``CHARTER_MODEL_CACHE`` (default ``$XDG_CACHE_HOME/charter/models``) holds the joined
local model file.
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
