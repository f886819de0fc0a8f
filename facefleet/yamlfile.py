"""Reading a YAML config file into a mapping, or into a validated model, with one clear error for every way
it can be unreadable or invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_yaml_mapping(path: Path, error: type[ValueError] = ValueError) -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file is an empty mapping).

    Raises `error` (a ValueError subclass of the caller's choosing) naming the file and the reason: cannot
    be read, not UTF-8 YAML, or not a mapping at the top level.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read config {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def read_yaml_model(path: Path, model: type[M], error: type[ValueError], what: str) -> M:
    """The YAML file validated as `model`; every problem becomes one `error` naming the file and, one line
    each, the fields refused (`what` says what the file is: "config", "truth file")."""
    data = read_yaml_mapping(path, error)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise error(f"{path}: invalid {what}\n" + "\n".join(lines)) from exc
