"""A small billing service that implements billing.yaml, for the OpenAPI example and tests.

Run it (then run the example agent in another shell, see billing.agent.yaml)::

    BILLING_API_KEY=demo-api-key BILLING_TOKEN=demo-token BILLING_BASIC=ops:demo-password \
        python examples/openapi/billing_server.py

Besides serving invoices and refunds it counts the requests each operation receives and
can be told to misbehave (answer with an error status, stall, redirect), which is how the
tests exercise the client that calls it.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route


@dataclass
class Billing:
    """The service's data, its credentials, and the misbehaviour it is told to show."""

    api_key: str = "test-api-key"
    token: str = "test-token"
    basic: str = "ops:test-password"
    invoices: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            7: {"id": 7, "customer": "Ada", "amount": 120.0, "status": "paid", "memo": ""},
            8: {"id": 8, "customer": "Grace", "amount": 40.0, "status": "open", "memo": ""},
        }
    )
    refunds: list[dict[str, Any]] = field(default_factory=lambda: [])
    hits: Counter[str] = field(default_factory=lambda: Counter[str]())
    """Requests received, by operationId."""
    seen: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Every request's operation, headers and query, in order."""
    fail: dict[str, list[int]] = field(default_factory=lambda: {})
    """Statuses to answer the next requests of an operation with, instead of serving it."""
    delay_s: dict[str, float] = field(default_factory=lambda: {})
    """Seconds to stall an operation before serving it."""
    redirect: dict[str, str] = field(default_factory=lambda: {})
    """A Location to redirect an operation's next request to."""
    echo: set[str] = field(default_factory=lambda: set[str]())
    """Operations that answer with the request's headers and query (credentials included),
    as a careless service might."""
    stream: bool = False
    """Send the ledger export in chunks, without a Content-Length."""


def create_app(billing: Billing) -> Starlette:
    """The ASGI app serving ``billing``."""

    async def gate(request: Request, operation: str) -> Response | None:
        billing.hits[operation] += 1
        seen = {
            "url": str(request.url),
            "query": dict(request.query_params),
            "headers": dict(request.headers),
        }
        billing.seen.append({"operation": operation} | seen)
        if billing.delay_s.get(operation):
            await request.body()  # read first: a stalled request still completes
            await asyncio.sleep(billing.delay_s[operation])
        pending = billing.fail.get(operation)
        if pending:
            status = pending.pop(0)
            echoed = f": {seen}" if operation in billing.echo else ""
            return PlainTextResponse(
                f"upstream trouble ({status}) serving {operation}{echoed}", status
            )
        if operation in billing.redirect:
            return RedirectResponse(billing.redirect.pop(operation), status_code=302)
        if operation in billing.echo:
            return JSONResponse(seen)
        return None

    def authorised(request: Request, scheme: str) -> bool:
        if scheme == "apiKey":
            return request.headers.get("x-api-key") == billing.api_key
        if scheme == "queryKey":
            return request.query_params.get("api_key") == billing.api_key
        if scheme == "bearer":
            return request.headers.get("authorization") == f"Bearer {billing.token}"
        expected = base64.b64encode(billing.basic.encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def denied() -> Response:
        return JSONResponse({"error": "missing or wrong credentials"}, 401)

    async def list_invoices(request: Request) -> Response:
        early = await gate(request, "listInvoices")
        if early is not None:
            return early
        if not authorised(request, "queryKey"):
            return denied()
        status = request.query_params.get("status")
        limit = int(request.query_params.get("limit", "100"))
        found = [i for i in billing.invoices.values() if status in (None, i["status"])]
        return JSONResponse(found[:limit])

    async def get_invoice(request: Request) -> Response:
        early = await gate(request, "getInvoice")
        if early is not None:
            return early
        if not authorised(request, "apiKey"):
            return denied()
        invoice = billing.invoices.get(int(request.path_params["invoice_id"]))
        if invoice is None:
            return JSONResponse({"error": "no such invoice"}, 404)
        return JSONResponse(invoice)

    async def cancel_invoice(request: Request) -> Response:
        early = await gate(request, "cancelInvoice")
        if early is not None:
            return early
        if not authorised(request, "basic"):
            return denied()
        invoice = billing.invoices.get(int(request.path_params["invoice_id"]))
        if invoice is None or invoice["status"] != "open":
            return JSONResponse({"error": "only an open invoice can be cancelled"}, 409)
        body = await request.json() if await request.body() else {}
        invoice |= {"status": "cancelled", "memo": body.get("note") or ""}
        return JSONResponse(invoice)

    async def create_refund(request: Request) -> Response:
        early = await gate(request, "createRefund")
        if early is not None:
            return early
        if not authorised(request, "bearer"):
            return denied()
        key = request.headers.get("idempotency-key")
        done = next((r for r in billing.refunds if key and r["key"] == key), None)
        if done is not None:  # a retry of a refund already made: the same refund, once
            return JSONResponse(done, 201)
        body = await request.json()
        invoice = billing.invoices.get(int(body["invoice_id"]))
        if invoice is None:
            return JSONResponse({"error": "no such invoice"}, 404)
        refunded = sum(r["amount"] for r in billing.refunds if r["invoice_id"] == invoice["id"])
        if body["amount"] > invoice["amount"] - refunded:
            return JSONResponse({"error": "more than remains refundable"}, 409)
        refund = {
            "id": len(billing.refunds) + 1,
            "invoice_id": invoice["id"],
            "amount": body["amount"],
            "reason": body.get("reason", ""),
            "key": key,
        }
        billing.refunds.append(refund)
        return JSONResponse(refund, 201)

    async def export_ledger(request: Request) -> Response:
        early = await gate(request, "exportLedger")
        if early is not None:
            return early
        if not authorised(request, "apiKey"):
            return denied()
        lines = int(request.query_params.get("lines", "10"))
        if billing.stream:
            entries = (f"entry {n:08d}\n".encode() for n in range(lines))
            return StreamingResponse(entries, media_type="text/plain")
        return PlainTextResponse("".join(f"entry {n:08d}\n" for n in range(lines)))

    async def document(request: Request) -> Response:
        return PlainTextResponse((Path(__file__).parent / "billing.yaml").read_text())

    return Starlette(
        routes=[
            Route("/openapi.yaml", document, methods=["GET"]),
            Route("/invoices", list_invoices, methods=["GET"]),
            Route("/invoices/{invoice_id:int}", get_invoice, methods=["GET"]),
            Route("/invoices/{invoice_id:int}/cancel", cancel_invoice, methods=["POST"]),
            Route("/refunds", create_refund, methods=["POST"]),
            Route("/reports/ledger", export_ledger, methods=["GET"]),
        ]
    )


def main() -> None:
    """Serve on 127.0.0.1:8750 with credentials from the environment."""
    import uvicorn

    billing = Billing(
        api_key=os.environ.get("BILLING_API_KEY", "test-api-key"),
        token=os.environ.get("BILLING_TOKEN", "test-token"),
        basic=os.environ.get("BILLING_BASIC", "ops:test-password"),
    )
    uvicorn.run(create_app(billing), host="127.0.0.1", port=8750)


if __name__ == "__main__":
    main()
