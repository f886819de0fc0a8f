"""The hub's layers: routers depend on the parts they use, and the composition root only wires."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from hub.service import Hub

API = Path(__file__).resolve().parents[2] / "hub" / "api"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("router", sorted(p.name for p in API.glob("*.py") if p.name != "deps.py"))
def test_routers_never_reach_the_composition_root(router: str) -> None:
    source = (API / router).read_text()
    assert "hub.service" not in _imports(API / router)
    assert "app.state.hub" not in source  # through a part's dependency in hub.api.deps


def test_the_hub_only_builds_starts_and_stops() -> None:
    public = {name for name, _ in inspect.getmembers(Hub, inspect.isfunction) if not name.startswith("_")}
    assert public == {"parts", "start", "stop"}
