"""Reading a YAML config file into a mapping, with one clear error for every way it can be unreadable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


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
