"""Typed record kinds: one model per kind every writer uses, and a journal written before
the models existed read back through them byte for byte."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal, _kinds, canonical_json, load_verifier, record_hash
from charter.journal._kind_check import PayloadShapeError, parse_payload
from charter.journal._kinds import MODELS, StepDecided, payload_as

FIXTURES = Path(__file__).parent / "fixtures"
OLD_JOURNAL = FIXTURES / "kinds_journal.sqlite"
OLD_KEY = FIXTURES / "kinds_journal.pub"
SRC = Path(__file__).resolve().parents[2] / "src" / "charter"

_DOTTED = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def _kind(node: ast.AST | None) -> str | None:
    """The kind a str constant names, or ``prefix.*`` for an f-string's constant head."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _DOTTED.match(node.value) else None
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            prefix = head.value
            return f"{prefix}*" if prefix.endswith(".") and _DOTTED.match(prefix + "x") else None
    return None


def written_kinds() -> dict[str, str]:
    """Every record kind src/ names where it writes one, with where: the kind argument of
    a ``.record(kind, payload)``, ``append(kind, payload)`` or ``_write(kind, payload)``
    call, the kind of a ``(run_id, kind, payload)`` entry, a module constant naming a kind
    (not a ``*_RULE`` id nor a ``*_TOOL`` name) and the members of a ``*_KINDS`` tuple,
    both of a family some model has; an f-string kind (``rollback.{outcome}``) as its
    prefix and ``*``."""
    families = {kind.split(".")[0] for kind in MODELS}
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.name in ("_kinds.py", "_kind_check.py"):
            continue
        where = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            kinds: list[str | None] = []
            if isinstance(node, ast.Call) and len(node.args) == 2:
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("record", "append", "_write"):
                    found.setdefault(_kind(node.args[0]) or "", where)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 3:
                found.setdefault(_kind(node.elts[1]) or "", where)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and not target.id.endswith(("_RULE", "_TOOL")):
                    kinds.append(_kind(node.value))
                    if target.id.endswith("_KINDS") and isinstance(node.value, ast.Tuple):
                        kinds += [_kind(element) for element in node.value.elts]
            for kind in kinds:
                if kind and kind.split(".")[0] in families:
                    found.setdefault(kind, where)
    found.pop("", None)
    return found


def test_the_scan_finds_kinds_written_in_each_way() -> None:
    found = written_kinds()

    assert found["answer.checked"] == "runtime/_governor.py"  # session.record(kind, ...)
    assert "control.unsupervise" in found  # a *_KINDS tuple and Controls._write
    assert "effect.resolved" in found  # RESOLVED = "effect.resolved"
    assert "api.rejected.burst" in found  # (REJECTED_RUN, "api.rejected.burst", s)
    assert "rollback.*" in found  # f"rollback.{item.outcome}"
    assert "effect.in_doubt" not in found  # IN_DOUBT_RULE: a rule id, not a kind


def test_every_kind_src_writes_has_a_model() -> None:
    found = written_kinds()

    missing = {
        kind: where
        for kind, where in found.items()
        if not (
            kind in MODELS or (kind.endswith("*") and any(k.startswith(kind[:-1]) for k in MODELS))
        )
    }
    assert missing == {}, f"record kinds without a model in charter.journal._kinds: {missing}"


def _fixture_rows() -> list[tuple[int, str, str, str, str, str, str]]:
    conn = sqlite3.connect(f"file:{OLD_JOURNAL}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT seq, run_id, kind, ts, payload, prev_hash, hash FROM journal_records "
            "ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def old_journal(tmp_path: Path) -> Path:
    """A copy of the journal written before the models (verify only reads it, but a copy
    keeps the committed file untouched whatever a test does)."""
    copy = tmp_path / "kinds_journal.sqlite"
    shutil.copyfile(OLD_JOURNAL, copy)
    return copy


def test_the_old_journal_verifies_clean(old_journal: Path) -> None:
    journal = Journal(f"sqlite:///{old_journal}", read_only=True)
    try:
        report = journal.verify(load_verifier(OLD_KEY))
    finally:
        journal.close()

    assert report.ok, report.problems
    assert report.checked == len(_fixture_rows())
    assert report.checkpoints_checked > 0
    assert report.signed_through == report.head_seq
    assert report.unsigned_runs == []


def test_charter_audit_verify_passes_on_the_old_journal(
    old_journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{old_journal}")

    result = CliRunner().invoke(app, ["audit", "verify", "--public-key", str(OLD_KEY)])

    assert result.exit_code == 0, result.output
    assert "journal intact" in result.output


NEWER_KINDS = {
    "answer.released": "tests/runtime/test_answer_approval.py",
    "run.inherited": "tests/test_governance_inherit.py",
}
"""Kinds first written after the old journal was made (so it cannot hold them), each with
the test that parses a record of it, journaled by today's code, into its model."""


def test_the_old_journal_holds_every_kind_src_writes_but_the_newer_ones() -> None:
    stored = {row[2] for row in _fixture_rows()}
    written = {k for k in written_kinds() if not k.endswith("*")}

    assert written - stored == set(NEWER_KINDS)
    assert set(NEWER_KINDS) <= set(MODELS)
    for kind, test in NEWER_KINDS.items():
        source = (Path(__file__).parents[2] / test).read_text()
        assert f'parse_payload("{kind}"' in source, f"{test} parses no {kind} record"


def test_every_old_record_parses_into_its_model_and_encodes_byte_for_byte() -> None:
    rows = _fixture_rows()
    assert {row[2] for row in rows} == set(MODELS) - set(NEWER_KINDS)

    for seq, run_id, kind, ts, payload_json, prev_hash, digest in rows:
        parsed = parse_payload(kind, json.loads(payload_json))
        again = canonical_json(parsed)

        assert again == payload_json, f"record {seq} ({kind}) re-encodes differently"
        assert record_hash(seq, run_id, kind, ts, prev_hash, again) == digest


def test_a_payload_with_a_key_its_model_does_not_declare_is_refused() -> None:
    with pytest.raises(PayloadShapeError, match="does not declare"):
        parse_payload("run.waiting", {"request_id": "apr-1", "active_seconds": 1.5, "x": 1})


def test_a_payload_missing_a_required_key_is_refused() -> None:
    with pytest.raises(PayloadShapeError, match=r"'request_id'.*missing"):
        parse_payload("run.waiting", {"active_seconds": 1.5})


def test_a_value_of_the_wrong_type_is_refused_and_a_bool_is_no_integer() -> None:
    with pytest.raises(PayloadShapeError, match="'step'"):
        parse_payload("step.observed", {"step": True, "status": "ok", "text": ""})
    with pytest.raises(PayloadShapeError, match="'text'"):
        parse_payload("step.observed", {"step": 1, "status": "ok", "text": 3})


def test_a_kind_without_a_model_is_refused() -> None:
    with pytest.raises(PayloadShapeError, match="no model"):
        parse_payload("step.imagined", {})


def test_an_optional_key_left_out_stays_out() -> None:
    payload: dict[str, Any] = {
        "step": 2,
        "tool": "refund",
        "agent": "a",
        "labels": {},
        "verdict": "allow",
        "rules": [],
        "reason": "",
        "policy": "p",
    }

    parsed = parse_payload("step.decided", payload)

    assert "sources" not in parsed and "phase" not in parsed
    assert canonical_json(parsed) == canonical_json(payload)


def test_payload_as_reads_the_payload_itself() -> None:
    payload: dict[str, Any] = {"step": 1, "verdict": "deny"}

    typed = payload_as(StepDecided, payload)

    assert typed is payload
    assert typed["verdict"] == "deny"


def test_a_second_model_for_a_kind_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'run\.waiting' has two models"):
        _kinds.kind("run.waiting")(dict)

    assert MODELS["run.waiting"].__name__ == "RunWaiting"


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PayloadShapeError, match="not an object"):
        parse_payload("run.waiting", ["apr-1"])  # type: ignore[arg-type]


def test_a_nested_model_is_checked_too() -> None:
    proposed: dict[str, Any] = {"step": 1, "action": {"tool": "refund"}}  # no args

    with pytest.raises(PayloadShapeError, match="action"):
        parse_payload("step.proposed", proposed)
