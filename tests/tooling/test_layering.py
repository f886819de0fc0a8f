"""The layers of the house: facefleet/ is the contract both programs share and imports none of them; no
program (edge/, hub/, models/) imports the tooling built on top of them (tooling/)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT
from tests.models.test_layering import _imports

PARTS = ("edge", "hub", "models", "tooling")


def _offenders(package: str, forbidden: set[str]) -> dict[str, list[str]]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) > 3
    found = {str(f.relative_to(ROOT)): sorted(_imports(f.read_text()) & forbidden) for f in files}
    return {f: names for f, names in found.items() if names}


def test_the_contract_imports_no_program_and_no_tooling() -> None:
    assert _offenders("facefleet", set(PARTS)) == {}


def test_no_program_imports_the_tooling() -> None:
    for program in ("edge", "hub", "models"):
        assert _offenders(program, {"tooling"}) == {}, program


def _contract_imports(path: Path) -> set[str]:
    """The facefleet modules a file imports (`from facefleet.wire import ...` gives `wire`)."""
    return {name.split(".")[1] for name in _modules(path.read_text()) if name.startswith("facefleet.")}


def _modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_contract_is_used_by_both_programs() -> None:
    """What facefleet/ holds is shared: each of its modules is imported by the edge agent and by the hub, or by
    a contract module that both import (the open-set rule is part of the gallery format); a module only one
    side uses belongs to that side."""
    modules = {f.stem: _contract_imports(f) for f in (ROOT / "facefleet").glob("*.py") if f.stem != "__init__"}
    assert len(modules) > 3
    users: dict[str, set[str]] = {m: set() for m in modules}
    for program in ("edge", "hub"):
        for f in (ROOT / program).rglob("*.py"):
            for module in _contract_imports(f):
                users[module].add(program)
    for _ in modules:  # through contract modules, to a fixed point
        for module, imported in modules.items():
            for name in imported:
                users[name] |= users[module]
    assert {m: sorted(who) for m, who in users.items() if who != {"edge", "hub"}} == {}
