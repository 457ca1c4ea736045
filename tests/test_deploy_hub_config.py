"""The class hub's parts without starting it: roster login, configuration, limits, the lessons a
student gets, and the Kubernetes files (deploy/hub, deploy/k8s)."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from hub_helpers import HUB, K8S, ROOT, limits, loadtest, roster, spawner
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

LTI = {
    "LTI13_ISSUER": "https://lms.example.edu",
    "LTI13_CLIENT_ID": "client-a, client-b",
    "LTI13_AUTHORIZE_URL": "https://lms.example.edu/authorize",
    "LTI13_JWKS_ENDPOINT": "https://lms.example.edu/jwks",
}


# --- the roster and its authenticator ---------------------------------------------------------


def test_passwords_are_stored_as_salted_hashes_that_verify():
    hashed = roster.hash_password("correct horse")
    assert "correct horse" not in hashed and hashed.startswith("scrypt$")
    assert roster.verify_password("correct horse", hashed)
    assert not roster.verify_password("correct horsE", hashed)
    assert roster.hash_password("correct horse") != hashed  # a fresh salt each time
    for damaged in ("", "scrypt$1$2", "md5$a$b$c$d$e", hashed[:-4] + "zzzz"):
        assert not roster.verify_password("correct horse", damaged)


def test_add_prints_passwords_that_log_in_and_remove_takes_people_out(tmp_path, capsys):
    path = tmp_path / "roster.csv"
    roster.main([str(path), "add", "alice", "bob"])
    roster.main([str(path), "add", "--teacher", "tess"])
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {"alice", "bob", "tess"} and len(set(printed.values())) == 3
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    auth = roster.RosterAuthenticator(roster_file=str(path))

    def login(name, password):
        return asyncio.run(auth.authenticate(None, {"username": name, "password": password}))

    assert login("alice", printed["alice"]) == {"name": "alice", "admin": False}
    assert login("tess", printed["tess"]) == {"name": "tess", "admin": True}
    assert login("alice", printed["bob"]) is None  # another student's password
    assert login("mallory", printed["bob"]) is None and not auth.check_allowed("mallory")
    roster.main([str(path), "remove", "bob"])
    assert login("bob", printed["bob"]) is None and not auth.check_allowed("bob")


@pytest.mark.parametrize(
    "names, role, message",
    [(["Alice"], "student", "username 'Alice' is not allowed"),
     (["../etc"], "student", r"username '\.\./etc' is not allowed"),
     (["alice"], "admin", "role 'admin' is not allowed: use one of student, teacher")],
)  # fmt: skip
def test_bad_names_and_roles_are_refused_by_name(tmp_path, names, role, message):
    with pytest.raises(ValueError, match=message):
        roster.add_members(tmp_path / "roster.csv", names, role)


def test_a_roster_with_other_columns_or_no_file_is_a_clear_error(tmp_path):
    (tmp_path / "r.csv").write_text("name,password\nalice,secret\n")
    with pytest.raises(ValueError, match=r"has columns \['name', 'password'\]; expected"):
        roster.read_roster(tmp_path / "r.csv")
    with pytest.raises(FileNotFoundError, match="does not exist: create it with"):
        roster.read_roster(tmp_path / "missing.csv")
    roster.add_members(tmp_path / "ok.csv", ["amy"])
    with pytest.raises(ValueError, match="usernames \\['zed'\\] are not in the roster"):
        roster.remove_members(tmp_path / "ok.csv", ["zed"])


# --- the hub's configuration -----------------------------------------------------------------


def load_config(monkeypatch, **env) -> Config:
    """jupyterhub_config.py as JupyterHub loads it, with the launcher's variables."""
    for name in ("HUB_IP", "HUB_PORT", "HUB_AUTH", "HUB_MEM_LIMIT", "HUB_CPU_LIMIT", *LTI):
        monkeypatch.delenv(name, raising=False)
    base = {"CONFIGPROXY_AUTH_TOKEN": "p" * 64, "HUB_LAUNCHER_TOKEN": "l" * 64, "HUB_STATE": "/srv/hub"}
    for name, value in {**base, **env}.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()


def test_the_hub_serves_loopback_only_and_survives_its_own_restart_by_default(monkeypatch):
    c = load_config(monkeypatch)
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.hub_ip == "127.0.0.1" and c.JupyterHub.port == 8000
    assert c.JupyterHub.cleanup_servers is False and c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.authenticator_class == "roster.RosterAuthenticator"
    assert c.RosterAuthenticator.roster_file == "/srv/hub/roster.csv"
    assert c.JupyterHub.db_url == "sqlite:////srv/hub/jupyterhub.sqlite"
    assert c.Spawner.mem_limit == "2G" and c.Spawner.cpu_limit == 2.0 and c.Spawner.disable_user_config
    assert c.Spawner.environment["JUPYTER_CONFIG_PATH"] == str(HUB / "jupyter" / "student")
    assert c.Spawner.environment["OMP_NUM_THREADS"] == "1"  # kernels sharing cores never oversubscribe them
    formgrader, launcher = c.JupyterHub.services
    assert formgrader["url"].startswith("http://127.0.0.1:")
    assert "--ServerApp.ip=127.0.0.1" in formgrader["command"]
    assert formgrader["environment"]["JUPYTER_CONFIG_PATH"] == str(HUB / "jupyter" / "teacher")
    assert launcher["api_token"] == "l" * 64
    (role,) = c.JupyterHub.load_roles  # the launcher may stop servers, nothing more
    assert role["services"] == ["launcher"]
    assert role["scopes"] == ["list:users", "read:users", "admin:servers"]


def test_the_port_and_limits_come_from_the_launcher(monkeypatch):
    c = load_config(monkeypatch, HUB_PORT="8010", HUB_MEM_LIMIT="3G", HUB_CPU_LIMIT="1.5")
    assert (c.JupyterHub.port, c.Spawner.mem_limit, c.Spawner.cpu_limit) == (8010, "3G", 1.5)


@pytest.mark.parametrize("secret", ["CONFIGPROXY_AUTH_TOKEN", "HUB_LAUNCHER_TOKEN"])
def test_no_secret_no_hub(monkeypatch, secret):
    with pytest.raises(SystemExit, match=f"{secret} is empty"):
        load_config(monkeypatch, **{secret: ""})


def test_lti13_configuration_loads_and_makes_instructors_teachers(monkeypatch):
    c = load_config(monkeypatch, HUB_AUTH="lti13", **LTI)
    auth = c.JupyterHub.authenticator_class(config=c)
    assert type(auth).__name__ == "CourseLTI13Authenticator"
    assert auth.issuer == LTI["LTI13_ISSUER"] and auth.client_id == {"client-a", "client-b"}
    assert auth.authorize_url == LTI["LTI13_AUTHORIZE_URL"]
    assert auth.jwks_endpoint == LTI["LTI13_JWKS_ENDPOINT"]
    assert auth.uri_scheme == "https" and auth.login_url("/hub/") == "/hub/lti13/oauth_login"
    claim = "https://purl.imsglobal.org/spec/lti/claim/roles"
    lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
    teacher = asyncio.run(auth.authenticate(None, {"email": "tess@example.edu", claim: [lis + "Instructor"]}))
    student = asyncio.run(auth.authenticate(None, {"email": "sam@example.edu", claim: [lis + "Learner"]}))
    assert (teacher["name"], teacher["admin"]) == ("tess@example.edu", True)
    assert (student["name"], student["admin"]) == ("sam@example.edu", False)


def test_lti13_without_the_platforms_values_stops_with_the_missing_name(monkeypatch):
    with pytest.raises(SystemExit, match="LTI13_JWKS_ENDPOINT is not set"):
        without_keys = {k: v for k, v in LTI.items() if k != "LTI13_JWKS_ENDPOINT"}
        load_config(monkeypatch, HUB_AUTH="lti13", **without_keys)


@pytest.mark.parametrize("side", ["student", "teacher"])
def test_nbgrader_configuration_of_each_side(monkeypatch, side):
    env = {"NBGRADER_COURSE_ID": "c1", "NBGRADER_EXCHANGE": "/x", "JUPYTERHUB_USER": "alice",
           "NBGRADER_COURSE_ROOT": "/course"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    c = PyFileConfigLoader("nbgrader_config.py", path=str(HUB / "jupyter" / side)).load_config()
    assert (c.CourseDirectory.course_id, c.Exchange.root) == ("c1", "/x")
    assert c.CourseDirectory.max_dir_size == 20_000
    if side == "student":  # one Unix user for all: the hub's name tells students apart
        assert c.CourseDirectory.student_id == "alice"
    else:
        assert "--ext=course_lib.student_edition" in c.Execute.extra_arguments
        assert c.CourseDirectory.root == "/course"


def test_students_get_no_formgrader():
    server = json.loads((HUB / "jupyter" / "student" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    lab = json.loads((HUB / "jupyter" / "student" / "labconfig" / "page_config.json").read_text())
    assert lab["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True


def test_the_proxy_comes_from_the_lock_file():
    package = json.loads((HUB / "package.json").read_text())
    lock = json.loads((HUB / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/configurable-http-proxy"]["version"]
    assert package["dependencies"]["configurable-http-proxy"] == "~" + version.rsplit(".", 1)[0] + ".0"


# --- what a student gets, and the limits ---------------------------------------------------------


def test_lessons_are_handed_out_once_and_never_overwrite_work(tmp_path):
    edition = tmp_path / "edition"
    edition.mkdir()
    for name in ("00_introduction.ipynb", "07_sparse_formats.ipynb"):
        (edition / name).write_text(f"release of {name}")
    home = tmp_path / "home"
    copied = spawner.hand_out(edition, home)
    assert [p.relative_to(home).as_posix() for p in copied] == [
        "lesson00/00_introduction.ipynb", "lesson07/07_sparse_formats.ipynb"
    ]  # fmt: skip
    (home / "lesson00" / "00_introduction.ipynb").write_text("the student's work")
    assert spawner.hand_out(edition, home) == []
    assert (home / "lesson00" / "00_introduction.ipynb").read_text() == "the student's work"
    with pytest.raises(ValueError, match="notebook_name 'notes.ipynb' is not a lesson"):
        spawner.assignment_id("notes.ipynb")


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_limits_are_written_where_the_kernel_reads_them(tmp_path, version):
    parents = (tmp_path / "memory", tmp_path / "cpu") if version == 1 else (tmp_path / "unified",)
    groups = limits.Cgroups(version, parents)
    folders = groups.create("alice", 2 * 2**30, 1.5)
    written = {f.name: f.read_text().strip() for folder in folders for f in folder.iterdir()}
    if version == 1:
        assert written["memory.limit_in_bytes"] == str(2 * 2**30)
        assert (written["cpu.cfs_period_us"], written["cpu.cfs_quota_us"]) == ("100000", "150000")
    else:
        assert written["memory.max"] == str(2 * 2**30) and written["cpu.max"] == "150000 100000"
    assert "2.00 GiB per process and in total, 1.5 CPU cores" in limits.describe(groups, 2 * 2**30, 1.5)
    assert "neither a student's total memory nor CPU is enforced" in limits.describe(None, 2**30, 1.0)


def test_the_data_limit_turns_a_huge_allocation_into_a_memory_error():
    code = (
        f"import sys; sys.path.insert(0, {str(HUB)!r}); import limits; limits.limit_data(512 * 2**20)\n"
        "small = bytearray(64 * 2**20)\n"
        "try:\n    bytearray(1024 * 2**20)\nexcept MemoryError:\n    print('MemoryError, still alive')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "MemoryError, still alive", done.stderr


# --- the load test's bookkeeping -----------------------------------------------------------------


def test_each_simulated_student_answers_right_wrong_or_not_at_all():
    stub = 'def f(x):\n    raise NotImplementedError("Exercise 0.1: replace this line with your code")'
    solution = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
    assert loadtest.answer("right", stub, solution) == "def f(x):\n    return 2 * x"
    assert loadtest.answer("wrong", stub, solution) == "def f(x):\n    return None"
    assert loadtest.answer("none", stub, solution) == stub
    plans = [loadtest.plan(i, ["a", "b", "c", "d"]) for i in range(6)]
    assert all(set(p.values()) == {"right", "wrong", "none"} for p in plans)
    assert len({tuple(p.values()) for p in plans}) == 3  # three patterns, spread over the class
    student = loadtest.Student("s", "pw", plans[0])
    assert student.expected_scores() == {"check_a": 1.0, "check_b": 0.0, "check_c": 0.0, "check_d": 1.0}


def test_percentiles_sizes_and_the_tljh_table():
    assert [loadtest.percentile([5, 1, 3, 2, 4], p) for p in (50, 95, 100)] == [3, 5, 5]
    assert loadtest.percentile([7.0], 95) == 7.0
    assert (loadtest.gibibytes("2G"), loadtest.gibibytes("512M")) == (2.0, 0.5)
    with pytest.raises(ValueError, match="mem_limit '2 GB' is not a size"):
        loadtest.gibibytes("2 GB")
    report = loadtest.ClassReport(
        students=2, submissions=2, collected_as_expected=2, lost=[], wrong_grades={}, failed={},
        seconds={"spawn": {"p50": 10, "p95": 12, "max": 12}, "run": {"p50": 30, "p95": 40, "max": 40}},
        memory_mib={"running/rss": {"median": 1000, "max": 1100}, "running/pss": {"median": 800, "max": 900}},
        cpu_seconds_per_student=30.0, grading_seconds=60,
        machine={"load_before": (0.5, 0, 0), "load_after": (1.5, 0, 0), "used_peak_gib": 3.0},
    )  # fmt: skip
    assert report.passed
    assert report.last_line() == "2 students: all 2 submissions collected and graded as expected, 0 lost"
    table = loadtest.tables([report], 2.0)
    assert "| 2 | 0.5 / 1.5 | 10 / 12 | 30 / 40 | 60 | 1100 / 900 | 3.0 |" in table
    assert "30 CPU-seconds per lesson 00 over the 60 s budget = 0.50 cores" in table
    # TLJH: 30 users x 2 GiB + 128 MB; 30 x 0.5 cores + 0.2
    assert "| 30 | 30 (100%) | 60.1 | 15.2 |" in table and "| 300 | 150 (50%) | 300.1 | 75.2 |" in table


# --- Kubernetes -----------------------------------------------------------------------------------


def k8s_values() -> dict:
    return yaml.safe_load((K8S / "values.yaml").read_text())


def test_values_never_use_the_charts_open_default_and_mount_the_exchange():
    values = k8s_values()
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] != "dummy"
    assert set(values["hub"]["extraEnv"]) == set(LTI)
    assert values["hub"]["extraFiles"]["lti13"]["mountPath"].endswith("jupyterhub_config.d/auth_lti13.py")
    user = values["singleuser"]
    mounts = {m["name"]: m["mountPath"] for m in user["storage"]["extraVolumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in user["storage"]["extraVolumes"]}
    pvc = yaml.safe_load((K8S / "exchange-pvc.yaml").read_text())
    assert claims["nbgrader-exchange"] == pvc["metadata"]["name"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert mounts["nbgrader-exchange"] == user["extraEnv"]["NBGRADER_EXCHANGE"]
    assert user["extraEnv"]["OMP_NUM_THREADS"] == "1"
    assert user["memory"]["limit"] == "2G" and user["cpu"]["limit"] == 2
    script = user["lifecycleHooks"]["postStart"]["exec"]["command"][-1]
    assert (ROOT / Path(script).relative_to("/opt/course")).exists()


def test_values_extra_config_gives_teachers_the_formgrader_and_students_nothing_new():
    snippet = k8s_values()["hub"]["extraConfig"]["teachers.py"]
    namespace = {"c": Config()}
    exec(compile(snippet, "teachers.py", "exec"), namespace)
    hook = namespace["c"].KubeSpawner.pre_spawn_hook

    class User:
        def __init__(self, admin):
            self.admin = admin

    class FakeSpawner:
        def __init__(self, admin, shared):
            self.user, self.environment = User(admin), shared

    shared = {"NBGRADER_COURSE_ID": "pruning-course"}
    teacher, student = FakeSpawner(True, shared), FakeSpawner(False, shared)
    for spawner_ in (teacher, student):
        asyncio.run(hook(spawner_))
    assert teacher.environment["JUPYTER_CONFIG_PATH"].endswith("deploy/hub/jupyter/teacher")
    assert student.environment == shared == {"NBGRADER_COURSE_ID": "pruning-course"}  # untouched
    assert (ROOT / "deploy/hub/jupyter/teacher").is_dir()


def test_the_user_image_installs_the_cpu_torch_before_the_kit():
    lines = (K8S / "Dockerfile").read_text().splitlines()
    base = next(line for line in lines if line.startswith("FROM "))
    assert base.split(":")[-1][:4].isdigit()  # a dated tag, not "latest"
    torch = next(i for i, line in enumerate(lines) if "download.pytorch.org/whl/cpu" in line)
    kit = next(i for i, line in enumerate(lines) if "-e \"/opt/course[hub]\"" in line)
    assert torch < kit
    assert "JUPYTER_CONFIG_PATH=/opt/course/deploy/hub/jupyter/student" in "\n".join(lines)


def test_nbgitpuller_links_pull_the_student_branch_and_open_the_lesson():
    sys.path.insert(0, str(K8S))
    import student_branch

    url = student_branch.link("https://hub.example.edu/", "https://git.example.edu/o/r", "student",
                              "07_sparse_formats.ipynb")  # fmt: skip
    parsed = urlparse(url)
    assert (parsed.netloc, parsed.path) == ("hub.example.edu", "/hub/user-redirect/git-pull")
    assert {k: v[0] for k, v in parse_qs(parsed.query).items()} == {
        "repo": "https://git.example.edu/o/r", "branch": "student", "targetPath": "lessons",
        "urlpath": "lab/tree/lessons/lesson07/07_sparse_formats.ipynb",
    }  # fmt: skip


def test_the_values_validator_merges_over_the_charts_defaults_as_helm_does(tmp_path):
    sys.path.insert(0, str(K8S))
    import validate_values

    defaults = {"a": {"b": 1, "c": 2}, "d": 3}
    assert validate_values.merged(defaults, {"a": {"c": 5}}) == {"a": {"b": 1, "c": 5}, "d": 3}
    chart = tmp_path / "chart"  # a made-up miniature chart: a required default and a closed mapping
    chart.mkdir()
    (chart / "values.yaml").write_text("hub: {baseUrl: /}\nsingleuser: {memory: {limit: null}}\n")
    limit = {"limit": {"type": ["string", "null"]}}
    memory = {"type": "object", "additionalProperties": False, "properties": limit}
    singleuser = {"type": "object", "properties": {"memory": memory}}
    schema = {"type": "object", "required": ["hub"], "properties": {"singleuser": singleuser}}
    (chart / "values.schema.yaml").write_text(yaml.safe_dump(schema))
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("singleuser: {memory: {limit: 2G}}\n")
    bad.write_text("singleuser: {memory: {limiit: 2G}}\n")
    assert validate_values.errors(chart, good) == []
    assert validate_values.errors(chart, bad) == [
        "singleuser.memory: Additional properties are not allowed ('limiit' was unexpected)"
    ]


def test_the_load_test_refuses_a_class_the_machine_cannot_hold():
    with pytest.raises(SystemExit, match=r"a class of 100000 needs about 100000 GiB .* not started"):
        loadtest.check_memory(100_000)
    loadtest.check_memory(0)
