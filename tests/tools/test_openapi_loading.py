"""Loading an ``openapi:`` toolset: the document, its references, and every bad input as
one line (exit status 2 from the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from charter import Journal, Runner, load_agent
from charter.cli import app
from charter.errors import ConfigError
from charter.tools import _openapi_schema
from charter.tools._openapi import OpenAPIToolset, openapi_tools
from openapi_service import EXAMPLE, SPEC, Service, serve

cli = CliRunner()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with serve() as running:
        yield running


def load(tmp_path: Path, **fields: Any) -> list[Any]:
    spec = OpenAPIToolset.model_validate(
        {"openapi": str(SPEC), "hosts": ["127.0.0.1"], "allow_private": True} | fields
    )
    return openapi_tools(spec, base_dir=tmp_path, source="agent.yaml")


def document(tmp_path: Path, doc: dict[str, Any], name: str = "api.yaml") -> str:
    (tmp_path / name).write_text(yaml.safe_dump(doc))
    return name


def minimal(schema: dict[str, Any], version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    """A one-operation document whose body has ``schema``."""
    return {
        "openapi": version,
        "servers": [{"url": "http://127.0.0.1:9"}],
        "paths": {
            "/things": {
                "post": {
                    "operationId": "makeThing",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": schema}},
                    },
                }
            }
        },
    } | extra


def body_schema(tmp_path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    (made,) = load(tmp_path, openapi=document(tmp_path, doc))
    return made.parameters_schema()["properties"]["body"]


def agent_file(tmp_path: Path, toolset: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "billing",
                "toolsets": [toolset],
                "reasoner": {"kind": "rules", "steps": [{"respond": "ok"}]},
                "charter": {"name": "billing"},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("toolset", "expected"),
    [
        ({"openapi": "nothing.yaml"}, "cannot read nothing.yaml: No such file"),
        ({"openapi": "broken.yaml"}, "broken.yaml does not parse as YAML or JSON at line"),
        (
            {"operations": ["getInvoice", "refundEverything"]},
            "unknown operation(s) refundEverything",
        ),
        ({"hosts": ["billing.example.com"]}, "is not allowed; add it to hosts"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, toolset: dict[str, Any], expected: str
) -> None:
    (tmp_path / "broken.yaml").write_text("openapi: 3.0.3\npaths: {unclosed\n")
    full = {
        "openapi": str(SPEC),
        "base_url": "http://127.0.0.1:8750",
        "hosts": ["127.0.0.1"],
        "operations": ["getInvoice"],
        "auth": {"apiKey": {"env": "BILLING_API_KEY"}},
    } | toolset

    result = cli.invoke(app, ["policy", "check", str(agent_file(tmp_path, full))])

    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_an_openapi_toolset_without_hosts_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"field toolsets\.0\.hosts: Field required"):
        load_agent(agent_file(tmp_path, {"openapi": str(SPEC)}))


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"swagger": "2.0", "paths": {}}, "not an OpenAPI 3.0 or 3.1 document"),
        ({"openapi": "3.0.0"}, "has no paths"),
        (["a", "list"], "not a mapping"),
        (minimal({"$ref": "https://example.com/schemas.json#/Thing"}), "points outside"),
        (minimal({"$ref": "#/components/schemas/Missing"}), "names nothing in the document"),
        (minimal({}, servers=[{"url": "/v1"}]), "no absolute server URL; give base_url"),
    ],
)
def test_documents_that_cannot_be_used_are_refused(tmp_path: Path, doc: Any, expected: str) -> None:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc))

    with pytest.raises(ConfigError, match=expected):
        load(tmp_path, openapi="api.yaml")


def test_credentials_the_document_cannot_use_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"auth names security scheme\(s\) oauth"):
        load(tmp_path, operations=["getInvoice"], auth={"oauth": {"env": "X"}})
    with pytest.raises(ConfigError, match="requires credentials for apiKey; give them"):
        load(tmp_path, operations=["getInvoice"])
    both = {"openapi": str(SPEC), "hosts": ["h"], "auth": {"apiKey": {"env": "A", "file": "b"}}}
    with pytest.raises(ConfigError, match=r"auth\.apiKey: give exactly one of env or file"):
        load_agent(agent_file(tmp_path, both))


def test_contracts_must_name_operations_and_arguments(tmp_path: Path) -> None:
    auth = {"bearerAuth": {"env": "T"}}
    with pytest.raises(ConfigError, match=r"contracts name unknown operation\(s\) refundAll"):
        load(tmp_path, operations=["createRefund"], auth=auth, contracts={"refundAll": {}})
    with pytest.raises(ConfigError, match=r"targets \['customer'\] are not its arguments"):
        load(
            tmp_path,
            operations=["createRefund"],
            auth=auth,
            contracts={"create_refund": {"targets": ["customer"]}},
        )


def test_openapi_30_nullable_and_exclusive_bounds_become_json_schema(tmp_path: Path) -> None:
    schema = body_schema(
        tmp_path,
        minimal(
            {
                "type": "object",
                "properties": {
                    "note": {"type": "string", "nullable": True, "example": "x"},
                    "size": {"type": "integer", "maximum": 9, "exclusiveMaximum": True},
                },
            }
        ),
    )

    assert schema["properties"]["note"] == {"type": ["string", "null"]}
    assert schema["properties"]["size"] == {"type": "integer", "exclusiveMaximum": 9}


def test_a_recursive_schema_is_inlined_to_a_bounded_depth(tmp_path: Path) -> None:
    node = {
        "type": "object",
        "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
        },
    }
    doc = minimal(
        {"$ref": "#/components/schemas/Node"}, "3.1.0", components={"schemas": {"Node": node}}
    )

    schema = body_schema(tmp_path, doc)

    assert schema["properties"]["children"]["items"] == {}


def test_a_reference_expansion_past_the_budget_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each level refers to the next twice: 2**20 nodes once inlined, from 20 lines.
    schemas = {
        f"L{i}": {"type": "array", "items": [{"$ref": f"#/components/schemas/L{i + 1}"}] * 2}
        for i in range(20)
    } | {"L20": {"type": "string"}}
    doc = minimal({"$ref": "#/components/schemas/L0"}, components={"schemas": schemas})
    monkeypatch.setattr(_openapi_schema, "MAX_NODES", 5_000)

    with pytest.raises(ConfigError, match="expand to more than 5000 nodes"):
        load(tmp_path, openapi=document(tmp_path, doc))


def test_a_document_is_read_from_a_url(tmp_path: Path, service: Service) -> None:
    made = load(
        tmp_path,
        openapi=f"{service.url}/openapi.yaml",
        base_url=service.url,
        operations=["exportLedger"],
        auth={"apiKey": {"env": "BILLING_API_KEY"}},
    )

    assert [t.name for t in made] == ["export_ledger"]


def test_a_document_url_that_fails_is_one_line(tmp_path: Path, service: Service) -> None:
    with pytest.raises(ConfigError, match="returned HTTP 404"):
        load(tmp_path, openapi=f"{service.url}/nothing.yaml")


def test_an_oversized_document_is_refused(
    tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.tools import _openapi

    monkeypatch.setattr(_openapi, "MAX_SPEC_BYTES", 1_000)
    with pytest.raises(ConfigError, match="larger than 1000 bytes"):
        load(tmp_path, openapi=f"{service.url}/openapi.yaml")
    with pytest.raises(ConfigError, match="larger than 1000 bytes"):
        load(tmp_path)


def test_the_example_agent_refunds_through_the_service(
    tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.reset()
    monkeypatch.setenv("BILLING_API_KEY", service.billing.api_key)
    monkeypatch.setenv("BILLING_TOKEN", service.billing.token)
    example = yaml.safe_load((EXAMPLE / "billing.agent.yaml").read_text())
    (toolset,) = example["toolsets"]
    toolset |= {
        "openapi": str(SPEC),
        "base_url": service.url,
        "hosts": [f"127.0.0.1:{service.port}"],
    }
    agent = load_agent(EXAMPLE / "billing.agent.yaml", overrides={"toolsets": [toolset]})
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")

    run = Runner(journal).run(agent, "Refund 20 of invoice 7")

    assert run.status == "completed", run.steps
    assert run.answer == "Refunded 20 of invoice 7 (Ada): refund 1."
    assert service.billing.refunds[0]["amount"] == 20
    assert journal.verify().ok


def test_openapi_31_keywords_beside_a_reference_all_hold(tmp_path: Path) -> None:
    doc = minimal(
        {"$ref": "#/components/schemas/Amount", "maximum": 100},
        "3.1.0",
        components={"schemas": {"Amount": {"type": ["number", "null"], "minimum": 0}}},
    )
    (made,) = load(tmp_path, openapi=document(tmp_path, doc))

    assert made.parameters_schema()["properties"]["body"] == {
        "allOf": [{"type": ["number", "null"], "minimum": 0}, {"maximum": 100}]
    }
    assert made.validate_args({"body": None}).model_dump() == {"body": None}
    with pytest.raises(ValueError, match="body: 101 is greater than the maximum of 100"):
        made.validate_args({"body": 101})


def test_server_variables_take_their_defaults(tmp_path: Path) -> None:
    doc = minimal(
        {},
        servers=[
            {
                "url": "http://{host}:{port}/v1",
                "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": "8750"}},
            }
        ],
    )
    (made,) = load(tmp_path, openapi=document(tmp_path, doc))

    assert made.fn.base_url == "http://127.0.0.1:8750/v1"
