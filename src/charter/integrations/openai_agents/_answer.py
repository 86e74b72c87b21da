"""An SDK run whose final output charter holds for approval (``flows.answer: ask``).

The SDK pauses a run only for tool approvals. A final answer the model gives (text or
structured output) is governed as the model gives it (:mod:`._model`); any other final
output (a tool's output ending the run) reaches the caller before charter sees it, and
:meth:`GovernedAgent.finish` is where it is governed. Given the SDK's result, a held
answer's ``final_output`` is replaced by a notice naming the approval request, and the
charter run returned says ``waiting`` (its ``waiting_for`` the request). Once the
request is decided, :func:`resume` and ``finish()`` without an answer release it, in any
process: the run is finished with the journaled answer, the receipt re-checked against
its digest; ``run.answer`` is the answer, or the message that it was withheld.

An answer the charter redacts (``flows.answer: redact``) or withholds (``deny``) is
changed at once the same way: the result's ``final_output`` is the answer as the run kept
it (a string). In both cases the result's last message item
(what ``to_input_list()`` carries into the next turn) shows the same text.
"""

from __future__ import annotations

from typing import Any

from agents.items import MessageOutputItem
from agents.result import RunResultBase
from openai.types.responses import ResponseOutputText

from charter.governance import GovernedRun
from charter.integrations._answers import changed_answer, held_answer, held_notice, release
from charter.runtime._run import Run


def finish(governed: GovernedRun, answer: Any, error: str | None) -> Run:
    """End ``governed`` with ``answer`` (a final output, or the SDK's result whose final
    output it is) or ``error``; a run that holds its answer, finished with no answer,
    releases the journaled one."""
    result = answer if isinstance(answer, RunResultBase) else None
    if result is not None:
        answer = result.final_output
    if answer is None and error is None and held_answer(governed.run) is not None:
        return release(governed)
    run = governed.finish(None if answer is None else str(answer), error=error)
    if result is not None and held_answer(run) is not None:
        _shown(result, held_notice(str(run.waiting_for)))  # the caller shows no answer
    elif result is not None and (changed := changed_answer(run)) is not None:
        _shown(result, changed)  # redacted or withheld: the caller shows what the run kept
    return run


def kept(run: Run) -> str | None:
    """What the caller is shown of the answer ``run`` just finished with, when it is not
    the answer proposed: a held answer's notice, or the answer redacted or withheld."""
    if held_answer(run) is not None:
        return held_notice(str(run.waiting_for))
    return changed_answer(run)


def _shown(result: RunResultBase, text: str) -> None:
    """Put ``text`` in place of ``result``'s final output and of the text of its last
    message item (the model's answer, as the next turn's input would carry it)."""
    result.final_output = text
    item = next((i for i in reversed(result.new_items) if isinstance(i, MessageOutputItem)), None)
    parts = [] if item is None else item.raw_item.content
    texts = [p for p in parts if isinstance(p, ResponseOutputText)]
    for n, part in enumerate(texts):
        part.text = text if n == 0 else ""
