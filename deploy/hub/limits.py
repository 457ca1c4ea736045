"""Per-student memory and CPU limits on one machine, enforced by the Linux kernel.

Two mechanisms, both applied to a student's server before it starts, and inherited by every kernel
and terminal it launches:

- ``RLIMIT_DATA`` (per process, always available on Linux): a process that asks for more than the
  limit gets an allocation error (``MemoryError`` in Python, "can't allocate memory" from PyTorch),
  so a student who loads too much sees a clear error in the cell and keeps the kernel.
- a cgroup per student (when the hub can write ``/sys/fs/cgroup``, e.g. as root in a VM or a
  container with a writable cgroup mount): the same memory limit for all of a student's processes
  together (beyond it the kernel's OOM killer stops the largest, which Jupyter restarts), and a CPU
  quota of ``cpu_limit`` cores. Students also share the CPU fairly per student, not per process.

Without a writable cgroup tree only the per-process rlimit holds: several kernels of one student
can together exceed the limit, and CPU is not limited. ``describe()`` says which case holds.
"""

import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
GROUP = "classhub"  # the hub's cgroups live under this name
CPU_PERIOD_US = 100_000


def own_cgroup_v1(controller: str) -> str:
    """This process's path in the cgroup v1 hierarchy of ``controller`` (e.g. "/" or "/docker/abc")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise LookupError(f"no cgroup v1 hierarchy for {controller}")


@dataclass(frozen=True)
class Cgroups:
    """Where the students' cgroups go: one folder per controller (v1), or one folder (v2)."""

    version: int
    parents: tuple[Path, ...]  # v1: (memory parent, cpu parent); v2: (parent,)

    def folders(self, username: str) -> list[Path]:
        return [parent / username for parent in self.parents]

    def create(self, username: str, mem_bytes: int | None, cpu_cores: float | None) -> list[Path]:
        """Make (or reuse) the student's cgroups with these limits: the folders to join."""
        folders = self.folders(username)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        if self.version == 1:
            memory, cpu = folders
            if mem_bytes:
                _write(memory / "memory.limit_in_bytes", mem_bytes)
                if (memory / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit either
                    _write(memory / "memory.memsw.limit_in_bytes", mem_bytes)
            if cpu_cores:
                _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
                _write(cpu / "cpu.cfs_quota_us", round(cpu_cores * CPU_PERIOD_US))
        else:
            (group,) = folders
            if mem_bytes:
                _write(group / "memory.max", mem_bytes)
                if (group / "memory.swap.max").exists():
                    _write(group / "memory.swap.max", 0)
            if cpu_cores:
                _write(group / "cpu.max", f"{round(cpu_cores * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        return folders

    def processes(self, username: str) -> set[int]:
        pids = set()
        for folder in self.folders(username):
            procs = folder / "cgroup.procs"
            if procs.exists():
                pids |= {int(p) for p in procs.read_text().split()}
        return pids

    def oom_kills(self, username: str) -> int:
        """How many of the student's processes the OOM killer has stopped (for messages and tests)."""
        folder = self.folders(username)[0]
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        path = folder / name
        if not path.exists():
            return 0
        fields = dict(line.split() for line in path.read_text().splitlines())
        return int(fields.get("oom_kill", 0))

    def remove(self, username: str) -> None:
        """Kill what is left in the student's cgroups (orphaned kernels), then remove them."""
        for pid in self.processes(username):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for folder in self.folders(username):
            deadline = time.monotonic() + 5  # a killed process leaves the cgroup a moment later
            while folder.exists():
                try:
                    folder.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def find_cgroups() -> Cgroups | None:
    """The writable cgroup tree for students' limits, or None where this machine has none."""
    try:
        if (CGROUP_MOUNT / "cgroup.controllers").exists():  # cgroup v2 (unified)
            controllers = (CGROUP_MOUNT / "cgroup.controllers").read_text().split()
            if not {"memory", "cpu"} <= set(controllers):
                return None
            parent = CGROUP_MOUNT / GROUP
            parent.mkdir(exist_ok=True)
            # children of the root cgroup may use these controllers (the root may hold processes)
            _write(CGROUP_MOUNT / "cgroup.subtree_control", "+memory +cpu")
            _write(parent / "cgroup.subtree_control", "+memory +cpu")
            return Cgroups(2, (parent,))
        parents = tuple(CGROUP_MOUNT / c / own_cgroup_v1(c).lstrip("/") / GROUP for c in ("memory", "cpu"))
        for parent in parents:
            parent.mkdir(parents=True, exist_ok=True)
        return Cgroups(1, parents)
    except (OSError, LookupError):
        return None


def join(folders: list[Path]) -> None:
    """Move the calling process into ``folders`` (run in the child, before it execs the server)."""
    for folder in folders:
        _write(folder / "cgroup.procs", os.getpid())


def limit_data(mem_bytes: int) -> None:
    """Cap each process's data (heap and anonymous memory) at ``mem_bytes``; inherited by children."""
    resource.setrlimit(resource.RLIMIT_DATA, (mem_bytes, mem_bytes))


def describe(cgroups: Cgroups | None, mem_bytes: int | None, cpu_cores: float | None) -> str:
    """One line for the hub's log: which limits this machine enforces."""
    memory = f"{mem_bytes / 2**30:.2f} GiB" if mem_bytes else "no memory limit"
    cpu = f"{cpu_cores:g} CPU cores" if cpu_cores else "no CPU limit"
    if cgroups is None:
        return (
            f"per-student limits: {memory} per process (RLIMIT_DATA); no writable cgroups here, so "
            "neither a student's total memory nor CPU is enforced"
        )
    return f"per-student limits: {memory} per process and in total, {cpu} (cgroup v{cgroups.version})"
