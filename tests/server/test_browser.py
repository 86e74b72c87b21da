"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright,
against a real uvicorn server over the test service's app and journal.

Screenshots go to ``$CHARTER_TEST_ARTIFACTS`` if set, else ``test-artifacts/`` at the
repository root.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WAIT_MS = 15_000
RUN_URL = re.compile(r"/runs/[0-9a-f]+$")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser tests drive Debian's Chromium at {CHROMIUM}: apt-get install chromium",
)

SignIn = Callable[[str], Page]


def _artifacts() -> Path:
    configured = os.environ.get("CHARTER_TEST_ARTIFACTS")
    root = Path(configured) if configured else Path(__file__).parents[2] / "test-artifacts"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=_artifacts() / f"dashboard-{name}.png", full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def base_url(service: Service) -> Iterator[str]:
    """A real uvicorn server on a free local port, serving the test service's app (whose
    lifespan the service's own client already runs)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        service.client.app,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    listener.close()


@pytest.fixture
def sign_in(browser: Browser, base_url: str, service: Service) -> Iterator[SignIn]:
    """Sign a fresh browser context in through the login form as ``who``; return its page."""
    contexts: list[BrowserContext] = []

    def open_as(who: str) -> Page:
        context = browser.new_context(base_url=base_url)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#token", service.tokens[who])
        page.click("form.stack button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        return page

    yield open_as
    for context in contexts:  # before the server stops: ends live event streams
        context.close()


def _start_run(page: Page, goal: str) -> str:
    page.goto("/")
    page.select_option("#start-run select[name=agent]", "refunder")
    page.fill("#start-run input[name=goal]", goal)
    page.click("#start-run button[type=submit]")
    page.wait_for_url(RUN_URL)
    return page.url.rsplit("/", 1)[1]


def _post_forms(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "form[method=post]", "forms => forms.map(f => f.getAttribute('action'))"
    )


def test_runs_are_watched_live_and_approved_in_the_inbox(sign_in: SignIn) -> None:
    sam = sign_in("sam")
    _start_run(sam, "refund 7 for 100")
    expect(sam.locator("#timeline .run-status")).to_have_text("completed")
    expect(sam.locator("#timeline .answer").first).to_contain_text("Refunded order 7.")
    _shot(sam, "run-completed")

    run_id = _start_run(sam, "refund 8 for 9000")
    expect(sam.locator("#timeline .run-status")).to_have_text("waiting")
    expect(sam.locator("#step-2")).to_contain_text("refunds over $50 need a manager")
    sam.evaluate("window.stillTheSamePage = true")
    _shot(sam, "run-waiting")

    approver = sign_in("approver")
    approver.goto("/approvals")
    request = approver.locator("article.request", has_text=run_id)
    expect(request).to_contain_text("refund_order")
    expect(request).to_contain_text("big-refunds")
    request.locator("form.approve input[name=reason]").fill("checked with the customer")
    _shot(approver, "approvals-pending")
    request.locator("form.approve button").click()
    expect(approver.locator(".flash.notice")).to_contain_text("approved; run")
    _shot(approver, "approvals-decided")

    # The operator's page follows the run to its end by itself: no reload.
    expect(sam.locator("#timeline .run-status")).to_have_text("completed")
    expect(sam.locator("#timeline ol.events")).to_contain_text("approved by approver")
    assert sam.evaluate("window.stillTheSamePage") is True
    expect(sam.locator("#cancel-run")).to_have_count(0)
    _shot(sam, "run-approved-live")


def test_a_revoked_tool_is_denied_at_the_next_run(sign_in: SignIn) -> None:
    sam = sign_in("sam")
    sam.goto("/tools")
    row = sam.locator("#tool-lookup_order")
    row.locator("form.revoke input[name=reason]").fill("data leak under investigation")
    row.locator("form.revoke button").click()
    expect(sam.locator(".flash.notice")).to_have_text("tool lookup_order revoked")
    expect(row).to_contain_text("data leak under investigation")
    _shot(sam, "tools-revoked")

    _start_run(sam, "refund 7 for 100")
    expect(sam.locator("#timeline .run-status")).not_to_have_text("running")
    first = sam.locator("#step-1")
    expect(first.locator(".badge.verdict-deny").first).to_have_text("deny")
    expect(first).to_contain_text("data leak under investigation")
    _shot(sam, "run-denied")

    sam.goto("/feed")
    expect(sam.locator("tr.violation").first).to_contain_text("lookup_order")
    _shot(sam, "feed")
    sam.goto("/")
    expect(sam.locator("table.runs tbody tr")).to_have_count(1)
    _shot(sam, "runs")
    sam.goto("/costs?measure=count")
    expect(sam.locator("svg.chart rect.bar")).not_to_have_count(0)
    _shot(sam, "costs")
    sam.goto("/audit")
    expect(sam.locator("h2")).to_contain_text("The journal is intact")
    _shot(sam, "audit")


def test_a_viewer_sees_no_actions_and_a_forged_post_is_refused(
    sign_in: SignIn, service: Service
) -> None:
    started = service.client.post(
        "/api/runs",
        json={"agent": "refunder", "goal": "refund 9 for 9000"},
        headers=service.auth("sam"),
    )
    run_id = started.json()["run_id"]
    viewer = sign_in("viewer")
    for url in ("/", "/approvals", "/tools", "/agents", f"/runs/{run_id}"):
        viewer.goto(url)
        assert _post_forms(viewer) == ["/logout"], url
    expect(viewer.locator("#timeline .run-status")).to_have_text("waiting")
    _shot(viewer, "viewer-run")

    sam = sign_in("sam")
    forged = sam.evaluate(
        """() => fetch('/runs', {method: 'POST',
                  body: new URLSearchParams({agent: 'refunder', goal: 'refund 1 for 1'})})
                 .then(r => r.status)"""
    )
    csrf = viewer.get_attribute("meta[name=csrf-token]", "content")
    as_viewer = viewer.evaluate(
        """(csrf) => fetch('/runs', {method: 'POST',
                  body: new URLSearchParams({csrf, agent: 'refunder', goal: 'refund 1 for 1'})})
                 .then(r => r.status)""",
        csrf,
    )

    assert (forged, as_viewer) == (403, 403)
    rejected = sorted(service.journal.records_of_kind("api.rejected"), key=lambda r: r.seq)
    assert [(r.payload["actor"], r.payload["reason"]) for r in rejected] == [
        ("sam", "missing or wrong CSRF token"),
        ("viewer", "role 'viewer' may not operate"),
    ]
    assert len(service.journal.records_of_kind("run.started")) == 1


def test_an_operator_demotes_and_promotes_an_agent_from_the_agents_page(sign_in: SignIn) -> None:
    sam = sign_in("sam")
    sam.goto("/agents")
    panel = sam.locator("#agent-refunder")
    expect(panel.locator("h2 [data-phase]")).to_have_text("autonomous")
    panel.locator("form.demote select[name=to]").select_option("shadow")
    panel.locator("form.demote input[name=reason]").fill("incident 9")
    panel.locator("form.demote button").click()
    expect(sam.locator(".flash.notice")).to_contain_text("demoted: autonomous → shadow")
    expect(panel.locator("h2 [data-phase]")).to_have_text("shadow")

    # The refunder's charter declares no gate: promotion needs no evidence.
    expect(panel).to_contain_text("No gates declared")
    panel.locator("form.promote input[name=reason]").fill("incident closed")
    panel.locator("form.promote button").click()
    expect(sam.locator(".flash.notice")).to_contain_text("promoted: shadow → supervised")
    _shot(sam, "agents-rollout")

    sam.locator("nav a", has_text="Evals").click()
    expect(sam.locator("nav a[aria-current=page]")).to_have_text("Evals")
    expect(sam.locator("p.empty")).to_contain_text("No evals recorded")


def test_rolling_back_needs_the_box_ticked_without_any_script(
    sign_in: SignIn, service: Service
) -> None:
    sam = sign_in("sam")
    _start_run(sam, "refund 7 for 100")
    expect(sam.locator("#timeline .run-status")).to_have_text("completed")
    form = sam.locator("#rollback-run")
    expect(form).to_contain_text("Undo its 1 completed write(s)")

    assert sam.eval_on_selector("#rollback-run", "form => form.checkValidity()") is False
    form.locator("button").click()  # the browser refuses: the box is required
    assert service.journal.records_of_kind("rollback.started") == []
    form.locator("input[name=confirm]").check()
    form.locator("button").click()
    expect(sam.locator(".flash")).to_contain_text("rollback incomplete")
    _shot(sam, "run-rolled-back")
    assert len(service.journal.records_of_kind("rollback.started")) == 1
