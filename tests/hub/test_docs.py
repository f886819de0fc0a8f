"""hub/README.md stays true: every config key, CLI command and API route documented."""

from __future__ import annotations

import argparse
import re

import yaml
from pydantic import BaseModel

from hub.cli import build_parser
from hub.settings import EnrollConfig, HubSettings
from tests.conftest import ROOT

README = (ROOT / "hub" / "README.md").read_text(encoding="utf-8")


def test_every_enroll_key_is_documented_and_in_the_example() -> None:
    example = EnrollConfig.model_validate(yaml.safe_load((ROOT / "hub" / "hub.example.yaml").read_text())["enroll"])
    missing = [key for key in EnrollConfig.model_fields if f"`enroll.{key}`" not in README]
    assert not missing
    assert set(EnrollConfig.model_fields) - set(example.model_fields_set) <= {"frames_per_sample"}


def test_every_top_level_key_is_documented() -> None:
    keys = [k for k, f in HubSettings.model_fields.items() if k != "admin_token"
            and not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))]
    missing = [k for k in keys if not re.search(rf"`{k}`", README)]
    assert not missing


def test_every_command_is_documented() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f"`facefleet-hub {name}" in README, name


def test_every_api_route_is_documented(hub_server) -> None:  # type: ignore[no-untyped-def]
    with hub_server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    documented = re.sub(r"\{[^}]+\}", "{}", README)
    missing = [p for p in paths if re.sub(r"\{[^}]+\}", "{}", p) not in documented]
    assert not missing
