"""A framework run's final answer as ``flows.answer`` leaves it: held for approval
(``ask``), redacted (``redact``) or withheld (``deny``).

:meth:`~charter.governance.GovernedRun.finish` holds an answer that carries a link, an
address, a phone or an account number only untrusted text holds: the run waits on an
approval request of tool ``answer.release`` whose arguments are the answer. Each
integration keeps that answer from its framework's result until the request is decided;
these are the pieces they share: what a held answer is, the notice shown in its place,
and its release, which finishes the run again with exactly the journaled answer (the
receipt re-checked against its digest: kept when approved, withheld otherwise). An
answer the charter redacts or withholds at once is :func:`changed_answer`: each
integration puts it where the held answer's notice goes, so the caller sees what the run
kept, never the answer the model gave.
"""

from __future__ import annotations

from charter.errors import RunStateError
from charter.governance import GovernedRun
from charter.reasoners._base import FinalAnswer
from charter.runtime._run import Run


def held_answer(run: Run) -> str | None:
    """The answer ``run`` waits to release, as journaled; None when it holds none."""
    if run.status != "waiting" or run.waiting_for is None or not run.steps:
        return None
    action = run.steps[-1].action
    return action.text if isinstance(action, FinalAnswer) else None


def changed_answer(run: Run) -> str | None:
    """The answer ``run`` finished with when the charter changed the one proposed (its
    untrusted values redacted, or the notice that it was withheld); None when it kept the
    answer as proposed, or has not finished with one."""
    if run.status != "completed" or run.answer is None or not run.steps:
        return None
    action = run.steps[-1].action
    if not isinstance(action, FinalAnswer) or action.text == run.answer:
        return None
    return run.answer


def held_notice(request: str) -> str:
    """What a framework shows in place of an answer held on approval ``request``."""
    return (
        f"[answer held for approval {request}: it carries values found only in untrusted "
        f"text; `charter approvals approve {request}` releases it]"
    )


def release(governed: GovernedRun) -> Run:
    """Finish ``governed``, which holds its answer, now that the request is decided: with
    the journaled answer when an approver released exactly it (``answer.released``),
    otherwise with a notice that it was withheld (outcome ``denied``).

    Raises:
        RunStateError: the run holds no answer, or its request is still undecided.
    """
    text = held_answer(governed.run)
    if text is None:
        raise RunStateError(f"run {governed.run_id} holds no answer for approval")
    return governed.finish(text)
