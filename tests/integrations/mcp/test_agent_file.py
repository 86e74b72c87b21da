"""The agent file's ``mcp:`` toolsets: bad entries are load errors naming what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from charter.agent import load_agent
from charter.errors import ConfigError


def test_a_toolset_without_mcp_or_openapi_needs_a_ref(tmp_path: Path) -> None:
    path = tmp_path / "a.agent.yaml"
    body: dict[str, Any] = {
        "name": "a",
        "toolsets": [{"options": {}}],
        "reasoner": {"kind": "rules", "steps": [{"respond": "x"}]},
        "charter": {"name": "c"},
    }
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match="ref"):
        load_agent(path)


def test_contracts_for_tools_the_server_does_not_offer_are_refused(write_agent: Any) -> None:
    with pytest.raises(ConfigError, match="does not offer: refund"):
        load_agent(write_agent(tools={"refund": {"side_effect": "write"}}))


def test_targets_must_be_arguments_of_the_tool(write_agent: Any) -> None:
    with pytest.raises(ConfigError, match=r"targets \['recipient'\] are not arguments"):
        load_agent(write_agent(tools={"send_email": {"targets": ["recipient"]}}))


def test_an_unknown_contract_field_is_refused(write_agent: Any) -> None:
    with pytest.raises(ConfigError, match="side_efect"):
        load_agent(write_agent(tools={"send_email": {"side_efect": "write"}}))


def test_without_the_extra_the_error_names_it(write_agent: Any) -> None:
    agent_file = write_agent()
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "from charter.agent import load_agent\n"
        "from charter.errors import ConfigError\n"
        f"try:\n    load_agent({str(agent_file)!r})\n"
        "except ConfigError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "pip install 'charter[mcp]'" in out
    assert len(out.strip().splitlines()) == 1
