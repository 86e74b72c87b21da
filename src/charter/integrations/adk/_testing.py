"""A scripted ADK model: tests and examples drive the real Runner with no network."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import Field

ScriptTurn = str | tuple[str, dict[str, Any]] | list[tuple[str, dict[str, Any]]]
"""A final text, one function call ``(name, args)``, or several calls made at once."""


class ScriptedLlm(BaseLlm):
    """Answers turn *n* of a task with ``script[n]`` (the last item once the script runs
    out), *n* being the number of model turns already in the request, so a session
    resumed in another process picks up where it stopped. Each answer reports
    ``prompt_tokens`` and ``completion_tokens`` of usage."""

    model: str = "scripted"
    script: list[ScriptTurn]
    prompt_tokens: int = 100
    completion_tokens: int = 20
    keep_requests: bool = True
    requests: list[LlmRequest] = Field(default_factory=lambda: [], exclude=True)
    """Every request the model received (what it was told), in order, if
    ``keep_requests``."""

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        """Yield the scripted answer for this turn."""
        if self.keep_requests:
            self.requests.append(llm_request)
        turn = sum(1 for c in llm_request.contents if c.role == "model")
        item = self.script[min(turn, len(self.script) - 1)]
        if isinstance(item, str):
            parts = [types.Part(text=item)]
        else:
            calls = [item] if isinstance(item, tuple) else item
            parts = [
                types.Part(
                    function_call=types.FunctionCall(name=name, args=args, id=f"call-{turn}-{i}")
                )
                for i, (name, args) in enumerate(calls)
            ]
        yield LlmResponse(
            content=types.Content(role="model", parts=parts),
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=self.prompt_tokens,
                candidates_token_count=self.completion_tokens,
            ),
            model_version=self.model,
        )


def tool_responses(request: LlmRequest) -> list[dict[str, Any]]:
    """The tool responses a model request carries, oldest first."""
    return [
        dict(p.function_response.response or {})
        for c in request.contents
        for p in c.parts or ()
        if p.function_response is not None
    ]
