"""The student edition: solutions blanked, nothing leaked, every exercise checked, every notebook runs."""

import importlib
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import student_edition
from course_lib.checks import library_name

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RAINBOW = re.compile(r"""["'](jet|rainbow|hsv|gist_rainbow|nipy_spectral)["']|cm\.(jet|rainbow|hsv)\b""")


def _solution_regions(notebook):
    """(exercise cell index, solution text) for every solution region of a solution notebook."""
    pattern = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
    return [
        (i, region)
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for region in pattern.findall(cell.source)
    ]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student_edition.build(target_dir=out)
    return out


def test_blanking_keeps_the_signature_and_indentation():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    blanked = student_edition.blank_solutions(source, "3.1")
    placeholder = 'raise NotImplementedError("Exercise 3.1: replace this line with your code")'
    assert blanked == "def f(x):\n    " + placeholder
    namespace = {}
    exec(blanked, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 3.1"):
        namespace["f"](1)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
        ("x = 1\n### END SOLUTION\n", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
    ],
)
def test_malformed_regions_are_clear_errors(source, problem):
    with pytest.raises(ValueError, match=problem):
        student_edition.blank_solutions(source, "1.1")


def test_a_region_before_any_exercise_heading_is_an_error():
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\n### END SOLUTION")
    notebook = nbformat.v4.new_notebook(cells=[cell])
    with pytest.raises(ValueError, match="before any 'Exercise N.M' heading"):
        student_edition.student_notebook(notebook)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_text_leaks_into_the_student_edition(path, student_dir):
    solution = nbformat.read(path, as_version=4)
    student_text = "\n".join(c.source for c in nbformat.read(student_dir / path.name, as_version=4).cells)
    assert "### BEGIN SOLUTION" not in student_text
    regions = _solution_regions(solution)
    for _, region in regions:
        for line in region.splitlines():
            if len(line.strip()) >= 12:
                assert line.strip() not in student_text, f"{path.name}: solution line leaked: {line.strip()}"
    assert student_text.count("raise NotImplementedError(\"Exercise") == len(regions)


# Prose that points at a solution: the student edition has none to point at.
SOLUTION_TALK = re.compile(
    r"\b(reference|model|sample|our|my) (solution|answer)s?\b|\bsolutions? (above|below)\b", re.IGNORECASE)
CHECK_MODULE = re.compile(r"from course_lib\.checks import (lesson\d+) as check")
CHECK_CALL = re.compile(r"\bcheck\.(\w+)\(")


def _exercise_neighbourhoods(notebook):
    """(check function name, text of the markdown around its exercise): the markdown cells from the
    exercise's heading to its solution cell, and those right after its check cell."""
    cells = notebook.cells
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or "raise NotImplementedError(\"Exercise" not in cell.source:
            continue
        start = max(i for i in range(index)
                    if cells[i].cell_type == "markdown" and "Exercise" in cells[i].source)
        check_cell = next(i for i in range(index + 1, len(cells)) if CHECK_CALL.search(cells[i].source))
        after = []
        for following in cells[check_cell + 1:]:
            if following.cell_type != "markdown":
                break
            after.append(following.source)
        before = [c.source for c in cells[start:index] if c.cell_type == "markdown"]
        yield CHECK_CALL.search(cells[check_cell].source).group(1), "\n".join(before + after)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_student_markdown_points_at_a_solution_or_names_the_answers_function(path, student_dir):
    notebook = nbformat.read(student_dir / path.name, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            talk = SOLUTION_TALK.search(cell.source)
            assert not talk, f"{path.name}, cell {index}: {talk.group(0)!r} points at a solution they lack"
    module = importlib.import_module(f"course_lib.checks.{CHECK_MODULE.search(path.read_text()).group(1)}")
    for check_name, prose in _exercise_neighbourhoods(notebook):
        for mirror in getattr(getattr(module, check_name), "mirrors", ()):
            short = library_name(mirror).rsplit(".", 1)[-1]
            named = re.search(rf"\b\w+\.{short}\b", prose)  # qualified: the learner's own may share the name
            assert not named, f"{path.name}: the prose around check.{check_name} names {named.group(0)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_lesson_has_exercises_each_followed_by_its_check(path):
    notebook = nbformat.read(path, as_version=4)
    regions = _solution_regions(notebook)
    assert 2 <= len(regions) <= 6, f"{path.name} has {len(regions)} exercises"
    for index, _ in regions:
        following = next(c for c in notebook.cells[index + 1 :] if c.cell_type == "code")
        assert re.search(r"\bcheck\.\w+\(", following.source), f"{path.name}: cell {index} has no check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_rainbow_colour_maps(path):
    assert not RAINBOW.search(path.read_text()), f"{path.name} uses a rainbow colour map"


def test_no_rainbow_colour_maps_in_the_library():
    for path in (ROOT / "course_lib").rglob("*.py"):
        assert not RAINBOW.search(path.read_text()), f"{path} uses a rainbow colour map"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_runs_to_the_end_and_every_figure_has_a_takeaway(path, student_dir):
    notebook = nbformat.read(student_dir / path.name, as_version=4)
    resources = {"metadata": {"path": str(student_dir)}}
    # execute() raises on the first cell that fails: the student edition must run to the end
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources).execute()
    shown = [
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    ]
    exercises = len(_solution_regions(nbformat.read(path, as_version=4)))
    assert sum("is not done yet" in text for text in shown) == exercises
    for i, cell in enumerate(notebook.cells):
        has_figure = cell.cell_type == "code" and any("image/png" in o.get("data", {}) for o in cell.outputs)
        if has_figure:
            assert i + 1 < len(notebook.cells) and notebook.cells[i + 1].cell_type == "markdown", (
                f"{path.name}: the figure of cell {i} is not followed by a markdown takeaway"
            )
