"""Give every lesson its nbgrader, slide and Colab set-up, from the notebook's content alone.

    python tools/annotate_notebooks.py                 # rewrite notebooks/*.ipynb in place (and the
                                                       # points table in docs/teacher_guide.md)
    python tools/annotate_notebooks.py --check         # exit 1 and list what is missing or stale
    python tools/annotate_notebooks.py --points-table  # the points per lesson, as a markdown table

Re-run it after editing or adding a lesson: it derives everything from the cells, so it is idempotent
and touches only cell metadata and the Colab cell (never code, prose or outputs).

- **nbgrader.** A code cell holding ``### BEGIN SOLUTION`` is an autograded answer (``solution``),
  named by the function it defines (``grade_id`` "sparsity_of"). The code cell right after it that
  calls ``check.`` is its autograded test (``grade``, ``points``: 1, or ``CAPSTONE_POINTS`` when the
  exercise's heading says "capstone"), "check_sparsity_of". Prose (markdown) and set-up cells (the
  code before the first ``##`` section, and the Colab cell) are read-only (``locked``); nbgrader's
  LockCells makes them non-editable in the student release, while the source stays editable here.
- **Slides** (RISE, ``slideshow.slide_type``): the title cell and each ``##`` section start a slide,
  each ``###`` a sub-slide; a figure (``plt.show``, a ``plots.`` or ``widgets.`` call, ``interact``) gets
  a sub-slide of its own and the takeaway after it appears as a fragment, as does a check's result;
  the Colab cell is skipped; everything else continues the slide ("-").
- **Colab.** The first code cell fetches and installs the kit when, and only when, it runs in Google
  Colab (:mod:`course_lib.colab`); elsewhere it does nothing.
"""

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

BEGIN = "### BEGIN SOLUTION"
CHECK_CALL = re.compile(r"\bcheck\.\w+\(")
EXERCISE = re.compile(r"Exercise\s+(\d+)\.(\d+)")
FIGURE = re.compile(r"\bplt\.show\(|\bplots\.\w+\(|\bwidgets\.\w+\(|\binteract(ive)?\(")
CAPSTONE = re.compile(r"capstone", re.I)
CHECK_POINTS, CAPSTONE_POINTS = 1, 5
SCHEMA_VERSION = 3
GUIDE = ROOT / "docs" / "teacher_guide.md"
TABLE_START, TABLE_END = "<!-- points-table: start -->", "<!-- points-table: end -->"

COLAB_ID = "colab-setup"
COLAB_MARK = "course_lib/colab.py"
REPOSITORY = "https://github.com/ORG/REPO"
COLAB_SOURCE = """\
# In Google Colab: fetch the course kit, install it and open its notebooks/ folder. Elsewhere: nothing.
import sys

if "google.colab" in sys.modules:
    !test -d /content/{name} || git clone -q --depth 1 {url} /content/{name}
    %run /content/{name}/course_lib/colab.py"""


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _first_line(cell) -> str:
    lines = _source(cell).lstrip().splitlines()
    return lines[0] if lines else ""


def colab_cell(repository: str = REPOSITORY) -> dict:
    """The Colab set-up cell (``repository`` like https://github.com/ORG/REPO)."""
    name = repository.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": COLAB_ID,
        "metadata": {},
        "outputs": [],
        "source": COLAB_SOURCE.format(url=repository, name=name).splitlines(keepends=True),
    }


def is_colab_cell(cell) -> bool:
    return cell["cell_type"] == "code" and (cell.get("id") == COLAB_ID or COLAB_MARK in _source(cell))


def with_colab_cell(cells: list) -> list:
    """``cells`` with exactly one Colab cell, as the first code cell (keeping a fork's repository URL)."""
    old = [c for c in cells if is_colab_cell(c)]
    found = re.search(r"https://github\.com/[\w.-]+/[\w.-]+", _source(old[0])) if old else None
    rest = [c for c in cells if not is_colab_cell(c)]
    first_code = next((i for i, c in enumerate(rest) if c["cell_type"] == "code"), len(rest))
    return rest[:first_code] + [colab_cell(found.group(0) if found else REPOSITORY)] + rest[first_code:]


def exercise_name(source: str, exercise: str | None) -> str:
    """A stable name for the exercise in a solution cell: the function it defines, else its number."""
    lines = source.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    defs = [re.match(r"\s*def\s+(\w+)", line) for line in lines[:begin] + lines[begin:]]
    above = [m.group(1) for m in defs[:begin] if m]
    anywhere = [m.group(1) for m in defs if m]
    if above or anywhere:
        return (above or anywhere)[-1 if above else 0]
    if exercise:
        return "exercise_" + exercise.replace(".", "_")
    return "solution_" + hashlib.sha1(source.encode()).hexdigest()[:8]


def roles(cells: list) -> list[dict]:
    """For each cell: its role ("solution", "check", "locked" or None), exercise name, points, figure."""
    found = [{"role": None} for _ in cells]
    exercise, heading, in_sections = None, "", False
    for i, cell in enumerate(cells):
        source = _source(cell)
        if cell["cell_type"] == "markdown":
            found[i]["role"] = "locked"
            numbers = EXERCISE.findall(source)
            exercise = ".".join(numbers[-1]) if numbers else exercise
            heading = source if numbers else heading
            in_sections = in_sections or _first_line(cell).startswith("## ")
            continue
        if cell["cell_type"] != "code":
            continue
        found[i]["figure"] = bool(FIGURE.search(source))
        if BEGIN in source:
            name = exercise_name(source, exercise)
            found[i].update(role="solution", name=name)
            following = next((j for j in range(i + 1, len(cells)) if cells[j]["cell_type"] == "code"), None)
            if following is not None and CHECK_CALL.search(_source(cells[following])):
                capstone = CAPSTONE.search(heading) or CAPSTONE.search(source)
                found[following].update(
                    role="check", name=name, points=CAPSTONE_POINTS if capstone else CHECK_POINTS
                )
        elif found[i]["role"] is None and (is_colab_cell(cell) or not in_sections):
            found[i]["role"] = "locked"
    return found


def _locked_id(cell, taken: set) -> str:
    """A read-only cell keeps the grade_id it has (stable across edits); a new one gets one from its id."""
    old = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if old and old not in taken and old.startswith(("cell-", "colab")):
        return old
    base = "colab_setup" if is_colab_cell(cell) else "cell-" + str(
        cell.get("id") or hashlib.sha1(_source(cell).encode()).hexdigest()[:16]
    )
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def nbgrader_metadata(role: dict, grade_id: str) -> dict | None:
    if role["role"] is None:
        return None
    return {
        "grade": role["role"] == "check",
        "grade_id": grade_id,
        "locked": role["role"] != "solution",
        **({"points": role["points"]} if role["role"] == "check" else {}),
        "schema_version": SCHEMA_VERSION,
        "solution": role["role"] == "solution",
        "task": False,
    }


def slide_type(cell, role: dict, previous: dict | None, index: int) -> str:
    first = _first_line(cell)
    if is_colab_cell(cell):
        return "skip"
    if index == 0 or first.startswith("# ") or first.startswith("## "):
        return "slide"
    if first.startswith("### "):
        return "subslide"
    if cell["cell_type"] == "code" and role.get("figure"):
        return "subslide"
    if role["role"] == "check":
        return "fragment"
    if cell["cell_type"] == "markdown" and previous is not None and previous.get("figure"):
        return "fragment"  # the takeaway under a figure
    return "-"


def annotate(notebook: dict) -> dict:
    """The notebook with its Colab cell, nbgrader and slide metadata in place (a new dict)."""
    notebook = json.loads(json.dumps(notebook))
    cells = with_colab_cell(notebook["cells"])
    found = roles(cells)
    exercise_ids = {r["name"] for r in found if r["role"] in ("solution", "check")}
    taken = set(exercise_ids) | {"check_" + n for n in exercise_ids}
    seen = {}
    for i, (cell, role) in enumerate(zip(cells, found)):
        metadata = cell.setdefault("metadata", {})
        if role["role"] == "locked":
            grade_id = _locked_id(cell, taken)
            taken.add(grade_id)
        elif role["role"] in ("solution", "check"):
            base = role["name"] if role["role"] == "solution" else "check_" + role["name"]
            seen[base] = seen.get(base, 0) + 1
            grade_id = base if seen[base] == 1 else f"{base}_{seen[base]}"
        else:
            grade_id = None
        grading = nbgrader_metadata(role, grade_id)
        if grading is None:
            metadata.pop("nbgrader", None)
        else:
            metadata["nbgrader"] = grading
        slideshow = metadata.setdefault("slideshow", {})
        slideshow["slide_type"] = slide_type(cell, role, found[i - 1] if i else None, i)
    notebook["cells"] = cells
    return notebook


def dumps(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def problems(path: Path) -> list[str]:
    """What ``--check`` reports for one notebook: the cells whose metadata is missing or stale."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    wanted = annotate(notebook)
    if [c.get("id") for c in notebook["cells"]] != [c.get("id") for c in wanted["cells"]]:
        return [f"{path.name}: the Colab cell is missing or not the first code cell"]
    found = []
    for i, (have, want) in enumerate(zip(notebook["cells"], wanted["cells"])):
        for key in ("nbgrader", "slideshow"):
            if have.get("metadata", {}).get(key) != want["metadata"].get(key):
                what = "missing" if key not in have.get("metadata", {}) else "stale"
                found.append(f"{path.name}: cell {i} ({_first_line(have)[:40]!r}): {key} metadata {what}")
        if _source(have) != _source(want):
            found.append(f"{path.name}: cell {i}: the Colab cell differs from the script's")
    return found


def points_table(paths) -> str:
    """A markdown table of each lesson's exercises and points, read from the notebooks' metadata."""
    rows = ["| lesson | exercises (grade_id: points) | points |", "| --- | --- | --- |"]
    total = 0
    for path in paths:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        grading = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
        graded = [g for g in grading if g.get("grade")]
        points = sum(g["points"] for g in graded)
        total += points
        names = ", ".join(f"`{g['grade_id'].removeprefix('check_')}`: {g['points']:g}" for g in graded)
        rows.append(f"| {path.stem} | {names} | {points:g} |")
    rows.append(f"| **course** | | **{total:g}** |")
    return "\n".join(rows)


def guide_with_table(text: str, table: str) -> str:
    """The teacher guide's text with ``table`` between its points-table markers (unchanged without them)."""
    if TABLE_START not in text or TABLE_END not in text:
        return text
    before, rest = text.split(TABLE_START, 1)
    return before + TABLE_START + "\n" + table + "\n" + TABLE_END + rest.split(TABLE_END, 1)[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report missing or stale metadata, change nothing")
    mode.add_argument("--points-table", action="store_true", help="print the points per lesson (markdown)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.points_table:
        print(points_table(paths))
        return 0
    guide = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() and not args.notebooks else None
    if args.check:
        found = [line for path in paths for line in problems(path)]
        if guide is not None and not found and guide_with_table(guide, points_table(paths)) != guide:
            found.append(f"{GUIDE.name}: the points-per-lesson table is out of date")
        print("\n".join(found) if found else f"{len(paths)} notebooks: metadata complete")
        if found:
            print("run: python tools/annotate_notebooks.py", file=sys.stderr)
        return 1 if found else 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = dumps(annotate(json.loads(text)))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"annotated {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if guide is not None and guide_with_table(guide, points_table(paths)) != guide:
        GUIDE.write_text(guide_with_table(guide, points_table(paths)), encoding="utf-8")
        print(f"updated the points table in {GUIDE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
