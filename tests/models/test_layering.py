"""models/ is the shared base: it never imports the programs built on it (hub/, edge/), not even lazily."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PROGRAMS = ("hub", "edge")


def _imports(source: str) -> set[str]:
    """Top-level package of every import in a module, those inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_models_never_import_the_programs() -> None:
    files = sorted((ROOT / "models").rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(ROOT)): sorted(_imports(f.read_text()) & set(PROGRAMS)) for f in files}
    assert not {f: names for f, names in offenders.items() if names}


def test_the_import_scan_sees_deferred_imports() -> None:
    assert _imports("def f():\n    from hub.training import x\n    import edge.app\n") == {"hub", "edge"}
