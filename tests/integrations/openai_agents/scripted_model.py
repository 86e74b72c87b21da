"""A model for the OpenAI Agents SDK that plays a script: each turn, a list of tool
calls (or a final answer), possibly chosen from what the model was sent so far."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from agents import Usage
from agents.items import ModelResponse
from agents.models.interface import Model, ModelTracing
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

Turn = list[tuple[str, dict[str, Any] | str]] | str
"""Tool calls ``(name, arguments)`` made in one response (arguments as given when a
string), or the final answer."""


class ScriptedModel(Model):
    """Answers each model call with the next turn of ``script``; a turn may be a
    function of the input the model was sent (to react to what tools returned).

    ``inputs`` keeps every input, so a test can assert what the model saw.
    """

    def __init__(
        self,
        script: Sequence[Turn | Callable[[list[Any]], Turn]],
        *,
        tokens: tuple[int, int] = (100, 20),
    ) -> None:
        self.script = list(script)
        self.inputs: list[list[Any]] = []
        self.tokens = tokens
        self._calls = 0

    def tool_outputs(self) -> dict[str, str]:
        """Every tool output the model was sent, by call id."""
        seen: dict[str, str] = {}
        for sent in self.inputs:
            for item in sent:
                match item:
                    case {"type": "function_call_output", "call_id": call_id, "output": output}:
                        seen[str(call_id)] = str(output)
                    case _:
                        pass
        return seen

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        sent = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        self.inputs.append(sent)
        turn = self.script.pop(0) if self.script else "done"
        if callable(turn):
            turn = turn(sent)
        self._calls += 1
        output: list[Any]
        if isinstance(turn, str):
            output = [
                ResponseOutputMessage(
                    id=f"msg-{self._calls}",
                    type="message",
                    role="assistant",
                    status="completed",
                    content=[
                        ResponseOutputText(
                            text=turn, type="output_text", annotations=[], logprobs=[]
                        )
                    ],
                )
            ]
        else:
            output = [
                ResponseFunctionToolCall(
                    id=f"fc-{self._calls}-{i}",
                    call_id=f"call-{self._calls}-{i}",
                    type="function_call",
                    name=name,
                    arguments=args if isinstance(args, str) else json.dumps(args),
                )
                for i, (name, args) in enumerate(turn)
            ]
        prompt_tokens, completion_tokens = self.tokens
        usage = Usage(
            requests=1,
            input_tokens=prompt_tokens,
            output_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        return ModelResponse(output=output, usage=usage, response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the scripted model does not stream")
