"""What a run inherits: tool outputs its model sees from before the run began.

A framework that keeps a conversation (an OpenAI Agents ``Session``, an ADK session, a
LangGraph checkpointer's thread, Pydantic AI's ``message_history``) feeds a new run the
tool outputs of earlier runs. The model reads them as it reads this run's own, so the run
labels them as if it had read them: by the tool's contract, field by field; an output of a
tool the agent does not have, or of no named tool, is untrusted. One ``run.inherited``
record per batch keeps each output's digest and label, and its text unless the contract is
secret (as a step's effect withholds a secret output), so a resumed run and a replay label
them again exactly so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from charter.journal._kinds import InheritedOutput, RunInherited
from charter.runtime._provenance import RunLabels
from charter.tools import Inventory, ToolArgumentsError

INHERITED = "run.inherited"


@dataclass(frozen=True, slots=True)
class Inherited:
    """One tool output from the conversation a run starts from."""

    tool: str | None
    """The tool that returned it (None or an unknown name: of unknown origin, untrusted)."""
    output: Any
    """The output as the model saw it: text (JSON text is read as JSON) or a JSON value."""
    args: Mapping[str, Any] | None = field(default=None)
    """The arguments of the call that returned it, when the conversation keeps them."""
    failed: bool = False
    """Whether it is the error the call failed with (read as an error's text: its tool's
    widest label, vouching for nothing)."""


def as_text(output: Any, failed: bool = False) -> str:
    """``output`` as the run keeps an observation's text: an error as ``error: ...``;
    text that is JSON as it is; any other text, or value, as JSON (so a plain text a
    trusted tool returned vouches as the run's own reading of it does)."""
    if failed:
        shown = output if isinstance(output, str) else _json(output)
        return f"error: {shown}"
    if isinstance(output, str):
        try:
            json.loads(output)
        except ValueError:
            return _json(output)
        return output
    return _json(output)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def inherit(
    labels: RunLabels, inventory: Inventory, outputs: Iterable[Inherited], first: int
) -> RunInherited:
    """Label ``outputs`` into ``labels`` at steps ``first``, ``first - 1``, ...; return
    the record that keeps them."""
    kept: list[InheritedOutput] = []
    for offset, item in enumerate(outputs):
        text = as_text(item.output, item.failed)
        name = item.tool or ""
        found = inventory.find(name) if name else None
        entry: InheritedOutput = {
            "step": first - offset,
            "tool": name,
            "known": found is not None,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "label": {},
        }
        if found is None or found.contract.confidentiality != "secret":
            entry["text"] = text
        args = _validated(inventory, name, item.args) if found is not None else None
        if args is not None:
            entry["args"] = args
        observe(labels, inventory, entry, text)
        kept.append(entry)
    return {"outputs": kept}


def observe(
    labels: RunLabels, inventory: Inventory, entry: InheritedOutput, text: str | None = None
) -> None:
    """Label one inherited output into ``labels`` (``text``: else as journaled; a secret
    output's text is not, so it carries its contract's widest label)."""
    step, name = entry["step"], entry["tool"]
    shown = entry.get("text", "") if text is None else text
    found = inventory.find(name) if entry["known"] and name else None
    if found is None:
        label = labels.observe_unknown(name or "(inherited)", shown, step)
    else:
        labels.observe(found, shown, step, args=entry.get("args"))
        label = labels.step_label(step) or labels.context
    entry["label"] = {"trust": label.trust, "confidentiality": label.confidentiality}


def replay(labels: RunLabels, inventory: Inventory, record: Mapping[str, Any]) -> None:
    """Label again what a ``run.inherited`` record kept."""
    for entry in list(record.get("outputs") or ()):
        observe(labels, inventory, dict(entry))  # pyright: ignore[reportArgumentType]


def inherited_count(records: Iterable[Any]) -> int:
    """How many outputs the ``run.inherited`` records among ``records`` hold."""
    return sum(len(r.payload.get("outputs") or ()) for r in records if r.kind == INHERITED)


def _validated(
    inventory: Inventory, name: str, args: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if args is None:
        return None
    found = inventory.find(name)
    if found is None:
        return None
    try:
        return found.validate_args(dict(args)).model_dump(mode="json")
    except ToolArgumentsError:
        return None  # arguments it would not have run with choose nothing it read
