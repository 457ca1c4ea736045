"""The library's layout is its architecture: imports point one way, and only plotting code draws.

Layers, lowest first (a module may import its own subpackage and anything below it, nothing above):

    core  <-  data, models  <-  train  <-  pruning  <-  structured  <-  analysis  <-  recipes
          <-  hardware, llm  <-  plots  <-  widgets, checks, and the commands (pretrain, student_edition)

docs/architecture.md draws the same picture.
"""

import ast
import importlib
import json
import os
import re
import subprocess
import sys
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
    {"hardware", "llm"},
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


# ---------------------------------------------------------------- names in prose resolve

ROOT = PACKAGE.parent
PARTS = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" and p.stem != "__init__"} | {
    p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
KIT_NAMES = {node.name if not isinstance(node, ast.Assign) else node.targets[0].id
             for path in SOURCES for node in ast.parse(path.read_text()).body
             if (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"))
             or (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                 and node.targets[0].id.isupper())}
BACKTICKED = re.compile(r"``?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\([^`]*\))?``?")
FILE_SUFFIXES = {"py", "md", "ipynb", "txt", "yml", "yaml", "toml", "json", "gz", "pt", "sh", "cfg", "lock"}
LESSON_CHECKS = [f"course_lib.checks.{p.stem}" for p in sorted((PACKAGE / "checks").glob("lesson*.py"))]


def _attribute_path_exists(module: str, attributes: list[str]) -> bool:
    obj = importlib.import_module(module)
    for attribute in attributes:
        if hasattr(obj, attribute):
            obj = getattr(obj, attribute)
            continue
        try:
            obj = importlib.import_module(f"{obj.__name__}.{attribute}")
        except (ImportError, AttributeError):
            return False
    return True


def resolves(name: str, bound=frozenset(), checks=tuple(LESSON_CHECKS)) -> bool:
    """Whether a dotted name in prose that speaks of the kit can be typed as written: a name rooted in
    ``course_lib``, one of its parts (``pruning.nm_mask``) or a lesson's ``check`` must exist; a name
    rooted elsewhere (a variable, another library) passes unless it names a kit function through a
    root nobody defines (``nm_sparsity.nm_mask``, a module that no longer exists)."""
    root, *rest = name.split(".")
    if rest[-1] in FILE_SUFFIXES:
        return True  # a file name such as widgets.py
    if root == "course_lib":
        return _attribute_path_exists("course_lib", rest)
    if root in PARTS:
        return _attribute_path_exists(f"course_lib.{root}", rest)
    if root == "check":
        return any(_attribute_path_exists(module, rest) for module in checks)
    return root in bound or rest[0] not in KIT_NAMES


def _notebook_names(notebook: dict) -> set[str]:
    """Every name a notebook's code binds (imports, assignments, functions, arguments, loop targets)."""
    names = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        code = "\n".join(line[:len(line) - len(line.lstrip())] + "pass"  # an IPython magic: a placeholder
                         if line.lstrip().startswith(("!", "%")) else line for line in lines)
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _prose_names():
    """(where, dotted name, names bound there, check modules) for every backticked dotted name in the
    lessons' Markdown, the README, docs/ and the library's strings, and every dotted name in the
    library's error messages."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        bound, checks = _notebook_names(notebook), (f"course_lib.checks.lesson{path.name[:2]}",)
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                for match in BACKTICKED.finditer("".join(cell["source"])):
                    yield path.name, match.group(1), bound, checks
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in BACKTICKED.finditer(path.read_text()):
            yield path.name, match.group(1), frozenset(), tuple(LESSON_CHECKS)
    for path in SOURCES:
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for match in BACKTICKED.finditer(node.value):
                    yield where, match.group(1), frozenset(), tuple(LESSON_CHECKS)
            elif isinstance(node, ast.Raise):  # error messages name functions without backticks
                for text in (n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
                             and isinstance(n.value, str)):
                    for match in re.finditer(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)", text):
                        yield f"{where} (error message)", match.group(1), frozenset(), tuple(LESSON_CHECKS)


def test_every_name_the_prose_gives_resolves():
    broken = sorted({f"{where}: {name}" for where, name, bound, checks in _prose_names()
                     if not resolves(name, bound, checks)})
    assert not broken, "names that do not resolve (write them as a lesson imports them):\n" + "\n".join(
        broken)


def test_the_name_checker_catches_names_of_modules_that_do_not_exist():
    assert not resolves("nm_sparsity.nm_mask") and not resolves("analysis.paired_comparison")
    assert not resolves("l0.l0_study") and resolves("recipes.l0_study") and resolves("recipes.l0.l0_study")
    assert resolves("model.fc") and resolves("widgets.py") and resolves("check.capstone")
    assert resolves("explore.cache", bound={"explore"})


# ---------------------------------------------------------------- export lists


@pytest.mark.parametrize("package", sorted(p.parent for p in PACKAGE.glob("*/__init__.py")),
                         ids=lambda p: p.name)
def test_export_lists_match_the_imports(package):
    tree = ast.parse((package / "__init__.py").read_text())
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                and node.level == 1 for alias in node.names}  # re-exported from the package's modules
    if not imported:
        return  # a package that re-exports nothing (checks/ defines its runner in __init__ itself)
    exported = next((ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                     and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]), None)
    assert exported is not None, f"{package.name}/__init__.py has no __all__"
    assert sorted(exported) == sorted(set(exported)), f"{package.name}.__all__ lists a name twice"
    assert imported == set(exported), (f"{package.name}: imported but not in __all__ "
                                       f"{sorted(imported - set(exported))}; in __all__ but not imported "
                                       f"{sorted(set(exported) - imported)}")


# ---------------------------------------------------------------- heavy libraries load when used

HEAVY = ("torch_pruning", "onnx", "onnxruntime", "transformers", "scipy.stats", "sklearn")  # slow to import
LESSON_IMPORTS = ("from course_lib import analysis, core, data, hardware, models, plots, pruning, recipes, "
                  "structured, train, widgets")


def test_the_lesson_imports_load_no_heavy_library_and_write_nothing_outside(tmp_path):
    """Torch-Pruning, ONNX, ONNX Runtime, transformers, scipy.stats and scikit-learn are imported by the
    code that uses them (lesson 11, course_lib.llm, McNemar's test, the datasets), not by `from
    course_lib import ...` in every lesson's kernel; and the imports write nothing into the user's home
    (ONNX Runtime makes a cache folder when imported) but matplotlib's font cache, in the user's chosen
    cache folder."""
    code = (f"import sys\n{LESSON_IMPORTS}\nfrom course_lib.checks import lesson00, lesson10\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported at lesson start: {done.stdout.strip()}"
    written = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "matplotlib" not in p.parts]
    assert set(written) <= {Path(".config"), Path("cache")}, f"written into HOME at import: {written}"


# ---------------------------------------------------------------- one way to do each thing

def _matches(pattern: str, parts=("pruning", "structured", "analysis", "recipes", "llm", "widgets.py")):
    """(file, line number, line) of every match of ``pattern`` in the named parts of the library."""
    found = []
    for path in SOURCES:
        if path.relative_to(PACKAGE).parts[0] not in parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(pattern, line):
                found.append((str(path.relative_to(PACKAGE)), number, line.strip()))
    return found


SELECTION_ELSEWHERE = {  # sorting that is not choosing which weights, channels or heads to keep
    "pruning/permutation.py": "the sum of the n largest of a group (kept magnitude), not a mask",
    "pruning/granularity.py": "patterns ranked by how often kernels vote for them",
    "recipes/dynamic.py": "a differentiable threshold between the k-th and (k+1)-th gate score",
    "structured/graph.py": "channels grouped by their dependency group (bookkeeping order), no choice",
}


def test_selection_happens_in_one_place():
    """Every 'keep the largest' goes through core.selection (one tie rule for the whole kit)."""
    stray = [hit for hit in _matches(r"\.(topk|argsort|kthvalue)\(|descending=True")
             if hit[0] not in SELECTION_ELSEWHERE]
    assert not stray, f"selection outside core.selection (use keep_largest / keep_largest_per_row): {stray}"


def test_masks_are_applied_in_one_place():
    """A mask is applied to a model's weights by core.apply_masks only (which also handles
    torch.nn.utils.prune's reparametrisation); head_ablation zeroes a head for one measurement and
    restores it."""
    stray = [hit for hit in _matches(r"mul_\(.*mask|\*= *mask|\.weight\[.*\] = 0\b")
             if hit[0] != "structured/transformer.py" or "no longer reaches" not in hit[2]]
    assert not stray, f"masks applied by hand (use core.apply_masks): {stray}"


def test_one_criterion_registry():
    """Criteria live in pruning.CRITERIA and post-training methods (built on them) in recipes.METHODS; no
    other module keeps a list of criterion or method names, and no function of the kit takes the criterion
    under another argument name."""
    library = tuple(set(RANK) - {"checks"})  # a check may list the criteria an exercise allows
    registries = [hit for hit in _matches(r"^[A-Z_]*(CRITERIA|METHODS)\s*=", parts=library)
                  if not hit[2].startswith("HESSIAN_METHODS")]  # how a Hessian is estimated, not a criterion
    assert [hit[0] for hit in registries] == ["pruning/criteria.py", "recipes/post_training.py"], registries
    other_names = _matches(r"def \w+\(.*\b(importance|make_criterion|scorer)\s*[=:,)]", parts=tuple(RANK))
    allowed = [hit for hit in other_names if "torch_pruning_copy" in hit[2] or "agreement_with" in hit[2]]
    assert other_names == allowed, f"name the argument `criterion`: {other_names}"


def test_lessons_build_sliders_through_widgets():
    """Every lesson's sliders come from widgets.panel: no lesson imports ipywidgets or calls interact."""
    offenders = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and re.search(r"ipywidgets|\binteract(ive)?\(", source):
                offenders.append(path.name)
    assert not offenders, f"sliders built by hand (use widgets.panel): {sorted(set(offenders))}"


def test_the_documented_criterion_example_works():
    """docs/architecture.md's example of adding a criterion runs and works for weights, channels and
    post-training pruning."""
    from course_lib import pruning

    text = (ROOT / "docs" / "architecture.md").read_text()
    after = text.split("<!-- example: a new criterion -->", 1)[1]
    example = after.split("```python", 1)[1].split("```", 1)[0]
    scope = {}
    try:
        exec(compile(example, "docs/architecture.md", "exec"), scope)
        assert scope["masks"] and scope["report"].sparsity == pytest.approx(0.5, abs=0.02)
        assert scope["smaller"].conv2.out_channels < scope["model"].conv2.out_channels
    finally:
        pruning.CRITERIA.pop("squared", None)


# tests/ mirrors the library: test_<module path>[_<aspect>].py, e.g. test_pruning_nm.py for
# course_lib/pruning/nm.py, test_structured_zoo.py for structured on the torchvision zoo. Tests of the
# project around the library are named for its folder (deploy, notebooks, tools, benchmarks) or below.
PROJECT_FOLDERS = ("benchmarks", "deploy", "notebooks", "tools")
PROJECT_TESTS = {
    "architecture": "the library's layout (this file)",
    "browser": "JupyterLab in Chromium",
    "ci_workflow": ".github/workflows and .ci",
    "environment": "requirements.lock and the installed venv",
    "packaging": "pyproject.toml, environment.yml, the README's commands",
    "site": "the course website (site/)",
}


def _test_prefixes() -> set[str]:
    """Every module path of the library joined by '_' (pruning, pruning_nm, ...) and the project folders."""
    prefixes = set(PROJECT_FOLDERS)
    for path in SOURCES:
        parts = [p for p in path.relative_to(PACKAGE).with_suffix("").parts if p != "__init__"]
        prefixes |= {"_".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return prefixes


def _named_for_what_it_covers(stem: str, prefixes: set[str]) -> bool:
    name = stem.removeprefix("test_")
    return name in PROJECT_TESTS or any(name == p or name.startswith(p + "_") for p in prefixes)


def test_test_files_are_named_for_the_module_they_cover():
    prefixes = _test_prefixes()
    assert not _named_for_what_it_covers("test_nm_sparsity", prefixes)  # a pre-split name is caught
    assert _named_for_what_it_covers("test_pruning_nm", prefixes)
    wrong = [p.name for p in sorted((ROOT / "tests").glob("test_*.py"))
             if not _named_for_what_it_covers(p.stem, prefixes)]
    assert not wrong, ("name test files test_<subpackage>[_<module>][_<aspect>].py after what they cover "
                       f"(or add a project test to PROJECT_TESTS): {wrong}")
