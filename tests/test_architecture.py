"""The library's layout is its architecture: imports point one way, and only plotting code draws.

Layers, lowest first (a module may import its own subpackage and anything below it, nothing above):

    core  <-  data, models  <-  train  <-  pruning  <-  structured  <-  analysis  <-  recipes  <-  hardware
          <-  plots  <-  widgets, checks, and the commands (pretrain, student_edition)

docs/architecture.md draws the same picture.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"
LAYERS = [
    {"core"},
    {"data", "models"},
    {"train"},
    {"pruning"},
    {"structured"},
    {"analysis"},
    {"recipes"},
    {"hardware"},
    {"plots"},
    {"widgets", "checks", "pretrain", "student_edition", "colab"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
DRAWING = {"plots", "widgets"}  # the only top-level parts allowed to import matplotlib


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute names of the course_lib modules (or module attributes) an ImportFrom brings in."""
    if node.level == 0:
        base = node.module or ""
    else:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    if not base.startswith("course_lib"):
        return []
    return [f"{base}.{alias.name}" for alias in node.names] if node.module is None else [base]


def imports_of(path: Path):
    """Yield (imported course_lib name, line, is_function_local) and the matplotlib imports."""
    tree = ast.parse(path.read_text())
    importer = module_name(path)
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in local
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("course_lib"):
                yield node.module or "", node.lineno, id(node) in local
            for name in resolve(importer, path.name == "__init__.py", node):
                yield name, node.lineno, id(node) in local


def part_of(name: str) -> str | None:
    """The top-level part of course_lib a dotted name belongs to ("pruning", "train", ...)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "course_lib" else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_library_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in SOURCES} - {"__init__"}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS (and to docs/architecture.md)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_and_none_hides_in_a_function(path):
    me = part_of(module_name(path))
    for name, line, in_function in imports_of(path):
        target = part_of(name)
        if target is None:
            continue
        where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        assert not in_function, f"{where} inside a function: import it at the top (a cycle is a design bug)"
        if me is None or target == me:
            continue
        assert RANK[target] < RANK[me], f"{where}: {target} (layer {RANK[target]}) is not below {me}"


def test_there_is_no_import_cycle_between_modules():
    modules = {module_name(p): p for p in SOURCES}
    graph = {m: set() for m in modules}
    for m, path in modules.items():
        for name, _, _ in imports_of(path):
            while name and name not in modules:  # "course_lib.pruning.magnitude_mask" -> its module
                name = name.rpartition(".")[0]
            if name and name != m and not m.startswith(name + "."):  # a package's __init__ re-exports
                graph[m].add(name)
    done, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in done:
            return
        stack.append(m)
        for n in sorted(graph[m]):
            if not (modules[n].name == "__init__.py" and m.startswith(n + ".")):
                visit(n)
        stack.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_only_plotting_code_imports_matplotlib():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in SOURCES
        for name, line, _ in imports_of(path)
        if name.split(".")[0] == "matplotlib" and part_of(module_name(path)) not in DRAWING
    ]
    assert not offenders, f"matplotlib outside course_lib/plots and widgets.py: {offenders}"
