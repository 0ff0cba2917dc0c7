"""No runtime import cycle in gatepay_async and gatepay_sync (which import each other).

Imports are read with ``ast``, not by importing: module-level and function-level imports
count (a function's import runs at some call, and a cycle there is a cycle at that call),
and so do ``importlib.import_module`` calls with a literal name. Imports under
``if TYPE_CHECKING:`` do not run, so they do not count.

Importing ``a.b`` runs package ``a`` first, so a module depends on the packages on the
way to what it imports, except the packages that enclose it (they are being imported
already when it runs). ``from a import name`` depends on ``a`` itself unless ``name`` is
a submodule of ``a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` except those only under ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                found += [other, *_runtime_nodes(other)]
            continue
        found += [child, *_runtime_nodes(child)]
    return found


def _imported(name: str, is_package: bool, tree: ast.Module) -> list[tuple[str, str | None]]:
    """(module, name taken from it or None) for each runtime import in ``tree``."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(module, alias.name) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            found.append((node.args[0].value, None))
    return found


def import_graph(*package_dirs: Path) -> dict[str, set[str]]:
    """Module -> the modules of these packages that importing it runs first."""
    paths = {
        _module_name(package_dir, path): path
        for package_dir in package_dirs
        for path in package_dir.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        enclosing = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges: set[str] = set()
        for module, taken in _imported(name, is_package, ast.parse(path.read_text("utf-8"))):
            target = module
            if taken is not None and f"{module}.{taken}" in paths:
                target = f"{module}.{taken}"  # a submodule: ``module`` is only on the way
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step in paths and step != name and (step == target or step not in enclosing):
                    edges.add(step)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_runtime_import_cycle() -> None:
    graph = import_graph(ROOT / "gatepay_async", ROOT / "gatepay_sync")
    assert {"gatepay_async.cli._app", "gatepay_sync._client"} <= set(graph)
    loops = {
        " -> ".join(component): {m: sorted(graph[m] & set(component)) for m in component}
        for component in cycles(graph)
    }
    assert loops == {}


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pkg"


def test_the_walk_finds_a_cycle_through_a_late_function_level_import(tmp_path: Path) -> None:
    # The shape this test was written against: a group module that registers commands at
    # its bottom, from modules that import the group.
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "cli/__init__.py": "def main():\n    from pkg.cli._app import cli\n",
            "cli/_app.py": "cli = object()\ndef _register():\n    from . import _commands\n",
            "cli/_commands.py": "from pkg.cli._app import cli\n",
            "cli/_lazy.py": "import importlib\nimportlib.import_module('pkg.cli._commands')\n",
        },
    )
    assert cycles(import_graph(package)) == [["pkg.cli._app", "pkg.cli._commands"]]


def test_the_walk_skips_type_checking_imports_and_follows_package_faces(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "from pkg._client import Client\n",
            "_client.py": "from pkg.resources import cards\n",
            "resources/__init__.py": "",
            # a type-only import back is no cycle ...
            "resources/cards.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg._client import Client\n"
            ),
            # ... but taking a name from the package face at run time is one
            "resources/bulk.py": "from pkg import Client\n",
            "_other.py": "from pkg.resources import bulk\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.resources.cards"] == set()
    assert cycles(graph) == []
    (package / "_client.py").write_text("from pkg.resources import cards, bulk\n")
    assert cycles(import_graph(package)) == [["pkg", "pkg._client", "pkg.resources.bulk"]]
