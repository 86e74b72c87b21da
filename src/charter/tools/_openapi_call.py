"""Calling one OpenAPI operation: the request built from validated arguments, the
credentials its security scheme asks for, and what comes back, with every secret
redacted before the journal or the reasoner can see it."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import quote, quote_plus, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    from charter.tools._http import GuardedClient


class Credential(BaseModel):
    """Where a secret comes from: an environment variable or a file (its stripped text).
    For HTTP basic auth the secret is ``user:password``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: str | None = None
    """A path, relative to the agent file."""

    @model_validator(mode="after")
    def _one_source(self) -> Credential:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


@dataclass(frozen=True, slots=True)
class Argument:
    """Where one tool argument goes in the request."""

    name: str
    """The tool's argument name."""
    location: Literal["path", "query", "header", "body"]
    wire: str
    """The parameter's name in the document."""


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one credential is sent."""

    kind: Literal["header", "query", "cookie", "bearer", "basic"]
    name: str
    """The header, query parameter or cookie name (apiKey schemes)."""
    credential: Credential


@dataclass(slots=True)
class Operation:
    """One operation, callable as a tool's function."""

    method: str
    path: str
    base_url: str
    arguments: tuple[Argument, ...]
    schemes: tuple[Scheme, ...]
    key_header: str | None
    client: GuardedClient
    base_dir: Path

    @property
    def what(self) -> str:
        """How messages name the call: method and path template, never a value."""
        return f"{self.method} {self.path}"

    def __call__(self, **kwargs: Any) -> Any:
        from charter.tools._http import HTTPCallError, excerpt

        secrets = [self._secret(s.credential) for s in self.schemes]
        # As a service may echo them: URL-encoded (a query) or JSON-escaped (a body).
        secrets += [f(v) for v in list(secrets) for f in _ENCODINGS if f(v) != v]
        try:
            url, headers, body, has_body = self._request(kwargs, secrets)
            keyed = self.key_header is not None and kwargs.get("idempotency_key") is not None
            response = self.client.send(
                self.method,
                url,
                headers=headers,
                json_body=body,
                has_body=has_body,
                retry=keyed or self.method in _RETRYABLE,
                what=self.what,
            )
        except (HTTPCallError, TimeoutError) as exc:
            raise type(exc)(redact(str(exc), secrets)) from None
        if not 200 <= response.status < 300:
            # Redacted before it is cut: a cut must not leave half a secret behind.
            text = redact(response.body.decode("utf-8", "replace"), secrets)
            shown = excerpt(text.encode())
            raise HTTPCallError(f"HTTP {response.status} from {self.what}: {shown}")
        return redact_value(_decode(response.body, response.status, response.headers), secrets)

    def preview(self, **kwargs: Any) -> str:
        """What a call would do, for an approver (no credential, nothing sent)."""
        host = urlsplit(self.base_url).netloc
        return f"{self.what} on {host}"

    def _secret(self, credential: Credential) -> str:
        from charter.tools._http import HTTPCallError

        if credential.env is not None:
            where = f"environment variable {credential.env}"
            value = os.environ.get(credential.env)
            if not value:
                raise HTTPCallError(f"{self.what}: credential {where} is not set")
        else:
            where = f"file {credential.file}"
            try:
                value = (self.base_dir / str(credential.file)).read_text().strip()
            except OSError as exc:
                raise HTTPCallError(
                    f"{self.what}: cannot read credential {where}: {exc.strerror}"
                ) from None
        if len(value) < MIN_SECRET_CHARS:
            # Redaction finds a secret by its value: a short one would be found everywhere.
            raise HTTPCallError(
                f"{self.what}: credential {where} is shorter than {MIN_SECRET_CHARS} "
                "characters; it could not be told apart from ordinary text to redact it"
            )
        return value

    def _request(
        self, kwargs: Mapping[str, Any], secrets: list[str]
    ) -> tuple[str, dict[str, str], Any, bool]:
        path, query, headers = self.path, list[tuple[str, str]](), dict[str, str]()
        body: Any = None
        has_body = False
        for arg in self.arguments:
            value = kwargs.get(arg.name)
            if value is None:
                continue
            if arg.location == "path":
                path = path.replace("{" + arg.wire + "}", quote(_text(value), safe=""))
            elif arg.location == "query":
                values = cast(list[Any], value) if isinstance(value, list) else [value]
                query.extend((arg.wire, _text(v)) for v in values)
            elif arg.location == "header":
                text = _text(value)
                if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
                    from charter.tools._http import HTTPCallError

                    raise HTTPCallError(
                        f"{self.what}: header {arg.wire} may not hold control characters"
                    )
                headers[arg.wire] = text
            else:
                body, has_body = value, True
        if self.key_header is not None and kwargs.get("idempotency_key") is not None:
            headers[self.key_header] = str(kwargs["idempotency_key"])
        cookies: list[str] = []
        for scheme, secret in zip(self.schemes, secrets[: len(self.schemes)], strict=True):
            if scheme.kind == "header":
                headers[scheme.name] = secret
            elif scheme.kind == "query":
                query.append((scheme.name, secret))
            elif scheme.kind == "cookie":
                cookies.append(f"{scheme.name}={secret}")
            elif scheme.kind == "bearer":
                headers["Authorization"] = f"Bearer {secret}"
            else:
                token = base64.b64encode(secret.encode()).decode()
                headers["Authorization"] = f"Basic {token}"
                secrets.append(token)
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        url = self.base_url.rstrip("/") + path
        if query:
            url += "?" + urlencode(query)
        return url, headers, body, has_body


MIN_SECRET_CHARS = 8
"""Credentials shorter than this are refused (see :meth:`Operation._secret`)."""
_RETRYABLE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda v: quote(v, safe=""),
    quote_plus,
    lambda v: json.dumps(v)[1:-1],
)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(body: bytes, status: int, headers: Any) -> Any:
    if not body:
        return {"status": status}
    content_type = str(headers.get("content-type", ""))
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``[redacted]``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def redact_value(value: Any, secrets: list[str]) -> Any:
    """A JSON value with every secret in its strings (keys too) redacted."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [redact_value(v, secrets) for v in cast(list[Any], value)]
    if isinstance(value, dict):
        return {
            redact(str(k), secrets): redact_value(v, secrets)
            for k, v in cast(dict[Any, Any], value).items()
        }
    return value
