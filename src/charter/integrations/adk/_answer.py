"""An ADK task's final answer under ``flows.answer: ask``, ``redact`` or ``deny``.

ADK turns each model response into an event the caller reads at once, and only the end
of the agent's turn shows which response was final: a text-only response is the final
answer when nothing follows it in the agent's turn (``Event.is_final_response()`` of the
turn's last event), while text the model gives before a tool call in the same turn is
not. So the plugin holds back the text of a text-only response (its event carries none;
streamed chunks carry none either). A later response of the same turn releases it as
given, ahead of that response's own parts (:func:`withheld`); the end of the agent's turn
governs it as the answer (:func:`answered`, from ``after_agent_callback``): the task's
run is finished with it, and the event ADK makes of the content returned carries the
answer as the run kept it: released as given, its untrusted values masked, the notice
that it was withheld, or, for an answer held for approval, a notice naming the request
(the event's ``custom_metadata`` names the request and the run). Once the request is
decided, :func:`release_answer` finishes the run with the journaled answer, in any
process, the receipt re-checked against its digest.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.adk.agents.callback_context import CallbackContext
from google.adk.models.llm_response import LlmResponse
from google.adk.sessions import Session
from google.genai import types

from charter.errors import RunStateError
from charter.governance import GovernedRun
from charter.integrations._answers import changed_answer, held_answer, held_notice, release
from charter.integrations.adk._plugin import REQUEST_KEY, RUN_KEY, CharterPlugin
from charter.runtime._run import Run


@dataclass(slots=True)
class Held:
    """A text-only response held back until its agent's turn shows it final or not."""

    invocation: str
    agent: str
    parts: list[types.Part]
    """Its answer's text parts (thoughts aside, which were shown)."""


def withheld(
    plugin: CharterPlugin, context: CallbackContext, response: LlmResponse
) -> LlmResponse | None:
    """``response`` as its event may show it before the turn's final answer is known:
    a streamed chunk without text, a text-only response without its text (held), any
    other response with the text held before it in the same turn ahead of its parts."""
    parts = response.content.parts or [] if response.content is not None else []
    if response.partial:
        return unstreamed(response)
    session = context.session.id
    earlier: Held | None = plugin._pending.pop(session, None)  # pyright: ignore[reportPrivateUsage]
    if earlier is not None and (earlier.invocation, earlier.agent) != (
        context.invocation_id,
        context.agent_name,
    ):
        earlier = None
    texts = [p for p in parts if p.text and not p.thought]
    if any(p.function_call or p.executable_code or p.code_execution_result for p in parts):
        if earlier is None:  # ADK goes on with the turn: any text before this was no answer
            return None
        content = types.Content(role="model", parts=[*earlier.parts, *parts])
        return response.model_copy(update={"content": content})
    if not texts:  # thoughts alone: the held text may still end the turn
        if earlier is not None:
            plugin._pending[session] = earlier  # pyright: ignore[reportPrivateUsage]
        return None
    held = [*earlier.parts, *texts] if earlier is not None else texts
    plugin._pending[session] = Held(context.invocation_id, context.agent_name, held)  # pyright: ignore[reportPrivateUsage]
    plugin._answers[session] = "".join(p.text or "" for p in held)  # pyright: ignore[reportPrivateUsage]
    shown = [p for p in parts if not (p.text and not p.thought)]
    content = types.Content(role="model", parts=shown) if shown else None
    return response.model_copy(update={"content": content})


def answered(
    plugin: CharterPlugin, agent: str, context: CallbackContext, output_key: str | None = None
) -> types.Content | None:
    """The content of the event ending ``agent``'s turn when it ended with held text: the
    task's final answer, governed now (see the module); None when it holds none. The
    agent's ``output_key``, if it has one, is set in the session's state to the answer as
    the run kept it (ADK reads the agent's own events for it, which carry no text).

    The task's charter run takes one answer: text ending a later agent's turn in the same
    task (a workflow agent runs several), or a turn after charter stopped the run, is
    withheld, never shown ungoverned."""
    session = context.session.id
    held: Held | None = plugin._pending.get(session)  # pyright: ignore[reportPrivateUsage]
    if held is None or (held.invocation, held.agent) != (context.invocation_id, agent):
        return None
    del plugin._pending[session]  # pyright: ignore[reportPrivateUsage]
    run = plugin._governed(context)  # pyright: ignore[reportPrivateUsage]
    text = "".join(p.text or "" for p in held.parts)
    if run.run.status != "running":
        shown = _after_end(run.run)
    else:
        shown = _governed(plugin, context, run, text, held.parts)
    if output_key:
        context.state[output_key] = "".join(p.text or "" for p in shown.parts or ())
    return shown


def _governed(
    plugin: CharterPlugin,
    context: CallbackContext,
    run: GovernedRun,
    text: str,
    parts: list[types.Part],
) -> types.Content:
    """The task's run finished with ``text``: the content showing it as the run kept it."""
    session = context.session.id
    finished = run.finish(text)
    if context.state.get(RUN_KEY) != run.run_id:  # the session names the run to release
        context.state[RUN_KEY] = run.run_id
    changed = changed_answer(finished)
    if changed is not None:
        return types.Content(role="model", parts=[types.Part(text=changed)])
    if held_answer(finished) is None:
        return types.Content(role="model", parts=parts)
    request = str(finished.waiting_for)
    notice = types.Content(role="model", parts=[types.Part(text=held_notice(request))])
    metadata = {REQUEST_KEY: request, "run_id": run.run_id}
    plugin._notices[session] = (notice, metadata)  # pyright: ignore[reportPrivateUsage]
    return notice


def _after_end(run: Run) -> types.Content:
    """What is shown of text ending a turn once the task's run took its answer or stopped."""
    now = "ended with an earlier answer" if run.status == "completed" else f"is {run.status}"
    text = (
        f"[answer withheld: charter run {run.run_id} {now}, and it governs one final "
        "answer a task; let one agent of the task answer (the others write to state with "
        "tools), or run each agent as a task of its own]"
    )
    return types.Content(role="model", parts=[types.Part(text=text)])


def unstreamed(response: LlmResponse) -> LlmResponse | None:
    """A streamed chunk without its text (None: it has none): the text of an answer is
    shown once the whole answer is governed."""
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
