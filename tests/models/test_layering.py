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


def _model_imports(source: str) -> set[str]:
    """The `models.*` modules a module imports at run time: deferred imports inside functions included,
    those under `if TYPE_CHECKING:` (annotations only) not."""
    tree = ast.parse(source)
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("models.")
        and id(node) not in typing_only
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_models_form_no_import_circle() -> None:
    """The detector, the backends, the engines and the TensorRT profiles once imported each other in a circle
    of ten modules (mtcnn -> backend -> trt_profiles -> mtcnn, backend -> tensorrt_backend -> backend, ...):
    the pyramid maths now sit on their own (`models.detect.pyramid`) and the factory on top
    (`models.engines.factory`)."""
    files = [f for f in (ROOT / "models").rglob("*.py") if f.name != "__init__.py"]
    graph = {".".join(f.relative_to(ROOT).with_suffix("").parts): _model_imports(f.read_text()) for f in files}
    assert len(graph) > 10
    assert _circles(graph) == []


def test_the_circle_finder_finds_one() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
