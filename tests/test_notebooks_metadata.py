"""Every lesson carries its slides, nbgrader and Colab metadata: `tools/annotate_notebooks.py --check`.

After editing or adding a lesson, run `python tools/annotate_notebooks.py` to bring it in line.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from course_lib import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
FIX = "run `python tools/annotate_notebooks.py`"

spec = importlib.util.spec_from_file_location("annotate_notebooks", ROOT / "tools" / "annotate_notebooks.py")
annotate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(annotate)


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _grading(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_the_script_check_passes():
    assert annotate.main(["--check"]) == 0, FIX


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_slide_metadata_and_the_deck_is_sensible(path):
    cells = _cells(path)
    kinds = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in cells]
    assert all(kind in SLIDE_TYPES for kind in kinds), f"{path.name}: a cell lacks slide metadata; {FIX}"
    assert kinds[0] == "slide", f"{path.name}: the title cell must start the deck"
    for cell, kind in zip(cells, kinds):
        first = "".join(cell["source"]).lstrip().split("\n", 1)[0]
        if cell["cell_type"] == "markdown" and first.startswith("## "):
            assert kind == "slide", f"{path.name}: section {first!r} should start a slide"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_solution_and_check_cell_is_graded_with_a_unique_id(path):
    cells = _cells(path)
    ids = [_grading(c)["grade_id"] for c in cells if _grading(c)]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_ids"
    assert all(re.fullmatch(r"[\w-]+", i) for i in ids), ids
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in "".join(cell["source"]):
            grading = _grading(cell)
            assert grading.get("solution") is True and grading.get("schema_version") == 3, f"{path.name}:{i}"
            check = next(c for c in cells[i + 1:] if c["cell_type"] == "code")
            assert _grading(check).get("grade") is True and _grading(check).get("points", 0) > 0, (
                f"{path.name}: the check after cell {i} is not an autograded test; {FIX}"
            )
            assert _grading(check)["grade_id"] == "check_" + grading["grade_id"]
        elif cell["cell_type"] == "markdown":
            assert _grading(cell).get("locked") is True, f"{path.name}: prose cell {i} is not read-only"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_colab_cell_is_the_first_code_cell(path):
    first = next(c for c in _cells(path) if c["cell_type"] == "code")
    source = "".join(first["source"])
    assert '"google.colab" in sys.modules' in source, f"{path.name}: no Colab cell first; {FIX}"
    assert "course_lib/colab.py" in source
    assert "https://github.com/" in source


def test_annotating_is_idempotent_and_touches_only_metadata_and_the_colab_cell():
    notebook = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    bare = json.loads(json.dumps(notebook))
    bare["cells"] = [c for c in bare["cells"] if not annotate.is_colab_cell(c)]
    for cell in bare["cells"]:
        cell["metadata"] = {}
    once = annotate.annotate(bare)
    assert annotate.dumps(annotate.annotate(once)) == annotate.dumps(once)
    assert [c["source"] for c in once["cells"] if not annotate.is_colab_cell(c)] == [
        c["source"] for c in bare["cells"]
    ]
    grades = lambda nb: [_grading(c).get("grade_id") for c in nb["cells"]]  # noqa: E731
    assert [g for g in grades(once) if g and not g.startswith("cell-")] == [
        g for g in grades(notebook) if g and not g.startswith("cell-")
    ]


def test_grade_ids_come_from_the_function_and_survive_edits_elsewhere():
    cells = [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# T"},
        {"cell_type": "markdown", "id": "b", "metadata": {}, "source": "## S\n\n### Exercise 3.1 — f"},
        {"cell_type": "code", "id": "c", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"},
        {"cell_type": "code", "id": "d", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "check.f(f)"},
        {"cell_type": "code", "id": "e", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "plots.plot_x(1)\nplt.show()"},
    ]
    notebook = annotate.annotate({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    by_id = {c["id"]: c["metadata"] for c in notebook["cells"]}
    assert by_id["c"]["nbgrader"]["grade_id"] == "f" and by_id["d"]["nbgrader"]["grade_id"] == "check_f"
    assert by_id["d"]["nbgrader"]["points"] == 1
    assert by_id["e"]["slideshow"]["slide_type"] == "subslide" and "nbgrader" not in by_id["e"]
    assert notebook["cells"][2]["id"] == annotate.COLAB_ID  # the first code cell
    edited = json.loads(json.dumps(notebook))
    edited["cells"].insert(3, {"cell_type": "markdown", "id": "z", "metadata": {}, "source": "More prose."})
    again = {c["id"]: c["metadata"] for c in annotate.annotate(edited)["cells"]}
    assert again["c"]["nbgrader"]["grade_id"] == "f" and again["b"] == by_id["b"]
    capstone = json.loads(json.dumps(cells))
    capstone[1]["source"] = "### Exercise 11.3 — the capstone"
    graded = annotate.annotate({"cells": capstone, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert next(c for c in graded["cells"] if c["id"] == "d")["metadata"]["nbgrader"]["points"] == (
        annotate.CAPSTONE_POINTS
    )


def test_the_colab_setup_does_nothing_outside_colab():
    calls = []
    done = colab.setup(root="/x", modules={"sys": None}, run=calls.append, chdir=calls.append, path=[])
    assert done is False and calls == []
    assert colab.setup() is False


def test_the_colab_setup_installs_the_clone_and_moves_into_its_notebooks():
    runs, moves, path = [], [], []
    done = colab.setup(
        root="/content/REPO", modules={"google.colab": object()},
        run=lambda args, check: runs.append(args), chdir=moves.append, path=path,
    )
    assert done is True
    assert runs[0][1:] == ["-m", "pip", "install", "--quiet", "--editable", "/content/REPO"]
    assert moves == [Path("/content/REPO/notebooks")] and path == ["/content/REPO"]
