"""Build the student edition: ``python -m course_lib.student_edition`` (or ``make student``).

The notebooks in ``notebooks/`` are the solution edition, annotated for nbgrader by
``tools/annotate_notebooks.py``. The student edition is nbgrader's own release of them: the same
preprocessors ``nbgrader generate_assignment`` runs (LockCells, ClearSolutions, ClearOutput,
ComputeChecksums, ClearHiddenTests, CheckCellMetadata), less the gradebook, so nbgrader accepts the
result unchanged. The one difference from nbgrader's defaults is the stub: each region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a line that raises ``NotImplementedError``
naming the exercise ("Exercise 0.1", from the nearest markdown cell above that names one).

Grading needs nothing from this module: where nbgrader executes a notebook it sets
``NBGRADER_EXECUTION``, and there a failed check raises (``course_lib.checks``).
"""

import argparse
import re
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

ROOT = Path(__file__).resolve().parent.parent


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


EXERCISE = re.compile(r"Exercise\s+(\d+\.\d+)")
ANNOTATE = "python tools/annotate_notebooks.py"


def blank_solutions(source: str, exercise: str) -> str:
    """``source`` with each solution region replaced by a ``raise NotImplementedError`` line."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError(f"Exercise {exercise}: nested {BEGIN!r} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(
                f'{indent}raise NotImplementedError("Exercise {exercise}: replace this line with your code")'
            )
        elif line.strip() == END:
            if not inside:
                raise ValueError(f"Exercise {exercise}: {END!r} without {BEGIN!r} at line {number}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"Exercise {exercise}: {BEGIN!r} is never closed by {END!r}")
    return "\n".join(out)


class NamedClearSolutions(ClearSolutions):
    """nbgrader's ClearSolutions, with a stub that names the exercise (see :func:`blank_solutions`)."""

    def preprocess(self, nb, resources):
        self._exercise = None
        self._notebook = resources.get("notebook", "notebook")
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            found = EXERCISE.findall(cell.source)
            self._exercise = found[-1] if found else self._exercise
        elif BEGIN in cell.source:
            if self._exercise is None:
                where = f"{self._notebook}: a solution region"
                raise ValueError(f"{where} comes before any 'Exercise N.M' heading")
            if not utils.is_solution(cell):
                raise ValueError(
                    f"{self._notebook}: the solution cell of Exercise {self._exercise} has no nbgrader "
                    f"metadata; run `{ANNOTATE}`"
                )
        return super().preprocess_cell(cell, resources, index)

    def _replace_solution_region(self, cell, language) -> bool:
        if cell.cell_type != "code" or BEGIN not in cell.source:
            return False
        cell.source = blank_solutions(cell.source, self._exercise)
        return True


# What ``nbgrader generate_assignment`` runs, in its order, less what needs the gradebook (SaveCells)
# or a course's files (IncludeHeaderFooter, InstantiateTests).
RELEASE = [LockCells, NamedClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
           ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The nbgrader release of a solution notebook: solutions blanked, read-only cells locked."""
    student = nbformat.from_dict(notebook)
    resources = {"notebook": name}
    for preprocessor in RELEASE:
        student, resources = preprocessor().preprocess(student, resources)
    return student


def build(source_dir: Path = ROOT / "notebooks", target_dir: Path = ROOT / "build" / "student") -> list[Path]:
    """Write the student edition of every notebook in ``source_dir`` to ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        notebook = student_notebook(nbformat.read(path, as_version=4), path.name)
        nbformat.write(notebook, target_dir / path.name)
        written.append(target_dir / path.name)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Build the student edition of the notebooks.")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    for path in build(target_dir=parser.parse_args(argv).out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
