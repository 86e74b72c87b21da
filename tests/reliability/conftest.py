"""Databases for the tamper matrix, and a real charter service for the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.journal import Journal, JournalSigner
from charter.server import ROLES, ServerLimits, TokenStore, create_app
from charter.server._service import agent_files
from databases import fresh_url
from reliability._support import AGENT, Service


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty journal database URL (PostgreSQL skipped without one)."""
    return fresh_url(request.param, tmp_path)


@pytest.fixture
def service_url(tmp_path: Path) -> str:
    """The service's journal database (a module may parametrize it over both backends)."""
    return f"sqlite:///{tmp_path / 'journal.db'}"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_url: str) -> Iterator[Service]:
    """The real app serving the ``payer`` agent, its journal signed, a token per role."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    ledger = tmp_path / "ledger.db"
    (tmp_path / "payer.agent.yaml").write_text(AGENT.format(ledger=ledger))
    journal = Journal(service_url, JournalSigner(Ed25519PrivateKey.generate()))
    store = TokenStore(journal)
    tokens = {role: store.create(role, role, actor="setup")[1] for role in ROLES}
    tokens["sam"] = store.create("sam", "operator", actor="setup")[1]
    # Properties here count one api.rejected record per refusal: no per-client summary.
    app = create_app(journal, agent_files([tmp_path]), limits=ServerLimits(refusal_burst=10**6))
    with TestClient(app) as client:
        yield Service(client, journal, tokens, ledger)
    journal.close()
