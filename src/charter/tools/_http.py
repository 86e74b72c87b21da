"""A guarded HTTP client: the only way an OpenAPI tool reaches the network.

Every request, and every redirect hop, goes to a host the agent file allows, to an
address that is public unless private ones are allowed explicitly; the name is resolved
once and the connection pinned to the address checked (a name that re-resolves to a
private address between the check and the connection is not followed). Responses are
read as a stream and cut at a size limit. Only calls whose repetition is harmless are
retried: idempotent methods, or any method carrying the call's idempotency key.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from charter.errors import ConfigError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods RFC 9110 defines as idempotent: retried on a lost connection or a 502/503/504."""

_RETRIED_STATUSES = frozenset({502, 503, 504})
_MAX_REDIRECTS = 5
_EXCERPT_CHARS = 200

Resolver = Callable[[str, int], list[str]]
"""Resolves a host name and port to its IP addresses (a test may pass its own)."""


class HTTPCallError(RuntimeError):
    """A call that did not succeed: a refused target, a non-2xx status, an oversized or
    unreadable response. Its message is what the reasoner sees: no credential, no query."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (``getaddrinfo``), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise HTTPCallError(f"cannot resolve host {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_private(address: str) -> bool:
    """Whether ``address`` is not a public internet address: loopback, RFC 1918, unique
    local (fc00::/7), link-local, shared, reserved, unspecified or multicast; an IPv6
    address mapping an IPv4 one is judged by the IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def host_allowed(host: str, port: int, allowed: tuple[str, ...]) -> bool:
    """Whether ``host:port`` matches an allowed entry: ``host`` (any port) or ``host:port``."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        name, _, entry_port = entry.lower().rpartition(":") if _has_port(entry) else (entry, "", "")
        name = name.strip("[]").rstrip(".").lower()
        if name == host and (not entry_port or int(entry_port) == port):
            return True
    return False


def _has_port(entry: str) -> bool:
    if entry.startswith("["):  # [v6]:port
        return "]:" in entry
    return entry.count(":") == 1


def default_port(scheme: str) -> int:
    """The port a URL of ``scheme`` means when it names none."""
    return 443 if scheme == "https" else 80


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Where requests may go."""

    hosts: tuple[str, ...]
    """Allowed ``host`` or ``host:port`` entries; nothing else is reached."""
    allow_private: bool = False
    """Allow private, loopback and link-local addresses (a service on this machine)."""
    resolver: Resolver = field(default=resolve)
    """How host names become addresses."""

    def check_url(self, url: str, where: str) -> None:
        """Refuse, at load time, a URL whose host is not allowed (a :class:`ConfigError`)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: {url!r} is not an http(s) URL")
        port = parts.port or default_port(parts.scheme)
        if not host_allowed(parts.hostname, port, self.hosts):
            raise ConfigError(
                f"{where}: host {parts.hostname}:{port} is not allowed; add it to hosts "
                f"(allowed: {', '.join(self.hosts) or 'none'})"
            )

    def target(self, url: str) -> tuple[str, str]:
        """The address to connect to for ``url`` (checked), and the URL's host name."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise HTTPCallError("refused: the target is not an http(s) URL")
        port = parts.port or default_port(parts.scheme)
        if not host_allowed(host, port, self.hosts):
            raise HTTPCallError(f"refused: host {host}:{port} is not among the allowed hosts")
        addresses = self.resolver(host, port)
        if not addresses:
            raise HTTPCallError(f"refused: host {host} resolves to no address")
        private = [a for a in addresses if is_private(a)]
        if private and not self.allow_private:
            raise HTTPCallError(
                f"refused: host {host} resolves to private address {private[0]} "
                "(set allow_private: true to reach it)"
            )
        return addresses[0], host


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a call may take, how much it may read, how often it is retried."""

    timeout_s: float = 10.0
    """Seconds for each of connecting, sending and each read, and for the whole response."""
    max_response_bytes: int = 1_000_000
    """Responses larger than this are cut off and refused."""
    retries: int = 2
    """Further attempts of a call that is safe to repeat (see the module docstring)."""
    backoff_s: float = 0.05
    """Wait before the first retry, doubled for each next one."""


@dataclass(frozen=True, slots=True)
class Response:
    """A completed response, read in full (within the size limit)."""

    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(slots=True)
class GuardedClient:
    """Sends requests under a :class:`HostPolicy` and :class:`Limits`."""

    policy: HostPolicy
    limits: Limits = field(default_factory=Limits)
    transport: httpx.BaseTransport | None = None
    """A transport for the underlying client (default: httpx's)."""
    _client: httpx.Client | None = None
    _opening: threading.Lock = field(default_factory=threading.Lock)

    def _http(self) -> httpx.Client:
        with self._opening:  # tools of one toolset share it, from the runner's threads
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.limits.timeout_s),
                    follow_redirects=False,  # each hop is checked here, see send()
                    trust_env=False,  # no proxy from the environment bypasses the host checks
                    transport=self.transport,
                )
            return self._client

    def close(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: object = None,
        has_body: bool = False,
        retry: bool,
        what: str,
    ) -> Response:
        """Send one call, retrying it only when ``retry`` says repeating it is harmless.

        Args:
            method: the HTTP method.
            url: the full URL, query included.
            headers: request headers (credentials included: never put in messages).
            json_body: the JSON body, sent when ``has_body``.
            has_body: whether a body is sent.
            retry: whether the call may be repeated (idempotent, or keyed).
            what: how messages name the call (``GET /invoices/{id}``), never the URL.

        Raises:
            HTTPCallError: refused target, too large, or too many redirects.
            TimeoutError: the call sent its request and timed out waiting: a write may
                have happened (the runtime holds it in doubt).
            httpx.TransportError: the connection failed every attempt.
        """
        attempts = 1 + (self.limits.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._follow(method, url, headers, json_body, has_body, what)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:  # nothing was sent: an error, never in doubt
                    raise HTTPCallError(f"{what}: cannot connect: {type(exc).__name__}") from exc
            except httpx.TimeoutException as exc:
                if last:
                    raise TimeoutError(
                        f"{what}: no response within {self.limits.timeout_s:g}s"
                    ) from exc
            except httpx.TransportError as exc:
                if last:
                    raise HTTPCallError(f"{what}: connection failed: {type(exc).__name__}") from exc
            else:
                if response.status not in _RETRIED_STATUSES or last:
                    return response
            time.sleep(self.limits.backoff_s * (2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        json_body: object,
        has_body: bool,
        what: str,
    ) -> Response:
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._once(method, url, headers, json_body, has_body, what)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or location is None:
                return response
            following = urljoin(url, location)
            if urlsplit(url).scheme == "https" and urlsplit(following).scheme != "https":
                raise HTTPCallError(f"{what}: redirect from https to plain http; refused")
            url = following
            if response.status == 303 or (
                response.status in (301, 302) and method not in ("GET", "HEAD")
            ):
                method, has_body, json_body = "GET", False, None
        raise HTTPCallError(f"{what}: more than {_MAX_REDIRECTS} redirects; refused")

    def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        json_body: object,
        has_body: bool,
        what: str,
    ) -> Response:
        address, host = self.policy.target(url)
        parts = urlsplit(url)
        netloc = f"[{address}]" if ":" in address else address
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        pinned = parts._replace(netloc=netloc).geturl()
        request_headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        deadline = time.monotonic() + self.limits.timeout_s
        client = self._http()
        request = client.build_request(
            method,
            pinned,
            headers=request_headers,
            json=json_body if has_body else None,
            extensions=extensions,
        )
        response = client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            limit = self.limits.max_response_bytes
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise HTTPCallError(
                    f"{what}: response of {declared} bytes exceeds {limit}; refused"
                )
            body = bytearray()
            for chunk in response.iter_bytes():  # decoded: a compressed bomb is cut too
                body += chunk
                if len(body) > limit:
                    raise HTTPCallError(f"{what}: response exceeds {limit} bytes; cut and refused")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole response took too long", request=request)
            return Response(response.status_code, response.headers, bytes(body))
        finally:
            response.close()


def excerpt(body: bytes) -> str:
    """A short, one-line excerpt of a response body, for an error the reasoner sees."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
