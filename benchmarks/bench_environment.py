"""The installed environment's size: the venv on disk, its largest packages, and which torch build.

The same pinned set costs several GB with PyPI's Linux torch (a CUDA build, whose nvidia-* wheels
are most of it) and a fraction of that with PyTorch's CPU-only wheels (README: "A CPU-only PyTorch").
"""

import importlib.metadata
import sys
from pathlib import Path


def _size(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def package_sizes() -> dict[str, int]:
    """{distribution name: bytes of the files it installed} for this environment."""
    sizes = {}
    for dist in importlib.metadata.distributions():
        files = [Path(dist.locate_file(f)) for f in dist.files or []]
        sizes[dist.metadata["Name"]] = _size(files)
    return sizes


def run() -> str:
    import torch

    prefix = Path(sys.prefix)
    total = _size(prefix.rglob("*"))
    sizes = package_sizes()
    nvidia = sum(v for k, v in sizes.items() if k.lower().startswith(("nvidia-", "triton", "cuda-")))
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:10]
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
    rows = [f"| {name} | {size / 2**20:,.0f} |" for name, size in largest]
    return "\n".join([
        "## Installed environment",
        "",
        f"The environment running this report ({prefix.name}/, {len(sizes)} distributions): "
        f"**{total / 2**30:.2f} GiB** on disk. torch {torch.__version__} is a "
        f"{build} build; the CUDA wheels it pulls (nvidia-*, triton, cuda-*) take "
        f"{nvidia / 2**30:.2f} GiB of it.",
        "",
        "| largest packages | MiB |",
        "| --- | ---: |",
        *rows,
    ])


if __name__ == "__main__":
    print(run())
