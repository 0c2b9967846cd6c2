"""The Python package is a one-way stack of layers: no module imports,
directly or through others, a module that imports it back. Every import
counts, at the top of a file or inside a function (a lazy import hides a
cycle; it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "qformat"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, here: str, is_package: bool, modules: set) -> list:
    """The package modules an ``from ... import ...`` names: a submodule when
    the imported name is one, else the module it is taken from."""
    if node.level:
        base = here.split(".") if is_package else here.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    found = []
    for alias in node.names:
        sub = f"{stem}.{alias.name}"
        found.append(sub if sub in modules else stem)
    return [m for m in found if m in modules]


def import_graph(root: Path) -> dict:
    """module -> set of package modules it imports (anywhere in its body)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    # compiled modules (typed by a stub) are leaves of the graph
    modules = set(files) | {_module_name(p, root) for p in root.rglob("*.pyi")}
    graph: dict = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                deps |= set(_resolve(node, name, path.name == "__init__.py", modules))
        deps.discard(name)
        # A package's __init__ may re-export its own submodules; that is not a
        # cycle unless a submodule imports the package's __init__ back.
        graph[name] = deps
    return graph


def find_cycle(graph: dict) -> list | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict = {}
    stack: list = []

    def visit(m: str) -> list | None:
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_relative_import_names_a_module():
    """A moved module leaves no import of its old name behind (a lazy one
    would only fail when its function runs)."""
    files = {_module_name(p, PACKAGE): p for p in PACKAGE.rglob("*.py")}
    modules = set(files) | {_module_name(p, PACKAGE) for p in PACKAGE.rglob("*.pyi")}
    missing = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                if not _resolve(node, name, path.name == "__init__.py", modules):
                    missing.append(f"{name}: from {'.' * node.level}{node.module or ''}")
    assert not missing


def test_the_layers_point_one_way():
    graph = import_graph(PACKAGE)
    low = {"qformat._formats", "qformat._profiles", "qformat._args"}
    for m in low:
        assert not any(d.startswith(("qformat.cli", "qformat.io", "qformat.verify"))
                       for d in graph[m]), m
    for m, deps in graph.items():
        if not m.startswith(("qformat.cli", "qformat.__main__")):
            assert not any(d.startswith("qformat.cli") for d in deps), f"{m} imports the CLI"
    assert "qformat._dask" in graph
    assert not graph["qformat._dask"] - {"qformat._args"}, "the dask adapter imports its callers"


@pytest.mark.parametrize("lazy", [False, True])
def test_the_cycle_check_finds_a_cycle(tmp_path, lazy):
    """The check itself can fail: a two-module package importing each other
    (at the top, or inside a function) is reported."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    body = "def f():\n    from .a import x\n" if lazy else "from .a import x\n"
    (pkg / "b.py").write_text(body)
    (pkg / "c.py").write_text("from pkg import a\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b"}
