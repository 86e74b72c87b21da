"""The local reasoner: a small model embedded in the process, no network, no API key.

The model (Qwen2.5-Coder-1.5B-Instruct by default, see :mod:`charter.reasoners._model_file`)
runs in llama.cpp through ``xllamacpp``. Prompts use the model's own tool-calling format
(a ``<tools>`` block of function signatures in the system message, ``<tool_call>`` and
``<tool_response>`` turns), and decoding is constrained by a grammar to exactly one
``<tool_call>`` whose JSON is an ``anyOf`` over the agent's tools plus a ``respond``
function, so the model can only name a real tool with schema-shaped arguments or give a
final answer. (The server's native ``tools=`` parsing does not work with this model; the
grammar makes it unnecessary.)

A 1.5B model repeats itself under greedy decoding, so three measures keep runs moving,
each chosen by running the demo goals: after the latest result the goal and the calls made
so far are restated; a failed or repeated call is pointed out in its result; and a proposal
that exactly repeats an earlier call is sampled again (seeded, so still reproducible).

The system message depends only on the agent's instructions and the tools offered, so it
is byte-identical across the steps of a run and across runs, and llama.cpp's prompt cache
skips re-reading it. A run with a task scope that denies every call outside it
(:attr:`~charter.reasoners.RunContext.scope`) is offered only the tools in scope: the
others could only be denied, and each costs prompt tokens on every run and an alternative
in the grammar. Tools that only read come first, so runs whose scopes differ still share
the prompt up to the first tool that writes. Argument schemas are shown without the
titles Pydantic derives from the field names (the grammar still has them; they say
nothing the names do not). Each step's token counts and timings are logged at DEBUG on
this module's logger.

``xllamacpp.Server`` also opens an HTTP listener on 127.0.0.1. It is started with a random
API key that never leaves this module, so no other local process can use the model (or
see prompts) without going through charter.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from charter.errors import ReasonerUnavailableError
from charter.reasoners._base import Action, FinalAnswer, Proposal, RunContext, ToolCall, Usage
from charter.reasoners._model_file import DEFAULT, ModelSpec, ensure_model_file
from charter.reasoners._timings import StepTimings
from charter.tools import Tool

__all__ = [
    "UNPARSEABLE_PREFIX",
    "LocalReasoner",
    "LocalSpec",
    "StepTimings",
    "build_messages",
    "build_response_schema",
    "hoist_defs",
    "offered_tools",
    "parse_action",
    "respond_name",
    "system_prompt",
]

logger = logging.getLogger(__name__)

UNPARSEABLE_PREFIX = "(reasoner produced unparseable output)"
"""Start of the final answer given when the model's output is not the expected JSON."""

_INSTALL = "pip install --require-hashes -r requirements-llm.txt"
# The separators of the model's training format; without a fixed layout the model
# pretty-prints, which costs about twice the generated tokens (measured: 33 vs 17).
_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_RULES = (
    "Call one function per reply. Facts such as statuses, amounts and ids come only from "
    "function results, never from memory or guesses. When the goal is done, call {answer}."
)
_RESAMPLES = 2
"""Extra samples drawn when the model proposes a call it has already made."""


class LocalSpec(BaseModel):
    """YAML configuration of the embedded ``local`` reasoner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local"] = "local"
    n_ctx: int = Field(default=4096, ge=512)
    """Context window in tokens."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads; default: all cores."""
    max_tokens: int = Field(default=256, ge=16)
    """Longest proposal the model may write."""


_ANSWER_ARGS: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


def respond_name(tools: list[Tool]) -> str:
    """Name of the final-answer option: ``respond``, unless a tool already uses that name."""
    taken = {t.name for t in tools}
    name = "respond"
    while name in taken:
        name = "final_" + name
    return name


def build_response_schema(tools: list[Tool], answer: str | None = None) -> dict[str, Any]:
    """JSON schema the model's reply must match: one option per tool plus the answer option
    (named ``answer``, default :func:`respond_name` of ``tools``).

    Each tool's ``$defs`` (nested Pydantic models) are hoisted to the root, renamed
    ``<tool>__<Name>``, because a ``$ref`` inside an ``anyOf`` branch resolves from the root.
    """
    defs: dict[str, Any] = {}
    options = [
        _option(t.name, hoist_defs(t.parameters_schema(), f"{t.name}__", defs)) for t in tools
    ]
    options.append(_option(answer or respond_name(tools), _ANSWER_ARGS))
    schema: dict[str, Any] = {"anyOf": options}
    if defs:
        schema["$defs"] = defs
    return schema


def _option(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` moved into ``defs`` as ``<prefix><Name>``.

    For embedding a tool's argument schema inside a larger one: a ``$ref`` resolves from
    the root, so nested definitions must live there. ``schema`` loses its ``$defs``.
    """
    local: dict[str, Any] = schema.pop("$defs", {})

    def rename(node: Any) -> Any:
        obj = _as_dict(node)
        if obj is not None:
            out: dict[str, Any] = {}
            for key, value in obj.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                    out[key] = "#/$defs/" + prefix + value.removeprefix("#/$defs/")
                else:
                    out[key] = rename(value)
            return out
        if isinstance(node, list):
            return [rename(item) for item in cast(list[Any], node)]
        return node

    for name, sub in local.items():
        defs[prefix + name] = rename(sub)
    return rename(schema)


def system_prompt(instructions: str, tools: list[Tool], answer: str | None = None) -> str:
    """The system message: instructions, rules and the tools in the model's own format.

    Depends only on its arguments, so it is identical across steps and runs of one agent.
    ``answer`` names the final-answer option (default: :func:`respond_name` of ``tools``).
    """
    answer = answer or respond_name(tools)
    signatures = [
        _dumps_spaced(
            {
                "type": "function",
                "function": _function(t.name, t.description, t.parameters_schema()),
            }
        )
        for t in tools
    ]
    signatures.append(
        _dumps_spaced(
            {
                "type": "function",
                "function": _function(
                    answer,
                    "Give the final answer to the user once the goal is done, based only on "
                    "function results.",
                    _ANSWER_ARGS,
                ),
            }
        )
    )
    return "\n".join(
        [
            instructions.strip(),
            "",
            _RULES.format(answer=answer),
            "",
            "# Tools",
            "",
            "You may call one or more functions to assist with the user query.",
            "",
            "You are provided with function signatures within <tools></tools> XML tags:",
            "<tools>",
            *signatures,
            "</tools>",
            "",
            "For each function call, return a json object with function name and arguments "
            "within <tool_call></tool_call> XML tags:",
            "<tool_call>",
            '{"name": <function-name>, "arguments": <args-json-object>}',
            "</tool_call>",
        ]
    ).strip()


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": description, "parameters": _untitled(parameters)}


def _untitled(schema: Any, name: str | None = None) -> Any:
    """``schema`` without the titles Pydantic derives from property names ("Email Id" for
    ``email_id``): about a tenth of the workspace prompt, and no information."""
    obj = _as_dict(schema)
    if obj is None:
        if isinstance(schema, list):
            return [_untitled(item) for item in cast(list[Any], schema)]
        return schema
    out: dict[str, Any] = {}
    for key, value in obj.items():
        derived = name is not None and value == name.replace("_", " ").title()
        if key == "title" and derived:
            continue
        if key == "properties" and _as_dict(value) is not None:
            props = cast(dict[str, Any], value)
            out[key] = {k: _untitled(v, k) for k, v in props.items()}
        else:
            out[key] = _untitled(value)
    return out


def offered_tools(context: RunContext) -> list[Tool]:
    """The tools the model is shown and may name: all of the agent's, or with a task scope
    that denies the rest (:attr:`RunContext.scope`) those in scope, reads first (their
    part of the prompt is then the same in every run, whatever the scope adds)."""
    tools = context.offered_tools()
    if context.scope is None:
        return tools
    return sorted(tools, key=lambda t: t.contract.side_effect != "read")


def _as_dict(value: object) -> dict[str, Any] | None:
    # JSON objects from json.loads and Pydantic schemas: string keys, values of any type.
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def build_messages(context: RunContext) -> list[dict[str, str]]:
    """Chat messages for one step: system, the goal, then each past call and its result.

    The system message lists :func:`offered_tools`, and the final-answer option is named
    after all the agent's tools, so a hidden tool can never take its name.
    """
    messages = [
        {
            "role": "system",
            "content": system_prompt(
                context.instructions, offered_tools(context), respond_name(context.tools)
            ),
        },
        {"role": "user", "content": context.goal},
    ]
    answer = respond_name(context.tools)
    made: set[str] = set()
    for index, turn in enumerate(context.turns):
        call = {"name": turn.call.tool, "arguments": turn.call.args}
        text = f"<tool_response>\n{turn.observation.render()}\n</tool_response>"
        key = _call_key(turn.call.tool, turn.call.args)
        if key in made:
            text += "\nYou already made this exact call before. Do not repeat it."
        made.add(key)
        if turn.observation.status != "ok":
            text += (
                "\nThat call failed. Fix the arguments using the facts above, try another "
                f"function, or call {answer}."
            )
        if index == len(context.turns) - 1:
            progress = "; ".join(f"{t.call.tool} ({t.observation.status})" for t in context.turns)
            text += (
                f"\nCalls so far: {progress}.\nGoal: {context.goal}\nIf these calls have "
                f"achieved the goal, call {answer} now with the answer; "
                "otherwise call the next function."
            )
        messages.append(
            {"role": "assistant", "content": f"<tool_call>\n{_dumps_spaced(call)}\n</tool_call>"}
        )
        messages.append({"role": "user", "content": text})
    return messages


def _call_key(tool: str, args: dict[str, Any]) -> str:
    return json.dumps([tool, args], sort_keys=True, default=str)


def _dumps_spaced(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_action(text: str, answer_name: str = "respond") -> Action:
    """Turn the model's reply into an action.

    A reply naming ``answer_name`` with a string ``text`` is a :class:`FinalAnswer`; any
    other name becomes a :class:`ToolCall`, even an unknown tool, which the runtime turns
    into an observation the model can learn from. Text that is not a JSON object with a
    string ``name`` (say, output cut off at ``max_tokens``) becomes a final answer starting
    with :data:`UNPARSEABLE_PREFIX`, so the run ends visibly instead of failing.
    """
    body = text.strip().removeprefix("<tool_call>").removesuffix("</tool_call>").strip()
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    reply = _as_dict(data) or {}
    name = reply.get("name")
    if not isinstance(name, str):
        snippet = text if len(text) <= 300 else text[:300] + "..."
        return FinalAnswer(f"{UNPARSEABLE_PREFIX}: {snippet}")
    raw_args = reply.get("arguments")
    args = _as_dict(raw_args) or {}
    if name == answer_name and isinstance(args.get("text"), str):
        return FinalAnswer(args["text"])
    return ToolCall(name, args)


@dataclass(frozen=True, slots=True)
class _EngineConfig:
    model_path: Path
    n_ctx: int
    threads: int


class _Engine:
    """The shared llama.cpp server; the only place that touches untyped ``xllamacpp``."""

    def __init__(self, config: _EngineConfig) -> None:
        try:
            self._lib: Any = importlib.import_module("xllamacpp")
        except ImportError as exc:
            raise ReasonerUnavailableError(
                f"the local reasoner needs xllamacpp, which is not installed; run `{_INSTALL}`"
            ) from exc
        self.config = config
        params: Any = self._lib.CommonParams()
        params.model.path = str(config.model_path)
        params.n_ctx = config.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = config.threads
        params.cpuparams_batch.n_threads = config.threads
        params.cache_prompt = True
        params.cache_ram_mib = 512
        params.warmup = False
        params.verbosity = 0  # llama.cpp logs every request to stderr otherwise
        # The listener cannot be turned off; lock it down instead.
        params.hostnames = ["127.0.0.1"]
        params.api_keys = [secrets.token_urlsafe(32)]
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_props = False
        params.endpoint_metrics = False
        started = time.perf_counter()
        try:
            self._server: Any = self._lib.Server(params)
        except Exception as exc:
            raise ReasonerUnavailableError(
                f"local model {config.model_path} failed to load ({exc}); check free memory "
                f"(about 2 GB needed) and n_ctx={config.n_ctx}, or delete the file so it is "
                "joined and verified again"
            ) from exc
        self.load_seconds = time.perf_counter() - started

    @property
    def listening_address(self) -> str:
        return str(self._server.listening_address)

    def json_grammar(self, schema: dict[str, Any]) -> str:
        # JSON matching the schema, laid out the way the model was trained to write it.
        return str(self._lib.json_schema_to_grammar({**schema, "x-guidance": _LAYOUT}))

    def grammar(self, schema: dict[str, Any]) -> str:
        # The JSON grammar, wrapped in the tags of the model's tool-call format.
        header, _, rule = self.json_grammar(schema).partition("\nstart: ")
        return f'{header}\nstart: "<tool_call>\\n" call "\\n</tool_call>"\ncall: {rule}'

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response: Any = self._server.handle_chat_completions(request)
        except Exception as exc:
            raise ReasonerUnavailableError(f"local model failed to answer: {exc}") from exc
        reply = _as_dict(response)
        if reply is None or "error" in reply:
            raise ReasonerUnavailableError(
                f"local model returned an error: {str(response)[:500]}; if the prompt "
                f"exceeds the context window, raise n_ctx (now {self.config.n_ctx})"
            )
        return reply


_engine_lock = threading.Lock()
_engine: _Engine | None = None


def _shared_engine(config: _EngineConfig) -> _Engine:
    # One server per process: each loaded copy of the model costs about 1.9 GB of RAM.
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine(config)
        elif _engine.config != config:
            loaded = _engine.config
            raise ReasonerUnavailableError(
                f"the local model is already loaded with n_ctx={loaded.n_ctx}, "
                f"threads={loaded.threads} from {loaded.model_path}; a process can hold only "
                f"one, so construct every LocalReasoner with the same settings"
            )
        return _engine


class LocalReasoner:
    """Reasoner backed by the embedded local model.

    The model file is joined and verified, and the model loaded (about 2 s, 1.9 GB RAM),
    on the first :meth:`propose` or :meth:`load`; every instance in the process shares it.
    Decoding is greedy (temperature 0), so the same context gives the same proposal.

    Args:
        n_ctx: Context window in tokens; prompt plus reply must fit.
        threads: CPU threads for generation and prompt processing; defaults to all CPUs.
        max_tokens: Cap on tokens generated per step.
        cache_dir: Where the joined model file lives; defaults to
            :func:`charter.settings.model_cache_dir`.
        spec: Which model file; the default is Qwen2.5-Coder-1.5B-Instruct Q4_K_M.
    """

    kind = "local"

    def __init__(
        self,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens: int = 256,
        cache_dir: Path | None = None,
        spec: ModelSpec = DEFAULT,
    ) -> None:
        if n_ctx <= 0 or max_tokens <= 0:
            raise ValueError(f"n_ctx and max_tokens must be positive; got {n_ctx}, {max_tokens}")
        if threads is not None and threads <= 0:
            raise ValueError(f"threads must be positive or None; got {threads}")
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 1
        self.max_tokens = max_tokens
        self.spec = spec
        self._cache_dir = cache_dir
        self._engine: _Engine | None = None

    def load(self) -> float:
        """Start the shared model now rather than on the first step.

        Returns:
            Seconds the model took to load (0.0 if another instance already loaded it).

        Raises:
            ReasonerUnavailableError: The model file or xllamacpp is missing or broken.
        """
        if self._engine is None:
            already = _engine is not None
            path = ensure_model_file(self._cache_dir, self.spec)
            self._engine = _shared_engine(_EngineConfig(path, self.n_ctx, self.threads))
            return 0.0 if already else self._engine.load_seconds
        return 0.0

    @property
    def listening_address(self) -> str | None:
        """URL of the model server's (key-protected) HTTP listener, once loaded."""
        return self._engine.listening_address if self._engine is not None else None

    def propose(self, context: RunContext) -> Proposal:
        """Ask the model for the next action; see :func:`parse_action` for odd replies.

        A proposal repeating a call already made is sampled again, up to twice, with a
        fixed seed; the usage reported covers every sample.

        Raises:
            ReasonerUnavailableError: The model cannot be loaded or fails to answer.
        """
        self.load()
        assert self._engine is not None
        answer = respond_name(context.tools)
        offered = offered_tools(context)
        request: dict[str, Any] = {
            "messages": build_messages(context),
            "grammar": self._engine.grammar(build_response_schema(offered, answer)),
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": True,
        }
        made = {_call_key(t.call.tool, t.call.args) for t in context.turns}
        prompt_tokens = completion_tokens = 0
        attempt = 0
        while True:
            started = time.perf_counter()
            response = self._engine.chat(request)
            text, usage = _read_response(response)
            if logger.isEnabledFor(logging.DEBUG):
                timings = StepTimings.of(response, time.perf_counter() - started)
                logger.debug(
                    "step %d%s: %s; %d of %d tools offered; proposed %s",
                    len(context.turns) + 1,
                    f" (sample {attempt + 1})" if attempt else "",
                    timings.line(),
                    len(offered),
                    len(context.tools),
                    _named(text, answer),  # the tool only: arguments are the journal's
                    extra={"timings": timings},
                )
            prompt_tokens += usage.prompt_tokens
            completion_tokens += usage.completion_tokens
            action = parse_action(text, answer)
            repeated = isinstance(action, ToolCall) and _call_key(action.tool, action.args) in made
            if not repeated or attempt == _RESAMPLES:
                break
            attempt += 1
            request |= {"temperature": 0.8, "top_k": 40, "seed": attempt}
        return Proposal(
            action=action,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            model=self.spec.name,
        )

    def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        *,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> tuple[str, Usage]:
        """A reply to ``messages`` that is JSON matching ``schema``, and what it cost.

        For callers that need the model without tools (the ``plan`` reasoner's planner and
        extractor). Greedy by default; with ``seed``, sampled reproducibly. A reply cut
        off at ``max_tokens`` is returned as it is (not valid JSON).

        Raises:
            ReasonerUnavailableError: The model cannot be loaded or fails to answer.
        """
        self.load()
        assert self._engine is not None
        request: dict[str, Any] = {
            "messages": messages,
            "grammar": self._engine.json_grammar(schema),
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": True,
        }
        if seed is not None:
            request |= {"temperature": 0.8, "top_k": 40, "seed": seed}
        return _read_response(self._engine.chat(request))

    def describe(self) -> dict[str, Any]:
        """Model and settings for the journal (the server's API key is never included)."""
        return {
            "kind": self.kind,
            "model": self.spec.name,
            "sha256": self.spec.sha256[:12],
            "n_ctx": self.n_ctx,
            "threads": self.threads,
            "max_tokens": self.max_tokens,
        }


def _named(text: str, answer: str) -> str:
    action = parse_action(text, answer)
    return action.tool if isinstance(action, ToolCall) else "the final answer"


def _read_response(response: dict[str, Any]) -> tuple[str, Usage]:
    try:
        text = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ReasonerUnavailableError(
            f"local model returned an unexpected response: {str(response)[:500]}"
        ) from exc
    raw_usage: Any = response.get("usage") or {}
    usage = Usage(
        prompt_tokens=int(raw_usage.get("prompt_tokens", 0)),
        completion_tokens=int(raw_usage.get("completion_tokens", 0)),
    )
    return str(text or ""), usage
