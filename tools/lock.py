"""The pinned environment of a term: ``make lock`` writes requirements.lock, ``make upgrade-check`` tries
what the next lock would be in a separate venv.

requirements.lock is a pip *constraints* file: every package of the tested set, ``name==version``, as
pip's own resolver chose them for ``pip install -e ".[EXTRAS]"`` (pyproject.toml's ranges, newest
allowed) on the machine that ran ``make lock``. ``make lab`` and ``make test`` install with
``pip install -c requirements.lock -e ".[EXTRAS]"``, so they get exactly that set. A constraints file
(not a requirements file) because it only pins what is asked for: on another OS a pin that the OS does
not need (the CUDA wheels torch pulls on Linux) is skipped, not forced.

    python tools/lock.py write --extras test,site                   # make lock
    python tools/lock.py write --keep --extras test,site            # make lock KEEP=1
    python tools/lock.py upgrade-check --extras test,site -- -x tests # make upgrade-check ARGS="-x tests"
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
BUILD = ROOT / "build"


def canonical(name: str) -> str:
    """PEP 503's normalised name: 'Jinja2' and 'jinja2', 'nest_asyncio' and 'nest-asyncio' are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: list[str], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's dependencies plus those of ``extras``, as pyproject.toml states them."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras) - set(optional))
    if unknown:
        raise ValueError(f"extras must be among {sorted(optional)}, got unknown {unknown}")
    specs, todo, seen = list(project["dependencies"]), list(extras), set()
    while todo:  # an extra may name the project's own extras, e.g. "course_lib[hub]" in test
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for spec in optional[extra]:
            own = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\[([^\]]+)\]\s*", spec)
            if own and canonical(own.group(1)) == canonical(project["name"]):
                todo += [e.strip() for e in own.group(2).split(",")]
            else:
                specs.append(spec)
    return specs


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """{canonical name: version} of a lock file's ``name==version`` lines."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*(#.*)?", line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def fresh_venv(venv: Path) -> Path:
    """A new venv at ``venv`` (an old one is removed) with the newest pip; its python."""
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv_python(venv)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    return python


def resolve(python: Path, specs: list[str], constraints: Path | None = None) -> dict[str, str]:
    """{name: version} pip would install for ``specs`` (plus pip itself) into an empty environment,
    within ``constraints`` (a pip constraints file) when one is given."""
    report = BUILD / "lock-report.json"
    constrain = ["-c", str(constraints)] if constraints else []
    subprocess.run([str(python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                    "--report", str(report), *constrain, "pip", *specs], check=True)
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}


def lock_text(pins: dict[str, str], extras: list[str], pip_version: str) -> str:
    target = f'-e ".[{",".join(extras)}]"'
    header = [
        "# The tested environment, pinned: a pip constraints file written by `make lock` (tools/lock.py).",
        f"# Resolved {date.today().isoformat()} by pip {pip_version} for `pip install {target}`",
        f"# on {platform.system()} {platform.machine()}, Python {platform.python_version()}.",
        f"# Install with:  pip install -c requirements.lock {target}   (make lab / make test)",
        "# Regenerate:    make lock         Preview the next one: make upgrade-check",
        "",
    ]
    return "\n".join(header + [f"{name}=={pins[name]}" for name in sorted(pins)]) + "\n"


def write(extras: list[str], out: Path = LOCK, keep: bool = False) -> dict[str, str]:
    """Resolve the project's requirements into ``out``. ``keep``: within the current lock's pins, so
    only packages the lock lacks (a requirement added mid-term) get new pins; nothing else moves."""
    BUILD.mkdir(exist_ok=True)
    python = fresh_venv(BUILD / "lock-venv")
    kept = BUILD / "lock-kept.txt"
    if keep:  # a copy: pip reads it while ``out`` is rewritten
        shutil.copyfile(out, kept)
    pins = resolve(python, requirements(extras), kept if keep else None)
    out.write_text(lock_text(pins, extras, pins["pip"]), encoding="utf-8")
    print(f"{out.name}: {len(pins)} packages pinned (torch {pins.get('torch', 'absent')})")
    return pins


def installed(python: Path) -> dict[str, str]:
    """{name: version} of what ``python``'s environment holds, the editable project left out."""
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(listed)}


def compare(locked: dict[str, str], newest: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, locked version or '-', newest version or '-') for every package that differs."""
    names = sorted(set(locked) | set(newest))
    return [(n, locked.get(n, "-"), newest.get(n, "-")) for n in names if locked.get(n) != newest.get(n)]


def failed_tests(junit: Path) -> list[str]:
    """'file::test' of every failed or erroring test case in a pytest JUnit XML report."""
    if not junit.exists():
        return []
    failed = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}")
    return failed


def upgrade_check(extras: list[str], pytest_args: list[str], venv: Path = ROOT / ".venv-upgrade") -> int:
    """Install the newest allowed versions into ``venv`` (never .venv), run the tests there and
    report what changed against requirements.lock and what broke. Exit status 1 if a test failed."""
    BUILD.mkdir(exist_ok=True)
    python = fresh_venv(venv)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", f".[{','.join(extras)}]"],
                   check=True, cwd=ROOT)
    changes = compare(read_lock(), installed(python))
    junit = BUILD / "upgrade-check-junit.xml"
    junit.unlink(missing_ok=True)
    tests = subprocess.run([str(python), "-m", "pytest", f"--junitxml={junit}", *pytest_args], cwd=ROOT)
    broken = failed_tests(junit)
    lines = [f"# Upgrade check: newest allowed versions vs {LOCK.name}", "",
             f"Installed into {venv.name}/ with `pip install -e \".[{','.join(extras)}]\"` (no constraints); "
             f"tests: `pytest {' '.join(pytest_args)}` -> exit status {tests.returncode}.", "",
             f"## What changed ({len(changes)} packages)", ""]
    lines += ["| package | locked | newest allowed |", "| --- | --- | --- |"] if changes else ["nothing"]
    lines += [f"| {name} | {old} | {new} |" for name, old, new in changes]
    lines += ["", f"## What broke ({len(broken)} tests)", ""] + ([f"- {t}" for t in broken] or ["nothing"])
    lines += ["", "If nothing broke, `make lock` adopts these versions for the next term."]
    report = BUILD / "upgrade-check.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines) + f"\n\n(report: {report.relative_to(ROOT)}; {venv.name}/ can be deleted)")
    return 1 if tests.returncode != 0 else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write requirements.lock, or check the newest versions.")
    parser.add_argument("command", choices=["write", "upgrade-check"])
    parser.add_argument("--extras", default="test,site", help="comma-separated extras (default test,site)")
    parser.add_argument("--keep", action="store_true",
                        help="write: keep every version the lock already pins; pin only what it lacks")
    argv = sys.argv[1:] if argv is None else argv
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []  # upgrade-check: what pytest runs
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    extras = [e for e in args.extras.split(",") if e]
    if args.command == "write":
        write(extras, keep=args.keep)
        return 0
    return upgrade_check(extras, pytest_args)


if __name__ == "__main__":
    sys.exit(main())
