"""Simulator speed: seconds to simulate C = A @ B per dataflow as the operands grow.

Two uniform random n x n operands with 1% non-zeros each, from 1e4 to 1e6 non-zeros per operand
(n = 1,000 to 10,000). The last row is the issue's target size: 10,000 x 10,000 with about a million
non-zeros each, about 1e8 multiplications and a product with 6e7 non-zeros. scipy's own product is
timed alongside, since every dataflow computes the product along its merge tree.
"""

from common import fmt_seconds, time_call

from course_lib.hardware import DATAFLOWS, count_multiplications, simulate_spgemm, sparse_matrix

SIZES = (1_000, 3_162, 10_000)


def run() -> str:
    lines = [
        "## Sparse accelerator simulator (lesson 08)",
        "",
        "Seconds to simulate C = A @ B for two uniform random n × n operands with 1% non-zeros each "
        "(default SpArch hardware: 64-way merger, 1 MiB row buffer); scipy's `A @ B` alone for "
        "reference. Median (min-max) of the repeats.",
        "",
        "| n | nnz per operand | multiplications | scipy A @ B | " + " | ".join(DATAFLOWS) + " |",
        "|" + " --- |" * (4 + len(DATAFLOWS)),
    ]
    for n in SIZES:
        A, B = sparse_matrix("uniform", n, 0.01, seed=0), sparse_matrix("uniform", n, 0.01, seed=1)
        repeats = 3 if n < 10_000 else 1
        cells = [fmt_seconds(time_call(lambda A=A, B=B: A @ B, repeats=repeats, warmup=0))]
        for dataflow in DATAFLOWS:
            stats = time_call(lambda d=dataflow, A=A, B=B: simulate_spgemm(A, B, d), repeats=repeats)
            cells.append(fmt_seconds(stats))
        mults = count_multiplications(A, B)
        lines.append(f"| {n:,} | {A.nnz:,} | {mults:.2e} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
