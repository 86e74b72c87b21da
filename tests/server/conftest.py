"""A real charter service over a SQLite journal, with an agent that refunds orders (big
refunds need approval) and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.journal import Journal, JournalSigner
from charter.server import ROLES, ServerLimits, TokenStore, create_app
from charter.server._service import agent_files
from server._support import AGENT, TOOLS_MODULE, Service


@pytest.fixture
def limits() -> ServerLimits:
    """The service's limits (a test module may override this fixture)."""
    return ServerLimits()


@pytest.fixture
def service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: ServerLimits
) -> Iterator[Service]:
    (tmp_path / "server_test_tools.py").write_text(
        TOOLS_MODULE + "\ntoolset = [refund_order, lookup_order]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "refunder.agent.yaml").write_text(AGENT)
    journal = Journal(
        f"sqlite:///{tmp_path / 'journal.db'}", JournalSigner(Ed25519PrivateKey.generate())
    )
    store = TokenStore(journal)
    tokens = {role: store.create(role, role, actor="setup")[1] for role in ROLES}
    tokens["sam"] = store.create("sam", "operator", actor="setup")[1]
    app = create_app(journal, agent_files([tmp_path]), limits=limits)
    with TestClient(app) as client:
        yield Service(client, journal, tokens)
    journal.close()
