"""``charter tokens`` and the refusals of ``charter serve``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal
from charter.server import TokenStore

cli = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    return tmp_path / "home"


def test_a_token_is_printed_once_and_works(home: Path) -> None:
    created = cli.invoke(app, ["tokens", "create", "dana", "--role", "approver", "--as", "root"])

    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    principal = TokenStore(journal).authenticate(secret)
    assert principal is not None and (principal.name, principal.role) == ("dana", "approver")
    listed = cli.invoke(app, ["tokens", "list"])
    assert "dana" in listed.output and secret not in listed.output


def test_revoking_a_token_stops_it(home: Path) -> None:
    cli.invoke(app, ["tokens", "create", "ci", "--role", "viewer"])
    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    (info,) = TokenStore(journal).tokens()

    revoked = cli.invoke(app, ["tokens", "revoke", info.token_id])
    again = cli.invoke(app, ["tokens", "revoke", info.token_id])

    assert revoked.exit_code == 0
    assert again.exit_code == 2 and "no live token" in again.output
    assert TokenStore(journal).tokens()[0].revoked_at is not None


def test_a_bad_role_or_name_is_refused_and_nothing_is_stored(home: Path) -> None:
    bad_role = cli.invoke(app, ["tokens", "create", "x", "--role", "root"])
    no_name = cli.invoke(app, ["tokens", "create", " ", "--role", "viewer"])

    assert bad_role.exit_code == 2 and "unknown role 'root'" in bad_role.output
    assert no_name.exit_code == 2 and "needs a name" in no_name.output
    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    assert TokenStore(journal).tokens() == []


def test_a_token_name_is_stored_normalised_and_a_second_spelling_is_refused(home: Path) -> None:
    created = cli.invoke(app, ["tokens", "create", " Sam ", "--role", "approver", "--as", "Root "])
    again = cli.invoke(app, ["tokens", "create", "SAM", "--role", "approver"])

    assert created.exit_code == 0, created.output
    assert again.exit_code == 2 and "already" in again.output
    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    (info,) = TokenStore(journal).tokens()
    assert (info.name, info.created_by) == ("sam", "root")
    assert [r.payload["name"] for r in journal.records_of_kind("token.created")] == ["sam"]


def test_an_as_that_names_nobody_is_refused(home: Path) -> None:
    result = cli.invoke(app, ["tokens", "create", "ci", "--role", "viewer", "--as", " \u200b"])

    assert result.exit_code == 2 and "names nobody" in result.output
    assert TokenStore(Journal(f"sqlite:///{home / 'journal.db'}")).tokens() == []


def test_serve_refuses_a_network_address_unless_told(home: Path) -> None:
    result = cli.invoke(app, ["serve", "--host", "0.0.0.0"])

    assert result.exit_code == 2 and "--allow-remote" in result.output


def test_serve_passes_its_limits_to_the_app(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[Any] = []

    def run(application: object, **_: object) -> None:
        served.append(application)

    monkeypatch.setattr(uvicorn, "run", run)

    result = cli.invoke(
        app, ["serve", "--max-body", "4096", "--max-streams", "2", "--stream-idle", "30"]
    )

    assert result.exit_code == 0, result.output
    limits = served[0].state.charter.limits
    assert (limits.max_body, limits.streams_per_token, limits.stream_idle_seconds) == (
        4096,
        2,
        30.0,
    )


@pytest.mark.parametrize(
    "option", [["--max-body", "0"], ["--max-streams", "0"], ["--stream-idle", "0"]]
)
def test_serve_refuses_a_limit_below_one(home: Path, option: list[str]) -> None:
    result = cli.invoke(app, ["serve", *option])

    assert result.exit_code == 2 and option[0] in result.output


def test_serve_refuses_a_missing_agents_path(home: Path, tmp_path: Path) -> None:
    result = cli.invoke(app, ["serve", "--agents", str(tmp_path / "nowhere")])

    assert result.exit_code == 2 and "no such agent file" in result.output


def test_the_published_openapi_spec_is_current() -> None:
    printed = cli.invoke(app, ["openapi"])

    assert printed.exit_code == 0
    published = Path(__file__).parents[2] / "docs" / "openapi.json"
    assert json.loads(printed.output) == json.loads(published.read_text()), (
        "docs/openapi.json is stale: run `charter openapi > docs/openapi.json`"
    )
