"""An ADK task whose final answer charter holds for approval (``flows.answer: ask``).

ADK turns each model response into an event the caller reads at once, so an answer
finished only when the invocation ends has already been shown. Under a charter whose
``flows.answer`` asks, the plugin governs the model's final text as it arrives
(``after_model_callback``): the task's run is finished with it there, and a held answer
is replaced in the response, so the event carries a notice naming the approval request
(its ``custom_metadata`` names the request and the run) and never the answer; streamed
chunks carry no text (an answer shows in the response that ends the stream). Once the
request is decided, :func:`release_answer` finishes the run with the journaled answer,
in any process, the receipt re-checked against its digest.

Under ``flows.answer: redact`` or ``deny`` the final text is governed there too, and the
response carries the answer as the run kept it: its untrusted values masked, or the
notice that it was withheld (streamed chunks carry no text either).
"""

from __future__ import annotations

from google.adk.agents.callback_context import CallbackContext
from google.adk.models.llm_response import LlmResponse
from google.adk.sessions import Session
from google.genai import types

from charter.errors import RunStateError
from charter.governance import GovernedRun
from charter.integrations._answers import changed_answer, held_answer, held_notice, release
from charter.integrations.adk._plugin import REQUEST_KEY, RUN_KEY, CharterPlugin
from charter.runtime._run import Run


def hold(
    run: GovernedRun, context: CallbackContext, response: LlmResponse, text: str
) -> LlmResponse | None:
    """Finish ``run`` with the model's final ``text``; when the charter holds it, the
    response to emit instead (a notice naming the request), or when it redacted or
    withheld it, the response carrying that answer. None: the answer stands."""
    if run.run.status != "running":
        return None
    finished = run.finish(text)
    if context.state.get(RUN_KEY) != run.run_id:  # the session names the run to release
        context.state[RUN_KEY] = run.run_id
    request = finished.waiting_for if held_answer(finished) is not None else None
    changed = changed_answer(finished)
    if changed is not None:
        content = types.Content(role="model", parts=[types.Part(text=changed)])
        return response.model_copy(update={"content": content})
    if request is None:
        return None
    notice = types.Content(role="model", parts=[types.Part(text=held_notice(request))])
    metadata = {**(response.custom_metadata or {}), REQUEST_KEY: request, "run_id": run.run_id}
    return response.model_copy(update={"content": notice, "custom_metadata": metadata})


def unstreamed(response: LlmResponse) -> LlmResponse | None:
    """A streamed chunk without its text (None: it has none): the text of an answer is
    shown once the whole answer is governed, in the response that ends the stream."""
    parts = response.content.parts or [] if response.content is not None else []
    kept = [p for p in parts if p.text is None]
    if len(kept) == len(parts):
        return None
    return response.model_copy(update={"content": types.Content(role="model", parts=kept)})


def release_answer(plugin: CharterPlugin, session: Session) -> Run:
    """Release the answer the charter run of ``session``'s last task holds, now that its
    approval is decided: the run ends with the journaled answer when an approver released
    exactly it, otherwise with the message that it was withheld (``run.answer`` either
    way). The model is not asked again.

    Raises:
        RunStateError: the session names no charter run, the run finished, or its
            approval is still undecided.
        RunOwnedError: another live process holds the run.
    """
    run_id = str(session.state.get(RUN_KEY) or "")
    if not run_id:
        raise RunStateError(f"session {session.id} names no charter run ({RUN_KEY})")
    with GovernedRun.resume(plugin.journal, plugin.agent, run_id, actor=plugin.actor) as run:
        return release(run)
