"""Start the class hub on this machine: the proxy, then JupyterHub (``make hub``).

    python deploy/hub/launch.py [--state build/hub] [--port 8000] [--ip 127.0.0.1]

The hub serves on 127.0.0.1 unless told otherwise, with fresh random secrets for the proxy and the
launcher at every start. On first start it creates ``STATE/roster.csv`` with one teacher and prints
the teacher's password; add students with ``python deploy/hub/roster.py STATE/roster.csv add NAME``.
Ctrl-C stops everything it started: the students' servers and kernels, the hub and the proxy.

``Hub`` is the same thing as a Python object, for the load test and the tests: ``start()``,
``restart_hub()`` (the proxy and the students' servers keep running), ``stop()``.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import roster  # noqa: E402
from spawner import assignment_id  # noqa: E402

PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_is_free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def copy_sources(course: Path, notebooks: Path = ROOT / "notebooks") -> None:
    """The solution notebooks as the course's nbgrader sources, ``course/source/lessonNN/NN_name.ipynb``.

    Existing sources are kept: a teacher may have edited them."""
    for notebook in sorted(Path(notebooks).glob("*.ipynb")):
        source = Path(course) / "source" / assignment_id(notebook.name) / notebook.name
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, source)


def make_exchange(exchange: Path) -> None:
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)  # nbgrader: the exchange root must be writable by every student


@dataclass
class Hub:
    """The proxy and JupyterHub, started from ``jupyterhub_config.py`` with state in ``state``."""

    state: Path
    student_edition: Path = ROOT / "build" / "student"
    ip: str = LOOPBACK
    port: int = 8000
    settings: dict = field(default_factory=dict)  # more HUB_* variables, e.g. {"HUB_MEM_LIMIT": "1G"}
    proxy: subprocess.Popen | None = None
    hub: subprocess.Popen | None = None

    def __post_init__(self):
        self.state = Path(self.state).resolve()
        self.env = {
            **os.environ,
            **self.settings,
            "HUB_STATE": str(self.state),
            "HUB_STUDENT_EDITION": str(Path(self.student_edition).resolve()),
            "HUB_IP": self.ip,
            "HUB_PORT": str(self.port),
            "HUB_API_PORT": str(free_port()),
            "HUB_PROXY_API_PORT": str(free_port()),
            "HUB_FORMGRADER_PORT": str(free_port()),
            "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32),
            "HUB_LAUNCHER_TOKEN": secrets.token_hex(32),
        }

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK if self.ip in ('0.0.0.0', '') else self.ip}:{self.port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        """Start ``command`` in the state folder, its output in ``logs/NAME.log``, in a session of its
        own (a Ctrl-C meant for the launcher does not reach it; ``stop`` does)."""
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        with open(self.state / "logs" / f"{name}.log", "ab") as log:
            output = {"stdout": log, "stderr": subprocess.STDOUT}
            return subprocess.Popen(command, cwd=self.state, env=self.env, start_new_session=True, **output)

    def start(self, timeout: float = 120) -> "Hub":
        if not PROXY.exists():
            raise FileNotFoundError(f"{PROXY} is missing: run `npm ci` in {HERE} (make hub does)")
        if not Path(self.student_edition).is_dir():
            edition = str(self.student_edition)
            raise FileNotFoundError(f"student_edition {edition!r} is missing: run `make student`")
        if not port_is_free(self.ip, self.port):
            raise OSError(f"port {self.port} on {self.ip} is in use: choose another (make hub PORT=8010)")
        copy_sources(self.state / "course")
        make_exchange(self.state / "exchange")
        try:
            self._start_proxy()
            self.start_hub(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_proxy(self) -> None:
        api, hub_api = self.env["HUB_PROXY_API_PORT"], self.env["HUB_API_PORT"]
        self.proxy = self._spawn("proxy", [
            str(PROXY), "--ip", self.ip, "--port", str(self.port), "--api-ip", LOOPBACK, "--api-port", api,
            "--error-target", f"http://{LOOPBACK}:{hub_api}/hub/error", "--log-level", "warn",
        ])  # fmt: skip

    def start_hub(self, timeout: float = 120) -> None:
        config = HERE / "jupyterhub_config.py"
        self.hub = self._spawn("hub", [sys.executable, "-m", "jupyterhub", "-f", str(config)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in (("hub", self.hub), ("proxy", self.proxy)):
                if process.poll() is not None:
                    log = self.state / "logs" / f"{name}.log"
                    raise RuntimeError(f"the {name} exited with code {process.returncode}: see {log}")
            if self.ready():
                return
            time.sleep(0.5)
        logs = self.state / "logs"
        raise TimeoutError(f"the hub did not answer at {self.url} within {timeout:.0f} s: see {logs}")

    def ready(self) -> bool:
        """The hub answers through the proxy, and so does the formgrader it runs (a 503 from the
        proxy means a route with nothing behind it yet)."""
        try:
            if "version" not in requests.get(f"{self.url}/hub/api/", timeout=5).json():
                return False
            formgrader = requests.get(f"{self.url}/services/formgrader/", timeout=5, allow_redirects=False)
            return formgrader.status_code not in (502, 503)
        except (requests.ConnectionError, ValueError):
            return False

    def stop_hub(self, timeout: float = 30) -> None:
        """Stop JupyterHub only: the proxy and the students' servers keep running."""
        _terminate(self.hub, timeout)

    def restart_hub(self, timeout: float = 120) -> None:
        self.stop_hub()
        self.start_hub(timeout)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """A request to the hub's REST API with the launcher's token."""
        headers = {"Authorization": f"token {self.env['HUB_LAUNCHER_TOKEN']}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def stop_servers(self, timeout: float = 60) -> None:
        users = self.api("GET", "/users").json()
        for user in users:
            if user.get("servers"):
                self.api("DELETE", f"/users/{user['name']}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(u.get("servers") for u in self.api("GET", "/users").json()):
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop everything this hub started: servers and kernels, the hub, the proxy."""
        try:
            if self.hub is not None and self.hub.poll() is None:
                self.stop_servers()
        except (requests.RequestException, ValueError):
            pass  # the hub is not answering: what is left is killed below
        _terminate(self.hub)
        _terminate(self.proxy)
        for process in leftovers(self.state):
            process.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _terminate(process: subprocess.Popen | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def leftovers(state: Path) -> list[psutil.Process]:
    """Processes this hub started that still run (servers, kernels, the formgrader, hub, proxy).

    They are known by their environment: the launcher gives the hub and the proxy ``HUB_STATE``,
    and the hub gives every server (and so its kernels) ``NBGRADER_EXCHANGE`` in ``state``."""
    marks = {("HUB_STATE", str(state)), ("NBGRADER_EXCHANGE", str(state / "exchange"))}
    found = []
    for process in psutil.process_iter():
        try:
            environ = process.environ()
        except psutil.Error:  # gone, or not ours to read
            continue
        if process.pid != os.getpid() and any(environ.get(k) == v for k, v in marks):
            found.append(process)
    return found


def ensure_roster(state: Path) -> None:
    path = state / "roster.csv"
    if not path.exists():
        (password,) = roster.add_members(path, ["teacher"], "teacher").values()
        print(f"Created {path} with one teacher: log in as `teacher` with password {password}")
        print(f"Add students: python {HERE / 'roster.py'} {path} add NAME [NAME ...]")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Start the class hub (proxy + JupyterHub).")
    parser.add_argument("--state", type=Path, default=ROOT / "build" / "hub")
    parser.add_argument("--student-edition", type=Path, default=ROOT / "build" / "student")
    parser.add_argument("--ip", default=LOOPBACK, help="the address students connect to (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.ip != LOOPBACK:
        print(
            f"WARNING: serving on {args.ip}, not only this machine. Put HTTPS in front (docs/deployment.md); "
            "students' servers run as one Unix user and can read each other's files."
        )
    args.state.mkdir(parents=True, exist_ok=True)
    ensure_roster(args.state)
    hub = Hub(args.state, args.student_edition, args.ip, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        hub.start()
        print(f"The class hub is up: {hub.url}/  (logs in {args.state / 'logs'}; Ctrl-C stops it)")
        while hub.hub.poll() is None and hub.proxy.poll() is None:
            time.sleep(1)
        print("The hub or the proxy stopped: see the logs.")
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping the students' servers, the hub and the proxy ...")
        hub.stop()


if __name__ == "__main__":
    main()
