"""The layer contract of mlops_lab/, read from the code's own imports (those under
``TYPE_CHECKING`` aside): surfaces -> lab -> services -> backends -> core, arrows pointing
down only; lineage is a leaf of core; no import circles; no module takes a private name
from another module; no file over 600 lines. CONTRIBUTING.md draws the picture."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlops_lab"
MAX_LINES = 600

# Highest layer first; a module belongs to the first prefix it starts with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "surfaces",
        (
            "mlops_lab",  # the package module only: connect() and the IPython extension hooks
            "mlops_lab.magics",
            "mlops_lab.widgets",
            "mlops_lab.server",
            "mlops_lab.cli",
            "mlops_lab.train_helpers",  # imported by training scripts inside Ray jobs
            "mlops_lab.backends.training.entry",  # a Ray job's driver process
        ),
    ),
    ("lab", ("mlops_lab.lab",)),
    ("services", ("mlops_lab.services",)),
    ("backends", ("mlops_lab.backends",)),
    (
        "core",
        (
            "mlops_lab.config",
            "mlops_lab.limits",
            "mlops_lab.redact",
            "mlops_lab.errors",
            "mlops_lab.display",
            "mlops_lab.render",
            "mlops_lab.notices",
            "mlops_lab.jobenv",
            "mlops_lab.resources",
            "mlops_lab.examples",
            "mlops_lab.lineage",
        ),
    ),
]
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}
LEAVES = {"mlops_lab.lineage": ("mlops_lab.lineage", "mlops_lab.jobenv", "mlops_lab.errors")}
"""package -> the only modules it may import."""


# Files whose length is another change's to settle (the data backends are being reworked).
def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str:
    best = ("", "")
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "mlops_lab"
            if (module == prefix or inside) and len(prefix) > len(best[1]):
                best = (name, prefix)
    if not best[0]:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS in {__file__}")
    return best[0]


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name, line) for each mlops_lab import outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            skipped.update(id(sub) for sub in ast.walk(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full, "", node.lineno) if full in known else (base, alias.name, node.lineno)


def resolved(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> list[tuple[str, str, str, int]]:
    """(importer, imported module, imported name, line) within mlops_lab."""
    known = modules()
    found = []
    for module, path in known.items():
        for target, name, line in imports(module, path, known):
            if target.split(".")[0] != "mlops_lab":
                continue
            imported = resolved(target, known)
            if imported and imported != module:
                found.append((module, imported, name, line))
    return found


def test_arrows_point_down() -> None:
    wrong = [
        f"{a}:{line} ({layer_of(a)}) imports {b} ({layer_of(b)})"
        for a, b, _, line in edges()
        if RANK[layer_of(b)] < RANK[layer_of(a)]
    ]
    assert wrong == [], "imports against the layers: " + "; ".join(wrong)


def test_lineage_is_a_leaf() -> None:
    wrong = [
        f"{a}:{line} imports {b}"
        for a, b, _, line in edges()
        for leaf, allowed in LEAVES.items()
        if (a == leaf or a.startswith(leaf + "."))
        and not any(b == ok or b.startswith(ok + ".") for ok in allowed)
    ]
    assert wrong == [], "lineage must import nothing but itself and core: " + "; ".join(wrong)


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in edges():
        graph.setdefault(a, set()).add(b)
    circles = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert circles == [], f"import circles: {circles}"


def test_no_private_names_across_modules() -> None:
    known = modules()
    wrong = []
    for a, b, name, line in edges():
        if not name.startswith("_") or name.startswith("__"):
            continue
        sibling = f"{b}.{name}" in known  # a package's own private submodule
        if not sibling:
            wrong.append(f"{a}:{line} takes {b}.{name}")
    assert wrong == [], "private names taken across modules: " + "; ".join(wrong)


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_files_stay_short(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n") + 1
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by concern"
