"""The package's import graph, drawn from the code: circles and upward imports.

    python benchmarks/import_graph.py            # summary
    python benchmarks/import_graph.py --edges    # every edge, one per line

An edge A -> B is any ``import``/``from ... import`` of a recaudit module in A's source, at
module level or inside a function (a deferred import is still a dependency; it only hides
the circle from the interpreter). A *circle* is a strongly connected component of more than
one module. An *upward* import is an edge from a lower layer to a higher one, by ``LAYERS``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "recaudit"

#: Lower number = lower layer. A module may import its own layer and the ones below; the
#: longest matching prefix decides. Drawing (``recaudit.report.figures``) is part of the
#: report: auditors hand it figure data, they never draw.
LAYERS = {
    "recaudit.errors": 0,
    "recaudit.contract": 0,
    "recaudit._paths": 0,
    "recaudit._lazy": 0,
    "recaudit.registry": 0,
    "recaudit.params": 0,
    "recaudit.metrics": 1,
    "recaudit.results": 1,
    "recaudit.data": 2,
    "recaudit.datasets": 2,
    "recaudit.models": 3,
    "recaudit.engine": 4,
    "recaudit.perturbations": 4,
    "recaudit.explain": 4,
    "recaudit.auditors": 5,
    "recaudit.mitigations": 5,
    "recaudit.report": 6,
    "recaudit.audit": 7,
    "recaudit.testing": 7,
    "recaudit.tracking": 7,
    "recaudit.study": 8,
    "recaudit.ablation": 8,
    "recaudit.compare": 8,
    "recaudit.spec": 9,
    "recaudit.runner": 10,
    "recaudit.listing": 10,
    "recaudit.serve": 10,
    "recaudit.cli": 11,
    "recaudit": 12,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


#: Upward edges kept on purpose, each with its reason (the test allows exactly these).
ALLOWED: dict[tuple[str, str], str] = {}


def _is_ancestor(target: str, name: str) -> bool:
    return target == name or name.startswith(target + ".")


def build_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                # A module's own ancestors are loaded before it: not a dependency it adds.
                if target.startswith("recaudit") and not _is_ancestor(target, name):
                    graph[name].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def layer(module: str) -> int | None:
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    return None


def upward_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    out = []
    for source, targets in graph.items():
        for target in targets:
            ls, lt = layer(source), layer(target)
            if (ls is not None and lt is not None and lt > ls
                    and (source, target) not in ALLOWED):
                out.append((source, target))
    return sorted(out)

def _private_owner(module: str) -> str | None:
    """The package whose private module ``module`` is (``recaudit.models.lm`` for
    ``recaudit.models.lm._hf``), or ``None`` when no part of its name is private."""
    parts = module.split(".")
    for n, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:n])
    return None


def private_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges into another package's private module from outside that package: a package's
    private modules are its own; others go through its face (its ``__init__``)."""
    out = []
    for source, targets in graph.items():
        for target in targets:
            owner = _private_owner(target)
            if owner is not None and not _is_ancestor(owner, source):
                out.append((source, target))
    return sorted(out)


def depth(graph: dict[str, set[str]], within: str) -> int:
    """The longest chain of imports among the modules under ``within`` (1: no import)."""
    nodes = {m for m in graph if _is_ancestor(within, m)}
    memo: dict[str, int] = {}

    def longest(m: str, seen: frozenset[str]) -> int:
        if m in memo:
            return memo[m]
        nxt = [t for t in graph[m] if t in nodes and t not in seen]
        memo[m] = 1 + max((longest(t, seen | {t}) for t in nxt), default=0)
        return memo[m]

    return max((longest(m, frozenset({m})) for m in nodes), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge")
    args = parser.parse_args(argv)
    graph = build_graph()
    if args.edges:
        for source in sorted(graph):
            for target in sorted(graph[source]):
                print(f"{source} -> {target}")
        return 0
    circles = strongly_connected(graph)
    upward = upward_edges(graph)
    n_edges = sum(len(t) for t in graph.values())
    print(f"{len(graph)} modules, {n_edges} edges")
    print(f"{len(circles)} circles:")
    for component in circles:
        print(f"  {len(component)}: " + ", ".join(component))
    print(f"{len(upward)} upward imports ({len(ALLOWED)} more allowed, see ALLOWED):")
    sys.stdout.flush()
    for source, target in upward:
        print(f"  {source} (layer {layer(source)}) -> {target} (layer {layer(target)})")
    private = private_imports(graph)
    print(f"{len(private)} imports of another package's private module:")
    for source, target in private:
        print(f"  {source} -> {target}")
    models = [m for m in graph if _is_ancestor("recaudit.models", m)]
    print(f"recaudit.models: {len(models)} modules, import depth {depth(graph, 'recaudit.models')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
