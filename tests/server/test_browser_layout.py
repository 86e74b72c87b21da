"""Every dashboard page in a real browser at desktop (1280 px) and phone (390 px) widths,
light and dark: axe-core finds no serious or critical accessibility violation, nothing is
wider than the viewport, the link into a run is reachable on a phone, the dark scheme
follows the system setting and keyboard focus is visible.

axe-core is the copy ``axe-playwright-python`` bundles, injected from the installed
package: nothing is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from charter import Charter, Runner, tool
from charter.evals import CaseResult, EvalResult, record_eval
from charter.testing import ScriptedReasoner, call, make_agent, respond
from server.test_browser import base_url as base_url  # the fixtures these tests use
from server.test_browser import browser as browser
from server.test_browser import sign_in as sign_in

if TYPE_CHECKING:
    from server._support import Service
    from server.test_browser import SignIn

axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
SERIOUS = ("serious", "critical")


@tool
def read_ticket(ticket_id: int) -> dict[str, Any]:
    """Read a ticket."""
    return {"ticket_id": ticket_id, "body": "a long body " * 40, "tags": ["a", "b"]}


@tool(side_effect="external")
def send_reply(to: str, body: str) -> str:
    """Send a reply."""
    return "sent"


@pytest.fixture
def runs(service: Service) -> Iterator[list[str]]:
    """A succeeded run, a denied one and one waiting for approval, in the service's journal."""
    rules = [
        {"id": "no-mail-out", "effect": "deny", "tools": ["send_reply"], "reason": "no mail"},
    ]
    charter = Charter.model_validate({"name": "desk", "rules": rules})
    runner = Runner(service.journal)
    made: list[str] = []
    try:
        for script, goal in [
            ([call("read_ticket", ticket_id=88), respond("answered")], "answer ticket 88"),
            (
                [
                    call("read_ticket", ticket_id=89),
                    call("send_reply", to="x@y.z", body="hi"),
                    respond("done"),
                ],
                "reply to ticket 89 with a very long goal " + "that goes on " * 12,
            ),
        ]:
            agent = make_agent(
                [read_ticket, send_reply], ScriptedReasoner(script), charter=charter, name="desk"
            )
            made.append(runner.run(agent, goal, actor="ana").run_id)
    finally:
        runner.close()
    started = service.client.post(
        "/api/runs",
        json={"agent": "refunder", "goal": "refund 9 for 9000"},
        headers=service.auth("sam"),
    )
    made.append(started.json()["run_id"])
    for eval_id, passed in (("e-1", True), ("e-2", False)):
        case = CaseResult(
            name="refund-case",
            scenario="refund",
            variant=None,
            passed=passed,
            attack_succeeded=None,
            status="completed",
            failures=() if passed else ("the refund was not made",),
        )
        result = EvalResult(
            eval_id=eval_id,
            suite="desk-suite",
            suite_digest="d" * 64,
            agent="desk",
            agent_version="1",
            version_id="1+abc",
            agent_source="desk.agent.yaml",
            reasoner="script",
            started="2026-12-07T10:00:00+00:00",
            seconds=1.0,
            cases=(case,),
        )
        record_eval(service.journal, result)
    yield made


def _pages(run_ids: list[str]) -> list[str]:
    return [
        "/",
        "/?q=ticket&status=completed",
        f"/runs/{run_ids[1]}",
        f"/runs/{run_ids[0]}",
        "/approvals",
        "/feed",
        "/costs",
        "/tools",
        "/agents",
        "/evals",
        "/evals-compare?a=e-1&b=e-2",
        "/audit",
        "/models",
        "/agents/desk/versions/1",
        "/agents/desk/versions/1?diff=x",
    ]


def _signed_in(sign_in: SignIn, width: str, scheme: str) -> Page:
    page = sign_in("sam")
    w, h = WIDTHS[width]
    page.set_viewport_size({"width": w, "height": h})
    page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
    return page


def _serious(page: Page) -> list[tuple[str, str, list[Any]]]:
    results = axe_module.Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def _wait_for_run(service: Service, run_id: str) -> None:
    import time

    from charter.views._runs import run_detail

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = run_detail(service.journal, run_id)
        if detail is not None and detail.summary.status == "waiting":
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never waited")


@pytest.mark.parametrize(
    ("width", "scheme"), [("desktop", "light"), ("phone", "light"), ("phone", "dark")]
)
def test_every_page_passes_axe_and_fits_the_viewport(
    sign_in: SignIn, service: Service, runs: list[str], width: str, scheme: str
) -> None:
    _wait_for_run(service, runs[2])
    page = _signed_in(sign_in, width, scheme)
    found: dict[str, Any] = {}
    for path in _pages(runs):
        page.goto(path)
        page.wait_for_load_state("domcontentloaded")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        problems = _serious(page)
        if overflow > 0 or problems:
            found[path] = {"overflow_px": overflow, "axe": problems}
    assert found == {}


def test_on_a_phone_the_run_link_is_reachable_and_opens_the_run(
    sign_in: SignIn, runs: list[str]
) -> None:
    page = _signed_in(sign_in, "phone", "light")
    page.goto("/?q=ticket")
    link = page.locator(f'tr[data-run-id="{runs[1]}"] a.run-link')
    expect(link).to_be_visible()
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    link.click()
    page.wait_for_url(re.compile(f"/runs/{runs[1]}$"))
    expect(page.locator("#run-glance [data-outcome]")).to_have_text("denied")


def test_the_dark_scheme_follows_the_system_setting(sign_in: SignIn, runs: list[str]) -> None:
    page = _signed_in(sign_in, "desktop", "light")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")

    def brightness(css: str) -> float:
        r, g, b = (int(n) for n in re.findall(r"\d+", css)[:3])
        return (r * 299 + g * 587 + b * 114) / 1000

    assert brightness(light) > 200 and brightness(dark) < 60


def test_keyboard_focus_is_visible(sign_in: SignIn, runs: list[str]) -> None:
    page = _signed_in(sign_in, "desktop", "light")
    page.goto("/")
    page.locator("#run-filters input[name=q]").focus()
    for _ in range(3):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            """() => { const s = getComputedStyle(document.activeElement);
                       return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
        )
        assert outline[0] != "none" and outline[1] >= 2, outline


def test_filters_typed_in_the_form_end_up_in_a_shareable_url(
    sign_in: SignIn, runs: list[str]
) -> None:
    page = _signed_in(sign_in, "desktop", "light")
    page.goto("/")
    page.fill("#run-filters input[name=q]", "ticket 89")
    page.locator("#run-filters details.more-filters > summary").click()
    page.select_option("#run-filters select[name=outcome]", "denied")
    page.locator("#run-filters button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"q=ticket\+89.*outcome=denied"))
    expect(page.locator("tr[data-run-id]")).to_have_count(1)
    shared = page.url
    other = _signed_in(sign_in, "phone", "dark")
    other.goto(shared)
    expect(other.locator(f'tr[data-run-id="{runs[1]}"]')).to_have_count(1)


def test_the_runs_list_refreshes_a_waiting_runs_status_without_a_reload(
    sign_in: SignIn, service: Service, runs: list[str]
) -> None:
    _wait_for_run(service, runs[2])
    page = _signed_in(sign_in, "desktop", "light")
    page.goto("/")
    row = page.locator(f'tr[data-run-id="{runs[2]}"]')
    expect(row).to_have_attribute("data-status", "waiting")
    expect(page.locator("#runs-list")).to_have_attribute("data-live", "yes")
    page.evaluate("window.stillTheSamePage = true")
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    approved = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve",
        json={"reason": "fine"},
        headers=service.auth("approver"),
    )
    assert approved.status_code == 200, approved.text
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator("[data-outcome]")).to_have_text("succeeded")
    expect(page.locator("#runs-list")).to_have_attribute("data-live", "no")
    assert page.evaluate("window.stillTheSamePage") is True
