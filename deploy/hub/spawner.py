"""The class spawner: each student's JupyterLab as a local process, with the lessons in its home.

``ClassSpawner`` is JupyterHub's ``SimpleLocalProcessSpawner`` (every server runs as the hub's own
Unix user, in a home folder of its own under the hub's state folder) plus three things a class needs:

- on each start, the student edition's lessons that are not yet in the home are copied there, one
  folder per lesson named as its nbgrader assignment (``lesson00/00_introduction.ipynb``), so the
  Assignments tab can submit a lesson where the student worked on it; a student's work is never
  overwritten;
- the memory and CPU limits of ``limits.py`` (``c.Spawner.mem_limit``, ``c.Spawner.cpu_limit``);
- each server's log in ``log_dir/USERNAME.log``, and, when the server stops, its kernels stopped too.

What it does not do: isolate students from one another. All servers run as one Unix user, so a
student's code can read another student's files. That is fine for a trusted group or a test; for
a class, use one Unix user per student (The Littlest JupyterHub) or one pod per student (Zero to
JupyterHub on Kubernetes, ``deploy/k8s/``). docs/deployment.md says more.
"""

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import limits
import psutil
from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Bool, Unicode

LESSON = re.compile(r"(\d\d)_\w+\.ipynb")


def assignment_id(notebook_name: str) -> str:
    """nbgrader's assignment id of a lesson: ``00_introduction.ipynb`` -> ``lesson00``."""
    match = LESSON.fullmatch(notebook_name)
    if match is None:
        raise ValueError(f"notebook_name {notebook_name!r} is not a lesson: expected NN_name.ipynb")
    return f"lesson{match.group(1)}"


def hand_out(student_edition: Path, home: Path) -> list[Path]:
    """Copy each lesson of ``student_edition`` to ``home/lessonNN/`` unless it is there: the copies made."""
    copied = []
    for notebook in sorted(Path(student_edition).glob("*.ipynb")):
        target = Path(home) / assignment_id(notebook.name) / notebook.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target)
            copied.append(target)
    return copied


@functools.cache
def machine_cgroups() -> limits.Cgroups | None:
    return limits.find_cgroups()


class ClassSpawner(SimpleLocalProcessSpawner):
    student_edition = Unicode(config=True, help="Folder of the student edition (make student).")
    log_dir = Unicode(config=True, help="Folder for each server's log, USERNAME.log.")
    use_cgroups = Bool(True, config=True, help="Enforce limits with cgroups where they are writable.")

    @property
    def cgroups(self) -> limits.Cgroups | None:
        return machine_cgroups() if self.use_cgroups else None

    def user_env(self, env):
        env = super().user_env(env)
        env["LOGNAME"] = self.user.name
        # the kernels' sockets (transport ipc, jupyterhub_config.py): in a short private folder, as a
        # Unix socket's path must stay under 108 bytes however deep the hub's state folder lies
        env["JUPYTER_RUNTIME_DIR"] = self._runtime_dir
        return env

    async def start(self):
        self._runtime_dir = tempfile.mkdtemp(prefix=f"jrt-{self.user.name[:16]}-")  # mode 0700
        hand_out(Path(self.student_edition), Path(self.home_dir))
        self._cgroup_folders = (
            self.cgroups.create(self.user.name, self.mem_limit, self.cpu_limit) if self.cgroups else []
        )
        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(self.log_dir) / f"{self.user.name}.log", "ab") as log:
            # a file, not the hub's stdout: the server outlives a hub restart and must keep logging
            self.popen_kwargs = {"stdout": log, "stderr": subprocess.STDOUT}
            return await super().start()

    def make_preexec_fn(self, name):
        setup_home = super().make_preexec_fn(name)
        folders, mem_bytes = self._cgroup_folders, self.mem_limit

        def preexec():  # runs in the child between fork and exec
            setup_home()
            limits.join(folders)
            if mem_bytes:
                limits.limit_data(mem_bytes)

        return preexec

    async def stop(self, now=False):
        try:
            children = psutil.Process(self.pid).children(recursive=True) if self.pid else []
        except psutil.NoSuchProcess:
            children = []
        await super().stop(now=now)
        for child in children:  # kernels a dying server did not shut down
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        if self.cgroups:
            self.cgroups.remove(self.user.name)
        runtime = getattr(self, "_runtime_dir", None)  # unknown to a hub restarted since the start
        if runtime:
            shutil.rmtree(runtime, ignore_errors=True)
