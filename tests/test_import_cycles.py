"""No runtime import cycle in gatepay_async and gatepay_sync (which import each other).

Imports are read with ``ast``, not by importing: module-level and function-level imports
count (a function's import runs at some call, and a cycle there is a cycle at that call),
and so do ``importlib.import_module`` calls with a literal name. Imports under
``if TYPE_CHECKING:`` do not run, so they do not count.

Importing ``a.b`` runs package ``a`` first, so a module depends on the packages on the
way to what it imports, except the packages that enclose it (they are being imported
already when it runs). ``from a import name`` depends on ``a`` itself unless ``name`` is
a submodule of ``a``.

And the layers: ARCHITECTURE.md's table assigns every module of gatepay_async to exactly
one layer, and every import (``TYPE_CHECKING`` ones included) runs to the importer's own
layer or to one of a lower level; a generated module of gatepay_sync is in the layer of
its source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import attrs

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


def _imported(
    name: str, is_package: bool, tree: ast.Module, *, type_checking: bool = False
) -> list[tuple[str, str | None]]:
    """(module, name taken from it or None) for each runtime import in ``tree``; with
    ``type_checking``, for the imports under ``if TYPE_CHECKING:`` too."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    for node in list(ast.walk(tree)) if type_checking else _runtime_nodes(tree):
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


# --------------------------------------------------------------------------- layers

ARCHITECTURE = ROOT / "ARCHITECTURE.md"
#: A row of ARCHITECTURE.md's table of layers: | level | layer | `entry`, ... | what |
LAYER_ROW = re.compile(r"^\| (\d+) \| ([^|]+?) \| ([^|]+?) \|", re.MULTILINE)


@attrs.frozen
class Layer:
    level: int
    name: str
    entries: tuple[str, ...]  # ``_http/`` (a folder), ``_errors`` (a module), ``__init__``


def layers(text: str) -> list[Layer]:
    return [
        Layer(int(level), name.strip(), tuple(re.findall(r"`([^`]+)`", entries)))
        for level, name, entries in LAYER_ROW.findall(text)
    ]


def _matches(entry: str, relative: str) -> bool:
    """Whether table entry ``entry`` holds the module at ``relative`` (dotted, below the
    package; ``""`` is the package itself)."""
    if entry == "__init__":
        return relative == ""
    if entry.endswith("/"):
        folder = entry[:-1].replace("/", ".")
        return relative == folder or relative.startswith(folder + ".")
    return relative == entry.replace("/", ".")


def assignment(package: str, modules: set[str], table: list[Layer]) -> dict[str, list[Layer]]:
    """Every module of ``package`` -> the layers whose entries hold it."""
    found: dict[str, list[Layer]] = {}
    for module in modules:
        if module == package or module.startswith(package + "."):
            relative = module[len(package) + 1 :]
            found[module] = [
                layer for layer in table if any(_matches(e, relative) for e in layer.entries)
            ]
    return found


def imports_of_every_kind(*package_dirs: Path) -> dict[str, set[str]]:
    """Module -> the modules of these packages it imports, wherever in it and under
    ``if TYPE_CHECKING:`` too (the packages on the way are not counted: the enclosing
    package runs first for every import, and a layer's folder is in its layer)."""
    paths = {
        _module_name(package_dir, path): path
        for package_dir in package_dirs
        for path in package_dir.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text("utf-8"))
        imported = _imported(name, path.name == "__init__.py", tree, type_checking=True)
        graph[name] = {
            f"{module}.{taken}" if f"{module}.{taken}" in paths else module
            for module, taken in imported
        } & (set(paths) - {name})
    return graph


def upward_imports(
    graph: dict[str, set[str]], layer_of: dict[str, Layer], twins: dict[str, str]
) -> list[str]:
    """The imports that run up a layer, or across to another layer of the same level.
    ``twins`` names the source of each generated module: it is in its source's layer."""

    def layer(module: str) -> Layer:
        return layer_of[twins.get(module, module)]

    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = layer(module), layer(target)
            if there.level > here.level or (there.level == here.level and there != here):
                found.append(f"{module} ({here.name}) imports {target} ({there.name})")
    return found


def test_architecture_assigns_every_module_of_gatepay_async_to_exactly_one_layer() -> None:
    table = layers(ARCHITECTURE.read_text("utf-8"))
    assert len(table) >= 5
    graph = imports_of_every_kind(ROOT / "gatepay_async")
    found = assignment("gatepay_async", set(graph), table)
    assert {module for module, held in found.items() if len(held) != 1} == set()
    # and the table names nothing that is not there
    for layer in table:
        for entry in layer.entries:
            assert any(_matches(entry, module[len("gatepay_async.") :]) for module in graph) or (
                entry == "__init__"
            ), (layer.name, entry)


def test_every_import_runs_to_the_same_layer_or_a_lower_one() -> None:
    table = layers(ARCHITECTURE.read_text("utf-8"))
    graph = imports_of_every_kind(ROOT / "gatepay_async", ROOT / "gatepay_sync")
    layer_of = {
        module: held[0] for module, held in assignment("gatepay_async", set(graph), table).items()
    }
    twins = {
        module: "gatepay_async" + module[len("gatepay_sync") :]
        for module in graph
        if module.split(".")[0] == "gatepay_sync"
    }
    assert set(twins.values()) <= set(layer_of)  # every generated module has its source
    assert "gatepay_sync._http.transport" in twins
    assert upward_imports(graph, layer_of, twins) == []


def test_the_layer_check_finds_an_import_up_a_layer_even_a_type_only_one(
    tmp_path: Path,
) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "from pkg._client import Client\n",
            "_client.py": "from pkg._low import helper\nfrom pkg._mid import thing\n",
            "_low/__init__.py": "",
            "_low/helper.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg._client import Client\n"
            ),
            "_mid/__init__.py": "",
            "_mid/thing.py": "def late():\n    from pkg import Client\n",
            "_side/__init__.py": "",
            "_side/other.py": "from pkg._mid import thing\n",
        },
    )
    table = layers(
        "| 1 | low | `_low/` | x |\n| 2 | mid | `_mid/` | x |\n| 2 | side | `_side/` | x |\n"
        "| 3 | top | `__init__`, `_client` | x |\n"
    )
    graph = imports_of_every_kind(package)
    found = assignment("pkg", set(graph), table)
    assert all(len(held) == 1 for held in found.values())
    layer_of = {module: held[0] for module, held in found.items()}
    assert upward_imports(graph, layer_of, {}) == [
        "pkg._low.helper (low) imports pkg._client (top)",
        "pkg._mid.thing (mid) imports pkg (top)",
        "pkg._side.other (side) imports pkg._mid.thing (mid)",
    ]
    # a module no row holds is found, and so is one two rows hold
    (package / "_new.py").write_text("")
    twice = [*table, Layer(1, "again", ("_low/",))]
    found = assignment("pkg", set(imports_of_every_kind(package)), twice)
    assert found["pkg._new"] == []
    assert len(found["pkg._low.helper"]) == 2
