"""A process that dies between a governed write and its record: the write is in doubt,
and the agent resumed elsewhere cannot repeat it; a second process cannot take the run
while the first holds it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Runner

from charter import Journal
from charter.errors import RunOwnedError
from charter.integrations.openai_agents import govern, resume
from integrations.openai_agents.scripted_model import ScriptedModel
from integrations.openai_agents.shop import Shop, make_agent, make_charter

DIES = textwrap.dedent(
    """
    import asyncio, os, sys
    from agents import Runner
    from charter import Journal
    from charter.integrations.openai_agents import govern
    from integrations.openai_agents.scripted_model import ScriptedModel
    from integrations.openai_agents.shop import Shop, make_agent, make_charter

    class PaysThenDies(list):
        def append(self, item):
            super().append(item)
            with open(sys.argv[1], "a") as paid:  # the payment happened...
                paid.write(f"{item}\\n")
            os._exit(9)  # ...and the process died before charter heard of it

    shop = Shop(refunds=PaysThenDies())
    model = ScriptedModel([[("refund_order", {"order_id": 5, "amount": 9.0})], "done"])
    journal = Journal(os.environ["CHARTER_DATABASE_URL"])
    governed = govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g")
    print(governed.run_id, flush=True)
    asyncio.run(Runner.run(governed.agent, "refund 5"))
    """
)


def test_a_write_whose_process_died_is_in_doubt_and_not_repeated(
    journal: Journal, tmp_path: Path
) -> None:
    script = tmp_path / "dies.py"
    script.write_text(DIES)
    paid = tmp_path / "paid.txt"
    tests = str(Path(__file__).parents[2])
    env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([tests, *sys.path])}
    done = subprocess.run(
        [sys.executable, str(script), str(paid)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 9, done.stderr
    assert paid.read_text() == "(5, 9.0)\n"
    run_id = done.stdout.split()[0]

    shop = Shop()  # another process takes the run up and its agent proposes the same refund
    model = ScriptedModel([[("refund_order", {"order_id": 5, "amount": 9.0})], "not again"])
    agent = make_agent(shop, model)
    with resume(agent, journal=journal, charter=make_charter(), run_id=run_id) as governed:
        asyncio.run(Runner.run(governed.agent, "refund 5"))
        governed.finish("not again")
    assert shop.refunds == []
    assert "effect.in_doubt" in model.tool_outputs()["call-1-0"]
    effects = [r.payload for r in journal.records(run_id) if r.kind == "step.effect"]
    assert [(e["tool"], e["status"]) for e in effects] == [("refund_order", "in_doubt")]


def test_a_second_process_cannot_take_a_run_the_first_holds(journal: Journal) -> None:
    agent = make_agent(Shop(), ScriptedModel([]))
    with govern(agent, journal=journal, charter=make_charter(), goal="g") as first:
        with pytest.raises(RunOwnedError):
            resume(agent, journal=journal, charter=make_charter(), run_id=first.run_id)
        first.finish("done")
