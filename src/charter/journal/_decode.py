"""Tolerant decoding of journal records for readers.

charter writes every payload as canonical JSON of an object with the fields its kind
needs, but a reader must survive a record that is not so (a database edited by hand, a
damaged file, a bug): one bad record must not take down a list of runs. :func:`decode`
checks a record's payload once, against the fields readers rely on for its kind, and
raises :class:`DamagedRecordError` naming the record (seq, run, kind) and what is wrong;
readers then show that record as damaged and everything else as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from charter.errors import JournalError
from charter.journal._record import Record

T = TypeVar("T")

_NONE = type(None)
_NUMBER = (int, float)

# Field -> accepted JSON types; a name ending in "?" may be absent. Only what readers index
# without a default is listed: an unexpected extra field is never damage.
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "run.started": {
        "agent": (str,),
        "goal": (str,),
        "agent_version?": (str,),
        "actor?": (str,),
        "charter?": (dict,),
        "forked_from?": (dict, _NONE),
        "tools?": (list,),
        "reasoner?": (dict,),
    },
    "run.finished": {
        "status": (str,),
        "steps": (int,),
        "tokens": (int,),
        "cost_usd?": (*_NUMBER, _NONE),
        "answer?": (str, _NONE),
        "error?": (str, _NONE),
    },
    "run.waiting": {"request_id": (str,)},
    "step.proposed": {"step": (int,), "action": (dict,), "tokens?": (dict,), "model?": (str,)},
    "step.decided": {
        "step": (int,),
        "verdict": (str,),
        "rules": (list,),
        "reason": (str,),
        "policy": (str,),
        "labels?": (dict, _NONE),
        "sources?": (dict, _NONE),
    },
    "step.effect": {"step": (int,), "status": (str,), "us?": (int, _NONE)},
    "step.observed": {"step": (int,), "status": (str,), "text": (str,)},
    "approval.requested": {
        "request_id": (str,),
        "tool": (str,),
        "step": (int,),
        "reason": (str,),
        "rules": (list,),
    },
    "approval.granted": {"request_id": (str,), "verdict": (str,), "approver": (str,)},
    "approval.denied": {"request_id": (str,), "verdict": (str,), "approver": (str,)},
}


class DamagedRecordError(JournalError):
    """A journal record whose payload is not what charter writes for its kind.

    Attributes:
        seq: the record's seq.
        run_id: the run it belongs to.
        kind: its kind.
        detail: what is wrong with it.
    """

    def __init__(self, seq: int, run_id: str, kind: str, detail: str) -> None:
        """Name the record and what is wrong with it."""
        self.seq, self.run_id, self.kind, self.detail = seq, run_id, kind, detail
        super().__init__(
            f"journal record {seq} ({kind}, run {run_id}) is damaged: {detail}; "
            "`charter audit verify` checks the journal"
        )


def _type_names(types: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        dict: "an object",
        list: "a list",
        _NONE: "null",
        bool: "a boolean",
    }
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _problem(kind: str, payload: Mapping[str, Any]) -> str | None:
    for spec, types in _FIELDS.get(kind, {}).items():
        name = spec.rstrip("?")
        if name not in payload:
            if spec.endswith("?"):
                continue
            return f"its payload has no {name!r}"
        value = payload[name]
        # bool is an int to Python, never to a reader counting steps.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"its {name!r} is {json.dumps(value)[:40]}, not {_type_names(types)}"
        if name == "tokens" and isinstance(value, dict):
            counts: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values()):
                return "its 'tokens' counts are not all integers"
    return None


def decode_payload(seq: int, run_id: str, kind: str, payload_json: str) -> dict[str, Any]:
    """The payload of a record read as columns; see :func:`decode`."""
    try:
        payload: Any = json.loads(payload_json)
    except (ValueError, RecursionError) as exc:
        raise DamagedRecordError(seq, run_id, kind, f"its payload is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        shown = type(payload).__name__  # pyright: ignore[reportUnknownArgumentType]
        raise DamagedRecordError(seq, run_id, kind, f"its payload is a {shown}, not an object")
    decoded: dict[str, Any] = payload  # pyright: ignore[reportUnknownVariableType]
    problem = _problem(kind, decoded)
    if problem is not None:
        raise DamagedRecordError(seq, run_id, kind, problem)
    return decoded


def decode(record: Record) -> dict[str, Any]:
    """``record``'s payload, checked: a JSON object with the fields readers of its kind
    rely on, of the right types.

    Raises:
        DamagedRecordError: it is not; the message names the record and the fault.
    """
    return decode_payload(record.seq, record.run_id, record.kind, record.payload_json)


def read_record(record: Record, reader: Callable[[Record], T], *, check: bool = True) -> T:
    """``reader(record)`` after :func:`decode` checked it; a reader tripping on a field
    the check does not cover (a missing key, a wrong type) raises
    :class:`DamagedRecordError` naming the record too, instead of a bare KeyError.

    Args:
        record: the record to read.
        reader: what to make of it.
        check: decode it first; without, a hot path (live telemetry) pays nothing for a
            sound record, and a damaged one is still named when the reader trips on it.
    """
    if check:
        decode(record)
    try:
        return reader(record)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        detail = f"a reader failed on it ({type(exc).__name__}: {exc})"
        raise DamagedRecordError(record.seq, record.run_id, record.kind, detail) from exc
