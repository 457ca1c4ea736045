"""The student edition: solutions blanked, nothing leaked, every exercise checked, every notebook runs."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import student_edition

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
