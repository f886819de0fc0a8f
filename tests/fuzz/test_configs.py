"""Config files: any YAML (or not-YAML) gives the config or a clear error, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

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
    """Run `loader` on a file holding `text`; the folder must hold only that file afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text)
        try:
            return loader(path)
        finally:
            assert [p.name for p in Path(tmp).iterdir()] == ["config.yaml"]


@FUZZ
@given(texts(EDGE_EXAMPLE))
def test_edge_config_loads_or_raises_config_error(text: bytes) -> None:
    try:
        assert isinstance(_load(load_config, text), EdgeConfig)
    except ConfigError as exc:
        assert str(exc)


@FUZZ
@given(texts(HUB_EXAMPLE))
def test_hub_settings_load_or_raise_value_error(text: bytes) -> None:
    try:
        assert isinstance(_load(load_settings, text), HubSettings)
    except ValueError as exc:
        assert str(exc)
