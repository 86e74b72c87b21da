"""The local reasoner: a small model embedded in the process, no network, no API key.

The model (Qwen2.5-Coder-1.5B-Instruct by default, see :mod:`charter.reasoners._model_file`)
runs in llama.cpp through ``xllamacpp``. Each step asks for one JSON object,
``{"name": <tool or "respond">, "arguments": {...}}``, and constrains decoding to a JSON
schema that is an ``anyOf`` over the agent's tools plus a ``respond`` option, so the model
can only name a real tool with schema-shaped arguments or give a final answer. Native
``tools=`` parsing does not work with this model, hence the schema. The schema goes in as
an LLGuidance grammar with compact separators rather than as ``response_format``, which
constrains just as well but lets the model pretty-print, doubling the tokens generated.

Prompts are built only from the agent's instructions, its tools, the goal and past turns,
never from run ids or clocks: the system message is byte-identical across steps and runs
of the same agent, so llama.cpp's prompt cache skips re-reading it.

``xllamacpp.Server`` also opens an HTTP listener on 127.0.0.1. It is started with a random
API key that never leaves this module, so no other local process can use the model (or
see prompts) without going through charter.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from charter.errors import ReasonerUnavailableError
from charter.reasoners._base import Action, FinalAnswer, Proposal, RunContext, ToolCall, Usage
from charter.reasoners._model_file import DEFAULT, ModelSpec, ensure_model_file
from charter.tools import Tool

__all__ = [
    "UNPARSEABLE_PREFIX",
    "LocalReasoner",
    "build_messages",
    "build_response_schema",
    "parse_action",
    "respond_name",
    "system_prompt",
]

UNPARSEABLE_PREFIX = "(reasoner produced unparseable output)"
"""Start of the final answer given when the model's output is not the expected JSON."""

_INSTALL = "pip install --require-hashes -r requirements-llm.txt"
# Compact separators: the model copies the shape it is constrained to, and pretty-printed
# JSON costs about twice the generated tokens (measured: 33 vs 17 for a one-argument call).
_COMPACT = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


def respond_name(tools: list[Tool]) -> str:
    """Name of the final-answer option: ``respond``, unless a tool already uses that name."""
    taken = {t.name for t in tools}
    name = "respond"
    while name in taken:
        name = "final_" + name
    return name


def build_response_schema(tools: list[Tool]) -> dict[str, Any]:
    """JSON schema the model's reply must match: one option per tool plus the answer option.

    Each tool's ``$defs`` (nested Pydantic models) are hoisted to the root, renamed
    ``<tool>__<Name>``, because a ``$ref`` inside an ``anyOf`` branch resolves from the root.
    """
    defs: dict[str, Any] = {}
    options = [
        _option(t.name, _hoist_defs(t.parameters_schema(), f"{t.name}__", defs)) for t in tools
    ]
    answer_args = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
        "additionalProperties": False,
    }
    options.append(_option(respond_name(tools), answer_args))
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


def _hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
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


def system_prompt(instructions: str, tools: list[Tool]) -> str:
    """The system message: instructions, reply format and a compact tool list.

    Depends only on its arguments, so it is identical across steps and runs of one agent.
    """
    answer = respond_name(tools)
    lines = [
        instructions.strip(),
        "",
        "Reply with exactly one JSON object and nothing else:",
        '{"name":"<tool>","arguments":{...}} to call a tool, or',
        f'{{"name":"{answer}","arguments":{{"text":"<answer>"}}}} to give the final answer.',
        # Wording picked by trying variants on the 1.5B model; listing respond among the
        # tools made it call tools again after it already had the answer.
        "Call a tool only when the goal needs what it provides. Never invent facts or tool "
        "results. When the goal is done, cannot be done with these tools, or needs no "
        f"tool, use {answer}.",
        "",
        "Tools:",
        *(_tool_line(t) for t in tools),
    ]
    return "\n".join(lines).strip()


def _tool_line(t: Tool) -> str:
    schema = t.parameters_schema()
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    args = ", ".join(
        f"{name}{'' if name in required else '?'}: {_type_name(prop)}"
        for name, prop in props.items()
    )
    description = t.description.strip().splitlines()[0] if t.description.strip() else ""
    return f"- {t.name}({args}): {description}"


def _type_name(prop: Any) -> str:
    node = _as_dict(prop)
    if node is None:
        return "any"
    if "enum" in node:
        return "|".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in node:
            return "|".join(_type_name(option) for option in node[key])
    kind = node.get("type", "any")
    if kind == "array":
        return f"array[{_type_name(node.get('items', {}))}]"
    if isinstance(kind, list):
        return "|".join(str(k) for k in cast(list[Any], kind))
    return str(kind)


def _as_dict(value: object) -> dict[str, Any] | None:
    # JSON objects from json.loads and Pydantic schemas: string keys, values of any type.
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def build_messages(context: RunContext) -> list[dict[str, str]]:
    """Chat messages for one step: system, the goal, then each past call and its result."""
    messages = [
        {"role": "system", "content": system_prompt(context.instructions, context.tools)},
        {"role": "user", "content": context.goal},
    ]
    for turn in context.turns:
        call = {"name": turn.call.tool, "arguments": turn.call.args}
        messages.append({"role": "assistant", "content": _dumps(call)})
        messages.append(
            {
                "role": "user",
                "content": f"Result of {turn.call.tool}: {turn.observation.render()}",
            }
        )
    return messages


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def parse_action(text: str, answer_name: str = "respond") -> Action:
    """Turn the model's reply into an action.

    A reply naming ``answer_name`` with a string ``text`` is a :class:`FinalAnswer`; any
    other name becomes a :class:`ToolCall`, even an unknown tool, which the runtime turns
    into an observation the model can learn from. Text that is not a JSON object with a
    string ``name`` (say, output cut off at ``max_tokens``) becomes a final answer starting
    with :data:`UNPARSEABLE_PREFIX`, so the run ends visibly instead of failing.
    """
    try:
        data: Any = json.loads(text)
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

    def grammar(self, schema: dict[str, Any]) -> str:
        return str(self._lib.json_schema_to_grammar({**schema, "x-guidance": _COMPACT}))

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

        Raises:
            ReasonerUnavailableError: The model cannot be loaded or fails to answer.
        """
        self.load()
        assert self._engine is not None
        schema = build_response_schema(context.tools)
        request = {
            "messages": build_messages(context),
            "grammar": self._engine.grammar(schema),
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": True,
        }
        response = self._engine.chat(request)
        text, usage = _read_response(response)
        return Proposal(
            action=parse_action(text, respond_name(context.tools)),
            usage=usage,
            model=self.spec.name,
        )

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
