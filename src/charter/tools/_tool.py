"""Tools: typed callables with a contract.

A tool is what an agent may do to the world. Arguments and results are validated with
Pydantic; the JSON schema that reasoners see is derived from the function signature. The
contract (side effect, labels, reversibility, idempotency, cost, timeout) is what the
charter reasons about.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from charter._json import JsonEncoder

SideEffect = Literal["read", "write", "external"]
"""What a tool does to the world: only reads, writes our systems, or reaches outside."""

Trust = Literal["trusted", "untrusted"]
Confidentiality = Literal["public", "internal", "pii", "secret"]

_SIDE_EFFECTS: frozenset[str] = frozenset({"read", "write", "external"})

_UNICODE_CHECK = JsonEncoder(skipkeys=True)
"""Its text cannot be encoded to UTF-8 when the arguments hold a lone surrogate."""


class ToolArgumentsError(ValueError):
    """Arguments proposed for a tool do not match its schema."""


class ToolOutcomeUnknownError(Exception):
    """A call failed in a way that leaves its effect unknown (the connection to the
    service broke mid-call): a write or external call is then in doubt, as on a timeout."""


@dataclass(frozen=True, slots=True)
class ToolRefusal:
    """Why a tool may not be offered or called at all (e.g. an MCP tool whose definition
    the lockfile does not pin): every call is denied with ``rule``."""

    rule: str
    """The rule id of the denial, e.g. ``mcp.changed``."""
    reason: str
    """One line for the denial and the operator."""
    detail: dict[str, Any] = field(default_factory=lambda: {})
    """What a run journals about the refusal (JSON-ready)."""


@dataclass(frozen=True, slots=True)
class ToolContract:
    """What a tool promises and what the charter may rely on."""

    side_effect: SideEffect = "read"
    """`read` never changes anything; `write` changes our systems; `external` leaves them."""
    reads: tuple[str, ...] = ()
    """Data classes the tool reads, e.g. ``customer.pii``."""
    trust: Trust = "trusted"
    """Trust label attached to the tool's output (``untrusted`` for third-party text)."""
    confidentiality: Confidentiality = "internal"
    """Confidentiality label attached to the tool's output."""
    idempotent: bool = False
    """Calling twice with the same arguments has the effect of calling once."""
    cost_usd: float = 0.0
    """Price of one call, for budgets and reports."""
    timeout_s: float | None = 30.0
    """Seconds after which a call is a timeout for the reasoner, its late outcome never a
    success: a write or external call is abandoned at the deadline (and in doubt), a read
    is waited for and its answer discarded, an ``async`` call is cancelled (see
    :mod:`charter.tools._deadline`). None: the tool bounds itself."""
    owner: str = ""
    """Team or person answerable for the tool."""
    targets: tuple[str, ...] = ()
    """Arguments that choose whom or what a write or external call acts on (a recipient,
    an account, an order): untrusted data may not choose them without approval."""
    fields: tuple[tuple[str, str], ...] = ()
    """Labels of output fields by path, overriding the tool's own for that field and
    everything under it: ``("messages[].body", "untrusted")``, ``("id", "trusted")``,
    ``("contacts[].phone", "pii")``, ``("notes", "untrusted pii")``. ``[]`` is every
    element of a list; a label names a trust, a confidentiality or both (the part not
    named is the tool's). See :mod:`charter.labels`."""

    def __post_init__(self) -> None:
        if self.side_effect not in _SIDE_EFFECTS:
            raise ValueError(
                f"side_effect must be one of read, write, external; got {self.side_effect!r}"
            )
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive or None; got {self.timeout_s}")
        if self.trust not in ("trusted", "untrusted"):
            raise ValueError(f"trust must be trusted or untrusted; got {self.trust!r}")
        if self.confidentiality not in ("public", "internal", "pii", "secret"):
            raise ValueError(
                "confidentiality must be one of public, internal, pii, secret; "
                f"got {self.confidentiality!r}"
            )
        for path, label in self.fields:
            check_field_label(path, label)


_FIELD_PATH = re.compile(r"^(\[\])*([A-Za-z0-9_$@-]+(\[\])*)?(\.[A-Za-z0-9_$@-]+(\[\])*)*$")
_TRUST_WORDS = ("trusted", "untrusted")
_CONFIDENTIALITY_WORDS = ("public", "internal", "pii", "secret")


def check_field_label(path: str, label: str) -> tuple[str | None, str | None]:
    """``label``'s trust and confidentiality (None where it names none); raise
    ``ValueError`` naming the field when the path or the label is not one."""
    if not path or not _FIELD_PATH.match(path):
        raise ValueError(
            f"output field {path!r}: not a field path (write names joined by dots, "
            "[] for every element of a list: messages[].sender)"
        )
    trust: str | None = None
    confidentiality: str | None = None
    for word in label.replace(",", " ").split():
        if word in _TRUST_WORDS and trust is None:
            trust = word
        elif word in _CONFIDENTIALITY_WORDS and confidentiality is None:
            confidentiality = word
        else:
            raise ValueError(
                f"output field {path!r}: label {label!r} is not a trust "
                f"({', '.join(_TRUST_WORDS)}) and/or a confidentiality "
                f"({', '.join(_CONFIDENTIALITY_WORDS)})"
            )
    if trust is None and confidentiality is None:
        raise ValueError(f"output field {path!r}: empty label")
    return trust, confidentiality


IDEMPOTENCY_PARAM = "idempotency_key"
"""A tool function parameter of this name receives each call's idempotency key."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A typed callable with a contract. Build one with :func:`tool`."""

    name: str
    """Unique name the reasoner calls it by."""
    description: str
    """What the tool does, shown to reasoners."""
    fn: Callable[..., Any]
    """The implementation; called with validated keyword arguments."""
    args_model: type[BaseModel]
    """Pydantic model of the arguments."""
    contract: ToolContract = field(default_factory=ToolContract)
    """What the charter may rely on."""
    compensate: Callable[..., Any] | None = None
    """Undoes a completed call, if the tool is reversible."""
    result_adapter: TypeAdapter[Any] | None = None
    """Validates and serialises the result, when the function declares a return type."""
    refusal: ToolRefusal | None = None
    """Set when the tool may not be offered or called (its calls are denied)."""
    origin: dict[str, Any] | None = None
    """Where the tool comes from, journaled with every run that has it (e.g. an MCP
    server, the SHA-256 of the definition it was loaded with, whether it is pinned)."""
    takes_key: bool = False
    """The function has an ``idempotency_key`` parameter: the runtime passes each call's
    key (``run:step:attempt``), which reasoners never see, so the tool's backend can
    recognise a retried call and not do it twice."""
    preview: Callable[..., Any] | None = None
    """Describes what a call would do for an approver, read-only (see
    :mod:`charter.tools._preview`): called with the call's arguments, returns a
    :class:`~charter.tools.Preview` or a sentence."""
    is_async: bool = field(init=False)
    """The function is ``async def``: it is awaited (and cancelled at its deadline) on
    the calling thread's event loop, with no thread hand-off."""

    def __post_init__(self) -> None:
        # Derived from fn, so a copy with another function (dataclasses.replace) is right.
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))

    @property
    def reversible(self) -> bool:
        """Whether a completed call can be undone."""
        return self.compensate is not None

    def parameters_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, as reasoners and LLM APIs expect it."""
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return schema

    def validate_args(self, args: dict[str, Any]) -> BaseModel:
        """Validate raw arguments; raise :class:`ToolArgumentsError` naming each bad field."""
        validated = self._validated(args)
        self._check_unicode(validated.model_dump())
        return validated

    def validate_call(self, args: dict[str, Any]) -> tuple[BaseModel, dict[str, Any]]:
        """:meth:`validate_args`, and the validated arguments JSON-ready (as the runtime
        governs and journals them), dumped once for both."""
        validated = self._validated(args)
        try:
            dumped = validated.model_dump(mode="json")
        except UnicodeEncodeError as exc:  # pydantic encodes some text (a key) on the way
            raise self._not_unicode(exc) from exc
        if not _plain_ascii(dumped):
            # Checked as validate_args checks it: the JSON-mode dump may already have
            # replaced a lone surrogate that the arguments the tool gets still hold.
            self._check_unicode(validated.model_dump())
        return validated, dumped

    def _validated(self, args: dict[str, Any]) -> BaseModel:
        try:
            return self.args_model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: {problems}"
            ) from exc

    def _check_unicode(self, dumped: Any) -> None:
        if _plain_ascii(dumped):  # nothing in it could be a lone surrogate
            return
        try:
            # Text must be Unicode: the JSON form the runtime journals, governs and binds
            # approvals to would carry a lone surrogate (JSON "\\ud800") mangled, not as is.
            _UNICODE_CHECK.encode(dumped).encode()
        except ValueError as exc:
            raise self._not_unicode(exc) from exc

    def _not_unicode(self, exc: ValueError) -> ToolArgumentsError:
        return ToolArgumentsError(
            f"invalid arguments for tool {self.name!r}: (arguments): not Unicode text "
            f"({exc.reason if isinstance(exc, UnicodeEncodeError) else exc})"
        )

    def invoke(self, validated: BaseModel, idempotency_key: str | None = None) -> Any:
        """Call the implementation and return a JSON-ready result.

        ``idempotency_key`` reaches functions that declare that parameter; others never
        see it. An ``async`` implementation is awaited on this thread's own event loop,
        with no deadline (the runtime calls tools under their timeout through
        :func:`charter.tools._deadline.call_within`).
        """
        result = self.fn(**self.arguments(validated, idempotency_key))
        if self.is_async:
            from charter.tools._deadline import run_coroutine

            result = run_coroutine(result)
        return self.result_json(result)

    def arguments(self, validated: BaseModel, idempotency_key: str | None) -> dict[str, Any]:
        """The keyword arguments of a call of :attr:`fn`."""
        # The fields as they are (what iterating the model yields, without its generator).
        kwargs = dict(validated.__dict__)
        extra = validated.__pydantic_extra__
        if extra:
            kwargs.update(extra)
        if self.takes_key:
            kwargs[IDEMPOTENCY_PARAM] = idempotency_key
        return kwargs

    def result_json(self, result: Any) -> Any:
        """What :attr:`fn` returned, validated and JSON-ready."""
        if self.result_adapter is not None:
            return self.result_adapter.dump_python(result, mode="json")
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json")
        return result


def _plain_ascii(dumped: Any) -> bool:
    """Whether ``dumped`` is a dict of ASCII names to ASCII text, numbers, booleans and
    nulls (the usual call's arguments: JSON text of it is UTF-8 by construction)."""
    if type(dumped) is not dict:
        return False
    for key, value in cast(dict[Any, Any], dumped).items():
        if type(key) is not str or not key.isascii():
            return False
        kind: type[object] = type(cast(object, value))
        if kind is str:
            if not cast(str, value).isascii():
                return False
        elif kind is not int and kind is not bool and kind is not float and value is not None:
            return False
    return True


def _args_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name == IDEMPOTENCY_PARAM:
            continue  # supplied by the runtime, never by a reasoner
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name!r}: *args/**kwargs cannot be described by a schema")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model_name = "".join(part.title() for part in name.split("_")) + "Args"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _result_adapter(fn: Callable[..., Any]) -> TypeAdapter[Any] | None:
    annotation = get_type_hints(fn).get("return")
    if annotation is None or annotation is type(None):
        return None
    return TypeAdapter(annotation)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    side_effect: SideEffect = "read",
    reads: tuple[str, ...] = (),
    trust: Trust = "trusted",
    confidentiality: Confidentiality = "internal",
    idempotent: bool = False,
    cost_usd: float = 0.0,
    timeout_s: float | None = 30.0,
    owner: str = "",
    targets: tuple[str, ...] = (),
    fields: Mapping[str, str] | None = None,
    compensate: Callable[..., Any] | None = None,
    preview: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effect: SideEffect = "read",
    reads: tuple[str, ...] = (),
    trust: Trust = "trusted",
    confidentiality: Confidentiality = "internal",
    idempotent: bool = False,
    cost_usd: float = 0.0,
    timeout_s: float | None = 30.0,
    owner: str = "",
    targets: tuple[str, ...] = (),
    fields: Mapping[str, str] | None = None,
    compensate: Callable[..., Any] | None = None,
    preview: Callable[..., Any] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed Python function into a :class:`Tool`.

    Use bare (``@tool``) for a read-only tool, or with contract fields
    (``@tool(side_effect="write", compensate=undo, preview=describe)``). The docstring's
    first paragraph is the description reasoners see. ``preview`` takes the tool's
    arguments and says, read-only, what a call would do (shown to approvers).
    ``fields`` labels output fields by path (``{"messages[].body": "untrusted"}``).
    An ``async def`` function is awaited with its timeout on the caller's thread and
    cancelled at the deadline; a plain read runs inline, watched; a plain write runs on a
    tool thread the caller stops waiting for at the deadline (see
    :mod:`charter.tools._deadline`).
    """

    def build(func: Callable[..., Any]) -> Tool:
        tool_name = name or func.__name__
        doc = inspect.getdoc(func) or ""
        contract = ToolContract(
            side_effect=side_effect,
            reads=reads,
            trust=trust,
            confidentiality=confidentiality,
            idempotent=idempotent,
            cost_usd=cost_usd,
            timeout_s=timeout_s,
            owner=owner,
            targets=targets,
            fields=tuple(sorted((fields or {}).items())),
        )
        args_model = _args_model(func, tool_name)
        unknown = [t for t in targets if t not in args_model.model_fields]
        if unknown:
            raise TypeError(f"tool {tool_name!r}: targets {unknown} are not arguments")
        return Tool(
            name=tool_name,
            # One line: the first docstring paragraph, rewrapped, is what prompts show.
            description=description or " ".join(doc.split("\n\n")[0].split()) or tool_name,
            fn=func,
            args_model=args_model,
            contract=contract,
            compensate=compensate,
            preview=preview,
            result_adapter=_result_adapter(func),
            takes_key=IDEMPOTENCY_PARAM in inspect.signature(func).parameters,
        )

    if fn is not None:
        return build(fn)
    return build
