"""What a user pod does as it starts on Kubernetes (values.yaml: singleuser.lifecycleHooks.postStart).

- Everyone: pull the student edition from the course's git branch into ``~/lessons`` with
  nbgitpuller (``LESSONS_REPO``, ``LESSONS_BRANCH``), the same pull a student's nbgitpuller link
  does; a student's own changes are kept (nbgitpuller merges, it never overwrites them).
- A teacher (the hub sets ``NBGRADER_COURSE_ROOT`` for admins): the course's nbgrader sources, the
  kit's solution notebooks, in ``NBGRADER_COURSE_ROOT/source/lessonNN/``.
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hub"))

from launch import copy_sources  # noqa: E402

PULL_TIMEOUT = 300  # seconds; a pod start must not hang on an unreachable git host


def main() -> None:
    repo = os.environ.get("LESSONS_REPO")
    if repo:
        branch = os.environ.get("LESSONS_BRANCH", "student")
        pull = ["gitpuller", repo, branch, "lessons"]
        subprocess.run(pull, cwd=Path.home(), timeout=PULL_TIMEOUT, check=False)
    course = os.environ.get("NBGRADER_COURSE_ROOT")
    if course:
        copy_sources(Path(course))


if __name__ == "__main__":
    main()
