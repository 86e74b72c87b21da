"""The real server under a bounded load: uvicorn on a free local port, several client
threads firing 400 reads, 40 run starts and, for each run waiting on an approval, two
approvals racing each other.

Every response is a 2xx or one of the few 4xx a race explains; no 5xx. Every run ends,
the journal verifies, and each payment happened exactly once (counted by the tool's own
ledger, not by the journal). No timing is asserted.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from reliability._support import Service, paid

RUNS = 40
READS = 400
THREADS = 6
BIG = 9000
"""Cents: over the charter's threshold, so the payment waits for an approval."""
LISTS = [
    "/api/runs",
    "/api/runs?status=waiting",
    "/api/approvals",
    "/api/agents",
    "/api/tools",
    "/api/violations",
    "/api/costs",
    "/api/whoami",
    "/metrics",
]


@pytest.fixture
def base_url(service: Service) -> Iterator[str]:
    """uvicorn on a free local port, serving the service's app (whose lifespan the
    service's own client runs: it finishes runs in progress at teardown)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        service.client.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=5
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


@dataclass(frozen=True)
class Answer:
    what: str
    """Which kind of request (``start``, ``read /api/runs``, ``approve``...)."""
    status: int
    body: str


class Load:
    """Requests from a pool of threads, each with its own HTTP client; every answer kept."""

    def __init__(self, base_url: str, service: Service) -> None:
        self.base_url, self.service = base_url, service
        self.answers: list[Answer] = []
        self.started: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.base_url, timeout=60)
            self._local.client = client
        return client

    def request(self, what: str, method: str, path: str, role: str, body: object = None) -> Answer:
        response = self._client().request(method, path, headers=self.service.auth(role), json=body)
        answer = Answer(what, response.status_code, response.text)
        with self._lock:
            self.answers.append(answer)
            if what == "start" and response.status_code == 202:
                self.started.append(str(response.json()["run_id"]))
        return answer

    def start(self, order: int, cents: int) -> None:
        goal = f"pay {order} for {cents}"
        self.request("start", "POST", "/api/runs", "sam", {"agent": "payer", "goal": goal})

    def read(self, rng: random.Random) -> None:
        with self._lock:
            known = list(self.started)
        if known and rng.random() < 0.3:
            self.request("read a run", "GET", f"/api/runs/{rng.choice(known)}", "viewer")
        else:
            self.request("read a list", "GET", rng.choice(LISTS), "viewer")


def _statuses(service: Service, run_ids: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for run_id in run_ids:
        records = list(service.journal.records(run_id))
        kinds = [r.kind for r in records]
        if "run.finished" in kinds:
            found[str(records[kinds.index("run.finished")].payload["status"])] += 1
        elif kinds and kinds[-1] == "run.waiting":
            found["waiting"] += 1
        else:
            found["moving"] += 1
    return found


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_server_under_load_answers_every_request_and_pays_each_order_once(
    service: Service, base_url: str
) -> None:
    rng = random.Random(20260304)
    load = Load(base_url, service)
    orders = {1000 + n: (BIG if n % 2 else 100 + n) for n in range(RUNS)}
    jobs: list[Callable[[], None]] = [
        (lambda o=order, c=cents: load.start(o, c)) for order, cents in orders.items()
    ]
    jobs += [lambda: load.read(rng) for _ in range(READS)]
    rng.shuffle(jobs)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    assert len(load.started) == RUNS
    _until(
        lambda: _statuses(service, load.started) == Counter(completed=RUNS // 2, waiting=RUNS // 2),
        "the runs never all completed or waited",
    )

    # Two approvers race on every pending request: exactly one of them wins each.
    pending = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert len(pending) == RUNS // 2
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        races = [
            [
                pool.submit(
                    load.request,
                    "approve",
                    "POST",
                    f"/api/approvals/{request['request_id']}/approve",
                    who,
                    {"reason": "ok"},
                )
                for who in ("approver", "admin")
            ]
            for request in pending
        ]
        outcomes = [sorted(f.result().status for f in race) for race in races]
    _until(
        lambda: _statuses(service, load.started) == Counter(completed=RUNS),
        "the approved runs never completed",
    )

    assert outcomes == [[200, 409]] * len(pending), outcomes
    by_kind = Counter((a.what, a.status) for a in load.answers)
    unexpected = {k: n for k, n in by_kind.items() if not _expected(*k)}
    assert not unexpected, (unexpected, [a.body[:200] for a in load.answers if a.status >= 500])
    assert sum(n for (what, _), n in by_kind.items() if what.startswith("read")) == READS
    report = service.journal.verify()
    assert report.ok, report.problems
    assert report.signed_through == report.head_seq  # the last run's end was signed
    payments = Counter(order for order, _cents, _key in paid(service.ledger))
    assert payments == Counter(dict.fromkeys(orders, 1))  # every order paid, each once
    assert {order: cents for order, cents, _key in paid(service.ledger)} == orders


def _expected(what: str, status: int) -> bool:
    """The statuses each kind of request may get under this load."""
    if 200 <= status < 300:
        return True
    if what == "read a run":  # a run just accepted is journaled by its thread, soon
        return status == 404
    return what == "approve" and status == 409  # the loser of a race
