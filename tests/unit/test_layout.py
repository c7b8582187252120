"""The code's layout: no import cycles between modules, no function over 60 lines, no file over 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGES = ("mnist_core", "app")  # the import graph's modules
CHECKED = ("mnist_core", "app", "scripts", "streamlit_app.py")  # the product code whose sizes are checked
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400


# -- the import graph ---------------------------------------------------------------------------------------------


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of `packages` under `root`, by dotted name (a package by its __init__.py)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def known_module(name: str, modules: dict[str, Path]) -> str:
    """The longest leading part of a dotted name that is one of `modules`; "" for another library's."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The `modules` a file imports, wherever the import stands (top, function, `if TYPE_CHECKING:`): `import
    X.Y` counts X.Y, `from X import Y` counts X.Y when that is a module, else X; relative imports made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {known_module(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{source}.{alias.name}"
                found.add(name if name in modules else known_module(source, modules))
    return found - {"", module}


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports; imports of other libraries are left out."""
    modules = module_files(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# -- sizes --------------------------------------------------------------------------------------------------------


def product_files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = PROJECT_DIR / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def long_functions(path: Path, limit: int) -> Iterator[str]:
    """'file:line name (N lines)' for each function or method over `limit` lines, its decorators not counted."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                yield f"{path.relative_to(PROJECT_DIR)}:{node.lineno} {node.name} ({length} lines)"


# -- the tests ----------------------------------------------------------------------------------------------------


def test_no_import_cycles_between_modules() -> None:
    graph = import_graph(PROJECT_DIR, PACKAGES)
    assert len(graph) > 50 and graph["mnist_core.runs.store"]  # the graph is the project's, not an empty one
    found = cycles(graph)
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in found)


def test_no_function_over_60_lines() -> None:
    files = product_files()
    assert len(files) > 50
    found = [entry for path in files for entry in long_functions(path, MAX_FUNCTION_LINES)]
    assert found == [], f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)


def test_no_file_over_400_lines() -> None:
    lengths = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in product_files()}
    found = [f"{path.relative_to(PROJECT_DIR)} ({n} lines)" for path, n in lengths.items() if n > MAX_FILE_LINES]
    assert found == [], f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(found)


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("hidden", [
    "def late():\n    from pkg import a\n",  # inside a function
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import thing\n",  # for type checkers only
    "def late():\n    from . import a\n",  # relative
    "def late():\n    import pkg.a\n",
])
def test_the_checker_finds_a_cycle_wherever_the_import_hides(tmp_path: Path, hidden: str) -> None:
    write_package(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\nthing = 1\n",
                             "pkg/b.py": hidden, "pkg/c.py": "from pkg import a, b\n"})
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.c"] == {"pkg.a", "pkg.b"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_the_checker_sees_no_cycle_where_there_is_none(tmp_path: Path) -> None:
    write_package(tmp_path, {"pkg/__init__.py": "from pkg.a import thing\n", "pkg/a.py": "thing = 1\n",
                             "pkg/sub/__init__.py": "", "pkg/sub/b.py": "from .. import a\nfrom ..a import thing\n"})
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": set(), "pkg.sub": set(), "pkg.sub.b": {"pkg.a"}}
    assert cycles(graph) == []
