"""hub/README.md stays true: every config key (nested ones too), CLI command and API route documented."""

from __future__ import annotations

import re

import yaml

from hub.cli import build_parser
from hub.settings import EnrollConfig, HubSettings
from tests.conftest import ROOT
from tests.readme_docs import config_keys, undocumented_commands, undocumented_keys, undocumented_options

README = (ROOT / "hub" / "README.md").read_text(encoding="utf-8")


def test_every_enroll_key_is_documented_and_in_the_example() -> None:
    example = EnrollConfig.model_validate(yaml.safe_load((ROOT / "hub" / "hub.example.yaml").read_text())["enroll"])
    missing = [key for key in EnrollConfig.model_fields if f"`enroll.{key}`" not in README]
    assert not missing
    assert set(EnrollConfig.model_fields) - set(example.model_fields_set) <= {"frames_per_sample"}


def test_every_config_key_is_documented() -> None:
    keys = config_keys(HubSettings)
    assert "visitors.suggest.min_margin" in keys and "admin_token" not in keys  # nested; secrets are not keys
    assert not undocumented_keys(keys, README)


def test_every_command_and_option_is_documented() -> None:
    assert not undocumented_commands("facefleet-hub", build_parser())
    assert not undocumented_options("facefleet-hub", build_parser())


def test_every_api_route_is_documented(hub_server) -> None:  # type: ignore[no-untyped-def]
    with hub_server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    documented = re.sub(r"\{[^}]+\}", "{}", README)
    missing = [p for p in paths if re.sub(r"\{[^}]+\}", "{}", p) not in documented]
    assert not missing
