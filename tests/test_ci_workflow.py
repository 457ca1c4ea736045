"""The fork CI (.github/workflows/ci.yml): actionlint passes on it, and the README's supported
platforms are the ones it runs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
RUNNER_OS = {"ubuntu": "Linux", "macos": "macOS", "windows": "Windows"}


@pytest.fixture
def actionlint() -> str:
    here = Path(sys.executable).parent / ("actionlint.exe" if sys.platform == "win32" else "actionlint")
    found = str(here) if here.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail('actionlint is missing: pip install -c requirements.lock -e ".[test]"', pytrace=False)
    return found


def test_actionlint_passes_on_the_workflow(actionlint):
    done = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    """The check can fail: an unknown runner label is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latst\n    steps:\n      - run: echo hi\n")
    done = subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True, text=True)
    assert done.returncode != 0 and "ubuntu-latst" in done.stdout


def covered_platforms() -> set[tuple[str, str]]:
    """{(OS, Python version)} the workflow's jobs run on."""
    covered = set()
    for job in yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix", {})
        systems = matrix.get("os", [job["runs-on"]])
        for system in systems:
            name = next(v for k, v in RUNNER_OS.items() if str(system).startswith(k))
            covered |= {(name, str(version)) for version in matrix["python"]}
    return covered


def test_the_readme_lists_exactly_the_platforms_the_workflow_covers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Supported platforms", 1)[1].split("\n#", 1)[0]
    stated = set()
    for system, versions in re.findall(r"^\| (Linux|macOS|Windows) \| ([0-9., ]+) \|", section, re.M):
        stated |= {(system, v.strip()) for v in versions.split(",")}
    assert stated == covered_platforms()
