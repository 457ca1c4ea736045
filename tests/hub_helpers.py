"""The one way the hub tests (test_hub_*.py) reach deploy/: its folders, importable, and a running hub."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "deploy" / "hub"
K8S = ROOT / "deploy" / "k8s"
sys.path.insert(0, str(HUB))  # deploy/hub's modules import each other by name, as the hub loads them

import client  # noqa: E402
import launch  # noqa: E402
import limits  # noqa: E402
import loadtest  # noqa: E402
import roster  # noqa: E402
import spawner  # noqa: E402

__all__ = ["HUB", "K8S", "ROOT", "require_proxy",
           "client", "launch", "limits", "loadtest", "roster", "spawner"]  # fmt: skip


def require_proxy() -> None:
    """The hub needs configurable-http-proxy from npm: `make test` installs it (npm ci in deploy/hub)."""
    if not launch.PROXY.exists():
        raise FileNotFoundError(f"{launch.PROXY} is missing: run `npm ci --prefix {HUB}` (make test does)")
