"""Loading YAML documents into Pydantic models with one-line, file-and-field errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError

from charter.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse ``path`` as a YAML mapping or raise :class:`ConfigError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"
        ) from exc
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_yaml_mapping(text, str(path))


def parse_yaml_mapping(text: str, path: str) -> dict[str, Any]:
    """Parse ``text`` as a YAML mapping or raise :class:`ConfigError` naming ``path``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from exc
    except RecursionError as exc:  # PyYAML composes nested nodes recursively
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from exc
    except ValueError as exc:  # a scalar its constructor refuses: 2024-13-45, a 5000-digit int
        problem = str(exc).split(";")[0]
        raise ConfigError(f"{path}: invalid YAML value: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return {str(k): v for k, v in cast(dict[Any, Any], data).items()}


def validation_message(source: str, exc: ValidationError) -> str:
    """One line naming each invalid field of ``source``."""
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        # Whole-document checks name their own field path in the message.
        parts.append(f"field {loc}: {message}" if loc else message)
    return f"{source}: " + "; ".join(parts)


def load_model(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    """Validate ``data`` as ``model``; raise :class:`ConfigError` naming ``source`` and fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(source, exc)) from exc
