"""Sparse formats: encode/decode throughput on a 4096 x 4096 matrix, and the measured CPU crossover
of sparse vs dense matrix multiplication."""

import torch
from common import fmt_seconds, time_call

from course_lib import hardware
from course_lib.pruning import nm_mask

SIDE = 4096
SPARSITY = 0.9
OPTIONS = {"bsr": {"blocksize": (4, 4)}, "nm": {"n": 2, "m": 4}, "eie": {"gap_bits": 4}}
SPEED_SHAPE = (2048, 2048)
SPEED_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def _throughput_rows() -> list[str]:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(SIDE, SIDE, generator=generator)
    unstructured = hardware.prune_matrix(weight, SPARSITY)
    two_four = torch.where(nm_mask(weight, 2, 4), weight, 0.0)
    dense_mb = weight.numel() * weight.element_size() / 1e6
    rows = []
    for fmt in hardware.FORMATS:
        matrix = two_four if fmt == "nm" else unstructured
        options = OPTIONS.get(fmt, {})
        encoding = hardware.encode(matrix, fmt, **options)
        assert torch.equal(encoding.to_dense(), matrix)
        encode_time = time_call(lambda m=matrix, f=fmt, o=options: hardware.encode(m, f, **o), repeats=3)
        decode_time = time_call(encoding.to_dense, repeats=3)
        rows.append(
            f"| {fmt} | {encoding.nbytes / 1e6:.1f} | {fmt_seconds(encode_time)} | "
            f"{dense_mb / encode_time[0]:,.0f} | {fmt_seconds(decode_time)} | "
            f"{dense_mb / decode_time[0]:,.0f} |"
        )
    return rows


def _crossover_rows() -> list[str]:
    rows = []
    for batch in (1, 64):
        times = hardware.matmul_times(SPEED_SHAPE, SPEED_SPARSITIES, batch=batch, repeats=5,
                                     threads=1, progress=False)
        for method in ("torch_csr", "scipy_csr"):
            found = hardware.measured_crossover(SPEED_SPARSITIES, times["dense"], times[method])
            ratios = " / ".join(f"{d / s:.2g}" for d, s in zip(times["dense"], times[method]))
            where = "never" if found is None else f"{found:.0%}"
            rows.append(f"| {batch} | {method} | {where} | {ratios} |")
    return rows


def run() -> str:
    lines = [
        "## Sparse formats (`course_lib.hardware.formats`)",
        "",
        f"Encode and decode (`to_dense`) of a {SIDE} x {SIDE} fp32 Gaussian matrix magnitude-pruned to "
        f"{SPARSITY:.0%} sparsity (N:M: the same matrix pruned 2:4, i.e. 50%); BSR with 4 x 4 "
        "blocks, EIE with 4-bit gaps; indices of the smallest width that fits. Throughput is dense "
        f"megabytes ({SIDE * SIDE * 4 / 1e6:.0f} MB) per second of the median time; 3 repeats.",
        "",
        "| format | encoded MB | encode | encode MB/s | decode | decode MB/s |",
        "| --- | ---: | --- | ---: | --- | ---: |",
        *_throughput_rows(),
        "",
        f"Sparse vs dense W @ X on one CPU thread, W {SPEED_SHAPE[0]} x {SPEED_SHAPE[1]} "
        "magnitude-pruned, X with `batch` columns: the sparsity from which the sparse product "
        "stays faster than dense (`hardware.measured_crossover`), and the speed-up dense time / "
        f"sparse time at sparsities {', '.join(f'{s:.0%}' for s in SPEED_SPARSITIES)} "
        "(fastest of 5 runs each).",
        "",
        "| batch | method | faster from | speed-up at each sparsity |",
        "| ---: | --- | --- | --- |",
        *_crossover_rows(),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
