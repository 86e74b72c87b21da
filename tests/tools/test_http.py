"""The guarded HTTP client: which hosts and addresses it reaches, and how it follows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from charter.errors import ConfigError
from charter.tools._http import (
    GuardedClient,
    HostPolicy,
    HTTPCallError,
    Limits,
    host_allowed,
    is_private,
)
from openapi_service import Service, serve

PUBLIC = "93.184.216.34"


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with serve() as running:
        yield running


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata, link-local
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "224.0.0.1",
    ],
)
def test_private_and_special_addresses_are_private(address: str) -> None:
    assert is_private(address)


@pytest.mark.parametrize("address", [PUBLIC, "172.32.0.1", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are_not_private(address: str) -> None:
    assert not is_private(address)


def test_hosts_match_by_name_and_optional_port() -> None:
    allowed = ("billing.example.com", "api.example.com:8443", "[::1]:80")

    assert host_allowed("Billing.Example.com.", 443, allowed)
    assert host_allowed("api.example.com", 8443, allowed)
    assert not host_allowed("api.example.com", 443, allowed)
    assert not host_allowed("evil.billing.example.com", 443, allowed)
    assert host_allowed("::1", 80, allowed)
    assert not host_allowed("::1", 81, allowed)


def test_a_url_off_the_allowed_hosts_is_a_config_error() -> None:
    policy = HostPolicy(("billing.example.com",))

    policy.check_url("https://billing.example.com/v1", "agent.yaml")
    with pytest.raises(ConfigError, match=r"host other\.example\.com:443 is not allowed"):
        policy.check_url("https://other.example.com/v1", "agent.yaml")
    with pytest.raises(ConfigError, match="is not an http"):
        policy.check_url("file:///etc/passwd", "agent.yaml")


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    policy = HostPolicy(("billing.example.com",), resolver=lambda h, p: [PUBLIC, "10.0.0.5"])

    with pytest.raises(HTTPCallError, match=r"resolves to private address 10\.0\.0\.5"):
        policy.target("https://billing.example.com/x")
    allowed = HostPolicy(("billing.example.com",), True, lambda h, p: ["10.0.0.5"])
    assert allowed.target("https://billing.example.com/x") == ("10.0.0.5", "billing.example.com")


def test_a_request_to_another_host_is_refused_before_it_is_sent(service: Service) -> None:
    service.reset()
    client = GuardedClient(HostPolicy(("127.0.0.1",), allow_private=True))

    with pytest.raises(HTTPCallError, match="host localhost"):
        client.send(
            "GET",
            f"http://localhost:{service.port}/invoices",
            headers={},
            retry=True,
            what="GET /invoices",
        )
    assert service.billing.hits == {}


def test_the_connection_goes_to_the_address_checked(service: Service) -> None:
    # The name exists only in this resolver: the request reaches the service because the
    # client connects to the address it checked, sending the name as Host.
    service.reset()
    policy = HostPolicy(("billing.internal",), True, lambda h, p: ["127.0.0.1"])
    client = GuardedClient(policy)

    response = client.send(
        "GET",
        f"http://billing.internal:{service.port}/invoices/7",
        headers={"X-API-Key": service.billing.api_key},
        retry=False,
        what="GET /invoices/{id}",
    )

    assert response.status == 200
    assert service.billing.seen[0]["headers"]["host"] == f"billing.internal:{service.port}"


def _mock(handler: httpx.MockTransport) -> GuardedClient:
    policy = HostPolicy(("api.example.com",), resolver=lambda h, p: [PUBLIC])
    return GuardedClient(policy, Limits(retries=0), transport=handler)


def test_a_redirect_from_https_to_http_is_refused() -> None:
    client = _mock(
        httpx.MockTransport(
            lambda r: httpx.Response(302, headers={"location": "http://api.example.com/x"})
        )
    )

    with pytest.raises(HTTPCallError, match="redirect from https to plain http"):
        client.send("GET", "https://api.example.com/", headers={}, retry=False, what="GET /")


def test_endless_redirects_stop() -> None:
    hops: list[str] = []

    def loop(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(307, headers={"location": "/again"})

    with pytest.raises(HTTPCallError, match="more than 5 redirects"):
        _mock(httpx.MockTransport(loop)).send(
            "POST", "https://api.example.com/", headers={}, retry=False, what="POST /"
        )
    assert len(hops) == 6


def test_a_303_turns_a_post_into_a_get_without_its_body() -> None:
    seen: list[tuple[str, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.content))
        if len(seen) == 1:
            return httpx.Response(303, headers={"location": "/done"})
        return httpx.Response(200, json={"ok": True})

    response = _mock(httpx.MockTransport(answer)).send(
        "POST",
        "https://api.example.com/",
        headers={},
        json_body={"a": 1},
        has_body=True,
        retry=False,
        what="POST /",
    )

    assert response.status == 200
    assert seen == [("POST", b'{"a":1}'), ("GET", b"")]
