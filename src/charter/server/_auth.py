"""API tokens and roles.

A token is shown once, when it is created; the database keeps its SHA-256 only (a token
is 256 random bits, so a fast hash is enough: there is nothing to guess). Each token has a
name, the identity journaled as the actor of everything done with it, and one role:

* ``viewer``: reads runs, approvals, agents, tools, audit and metrics;
* ``operator``: a viewer who also starts, cancels and rolls back runs, revokes and
  restores tools and pauses agents (the kill switch);
* ``approver``: a viewer who also approves and denies requests;
* ``admin``: everything, including tokens.

Creating and revoking tokens is journaled (run id ``auth``), without the secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import Column, MetaData, String, Table, insert, select, update

from charter._identity import normalise_identity
from charter.errors import CharterError, ConfigError
from charter.journal import Journal
from charter.journal._kinds_platform import TokenCreated, TokenRevoked

Role = Literal["viewer", "operator", "approver", "admin"]
Permission = Literal["read", "operate", "approve", "admin"]

ROLES: tuple[Role, ...] = get_args(Role)
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "operate"}),
    "approver": frozenset({"read", "approve"}),
    "admin": frozenset({"read", "operate", "approve", "admin"}),
}

AUTH_RUN = "auth"
"""``run_id`` of token records in the journal."""
TOKEN_PREFIX = "chr_"

tokens_table = Table(
    "api_tokens",
    MetaData(),
    Column("token_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("revoked_at", String(40)),
)


class TokenError(CharterError):
    """No such token, or it cannot be changed as asked."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    token_id: str
    name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """Whether this principal's role grants ``permission``."""
        return permission in PERMISSIONS[self.role]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    token_id: str
    name: str
    role: Role
    created_at: str
    created_by: str
    revoked_at: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TokenStore:
    """API tokens in the journal's database."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def create(self, name: str, role: str, *, actor: str) -> tuple[TokenInfo, str]:
        """Create a token; return it with its secret (shown once, never stored).

        The name is stored normalised (:func:`~charter._identity.normalise_identity`):
        "Sam " is stored as "sam", the identity self-approval and approver lists compare.

        Raises:
            ConfigError: an empty name, one that normalises to another token's name, or
                an unknown role.
        """
        if not name.isprintable():
            raise ConfigError(f"token name {name!r} holds a control character; use plain text")
        given, name = name, normalise_identity(name)
        if not name:
            raise ConfigError("a token needs a name (the identity journaled as its actor)")
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        taken = next((t for t in self.tokens() if normalise_identity(t.name) == name), None)
        if taken is not None:
            raise ConfigError(
                f"token name {given!r} is the identity {name!r} of token {taken.token_id} "
                "already; one name is one person: pick another name"
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(secrets.token_hex(8), name, role, _now(), actor, None)
        with self.journal.engine.begin() as conn:
            conn.execute(
                insert(tokens_table).values(
                    token_id=info.token_id,
                    name=info.name,
                    role=info.role,
                    sha256=_digest(secret),
                    created_at=info.created_at,
                    created_by=actor,
                )
            )
        created = TokenCreated(token_id=info.token_id, name=name, role=role, actor=actor)
        self.journal.append([(AUTH_RUN, "token.created", created)])
        return info, secret

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a live token, or None for an unknown or revoked one."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        query = select(tokens_table).where(
            tokens_table.c.sha256 == _digest(secret), tokens_table.c.revoked_at.is_(None)
        )
        with self.journal.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Principal(row.token_id, row.name, row.role)

    def principal(self, token_id: str) -> Principal | None:
        """The principal of live token ``token_id`` (a dashboard session's), or None."""
        query = select(tokens_table).where(
            tokens_table.c.token_id == token_id, tokens_table.c.revoked_at.is_(None)
        )
        with self.journal.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Principal(row.token_id, row.name, row.role)

    def tokens(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        with self.journal.engine.connect() as conn:
            rows = conn.execute(select(tokens_table).order_by(tokens_table.c.created_at))
            return [
                TokenInfo(r.token_id, r.name, r.role, r.created_at, r.created_by, r.revoked_at)
                for r in rows
            ]

    def revoke(self, token_id: str, *, actor: str) -> None:
        """Revoke a token: requests with it are refused from now on.

        Raises:
            TokenError: no live token has that id.
        """
        with self.journal.engine.begin() as conn:
            done = conn.execute(
                update(tokens_table)
                .where(tokens_table.c.token_id == token_id)
                .where(tokens_table.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        if done.rowcount != 1:
            raise TokenError(f"no live token with id {token_id!r}; `charter tokens list`")
        revoked = TokenRevoked(token_id=token_id, actor=actor)
        self.journal.append([(AUTH_RUN, "token.revoked", revoked)])
