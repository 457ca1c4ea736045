"""The real nbgrader on a temporary course: release two lessons, autograde three submissions of each,
check the scores.

The course is set up as docs/teacher_guide.md tells a teacher to ("A graded course with nbgrader"):
the solution notebooks in ``source/`` and nbgrader's default configuration, nothing added but the
course's id and folder and a longer cell timeout (a machine-speed setting: nbgrader's 30 s suits an
idle machine, not a shared one). A check that fails or is not done yet scores zero because nbgrader
sets ``NBGRADER_EXECUTION`` in the kernel it grades in, and there the kit's checks raise.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import student_edition

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ("03_nm_sparsity", "07_sparse_formats")  # the fastest lessons (docs/benchmarks.md)

CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "pruning-course"
c.CourseDirectory.root = {root!r}
c.Execute.timeout = 300
"""


def nbgrader(course: Path, *args: str) -> str:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(course / ".jupyter"))  # none of the user's settings
    # nbgrader runs its database migrations with the `alembic` command, installed beside python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def solved(release: dict, source: dict, names) -> dict:
    """The released notebook with the solution cells ``names`` (grade_ids) taken from the source."""
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
    }
    submission = json.loads(json.dumps(release))
    for cell in submission["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in names:
            cell["source"] = answers[grade_id]
    return submission


def wrong(release: dict, grade_id: str) -> dict:
    """The released notebook with the exercise ``grade_id`` answered wrongly (it returns None)."""
    submission = json.loads(json.dumps(release))
    for cell in submission["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            source = "".join(cell["source"])
            cell["source"] = re.sub(r"raise NotImplementedError\(.*\)", "return None", source)
    return submission


def exercises(notebook: dict) -> dict[str, float]:
    """{exercise grade_id: points of its check}, in the notebook's order."""
    grading = [c["metadata"].get("nbgrader", {}) for c in notebook["cells"]]
    return {g["grade_id"].removeprefix("check_"): g["points"] for g in grading if g.get("grade")}


@pytest.fixture(scope="module", params=LESSONS)
def course(request, tmp_path_factory):
    """A course with one lesson released, and three submissions autograded: the scores by student."""
    lesson = request.param
    assignment = f"lesson{lesson[:2]}"
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    source_dir = course / "source" / assignment
    source_dir.mkdir(parents=True)
    source_path = ROOT / "notebooks" / f"{lesson}.ipynb"
    (source_dir / source_path.name).write_text(source_path.read_text())
    nbgrader(course, "generate_assignment", assignment, "--force")

    release_path = course / "release" / assignment / source_path.name
    release = json.loads(release_path.read_text())
    source = json.loads(source_path.read_text())
    points = exercises(source)
    first, *middle, last = points  # the partial submission: first and last right, one wrong, others untouched
    submissions = {
        "solution": source,  # the teacher's own solution notebook
        "partial": wrong(solved(release, source, {first, last}), middle[0]),
        "untouched": release,
    }
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / source_path.name).write_text(json.dumps(notebook, indent=1))
    nbgrader(course, "autograde", assignment, "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="pruning-course") as gradebook:
        scores = {s: gradebook.find_submission(assignment, s).score for s in submissions}
        max_score = gradebook.find_assignment(assignment).max_score
        per_cell = {
            grade.name: grade.score
            for grade in gradebook.find_submission_notebook(lesson, assignment, "partial").grades
        }
    return {"lesson": lesson, "dir": course, "scores": scores, "max": max_score, "partial": per_cell,
            "release": release_path, "points": points, "solved": (first, last), "wrong": middle[0]}


def test_the_lesson_is_worth_one_point_per_check(course):
    assert course["max"] == sum(course["points"].values()) == len(course["points"]) >= 3


def test_the_solution_edition_gets_full_marks(course):
    assert course["scores"]["solution"] == course["max"]


def test_a_partial_submission_gets_the_points_of_the_exercises_it_solved(course):
    first, last = course["solved"]
    assert course["scores"]["partial"] == course["points"][first] + course["points"][last]
    assert course["partial"][f"check_{first}"] == course["points"][first]
    assert course["partial"][f"check_{course['wrong']}"] == 0


def test_the_untouched_release_gets_zero(course):
    assert course["scores"]["untouched"] == 0


def test_the_configuration_is_nbgraders_default(course):
    config = (course["dir"] / "nbgrader_config.py").read_text()
    assert "extra_arguments" not in config and "--ext" not in config


def test_make_student_gives_what_nbgrader_releases_but_with_named_stubs(course):
    released = nbformat.read(course["release"], as_version=4)
    source = ROOT / "notebooks" / f"{course['lesson']}.ipynb"
    ours = student_edition.student_notebook(nbformat.read(source, as_version=4))
    number = int(course["lesson"][:2])
    assert len(ours.cells) == len(released.cells)
    for mine, theirs in zip(ours.cells, released.cells):
        keys = ("grade_id", "locked", "solution", "grade", "points")
        assert {k: mine.metadata.get("nbgrader", {}).get(k) for k in keys} == {
            k: theirs.metadata.get("nbgrader", {}).get(k) for k in keys
        }
        assert mine.metadata.get("editable") == theirs.metadata.get("editable")
        if "raise NotImplementedError" in theirs.source:
            assert re.search(rf'raise NotImplementedError\("Exercise {number}\.\d: ', mine.source)
        else:
            assert mine.source == theirs.source
