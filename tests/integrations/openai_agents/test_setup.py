"""What governing an SDK agent refuses up front, and importing without the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Agent, WebSearchTool, handoff

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.openai_agents import govern
from integrations.openai_agents.shop import Shop, make_agent, make_charter

BLOCKED = textwrap.dedent(
    """
    import sys

    class NoAgentsSdk:
        def find_spec(self, name, path=None, target=None):
            if name == "agents" or name.startswith("agents."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoAgentsSdk())
    import charter.integrations.openai_agents
    """
)


def test_importing_without_the_extra_says_which_extra_to_install_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: the OpenAI Agents integration needs its extra: "
        "pip install 'charter[openai-agents]'"
    )


def test_a_contract_for_a_tool_the_agent_lacks_is_refused() -> None:
    charter = make_charter(contracts={"lookup_order": {}, "issue_voucher": {}})
    with pytest.raises(ConfigError, match=r"contracts\.issue_voucher: .* no function tool"):
        govern(make_agent(Shop(), None), journal=Journal("sqlite://"), charter=charter, goal="g")


def test_a_compensation_for_a_tool_the_charter_does_not_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="compensate: 'wire_money'"):
        govern(
            make_agent(Shop(), None),
            journal=Journal("sqlite://"),
            charter=make_charter(),
            goal="g",
            compensate={"wire_money": print},
        )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": [WebSearchTool()]}, "WebSearchTool.*cannot be governed"),
        ({"handoffs": [handoff(Agent(name="billing"))]}, "built with handoff"),
        (
            {"tools": [Agent(name="billing", tools=[*Shop().tools()]).as_tool("ask_billing", "")]},
            "whose own tools would run ungoverned",
        ),
    ],
)
def test_a_tool_charter_cannot_govern_is_refused(extra: dict[str, object], message: str) -> None:
    agent = Agent(name="support", **extra)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        govern(agent, journal=Journal("sqlite://"), charter=make_charter(contracts={}), goal="g")


def test_an_agent_offered_as_a_tool_without_tools_of_its_own_is_governed_as_one_call() -> None:
    writer = Agent(name="writer", instructions="Write a reply.")
    agent = Agent(name="support", tools=[writer.as_tool("write_reply", "Drafts a reply.")])
    charter = make_charter(contracts={"write_reply": {}})
    with govern(agent, journal=Journal("sqlite://"), charter=charter, goal="g") as governed:
        assert [t.name for t in governed.agent.tools] == ["write_reply"]
        governed.finish("nothing to do")
