"""Where the kit keeps its files: the repository's ``data/`` folder (shipped data, checkpoints, and the
cache for optional downloads). One place, so that data and models need not import each other."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
