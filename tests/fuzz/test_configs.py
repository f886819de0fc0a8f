"""Config files: any YAML (or not-YAML) gives the config or a clear error, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from edge.config import ConfigError, EdgeConfig, load_config
from hub.settings import HubSettings, load_settings
from tests.conftest import ROOT
from tests.fuzz.strategies import FUZZ, mutated_doc

EDGE_EXAMPLE = yaml.safe_load((ROOT / "edge" / "edge.example.yaml").read_text())
HUB_EXAMPLE = yaml.safe_load((ROOT / "hub" / "hub.example.yaml").read_text())


def texts(example: dict[str, object]) -> st.SearchStrategy[bytes]:
    """The example with a few keys broken, random text, or random bytes."""
    return st.one_of(
        mutated_doc(example).map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
        st.text(max_size=300).map(str.encode),
        st.binary(max_size=300),
    )


def _load(loader, text: bytes):  # type: ignore[no-untyped-def]
    """Run `loader` on a file holding `text`: (its result or the exception it raised, the file's name, the
    file's top-level mapping as YAML reads it or None). The folder must hold only that file afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text)
        doc = _top_mapping(path)
        try:
            result = loader(path)
        except Exception as exc:  # the caller checks which one it is
            result = exc
        assert [p.name for p in Path(tmp).iterdir()] == ["config.yaml"]
        return result, str(path), doc


def _top_mapping(path: Path) -> dict[str, Any] | None:
    """The file's top-level mapping as YAML reads it (empty: {}), or None for not YAML or not a mapping."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return {} if doc is None else doc if isinstance(doc, dict) else None


def _schema_errors(schema: type[BaseModel], doc: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]] | None:
    """(location, message) of each problem `schema` itself finds in `doc`, or None when it accepts it."""
    try:
        schema.model_validate(doc)
    except ValidationError as exc:
        return [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    return None


@FUZZ
@given(texts(EDGE_EXAMPLE))
def test_edge_config_loads_or_raises_config_error(text: bytes) -> None:
    result, path, doc = _load(load_config, text)
    if isinstance(result, EdgeConfig):  # loaded: exactly what the file says, nothing dropped or defaulted
        assert doc is not None and result == EdgeConfig.model_validate(doc)
        return
    assert isinstance(result, ConfigError), f"not a ConfigError: {result!r}"
    assert path in str(result)  # the message names the file ...
    if doc is not None:  # ... and, for a mapping, every field the schema refuses (and only refused ones)
        refused = _schema_errors(EdgeConfig, doc)
        assert refused, "a config the schema accepts was refused"
        lines = [f"  {'.'.join(str(p) for p in loc) or '<root>'}: {msg}" for loc, msg in refused]
        assert all(line in str(result) for line in lines)


@FUZZ
@given(texts(HUB_EXAMPLE))
def test_hub_settings_load_or_raise_value_error(text: bytes) -> None:
    result, path, doc = _load(load_settings, text)
    mqtt = doc.get("mqtt") if doc is not None else None
    secret = doc is not None and ("admin_token" in doc or isinstance(mqtt, dict) and "password" in mqtt)
    if isinstance(result, HubSettings):  # loaded: exactly what the file says, and no secret came from it
        assert doc is not None and not secret and result == HubSettings.model_validate(doc)
        return
    assert isinstance(result, ValueError), f"not a ValueError: {result!r}"
    if doc is None or secret:  # not a mapping, or a secret in the file: the message names the file
        assert path in str(result)
    else:  # a mapping the schema refuses: the error gives each problem and the section it is in
        refused = _schema_errors(HubSettings, doc)
        assert refused, "settings the schema accepts were refused"
        assert all(msg in str(result) and (not loc or str(loc[0]) in str(result)) for loc, msg in refused)
