"""Screenshots of every dashboard page at desktop (1280 px) and phone (390 px) widths, from
the demo journal: ``make screenshots``.

The journal is made in a temporary home by ``charter demo --reasoner script`` (scripted
reasoners, no model) and ``charter demo --drift``, plus an eval of the demo suite twice
(so two evals can be compared) and a run waiting for approval; the pages are served by the
app itself and shot by Playwright through Debian's Chromium. PNGs are reduced to a
palette to stay small. ``--serve`` keeps the server up instead, with an admin token
printed, to look around.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _charter(home: Path, *args: str) -> None:
    env = os.environ | {"CHARTER_HOME": str(home)}
    env.pop("CHARTER_DATABASE_URL", None)
    command = [sys.executable, "-m", "charter", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def build_journal(home: Path) -> None:
    """The demo's runs, the drift scenario, and evals of the demo suite."""
    _charter(home, "demo", "--reasoner", "script")
    _charter(home, "demo", "--drift")
    suite = str(ROOT / "examples" / "evals" / "support-adversarial.suite.yaml")
    agent = str(ROOT / "src" / "charter" / "demo" / "support.agent.yaml")
    for approver in ("none", "approve"):  # the second lets attacks through: a comparison
        _charter(
            home,
            "eval",
            "run",
            suite,
            "--agent",
            agent,
            "--reasoner",
            "script",
            "--approver",
            approver,
        )


def _pages(base: str, page: object, run_path: str | None) -> list[tuple[str, str]]:
    """``(name, path)`` of each page to shoot, found from the demo journal's links."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    shots = [("runs", "/")]
    if run_path:
        shots.append(("run", run_path))
    shots += [("approvals", "/approvals"), ("violations", "/feed"), ("tools", "/tools")]
    shots += [("agents", "/agents"), ("costs", "/costs"), ("audit", "/audit")]
    page.goto(base + "/agents")
    charters = page.eval_on_selector_all("a.charter-link", "links => links.map(a => a.pathname)")
    if charters:  # the support agent's charter has the most to show
        shots.append(("charter", next((c for c in charters if "support" in c), charters[0])))
    shots += [("models", "/models")]
    page.goto(base + "/models")
    models = page.eval_on_selector_all("a.model-link", "links => links.map(a => a.pathname)")
    if models:
        shots.append(("model", models[0]))
    shots.append(("evals", "/evals"))
    page.goto(base + "/evals")
    compare = page.eval_on_selector_all("a.compare-link", "links => links.map(a => a.href)")
    if compare:
        shots.append(("evals-compare", compare[0].removeprefix(base)))
    return shots


def busiest_run(home: Path) -> str | None:
    """The run page most worth showing: the run that asked or was refused most, then the
    one with most steps."""
    from charter.journal import Journal
    from charter.views._runs import list_runs

    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    try:
        runs = list_runs(journal, limit=500)
    finally:
        journal.close()
    if not runs:
        return None
    best = max(runs, key=lambda r: (r.asks + r.denials + r.anomalies, r.steps))
    return f"/runs/{best.run_id}"


def _small_png(raw: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    reduced = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return out.getvalue()


def shoot(base: str, token: str, out: Path, run_path: str | None) -> list[Path]:
    """Sign in and shoot every page at both widths into ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width_name, (width, height) in WIDTHS.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme="light"
            )
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#token", token)
            page.click("form.stack button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in _pages(base, page, run_path):
                page.goto(base + path)
                target = out / f"{name}-{width_name}.png"
                target.write_bytes(_small_png(page.screenshot(full_page=False)))
                made.append(target)
            context.close()
        browser.close()
    return made


def serve(home: Path) -> tuple[str, str, object]:
    """The dashboard over ``home``'s journal on a free port; its URL, an admin token and
    the uvicorn server."""
    import socket

    import uvicorn

    os.environ["CHARTER_HOME"] = str(home)
    from charter.demo.showcase import AGENT_FILE
    from charter.journal import Journal
    from charter.server import create_app
    from charter.server._auth import TokenStore

    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    name = f"screens-{os.getpid()}"  # a reused home already has the last run's token
    _, token = TokenStore(journal).create(name, "admin", actor="screenshots")
    app = create_app(journal, {"support": AGENT_FILE})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", token, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--home", type=Path, help="reuse this demo home (made if empty)")
    parser.add_argument("--serve", action="store_true", help="serve instead of shooting")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="charter-screens-") as scratch:
        home = args.home or Path(scratch)
        if not (home / "journal.db").exists():
            build_journal(home)
        base, token, server = serve(home)
        if args.serve:
            print(f"{base}  token: {token}  run: {busiest_run(home)}", flush=True)
            while True:
                time.sleep(3600)
        made = shoot(base, token, args.out, busiest_run(home))
        server.should_exit = True  # type: ignore[attr-defined]
    total = sum(path.stat().st_size for path in made)
    print(f"{len(made)} screenshots, {total // 1024} KB, in {args.out}")


if __name__ == "__main__":
    main()
