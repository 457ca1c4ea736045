"""Google Colab set-up: the first code cell of every lesson runs this file, and only in Colab.

Colab opens one notebook at a time, without the repository's ``data/`` (checkpoints) or the library. The
lesson's first cell therefore clones the repository (``https://github.com/ORG/REPO``: replace ORG/REPO
with your fork's path, as in the README's Binder badge) and runs this file with ``%run``::

    # In Google Colab: fetch the course kit, install it and open its notebooks/ folder. Elsewhere: nothing.
    import sys

    if "google.colab" in sys.modules:
        !test -d /content/REPO || git clone -q --depth 1 https://github.com/ORG/REPO /content/REPO
        %run /content/REPO/course_lib/colab.py

:func:`setup` then pip-installs the kit from that clone, makes it importable at once (an editable
install is seen only by new processes) and changes into its ``notebooks/`` folder. Outside Colab it
does nothing. Standard library only: this runs before the kit's dependencies are installed.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

REPOSITORY = "https://github.com/ORG/REPO"
ROOT = Path(__file__).resolve().parent.parent


def in_colab(modules: Mapping | None = None) -> bool:
    """True when running inside Google Colab (its ``google.colab`` module is loaded)."""
    return "google.colab" in (sys.modules if modules is None else modules)


def setup(
    root: Path | str = ROOT,
    modules: Mapping | None = None,
    run: Callable = subprocess.run,
    chdir: Callable = os.chdir,
    path: list | None = None,
) -> bool:
    """In Colab: ``pip install -e root``, put ``root`` on the import path, change into ``root/notebooks``.

    Returns True when it did so, False (having done nothing at all) outside Colab. ``modules``, ``run``,
    ``chdir`` and ``path`` default to ``sys.modules``, ``subprocess.run``, ``os.chdir`` and ``sys.path``;
    a test passes its own to see what would happen.
    """
    if not in_colab(modules):
        return False
    root = Path(root)
    run([sys.executable, "-m", "pip", "install", "--quiet", "--editable", str(root)], check=True)
    path = sys.path if path is None else path
    if str(root) not in path:
        path.insert(0, str(root))
    chdir(root / "notebooks")
    return True


if __name__ == "__main__":  # ``%run course_lib/colab.py`` in the lesson's first cell
    if setup():
        print(f"Course kit installed from {ROOT}; working in {ROOT / 'notebooks'}.")
