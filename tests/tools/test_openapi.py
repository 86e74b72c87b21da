"""OpenAPI tools against a real HTTP service (the example billing service on 127.0.0.1),
governed through the native runner: arguments, statuses, timeouts, redirects, sizes,
hosts, credentials and retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter import Journal, Runner
from charter.errors import ConfigError
from charter.policy import Charter
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.tools import Tool
from charter.tools._http import GuardedClient, HostPolicy, HTTPCallError, Limits
from charter.tools._openapi import OpenAPIToolset, openapi_tools
from charter.tools._openapi_call import Operation
from openapi_service import SPEC, Service, serve

API_KEY, TOKEN, BASIC = "test-api-key", "test-token", "ops:test-password"


@pytest.fixture(scope="module")
def running() -> Iterator[Service]:
    with serve() as service:
        yield service


@pytest.fixture
def service(running: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    running.reset()
    monkeypatch.setenv("BILLING_API_KEY", API_KEY)
    monkeypatch.setenv("BILLING_TOKEN", TOKEN)
    monkeypatch.setenv("BILLING_BASIC", BASIC)
    return running


def toolset(service: Service, **fields: Any) -> dict[str, Any]:
    """An openapi toolset over the example document, reaching ``service``."""
    return {
        "openapi": str(SPEC),
        "base_url": service.url,
        "hosts": [f"127.0.0.1:{service.port}"],
        "allow_private": True,
        "auth": {
            "apiKey": {"env": "BILLING_API_KEY"},
            "queryKey": {"env": "BILLING_API_KEY"},
            "bearerAuth": {"env": "BILLING_TOKEN"},
            "basicAuth": {"env": "BILLING_BASIC"},
        },
        "timeout_s": 5,
        "retries": 2,
    } | fields


def tools(service: Service, tmp_path: Path | None = None, **fields: Any) -> dict[str, Tool]:
    spec = OpenAPIToolset.model_validate(toolset(service, **fields))
    built = openapi_tools(spec, base_dir=tmp_path or Path("."), source="agent.yaml")
    return {t.name: t for t in built}


def run(
    tmp_path: Path, found: dict[str, Tool], *script: Any
) -> tuple[Any, Journal, list[dict[str, Any]]]:
    """Run ``script`` through the native runner; the run, its journal and its records."""
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    agent = make_agent(list(found.values()), ScriptedReasoner(script))
    done = Runner(journal).run(agent, "billing work")
    records = [{"kind": r.kind, **r.payload} for r in journal.records(done.run_id)]
    return done, journal, records


def effects(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == "step.effect"]


def test_a_governed_read_and_keyed_write_reach_the_service(
    tmp_path: Path, service: Service
) -> None:
    found = tools(service)
    done, journal, records = run(
        tmp_path,
        found,
        call("get_invoice", invoice_id=7),
        call("create_refund", body={"invoice_id": 7, "amount": 20, "reason": "damaged"}),
        respond("refunded"),
    )

    assert done.status == "completed"
    read, write = effects(records)
    assert read["status"] == "ok" and read["result"]["customer"] == "Ada"
    assert write["status"] == "ok" and write["result"]["amount"] == 20
    assert service.billing.refunds[0]["key"] == write["idempotency_key"]  # the runtime's key
    assert service.billing.hits == {"getInvoice": 1, "createRefund": 1}
    assert journal.verify().ok


def test_contracts_follow_the_method_and_yield_to_the_agent_file(service: Service) -> None:
    found = tools(
        service,
        contracts={"createRefund": {"side_effect": "external", "trust": "trusted"}},
    )

    assert found["get_invoice"].contract.side_effect == "read"
    assert found["get_invoice"].contract.trust == "untrusted"  # third-party text by default
    assert found["cancel_invoice"].contract.side_effect == "write"
    assert found["create_refund"].contract.side_effect == "external"
    assert found["create_refund"].contract.trust == "trusted"
    assert found["create_refund"].takes_key and not found["cancel_invoice"].takes_key


def test_the_reasoner_sees_a_typed_schema_without_credentials_or_key(service: Service) -> None:
    found = tools(service)
    schema = found["create_refund"].parameters_schema()
    invoice = found["get_invoice"].parameters_schema()

    assert list(schema["properties"]) == ["body"]  # no Idempotency-Key, no Authorization
    body = schema["properties"]["body"]
    assert body["properties"]["amount"] == {"type": "number", "exclusiveMinimum": 0}
    assert body["required"] == ["invoice_id", "amount"]
    assert invoice["required"] == ["invoice_id"]
    assert set(invoice["properties"]) == {"invoice_id", "x_request_id"}
    assert found["create_refund"].description == "Refund part or all of a paid invoice."


def test_invalid_arguments_are_refused_before_any_request(tmp_path: Path, service: Service) -> None:
    found = tools(service)
    done, _, records = run(
        tmp_path,
        found,
        call("create_refund", body={"invoice_id": 7, "amount": 0}),
        call("get_invoice", invoice_id="seven"),
        call("list_invoices", status="lost", surprise=1),
        respond("gave up"),
    )

    shown = [s.observation.content for s in done.steps[:3]]
    assert "body.amount: 0 is less than or equal to the minimum of 0" in shown[0]
    assert "invoice_id: 'seven' is not of type 'integer'" in shown[1]
    assert "'lost' is not one of" in shown[2] and "surprise" in shown[2]
    assert service.billing.hits == {}
    assert effects(records) == []


def test_numbers_written_as_text_are_read_as_numbers(service: Service) -> None:
    found = tools(service)["get_invoice"]

    assert found.invoke(found.validate_args({"invoice_id": "7"}))["id"] == 7


def test_a_server_error_is_a_tool_error_the_reasoner_sees(tmp_path: Path, service: Service) -> None:
    service.billing.fail["cancelInvoice"] = [500]
    done, _, records = run(
        tmp_path, tools(service), call("cancel_invoice", invoice_id=8), respond("it failed")
    )

    assert done.status == "completed"
    observation = done.steps[0].observation
    assert observation.status == "error"
    assert observation.content.startswith(
        "HTTPCallError: HTTP 500 from POST /invoices/{invoice_id}/cancel: upstream trouble (500)"
    )
    assert effects(records)[0]["status"] == "error"


def test_a_timed_out_write_is_in_doubt_and_not_retried(tmp_path: Path, service: Service) -> None:
    service.billing.delay_s["cancelInvoice"] = 1.0
    done, _, records = run(
        tmp_path,
        tools(service, timeout_s=0.3),
        call("cancel_invoice", invoice_id=8),
        call("cancel_invoice", invoice_id=8),
        respond("unsure"),
    )

    first = effects(records)[0]
    assert first["status"] == "timeout" and first["in_doubt"] is True
    assert "no response within 0.3s" in done.steps[0].observation.content
    # Nothing claims the write did not happen: the doubt stays open for a person ...
    assert not [r for r in records if r["kind"] == "effect.resolved"]
    # ... and a repeat on the same target is held back by the effect ledger.
    assert "effect.in_doubt" in done.steps[1].decision.rules
    assert service.billing.hits["cancelInvoice"] == 1


def test_a_timed_out_read_is_retried_then_reported(service: Service) -> None:
    service.billing.delay_s["getInvoice"] = 1.0
    found = tools(service, timeout_s=0.2, retries=1)["get_invoice"]

    with pytest.raises(TimeoutError, match=r"GET /invoices/\{invoice_id\}: no response"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits["getInvoice"] == 2


def test_get_is_retried_on_503_but_post_is_not(service: Service) -> None:
    found = tools(service)
    service.billing.fail = {"getInvoice": [503, 502], "cancelInvoice": [503]}

    invoice = found["get_invoice"].invoke(found["get_invoice"].validate_args({"invoice_id": 7}))
    with pytest.raises(Exception, match="HTTP 503"):
        found["cancel_invoice"].invoke(found["cancel_invoice"].validate_args({"invoice_id": 8}))

    assert invoice["id"] == 7
    assert service.billing.hits == {"getInvoice": 3, "cancelInvoice": 1}


def test_a_keyed_post_is_retried_under_the_same_key(service: Service) -> None:
    refund = tools(service)["create_refund"]
    service.billing.fail["createRefund"] = [503]

    made = refund.invoke(refund.validate_args({"body": {"invoice_id": 7, "amount": 5}}), "r:1:1")

    keys = [s["headers"]["idempotency-key"] for s in service.billing.seen]
    assert keys == ["r:1:1", "r:1:1"]
    assert made["key"] == "r:1:1" and len(service.billing.refunds) == 1


def test_retries_stop_at_the_configured_count(service: Service) -> None:
    service.billing.fail["getInvoice"] = [503] * 5
    found = tools(service, retries=1)["get_invoice"]

    with pytest.raises(Exception, match="HTTP 503"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits["getInvoice"] == 2


def test_credentials_are_sent_per_scheme(service: Service) -> None:
    found = tools(service)

    def invoke(name: str, **args: Any) -> Any:
        return found[name].invoke(found[name].validate_args(args), "k:1:1")

    assert invoke("get_invoice", invoice_id=7)["id"] == 7  # apiKey in a header
    assert invoke("list_invoices", status="open")[0]["id"] == 8  # apiKey in the query
    assert invoke("create_refund", body={"invoice_id": 7, "amount": 1})["id"] == 1  # bearer
    assert invoke("cancel_invoice", invoice_id=8)["status"] == "cancelled"  # basic
    seen = {s["operation"]: s for s in service.billing.seen}
    assert seen["getInvoice"]["headers"]["x-api-key"] == API_KEY
    assert "authorization" not in seen["getInvoice"]["headers"]
    assert seen["listInvoices"]["query"]["api_key"] == API_KEY
    assert seen["createRefund"]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert seen["cancelInvoice"]["headers"]["authorization"].startswith("Basic ")


def test_credentials_never_reach_the_journal_or_the_reasoner(
    tmp_path: Path, service: Service
) -> None:
    service.billing.echo = {"getInvoice", "listInvoices"}  # a service echoing credentials
    service.billing.fail["listInvoices"] = [500]
    done, journal, records = run(
        tmp_path,
        tools(service, retries=0),
        call("get_invoice", invoice_id=7),
        call("list_invoices"),
        call("cancel_invoice", invoice_id=8),
        respond("done"),
    )

    echoed = effects(records)[0]["result"]
    assert echoed["headers"]["x-api-key"] == "[redacted]"
    assert "[redacted]" in done.steps[1].observation.content  # the 500's excerpt
    stored = json.dumps(records) + json.dumps([r.payload for r in journal.records()])
    shown = json.dumps([s.observation.content for s in done.steps if s.observation])
    for secret in (API_KEY, TOKEN, BASIC, "b3BzOnRlc3QtcGFzc3dvcmQ="):
        assert secret not in stored and secret not in shown


def test_a_credential_can_come_from_a_file(tmp_path: Path, service: Service) -> None:
    (tmp_path / "billing.key").write_text(API_KEY + "\n")
    found = tools(
        service, tmp_path, operations=["getInvoice"], auth={"apiKey": {"file": "billing.key"}}
    )["get_invoice"]

    assert found.invoke(found.validate_args({"invoice_id": 7}))["id"] == 7


def test_a_missing_credential_is_named_without_a_value(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = tools(service)["get_invoice"]
    monkeypatch.delenv("BILLING_API_KEY")

    with pytest.raises(Exception, match="BILLING_API_KEY is not set"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits == {}


def test_a_redirect_on_the_allowed_host_is_followed(service: Service) -> None:
    service.billing.redirect["getInvoice"] = "/invoices/8"
    found = tools(service)["get_invoice"]

    assert found.invoke(found.validate_args({"invoice_id": 7}))["id"] == 8


def test_a_redirect_to_another_host_is_refused(service: Service) -> None:
    # localhost reaches the same server, but it is not the host the agent file allows.
    service.billing.redirect["getInvoice"] = f"http://localhost:{service.port}/invoices/8"
    found = tools(service)["get_invoice"]

    with pytest.raises(Exception, match=r"refused: host localhost:\d+ is not among"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits["getInvoice"] == 1


def test_an_oversized_response_is_cut_and_refused(service: Service) -> None:
    found = tools(service, max_response_bytes=10_000)["export_ledger"]

    with pytest.raises(Exception, match="response of 150000 bytes exceeds 10000"):
        found.invoke(found.validate_args({"lines": 10_000}))
    service.billing.stream = True  # no Content-Length: counted while read
    with pytest.raises(Exception, match="response exceeds 10000 bytes; cut and refused"):
        found.invoke(found.validate_args({"lines": 10_000}))
    assert len(found.invoke(found.validate_args({"lines": 10}))) == 150


def test_a_private_address_is_refused_without_the_flag(service: Service) -> None:
    found = tools(service, allow_private=False)["get_invoice"]

    with pytest.raises(Exception, match=r"resolves to private address 127\.0\.0\.1"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits == {}


def test_a_host_not_allowed_is_refused_at_load(service: Service) -> None:
    with pytest.raises(ConfigError, match=r"host 127\.0\.0\.1:\d+ is not allowed; add it"):
        tools(service, hosts=["billing.example.com"])


def test_path_arguments_cannot_leave_the_path(service: Service) -> None:
    found = tools(service)["get_invoice"]
    with pytest.raises(Exception, match="HTTP 404"):  # the schema bypassed on purpose
        found.fn(invoice_id="7/../../refunds")

    assert service.billing.seen == []  # 404 from the router: no operation reached


def test_the_charter_governs_operation_arguments(tmp_path: Path, service: Service) -> None:
    charter = Charter.model_validate(
        {
            "name": "billing",
            "rules": [
                {
                    "id": "big-refunds",
                    "effect": "ask",
                    "tools": ["create_refund"],
                    "when": "context.args.body.amount > 50",
                }
            ],
        }
    )
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    agent = make_agent(
        list(tools(service).values()),
        ScriptedReasoner([call("create_refund", body={"invoice_id": 7, "amount": 100})]),
        charter=charter,
    )

    done = Runner(journal).run(agent, "refund 100")

    assert done.status == "waiting"
    decision = done.steps[0].decision
    assert decision is not None and decision.rules == ("big-refunds",)
    assert service.billing.hits == {}


def test_header_arguments_cannot_inject_headers(service: Service) -> None:
    found = tools(service)["get_invoice"]
    hostile = found.validate_args({"invoice_id": 7, "x_request_id": "a\r\nX-API-Key: forged"})

    with pytest.raises(Exception, match="header X-Request-Id may not hold control characters"):
        found.invoke(hostile)
    assert service.billing.hits == {}


def test_a_secret_is_redacted_before_an_error_excerpt_is_cut(service: Service) -> None:
    found = tools(service, operations=["getInvoice"], auth={"apiKey": {"env": "BILLING_API_KEY"}})
    operation = found["get_invoice"].fn
    assert isinstance(operation, Operation)
    # The secret straddles the excerpt's end: cut first, its head would be left behind.
    echo = httpx.MockTransport(lambda r: httpx.Response(500, text="x" * 195 + API_KEY + "y" * 9))
    policy = HostPolicy(("127.0.0.1",), allow_private=True)
    operation.client = GuardedClient(policy, Limits(retries=0), transport=echo)

    with pytest.raises(HTTPCallError) as raised:
        found["get_invoice"].invoke(found["get_invoice"].validate_args({"invoice_id": 7}))

    assert str(raised.value).endswith("x" * 195 + "[reda…")


def test_a_credential_echoed_url_encoded_is_redacted(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.billing.api_key = 'k+y/z="q"'
    monkeypatch.setenv("BILLING_API_KEY", service.billing.api_key)
    service.billing.echo = {"listInvoices"}
    found = tools(service)["list_invoices"]

    echoed = found.invoke(found.validate_args({}))

    assert service.billing.seen[0]["query"]["api_key"] == 'k+y/z="q"'  # it was sent
    assert echoed["url"].endswith("?api_key=[redacted]")
    assert echoed["query"] == {"api_key": "[redacted]"}


def test_a_timed_out_keyed_refund_retried_under_its_key_happens_once(
    tmp_path: Path, service: Service
) -> None:
    service.billing.delay_s["createRefund"] = 1.0
    refund = {"invoice_id": 7, "amount": 30}
    landed: list[int] = []

    def retry_once_the_first_landed(context: Any) -> Any:
        service.billing.delay_s.clear()
        deadline = time.monotonic() + 5
        while not service.billing.refunds and time.monotonic() < deadline:
            time.sleep(0.02)  # the first request is still being served
        landed.append(len(service.billing.refunds))
        return call("create_refund", body=refund)

    done, _, records = run(
        tmp_path,
        tools(service, timeout_s=0.3, retries=0),
        call("create_refund", body=refund),
        retry_once_the_first_landed,
        respond("refunded"),
    )

    first, second = effects(records)
    assert landed == [1]  # the timed-out refund did happen, after the client gave up
    assert first["in_doubt"] is True
    assert second["status"] == "ok" and second["idempotency_key"] == first["idempotency_key"]
    assert [r["kind"] for r in records].count("effect.resolved") == 1  # happened, once
    assert len(service.billing.refunds) == 1 and service.billing.hits["createRefund"] == 2
    assert done.status == "completed"


def test_a_credential_too_short_to_redact_is_refused(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "t" would be redacted out of every word of every result ("amoun[redacted]").
    monkeypatch.setenv("BILLING_API_KEY", "t")
    found = tools(service)["get_invoice"]

    with pytest.raises(HTTPCallError, match="BILLING_API_KEY is shorter than 8 characters"):
        found.invoke(found.validate_args({"invoice_id": 7}))
    assert service.billing.hits == {}
