"""The student edition as a git branch for nbgitpuller, and the links that hand it out.

    python deploy/k8s/student_branch.py OUT --hub https://HUB --repo https://github.com/ORG/REPO

writes the student edition (``make student``) to ``OUT`` in nbgrader's layout, one folder per
lesson (``OUT/lesson00/00_introduction.ipynb``, as on the local hub), and prints one nbgitpuller
link per lesson. Commit ``OUT``'s content to the branch (default ``student``) of the repository;
a link pulls that branch into the student's ``~/lessons`` and opens the lesson in JupyterLab.
"""

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hub"))

from spawner import assignment_id, hand_out  # noqa: E402

from course_lib import student_edition  # noqa: E402

TARGET = "lessons"  # the folder in each home that the branch is pulled into


def link(hub: str, repo: str, branch: str, notebook: str) -> str:
    """The nbgitpuller link that pulls ``branch`` of ``repo`` and opens lesson ``notebook``."""
    path = f"lab/tree/{TARGET}/{assignment_id(notebook)}/{notebook}"
    query = {"repo": repo, "branch": branch, "targetPath": TARGET, "urlpath": path}
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{urlencode(query)}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Lay out the student edition for nbgitpuller.")
    parser.add_argument("out", type=Path, help="the folder to commit to the student branch")
    parser.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.edu")
    parser.add_argument("--repo", required=True, help="the git repository students pull from")
    parser.add_argument("--branch", default="student")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as edition:
        notebooks = student_edition.build(target_dir=Path(edition))
        hand_out(Path(edition), args.out)
    for notebook in notebooks:
        print(f"{notebook.stem}: {link(args.hub, args.repo, args.branch, notebook.name)}")


if __name__ == "__main__":
    main()
