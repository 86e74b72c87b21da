"""Tools from an OpenAPI 3.0/3.1 document: one governed tool per operation.

.. code-block:: yaml

    toolsets:
      - openapi: billing.yaml              # a path relative to the agent file, or a URL
        base_url: https://billing.example.com/v1   # default: the document's first server
        operations: [getInvoice, createRefund]      # default: every operation
        hosts: [billing.example.com]       # the only hosts requests and redirects may reach
        auth:
          apiKey: {env: BILLING_API_KEY}   # per security scheme: env or file
        contracts:
          createRefund: {targets: [invoice_id], trust: trusted}

Each tool is named after its ``operationId`` in snake_case; its arguments are the
operation's path, query and header parameters (snake_case) and ``body``, the JSON request
body, validated against the document's schemas. GET and HEAD are reads, other methods
writes; outputs are untrusted; ``contracts`` overrides either per operation. Credentials
are read when a call is made, sent as the operation's security scheme says, and replaced
by ``[redacted]`` in anything the call returns or raises, so neither the journal nor the
reasoner sees them. An operation with an ``Idempotency-Key`` header parameter receives the
runtime's idempotency key there, and can then be retried safely whatever its method.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import urljoin, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from charter.errors import ConfigError
from charter.tools._openapi_call import Argument, Credential, Operation, Scheme
from charter.tools._openapi_schema import SchemaInliner, coerce_scalars, follow
from charter.tools._tool import Confidentiality, SideEffect, Tool, ToolContract, Trust

if TYPE_CHECKING:
    from charter.tools._http import GuardedClient

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READ_METHODS = frozenset({"GET", "HEAD"})
_KEY_HEADERS = frozenset({"idempotency-key", "x-idempotency-key"})
_HIDDEN_HEADERS = frozenset({"authorization", "content-type", "accept", "host", "cookie"})
MAX_SPEC_BYTES = 5_000_000
"""A document larger than this is refused."""


class ContractOverride(BaseModel):
    """Contract fields that replace those an operation's method implies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side_effect: SideEffect | None = None
    reads: tuple[str, ...] | None = None
    trust: Trust | None = None
    confidentiality: Confidentiality | None = None
    idempotent: bool | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    owner: str | None = None
    targets: tuple[str, ...] | None = None


class OpenAPIToolset(BaseModel):
    """An agent file's ``openapi:`` toolset (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    openapi: str = Field(min_length=1)
    """The document: a path relative to the agent file, or an http(s) URL."""
    base_url: str | None = None
    operations: list[str] | None = None
    hosts: list[str] = Field(min_length=1)
    allow_private: bool = False
    """Allow private, loopback and link-local addresses (a service on this machine)."""
    auth: dict[str, Credential] = Field(default_factory=lambda: {})
    contracts: dict[str, ContractOverride] = Field(default_factory=lambda: {})
    timeout_s: float = Field(default=10.0, gt=0)
    max_response_bytes: int = Field(default=1_000_000, ge=1)
    retries: int = Field(default=2, ge=0, le=10)


def snake_case(name: str) -> str:
    """``getInvoice`` → ``get_invoice``; ``X-Request-Id`` → ``x_request_id``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()
    return f"_{snake}" if snake[:1].isdigit() else snake or "arg"


def read_document(source: str, base_dir: Path, where: str, timeout_s: float) -> dict[str, Any]:
    """The parsed document at ``source`` (a path or an http(s) URL); :class:`ConfigError`
    when it cannot be read, is too large, does not parse or is not OpenAPI 3.0/3.1."""
    if urlsplit(source).scheme in ("http", "https"):
        text = _download(source, where, timeout_s)
    else:
        path = base_dir / source
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise ConfigError(f"{where}: {source} is larger than {MAX_SPEC_BYTES} bytes")
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {source}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: {source} is not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}: {source} does not parse as YAML or JSON{at}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: {source} is not an OpenAPI document (not a mapping)")
    doc = cast(dict[str, Any], document)
    version = str(doc.get("openapi", ""))
    if not re.match(r"^3\.[01]\.\d+", version):
        raise ConfigError(
            f"{where}: {source} is not an OpenAPI 3.0 or 3.1 document (openapi: {version!r})"
        )
    if not isinstance(doc.get("paths"), dict):
        raise ConfigError(f"{where}: {source} has no paths")
    return doc


def _download(url: str, where: str, timeout_s: float) -> str:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ConfigError(f"{where}: fetching {url} returned HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_SPEC_BYTES:
                    raise ConfigError(f"{where}: {url} is larger than {MAX_SPEC_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise ConfigError(f"{where}: cannot fetch {url}: {type(exc).__name__}") from None
    return body.decode("utf-8", "replace")


class OperationArgs(BaseModel):
    """Base of an operation's argument model: validated against the operation's JSON
    Schema (built from the document), which is also the schema reasoners see."""

    model_config = ConfigDict(extra="forbid")

    openapi_schema: ClassVar[dict[str, Any]] = {}
    openapi_validator: ClassVar[Any] = None

    @model_validator(mode="before")
    @classmethod
    def _check_schema(cls, data: Any) -> Any:
        data = coerce_scalars(data, cls.openapi_schema)
        problems = sorted(
            cls.openapi_validator.iter_errors(data), key=lambda e: list(e.absolute_path)
        )
        if problems:
            found = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
                for e in problems[:5]
            )
            raise PydanticCustomError("openapi_schema", "{problems}", {"problems": found})
        return data

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The operation's argument schema, from the document."""
        return copy.deepcopy(cls.openapi_schema)


def _args_model(tool_name: str, schema: dict[str, Any]) -> type[OperationArgs]:
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # pragma: no cover - the extra is part of the dev install
        raise ConfigError(
            "OpenAPI toolsets validate arguments with jsonschema: pip install 'charter[openapi]'"
        ) from None
    fields: dict[str, Any] = {
        name: (Any, ... if name in schema["required"] else None) for name in schema["properties"]
    }
    model_name = "".join(part.title() for part in tool_name.split("_")) + "Args"
    model = create_model(model_name, __base__=OperationArgs, **fields)
    model.openapi_schema = schema
    model.openapi_validator = Draft202012Validator(schema)
    return model


def openapi_tools(spec: OpenAPIToolset, *, base_dir: Path, source: str) -> list[Tool]:
    """The tools an ``openapi:`` toolset provides; :class:`ConfigError` on any bad input
    (a document that cannot be read or parsed, an unknown operation, a host not allowed,
    an unsupported security scheme)."""
    from charter.tools._http import GuardedClient, HostPolicy, Limits

    where = f"{source}: field toolsets ({spec.openapi})"
    document = read_document(spec.openapi, base_dir, where, spec.timeout_s)
    base_url = spec.base_url or _server_url(document, spec.openapi, where)
    policy = HostPolicy(tuple(spec.hosts), spec.allow_private)
    policy.check_url(base_url, where)
    client = GuardedClient(policy, Limits(spec.timeout_s, spec.max_response_bytes, spec.retries))
    inliner = SchemaInliner(document, openapi_30=str(document["openapi"]).startswith("3.0"))
    found = _operations(document, where)
    wanted = spec.operations if spec.operations is not None else list(found)
    unknown = [n for n in wanted if n not in found and n not in _by_snake(found)]
    if unknown:
        raise ConfigError(
            f"{where}: unknown operation(s) {', '.join(unknown)}; the document defines "
            f"{', '.join(found) or 'none'}"
        )
    extra = [n for n in spec.contracts if n not in found and n not in _by_snake(found)]
    if extra:
        raise ConfigError(f"{where}: contracts name unknown operation(s) {', '.join(extra)}")
    tools: list[Tool] = []
    for name in wanted:
        operation_id = name if name in found else _by_snake(found)[name]
        method, path, op, path_params = found[operation_id]
        at = f"{where}: operation {operation_id}"
        tools.append(
            _tool(
                operation_id,
                method,
                path,
                op,
                path_params,
                spec,
                document,
                inliner,
                _Context(base_url, client, base_dir, at),
            )
        )
    names = [t.name for t in tools]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: operations map to the same tool name: {', '.join(twice)}")
    return tools


@dataclass(frozen=True, slots=True)
class _Context:
    base_url: str
    client: GuardedClient
    base_dir: Path
    where: str


def _by_snake(found: Mapping[str, Any]) -> dict[str, str]:
    return {snake_case(n): n for n in found}


def _server_url(document: Mapping[str, Any], source: str, where: str) -> str:
    servers = cast(list[Any], document.get("servers") or [])
    url = str(cast(Mapping[str, Any], servers[0]).get("url", "")) if servers else ""
    if servers:
        variables = cast(
            Mapping[str, Any], cast(Mapping[str, Any], servers[0]).get("variables") or {}
        )
        for name, variable in variables.items():
            default = str(cast(Mapping[str, Any], variable).get("default", ""))
            url = url.replace("{" + name + "}", default)
    if urlsplit(url).scheme in ("http", "https"):
        return url
    if url and urlsplit(source).scheme in ("http", "https"):
        return urljoin(source, url)
    raise ConfigError(
        f"{where}: the document names no absolute server URL; give base_url in the toolset"
    )


def _operations(
    document: Mapping[str, Any], where: str
) -> dict[str, tuple[str, str, Mapping[str, Any], list[Any]]]:
    found: dict[str, tuple[str, str, Mapping[str, Any], list[Any]]] = {}
    for path, item in cast(Mapping[str, Any], document["paths"]).items():
        item = follow(document, item, f"{where}: path {path}")
        if not isinstance(item, Mapping):
            continue
        entry = cast(Mapping[str, Any], item)
        shared = cast(list[Any], entry.get("parameters") or [])
        for method in _METHODS:
            op = entry.get(method)
            if not isinstance(op, Mapping):
                continue
            operation = cast(Mapping[str, Any], op)
            operation_id = str(operation.get("operationId") or snake_case(f"{method}_{path}"))
            if operation_id in found:
                raise ConfigError(f"{where}: operationId {operation_id} is defined twice")
            found[operation_id] = (method.upper(), str(path), operation, shared)
    return found


def _tool(
    operation_id: str,
    method: str,
    path: str,
    op: Mapping[str, Any],
    path_params: list[Any],
    spec: OpenAPIToolset,
    document: Mapping[str, Any],
    inliner: SchemaInliner,
    context: _Context,
) -> Tool:
    where = context.where
    schemes, hidden = _schemes(op, document, spec, where)
    params: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*path_params, *cast(list[Any], op.get("parameters") or [])]:
        param = follow(document, raw, where)
        if isinstance(param, Mapping) and "name" in param and "in" in param:
            p = cast(Mapping[str, Any], param)
            params[(str(p["in"]), str(p["name"]))] = p  # the operation's own wins
    properties: dict[str, Any] = {}
    required: list[str] = []
    arguments: list[Argument] = []
    key_header: str | None = None
    for (location, wire), param in params.items():
        if location == "header" and wire.lower() in _KEY_HEADERS:
            key_header = wire  # filled with the runtime's key, never by the reasoner
            continue
        if location == "cookie" or (
            location == "header" and wire.lower() in hidden | _HIDDEN_HEADERS
        ):
            continue
        name = snake_case(wire)
        if name in properties:
            raise ConfigError(f"{where}: parameters {wire!r} and another both map to {name!r}")
        schema = inliner.inline(_param_schema(param), where)
        if param.get("description"):
            schema = {**schema, "description": str(param["description"])}
        properties[name] = schema
        if location == "path" or param.get("required") is True:
            required.append(name)
        arguments.append(Argument(name, cast(Any, location), wire))
    body = follow(document, op.get("requestBody"), where)
    if isinstance(body, Mapping):
        request = cast(Mapping[str, Any], body)
        media = _json_media(cast(Mapping[str, Any], request.get("content") or {}))
        if media is None:
            if request.get("required") is True:
                raise ConfigError(f"{where}: its request body is not JSON; only JSON is sent")
        else:
            name = "body" if "body" not in properties else "request_body"
            properties[name] = inliner.inline(media.get("schema", {}), where)
            if request.get("required") is True:
                required.append(name)
            arguments.append(Argument(name, "body", ""))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    tool_name = snake_case(operation_id)
    operation = Operation(
        method=method,
        path=path,
        base_url=context.base_url,
        arguments=tuple(arguments),
        schemes=schemes,
        key_header=key_header,
        client=context.client,
        base_dir=context.base_dir,
    )
    override = spec.contracts.get(operation_id) or spec.contracts.get(tool_name)
    contract = _contract(method, override, key_header is not None)
    unknown = [t for t in contract.targets if t not in properties]
    if unknown:
        raise ConfigError(f"{where}: contracts targets {unknown} are not its arguments")
    description = str(op.get("summary") or op.get("description") or f"{method} {path}")
    return Tool(
        name=tool_name,
        description=" ".join(description.split("\n\n")[0].split()),
        fn=operation,
        args_model=_args_model(tool_name, schema),
        contract=contract,
        takes_key=key_header is not None,
        preview=operation.preview,
    )


def _contract(method: str, override: ContractOverride | None, keyed: bool) -> ToolContract:
    fields: dict[str, Any] = {
        "side_effect": "read" if method in _READ_METHODS else "write",
        "trust": "untrusted",
        "idempotent": method in ("PUT", "DELETE"),
        # The guarded client bounds the call itself (connect, send, read, whole
        # response) and raises TimeoutError when a sent request times out; the runtime
        # reads that as a timeout (a write in doubt) without a second, racing deadline.
        "timeout_s": None,
    }
    if override is not None:
        fields |= override.model_dump(exclude_none=True)
    return ToolContract(**fields)


def _param_schema(param: Mapping[str, Any]) -> Any:
    if "schema" in param:
        return param["schema"]
    media = _json_media(cast(Mapping[str, Any], param.get("content") or {}))
    return media.get("schema", {}) if media is not None else {}


def _json_media(content: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for media_type, media in content.items():
        kind = media_type.split(";")[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            return cast(Mapping[str, Any], media) if isinstance(media, Mapping) else {}
    return None


def _schemes(
    op: Mapping[str, Any], document: Mapping[str, Any], spec: OpenAPIToolset, where: str
) -> tuple[tuple[Scheme, ...], frozenset[str]]:
    """The credentials the operation sends (the first security alternative the toolset
    has credentials for) and the header names they occupy (hidden from arguments)."""
    components = cast(Mapping[str, Any], document.get("components") or {})
    defined = cast(Mapping[str, Any], components.get("securitySchemes") or {})
    undefined = [n for n in spec.auth if n not in defined]
    if undefined:
        raise ConfigError(
            f"{where}: auth names security scheme(s) {', '.join(undefined)} the document "
            f"does not define (it defines {', '.join(defined) or 'none'})"
        )
    requirement = op.get("security", document.get("security"))
    alternatives = cast(list[Any], requirement) if isinstance(requirement, list) else []
    if not alternatives:
        return (), frozenset()
    for alternative in alternatives:
        names = list(cast(Mapping[str, Any], alternative or {}))
        if all(n in spec.auth for n in names):
            schemes = tuple(
                _scheme(follow(document, defined.get(n), where), spec.auth[n], n, where)
                for n in names
            )
            hidden = frozenset(s.name.lower() for s in schemes if s.kind == "header")
            return schemes, hidden
    wanted = " or ".join("+".join(cast(Mapping[str, Any], a or {})) for a in alternatives)
    raise ConfigError(f"{where}: it requires credentials for {wanted}; give them under auth")


def _scheme(definition: Any, credential: Credential, name: str, where: str) -> Scheme:
    if not isinstance(definition, Mapping):
        raise ConfigError(f"{where}: security scheme {name} is not defined")
    scheme = cast(Mapping[str, Any], definition)
    kind = str(scheme.get("type"))
    if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
        return Scheme(scheme["in"], str(scheme.get("name", "")), credential)
    if kind == "http" and str(scheme.get("scheme", "")).lower() in ("bearer", "basic"):
        kind_name: Any = str(scheme["scheme"]).lower()
        return Scheme(kind_name, "Authorization", credential)
    if kind in ("oauth2", "openIdConnect"):  # a token obtained elsewhere, sent as bearer
        return Scheme("bearer", "Authorization", credential)
    raise ConfigError(f"{where}: security scheme {name} ({kind}) is not supported")
