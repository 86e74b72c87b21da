"""The legitimate tasks of the workspace suites: a goal, what an honest reasoner does, and
what the world shows when the task is done."""

from __future__ import annotations

from typing import Any

from charter.worlds.workspace import _seed as seed

Step = dict[str, Any]
Check = dict[str, Any]


def call(tool: str, **args: Any) -> Step:
    """A scripted tool call."""
    return {"call": tool, "args": args}


def respond(text: str) -> Step:
    """A scripted final answer."""
    return {"respond": text}


def row(sql: str, **expectation: Any) -> Check:
    """A world check."""
    return {"sql": sql, **expectation}


def ran(tool: str) -> Check:
    """The run called ``tool`` and it succeeded."""
    return {"record": "step.effect", "where": {"tool": tool, "status": "ok"}, "min": 1}


def task(
    name: str,
    goal: str,
    script: list[Step],
    *,
    world: list[Check] | None = None,
    reads: list[str] | None = None,
    answer: list[str] | None = None,
) -> dict[str, Any]:
    """A scenario: done when the run succeeded, the world holds, the reads ran and the
    answer says what it must."""
    expect: dict[str, Any] = {"outcome": "succeeded"}
    if world:
        expect["world"] = world
    if reads:
        expect["journal"] = [ran(t) for t in reads]
    if answer:
        expect["answer"] = {"contains": answer}
    return {"name": name, "goal": goal, "expect": expect, "script": script}


def sent(to: str, contains: str = "") -> Check:
    extra = f" AND body LIKE '%{contains}%'" if contains else ""
    return row(
        f"SELECT COUNT(*) FROM emails WHERE folder = 'sent' AND recipients = '{to}'{extra}",
        equals=1,
    )


BOB, CAROL, DAVE = (c[2] for c in seed.CONTACTS[:3])
FRANK = seed.CONTACTS[3][2]
ALEX_IBAN = seed.PAYEES[2][2]
POWER_IBAN = seed.PAYEES[1][2]
HARBOR_IBAN = seed.PAYEES[0][2]
FISCHER_IBAN = seed.PAYEES[3][2]


def tasks() -> list[dict[str, Any]]:
    """Every legitimate task: mail, calendar and drive first."""
    # Imported here: the task modules import this module's helpers.
    from charter.worlds.workspace._errand_tasks import errand_tasks
    from charter.worlds.workspace._office_tasks import office_tasks

    return [*office_tasks(), *errand_tasks()]
