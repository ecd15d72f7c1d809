"""The import graph of ``mixrl``, read statically: no cycles, and the layers import only downwards.

Every ``import``/``from`` statement of every module under ``mixrl/`` counts, function-level imports
included (they are still dependencies, only deferred), relative imports resolved to absolute names;
imports under ``if TYPE_CHECKING:`` are left out (annotations only, never run).
An edge goes to the deepest ``mixrl`` module that exists (``from mixrl.models import base`` -> the
module ``mixrl.models.base`` when there is one, else the package ``mixrl.models``). Importing a
submodule also runs its parent packages' ``__init__``, but those edges are not counted: a package
that re-exports its submodules would otherwise form a "cycle" with each of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mixrl"

# (importer, imported) edges that are tolerated, each with the reason (none today)
KNOWN_EDGES: set[tuple[str, str]] = set()

LAYERS = {  # package -> packages it must not import
    "mixrl.checkpoints": ("mixrl.models", "mixrl.utils.model_instantiators"),
    "mixrl.models": ("mixrl.utils.model_instantiators", "mixrl.demo"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest existing ``mixrl`` module that ``name`` (a module or ``module.attribute``) names."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    type_only = {id(inner) for node in ast.walk(tree) if _is_type_checking(node) for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            # ``from package import submodule`` depends on the submodule, ``from module import name`` on the module
            names = [f"{prefix}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "mixrl" or name.startswith("mixrl."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    found.add(target)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``mixrl`` modules it imports (known exceptions removed)."""
    modules = _modules()
    graph = {module: _imports(module, path, modules) for module, path in modules.items()}
    for importer, imported in KNOWN_EDGES:
        graph.get(importer, set()).discard(imported)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(component, graph) for component in components]


def _cycle_in(component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A closed path ``a -> b -> ... -> a`` inside one strongly connected component (breadth first)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError("a strongly connected component without a cycle")


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class TestImportGraph:
    def test_the_graph_covers_every_module(self):
        """Every file under mixrl/ is a node, and the base models are seen importing their helpers."""
        graph = import_graph()
        assert set(graph) == set(_modules())
        assert "mixrl.models.torch.base" in graph and "mixrl._config" in graph["mixrl.models.torch.base"]

    def test_cycles_are_found_and_printed(self):
        """A two-module and a three-module cycle are both reported as closed paths."""
        graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
        cycles = sorted(find_cycles(graph))
        assert cycles == [["a", "b", "a"], ["c", "d", "e", "c"]]

    def test_no_module_imports_itself_back(self):
        """No import cycle anywhere in mixrl (function-level imports included)."""
        cycles = find_cycles(import_graph())
        assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)

    @pytest.mark.parametrize("package", sorted(LAYERS))
    def test_layers_import_only_downwards(self, package):
        """checkpoints know no model or instantiator; models know no instantiator or demo."""
        forbidden = LAYERS[package]
        bad = sorted(
            f"{module} -> {imported}"
            for module, imports in import_graph().items()
            if _inside(module, package)
            for imported in imports
            if any(_inside(imported, other) for other in forbidden)
        )
        assert not bad, f"{package} must not import {forbidden}:\n" + "\n".join(bad)
