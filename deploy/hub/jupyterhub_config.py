"""JupyterHub configuration for the course: ``make hub`` (through ``launch.py``) loads it.

Every setting that differs between machines comes from an environment variable that ``launch.py``
sets (defaults in brackets):

- ``HUB_STATE`` [build/hub]: the hub's database, cookie secret, students' homes, logs, course, exchange;
- ``HUB_IP`` [127.0.0.1] and ``HUB_PORT`` [8000]: where students connect (the proxy);
- ``HUB_API_PORT``, ``HUB_PROXY_API_PORT``, ``HUB_FORMGRADER_PORT``: loopback ports of the hub, the
  proxy's REST API and the formgrader (the launcher picks free ones);
- ``CONFIGPROXY_AUTH_TOKEN``: the secret the hub and the proxy share (the launcher makes a fresh one);
- ``HUB_STUDENT_EDITION`` [build/student]: the student edition copied into each home;
- ``HUB_COURSE_ID`` [pruning-course], ``HUB_MEM_LIMIT`` [2G], ``HUB_CPU_LIMIT`` [2];
- ``HUB_AUTH`` [roster]: ``roster`` (``HUB_STATE/roster.csv``) or ``lti13`` (see ``auth_lti13.py``).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # roster.py, spawner.py, limits.py

from spawner import ClassSpawner  # noqa: E402

c = get_config()  # noqa: F821

STATE = Path(os.environ.get("HUB_STATE", HERE.parent.parent / "build" / "hub")).resolve()
COURSE_ID = os.environ.get("HUB_COURSE_ID", "pruning-course")
EXCHANGE = STATE / "exchange"
COURSE = STATE / "course"
LOOPBACK = "127.0.0.1"

# The proxy is started by launch.py, not by the hub, so that it outlives a hub restart: students'
# connections go on while the hub is down, and the servers keep running (cleanup_servers=False).
c.JupyterHub.ip = os.environ.get("HUB_IP", LOOPBACK)
c.JupyterHub.port = int(os.environ.get("HUB_PORT", "8000"))
c.JupyterHub.hub_ip = LOOPBACK
c.JupyterHub.hub_port = int(os.environ.get("HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = f"http://{LOOPBACK}:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
for secret in ("CONFIGPROXY_AUTH_TOKEN", "HUB_LAUNCHER_TOKEN"):  # never a hub with an empty token
    if not os.environ.get(secret):
        raise SystemExit(f"{secret} is empty: start the hub with deploy/hub/launch.py (make hub)")
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# Who may log in.
if os.environ.get("HUB_AUTH", "roster") == "lti13":
    load_subconfig(str(HERE / "auth_lti13.py"))  # noqa: F821
else:
    c.JupyterHub.authenticator_class = "roster.RosterAuthenticator"
    c.RosterAuthenticator.roster_file = str(STATE / "roster.csv")

# Each student's JupyterLab, with the lessons, nbgrader's student extensions and the limits.
c.JupyterHub.spawner_class = ClassSpawner
c.ClassSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.ClassSpawner.student_edition = os.environ.get(
    "HUB_STUDENT_EDITION", str(HERE.parent.parent / "build" / "student")
)
c.ClassSpawner.log_dir = str(STATE / "logs" / "users")
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
# Jupyter refuses to run as root unless told to (a VM or a container where everything is root)
AS_ROOT = ["--ServerApp.allow_root=True"] if os.getuid() == 0 else []
# Kernels talk to their server over Unix sockets, not TCP ports. With TCP, a server picks free
# ports, releases them and the kernel binds them a moment later; with a class starting kernels at
# once, another student's kernel can take one in between, and the restarts retried the same port
# (1 kernel of 20 lost that way here; jupyter/jupyter_client#276). Unix sockets have no shared space.
c.Spawner.args = [*AS_ROOT, "--KernelManager.transport=ipc"]
c.Spawner.default_url = "/lab"
c.Spawner.disable_user_config = True  # a student's ~/.jupyter cannot change the server's settings
c.Spawner.mem_limit = os.environ.get("HUB_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(os.environ.get("HUB_CPU_LIMIT", "2"))
# A whole class logging in at once shares the CPU: on a small server the servers may take minutes
# to start (10 at once on 2 busy cores took over 3 minutes here); let them, rather than fail them.
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 600
# One math-library thread per kernel: a class shares the cores, and kernels that each run several
# threads on a busy machine wait on one another (measured here: lesson 10's head ablation on 2 threads
# took 20.8 s beside another 2-thread process, 0.75 s alone and 1.3 s with one thread each). Lesson 10
# asks for 2 threads only up to this.
c.Spawner.environment = {
    "OMP_NUM_THREADS": "1",
    "JUPYTER_CONFIG_PATH": str(HERE / "jupyter" / "student"),
    "NBGRADER_COURSE_ID": COURSE_ID,
    "NBGRADER_EXCHANGE": str(EXCHANGE),
}

# The teacher's formgrader: a Jupyter server run by the hub as a service, in the course folder.
# Hub admins (teachers in the roster) may open it at /services/formgrader/.
FORMGRADER_PORT = int(os.environ.get("HUB_FORMGRADER_PORT", "8002"))
c.JupyterHub.services = [
    {
        "name": "formgrader",
        "url": f"http://{LOOPBACK}:{FORMGRADER_PORT}",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub.singleuser",
            f"--ServerApp.port={FORMGRADER_PORT}",
            f"--ServerApp.ip={LOOPBACK}",
            "--ServerApp.default_url=/formgrader",
            *AS_ROOT,
        ],
        "cwd": str(COURSE),
        "environment": {
            "JUPYTER_CONFIG_PATH": str(HERE / "jupyter" / "teacher"),
            "NBGRADER_COURSE_ID": COURSE_ID,
            "NBGRADER_EXCHANGE": str(EXCHANGE),
            "NBGRADER_COURSE_ROOT": str(COURSE),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        },
        "oauth_no_confirm": True,
    },
    # launch.py stops every server with this token when the class ends (make hub: Ctrl-C)
    {"name": "launcher", "api_token": os.environ["HUB_LAUNCHER_TOKEN"]},
]
c.JupyterHub.load_roles = [
    {"name": "launcher", "services": ["launcher"], "scopes": ["list:users", "read:users", "admin:servers"]},
]
