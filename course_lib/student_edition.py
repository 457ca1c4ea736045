"""Build the student edition: ``python -m course_lib.student_edition`` (or ``make student``).

The notebooks in ``notebooks/`` are the solution edition. In every code cell, each region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader convention) is replaced by a line that
raises ``NotImplementedError`` naming the exercise; prose, checks and everything else stay. The
exercise's name ("Exercise 0.1") comes from the nearest markdown cell above that names one.
"""

import argparse
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


EXERCISE = re.compile(r"Exercise\s+(\d+\.\d+)")


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


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of a solution notebook with every solution region blanked."""
    student = nbformat.from_dict(notebook)
    exercise = None
    for cell in student.cells:
        if cell.cell_type == "markdown":
            found = EXERCISE.findall(cell.source)
            exercise = found[-1] if found else exercise
        elif BEGIN in cell.source:
            if exercise is None:
                raise ValueError(f"{name}: a solution region comes before any 'Exercise N.M' heading")
            cell.source = blank_solutions(cell.source, exercise)
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
