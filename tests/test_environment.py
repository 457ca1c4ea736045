"""The pinned environment: requirements.lock pins every package the project asks for within
pyproject.toml's ranges, and an environment that `make` installed holds exactly those versions."""

import importlib.metadata
import platform
import re
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import lock  # noqa: E402

EXTRAS = re.search(r"^EXTRAS := (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1).split(",")
STAMP = Path(sys.prefix) / ".installed"  # make copies the lock it installed from here


def test_the_lock_pins_every_requirement_within_its_range():
    pins = lock.read_lock()
    for spec in lock.requirements(EXTRAS):
        requirement = Requirement(spec)
        name = lock.canonical(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run make lock"
        assert Version(pins[name]) in requirement.specifier, f"{name}=={pins[name]} breaks {spec}: make lock"


def test_read_lock_and_compare(tmp_path):
    path = tmp_path / "requirements.lock"
    path.write_text("# comment\nJinja2==3.1.6\nnest_asyncio==1.6  # why\n\ntorch==2.14.1\n")
    pins = lock.read_lock(path)
    assert pins == {"jinja2": "3.1.6", "nest-asyncio": "1.6", "torch": "2.14.1"}
    assert lock.compare(pins, {"jinja2": "3.1.6", "torch": "2.15.0", "new": "1"}) == [
        ("nest-asyncio", "1.6", "-"), ("new", "-", "1"), ("torch", "2.14.1", "2.15.0")]


def _public(version: str) -> str:
    """2.14.1+cpu -> 2.14.1: a local build of the same release (PyTorch's CPU wheels) counts as it."""
    return version.split("+", 1)[0]


@pytest.mark.skipif(not STAMP.exists() or not STAMP.read_text().strip(),
                    reason="this environment was not installed by make from requirements.lock")
def test_the_environment_make_installed_holds_exactly_the_locked_set():
    assert STAMP.read_text() == (ROOT / "requirements.lock").read_text(), (
        "requirements.lock changed since this venv was installed: make test reinstalls it")
    pins = lock.read_lock(STAMP)
    # what pip installed into this environment's site-packages: not what else is on sys.path at this
    # point of a test session (setuptools puts its vendored packages' metadata there when imported)
    site_packages = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    installed = {lock.canonical(d.metadata["Name"]): d.version
                 for d in importlib.metadata.distributions(path=site_packages)}
    installed.pop("course-lib", None)  # the project itself, editable
    wrong = {n: (pins[n], v) for n, v in installed.items() if n in pins and _public(v) != pins[n]}
    assert not wrong, f"installed versions differ from the lock (locked, installed): {wrong}"
    unpinned = sorted(set(installed) - set(pins))
    locked_on = re.search(r"# on (\S+) (\S+), Python (\d+\.\d+)", STAMP.read_text()).groups()
    here = (platform.system(), platform.machine(), ".".join(platform.python_version_tuple()[:2]))
    made_here = locked_on == here
    if made_here:  # elsewhere another OS or Python may need a package the lock's machine did not
        assert not unpinned, (f"installed but not in requirements.lock: {unpinned}; add what the kit "
                              "needs to pyproject.toml and run make lock, or: rm -rf .venv; make test")


def test_upgrade_check_reads_which_tests_failed(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="tests.test_a" name="test_ok"/>'
                     '<testcase classname="tests.test_a" name="test_bad"><failure message="x"/></testcase>'
                     '<testcase classname="tests.test_b" name="test_err"><error message="y"/></testcase>'
                     "</testsuite></testsuites>")
    assert lock.failed_tests(junit) == ["tests.test_a::test_bad", "tests.test_b::test_err"]
    assert lock.failed_tests(tmp_path / "absent.xml") == []
