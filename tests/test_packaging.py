"""The kit's packaging and repository hygiene."""

import json
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _requirements(lines) -> dict[str, str]:
    """{package name: version range} from requirement strings like 'torch>=2.2'."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*([<>=!~].*)?", line.strip())
        if match:
            found[match.group(1).lower()] = (match.group(2) or "").replace(" ", "")
    return found


def _environment_yml() -> dict[str, str]:
    """Dependencies of environment.yml, conda's and pip's together (a tiny parser: no PyYAML needed)."""
    entries = []
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"\s*-\s+(.+?)\s*(#.*)?$", line)
        if match and not match.group(1).endswith(":"):
            entries.append(match.group(1))
    return {k: v for k, v in _requirements(entries).items() if k not in ("python", "pip", "-e")}


def test_environment_yml_lists_the_same_packages_and_ranges_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirements(project["dependencies"] + project["optional-dependencies"]["test"])
    assert _environment_yml() == wanted


def test_dependencies_are_ranges_not_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        assert "==" not in spec, f"pin in pyproject.toml dependencies: {spec}"


def test_notebooks_are_stored_without_outputs_or_execution_counts():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} has stored outputs"
                assert cell["execution_count"] is None, f"{path.name} has execution counts"
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path.name


def test_notebooks_are_named_by_lesson_number():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


def test_make_lab_serves_on_localhost_with_a_token():
    lab = re.search(r"^lab:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.S | re.M).group(0)
    assert "--ServerApp.ip=127.0.0.1" in lab
    assert "--IdentityProvider.token=" in lab and "secrets.token_urlsafe" in lab


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
