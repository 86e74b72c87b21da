"""Joining and verifying the model file, on tiny part files (no model needed)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from charter.errors import ReasonerUnavailableError
from charter.reasoners import _model_file
from charter.reasoners._model_file import ModelSpec, ensure_model_file, package_parts

PARTS = [b"alpha-" * 1000, b"beta-" * 3, b"gamma"]
JOINED = b"".join(PARTS)


def _parts(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for n, data in enumerate(PARTS, start=1):
        path = directory / f"part{n:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _spec(parts: Sequence[Path], sha256: str | None = None, size: int | None = None) -> ModelSpec:
    return ModelSpec(
        name="tiny",
        filename="tiny.gguf",
        size=len(JOINED) if size is None else size,
        sha256=sha256 or hashlib.sha256(JOINED).hexdigest(),
        parts=lambda: list(parts),
    )


def _no_parts() -> list[Path]:
    raise AssertionError("parts must not be read when the cached file is good")


def test_joins_parts_in_order_and_stamps(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache" / "nested"  # created on demand

    path = ensure_model_file(cache, spec)

    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == JOINED
    stamp = json.loads((cache / "tiny.gguf.verified.json").read_text())
    assert stamp["sha256"] == spec.sha256
    assert stamp["size"] == len(JOINED)
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.verified.json"]


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"), sha256="0" * 64)
    cache = tmp_path / "cache"

    with pytest.raises(ReasonerUnavailableError) as info:
        ensure_model_file(cache, spec)

    message = str(info.value)
    assert "0" * 64 in message
    assert hashlib.sha256(JOINED).hexdigest() in message
    assert "pip install --require-hashes -r requirements-llm.txt" in message
    assert list(cache.iterdir()) == []


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"), size=len(JOINED) + 1)

    with pytest.raises(ReasonerUnavailableError, match="corrupt"):
        ensure_model_file(tmp_path / "cache", spec)

    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_package_names_package_and_command() -> None:
    locate = package_parts("charter_no_such_module_part", "no-such-part", 3, "1.2.3")

    with pytest.raises(ReasonerUnavailableError) as info:
        locate()

    message = str(info.value)
    assert "no-such-part1==1.2.3" in message
    assert "no-such-part3==1.2.3" in message
    assert "pip install --require-hashes -r requirements-llm.txt" in message


def test_missing_part_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "mods" / "charter_fake_part1.py"
    module.parent.mkdir()
    module.write_text(f"def get_part_path():\n    return {str(tmp_path / 'gone.bin')!r}\n")
    monkeypatch.setattr(sys, "path", [str(module.parent), *sys.path])

    with pytest.raises(ReasonerUnavailableError, match=r"gone\.bin"):
        package_parts("charter_fake_part", "fake-part", 1, "0.1")()


def test_stamp_fast_path_skips_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache"
    ensure_model_file(cache, spec)

    def fail(path: Path) -> str:
        raise AssertionError(f"{path} re-hashed despite a valid stamp")

    monkeypatch.setattr(_model_file, "_hash_file", fail)
    fast = ModelSpec(spec.name, spec.filename, spec.size, spec.sha256, _no_parts)

    assert ensure_model_file(cache, fast).read_bytes() == JOINED


def test_good_file_without_stamp_is_hashed_once_and_stamped(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.gguf").write_bytes(JOINED)
    fast = ModelSpec(spec.name, spec.filename, spec.size, spec.sha256, _no_parts)

    ensure_model_file(cache, fast)

    assert (cache / "tiny.gguf.verified.json").is_file()


def _corrupt_in_place(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    # Guarantee a different mtime even on coarse-grained filesystems.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_corrupt_cached_file_is_detected_and_rejoined(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache"
    path = ensure_model_file(cache, spec)
    _corrupt_in_place(path)

    assert ensure_model_file(cache, spec).read_bytes() == JOINED


def test_corrupt_cached_file_without_parts_is_removed(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache"
    path = ensure_model_file(cache, spec)
    _corrupt_in_place(path)

    def missing() -> list[Path]:
        raise ReasonerUnavailableError("local model parts missing: tiny-part1==1")

    broken = ModelSpec(spec.name, spec.filename, spec.size, spec.sha256, missing)
    with pytest.raises(ReasonerUnavailableError, match="tiny-part1"):
        ensure_model_file(cache, broken)

    assert list(cache.iterdir()) == []


def test_wrong_size_cached_file_is_rejoined(tmp_path: Path) -> None:
    spec = _spec(_parts(tmp_path / "parts"))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.gguf").write_bytes(JOINED[:-3])

    assert ensure_model_file(cache, spec).read_bytes() == JOINED


def test_default_cache_dir_follows_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_MODEL_CACHE", str(tmp_path / "env-cache"))
    spec = _spec(_parts(tmp_path / "parts"))

    assert ensure_model_file(spec=spec) == tmp_path / "env-cache" / "tiny.gguf"


def test_default_spec_matches_pinned_model() -> None:
    spec = _model_file.DEFAULT
    assert spec.filename == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert spec.size == 1_117_320_768
    assert spec.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
