import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import core
from course_lib.hardware import (
    ABLATION_STEPS,
    DATAFLOWS,
    HOROWITZ_45NM_PJ,
    HardwareConfig,
    SpGEMMReport,
    TensorCoreConfig,
    compare_dataflows,
    condense,
    count_multiplications,
    csr_operands,
    lookahead_fetch_bytes,
    merge_schedule,
    outer_product_partials,
    roofline_points,
    schedule_cost,
    simulate_spgemm,
    sparch_ablation,
    sparse_matrix,
    spilled_partials,
    tensor_core_time,
)

SWITCHES = [{}] + [
    {"condense": c, "huffman": h, "prefetch": p}
    for c in (False, True) for h in (False, True) for p in (False, True)
]


def random_int_matrix(seed, m, k, density, empty_rows=0):
    """Integer-valued (exact float sums), with the first ``empty_rows`` rows and columns empty."""
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 5, size=(m, k)) * (rng.random((m, k)) < density)
    dense[:empty_rows, :] = 0
    dense[:, :empty_rows] = 0
    return sp.csr_matrix(dense.astype(float))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 30),
    density=st.floats(0.0, 0.9),
    empty=st.integers(0, 3),
    width=st.integers(2, 5),
    buffer_kib=st.sampled_from([0.01, 0.05, 64.0]),
)
def test_product_equals_scipy_and_mults_equal_closed_form(seed, m, k, n, density, empty, width, buffer_kib):
    A = random_int_matrix(seed, m, k, density, empty)
    B = random_int_matrix(seed + 1, k, n, density, empty)
    expected = (A @ B).toarray()
    dense_a, dense_b = A.toarray() != 0, B.toarray() != 0
    closed_form = int((dense_a.sum(0) * dense_b.sum(1)).sum())
    hw = HardwareConfig(merge_width=width, buffer_kib=buffer_kib)
    for dataflow in DATAFLOWS:
        for switches in SWITCHES if dataflow == "sparch" else [{}]:
            report = simulate_spgemm(A, B, dataflow, hw, **switches)
            np.testing.assert_array_equal(report.product.toarray(), expected)
            assert report.multiplications == closed_form == count_multiplications(A, B)
            assert all(v >= 0 for v in report.dram_bytes.values())
            assert report.cycles >= 0 and report.energy_total >= 0
            assert report.cycles >= report.memory_cycles * (dataflow != "outer") - 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 25), density=st.floats(0.05, 0.5))
def test_condensing_gives_longest_row_partial_matrices(seed, m, density):
    A = random_int_matrix(seed, m, m + 3, density)
    B = random_int_matrix(seed + 7, m + 3, m, density)
    report = simulate_spgemm(A, B, "sparch")
    assert report.partial_matrices == np.diff(A.indptr).max(initial=0)
    outer = simulate_spgemm(A, B, "outer")
    assert outer.partial_matrices == np.count_nonzero(A.getnnz(axis=0))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), density=st.floats(0.05, 0.4), extra=st.floats(0.05, 0.5))
def test_traffic_and_cycles_grow_with_nnz(seed, density, extra):
    """Adding non-zeros (positive values, so nothing cancels) never makes a product cheaper."""
    A = random_int_matrix(seed, 20, 20, density)
    more = A + random_int_matrix(seed + 3, 20, 20, extra)
    B = random_int_matrix(seed + 5, 20, 20, density)
    hw = HardwareConfig(merge_width=64)  # no spills: every step is monotone
    for dataflow, switches in (("inner", {}), ("outer", {}), ("sparch", {"prefetch": False})):
        small = simulate_spgemm(A, B, dataflow, hw, **switches)
        large = simulate_spgemm(more, B, dataflow, hw, **switches)
        assert large.multiplications >= small.multiplications
        assert large.dram_total >= small.dram_total
        assert large.cycles >= small.cycles
        assert large.energy_total >= small.energy_total


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(0, 1000), min_size=1, max_size=60), width=st.integers(2, 9))
def test_huffman_plan_never_costs_more_than_arrival_order(sizes, width):
    huffman = merge_schedule(sizes, width, huffman=True)
    naive = merge_schedule(sizes, width, huffman=False)
    for plan in (huffman, naive):
        merged = [i for picked in plan for i in picked]
        assert sorted(merged) == list(range(len(sizes) + len(plan) - 1))  # each item once, root last
        assert all(1 <= len(picked) <= width for picked in plan)
    assert schedule_cost(sizes, huffman) <= schedule_cost(sizes, naive)


def test_merge_schedule_small_cases():
    assert merge_schedule([5, 1, 3], 4) == [(0, 1, 2)]
    # 5 items on a 3-way merger: the first round takes 2 + (5 - 2) % 2 = 3 smallest, then the root
    assert merge_schedule([9, 1, 2, 3, 8], 3) == [(1, 2, 3), (5, 4, 0)]  # item 5 = 6 < 8
    assert merge_schedule([9, 1, 2, 3, 8], 3, huffman=False) == [(0, 1, 2), (3, 4, 5)]
    assert schedule_cost([9, 1, 2, 3, 8], [(1, 2, 3), (4, 5, 0)]) == 6


def lru_fetch_bytes(sequence, capacity):
    cache = []
    misses = 0
    for r in sequence:
        if r in cache:
            cache.remove(r)
        else:
            misses += 1
            if len(cache) == capacity:
                cache.pop(0)
        cache.append(r)
    return misses


def test_lookahead_hand_example_and_limits():
    sizes = np.ones(3, dtype=np.int64)
    assert lookahead_fetch_bytes([0, 1, 2, 0, 1, 2], sizes, 2) == 4  # LRU would miss all 6
    assert lru_fetch_bytes([0, 1, 2, 0, 1, 2], 2) == 6
    assert lookahead_fetch_bytes([0, 1, 2, 0, 1, 2], sizes, 3) == 3
    assert lookahead_fetch_bytes([0, 0, 0], sizes, 1) == 1
    assert lookahead_fetch_bytes([], sizes, 1) == 0
    big = np.array([10, 1])
    assert lookahead_fetch_bytes([0, 1, 0, 1], big, 5) == 21  # row 0 never fits: streamed twice


@settings(max_examples=50, deadline=None)
@given(sequence=st.lists(st.integers(0, 7), max_size=60), capacity=st.integers(1, 5))
def test_lookahead_beats_lru_with_unit_rows(sequence, capacity):
    sizes = np.ones(8, dtype=np.int64)
    got = lookahead_fetch_bytes(sequence, sizes, capacity)
    assert len(set(sequence)) <= got <= lru_fetch_bytes(sequence, capacity) <= len(sequence)


def test_condense_round_trip():
    A = sparse_matrix("power_law", 40, 0.1, seed=3)
    values, columns = condense(A)
    assert values.shape == (40, np.diff(A.indptr).max())
    rows = np.nonzero(columns >= 0)[0]
    rebuilt = sp.csr_matrix((values[columns >= 0], (rows, columns[columns >= 0])), shape=A.shape)
    assert (rebuilt != A).nnz == 0
    assert np.all(values[columns < 0] == 0)


def test_inputs_in_every_format_agree():
    A = sparse_matrix("uniform", 30, 0.2, seed=1)
    B = sparse_matrix("banded", 30, 0.1, seed=2)
    expected = simulate_spgemm(A, B, "sparch").dram_total
    dense = torch.tensor(A.toarray())
    for a in (dense, dense.to_sparse(), dense.to_sparse_csr(), A.toarray(), A.tocoo()):
        report = simulate_spgemm(a, B, "sparch")
        assert report.dram_total == expected
        assert (report.product != A @ B).nnz == 0


def test_energy_uses_the_horowitz_table():
    A = sparse_matrix("uniform", 50, 0.1, seed=0)
    report = simulate_spgemm(A, A, "outer")
    per_access = HOROWITZ_45NM_PJ["32-bit DRAM read"]
    assert report.energy_pj["DRAM"] == pytest.approx(report.dram_total / 4 * per_access)
    assert report.energy_pj["multiply"] == pytest.approx(report.multiplications * 3.7)
    doubled = HardwareConfig(energy_pj={k: 2 * v for k, v in HOROWITZ_45NM_PJ.items()})
    assert simulate_spgemm(A, A, "outer", doubled).energy_total == pytest.approx(2 * report.energy_total)


def test_outer_spills_every_product_and_pipelining_hides_a_small_merge():
    A = sparse_matrix("banded", 100, 0.05, seed=0)
    outer = simulate_spgemm(A, A, "outer")
    assert outer.dram_bytes["partial_write"] == outer.multiplications * 8
    sparch = simulate_spgemm(A, A, "sparch")
    assert sparch.partial_matrices <= 64 and sparch.dram_bytes["partial_write"] == 0
    assert sparch.dram_total < outer.dram_total


def test_inner_product_compares_every_row_column_pair():
    A = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 0, 0]]))
    B = sp.csr_matrix(np.array([[0, 1.0], [1, 0], [0, 3]]))
    report = simulate_spgemm(A, B, "inner")
    # one non-empty row (2 non-zeros) against two non-empty columns (1 and 2 non-zeros)
    assert report.comparisons == (2 + 1) + (2 + 2)
    assert report.multiplications == 2


def test_ablation_and_comparison_helpers():
    A = sparse_matrix("power_law", 200, 0.02, seed=0)
    steps = sparch_ablation(A, A)
    assert list(steps) == list(ABLATION_STEPS)
    assert steps["+ prefetch (SpArch)"].dram_total <= steps["+ Huffman order"].dram_total
    assert list(compare_dataflows(A, A)) == list(DATAFLOWS)


def test_each_dataflow_is_one_function_of_the_dispatch_table():
    A, B = sparse_matrix("power_law", 80, 0.05, seed=2), sparse_matrix("uniform", 80, 0.05, seed=3)
    A, B = csr_operands(A, B)  # what every dataflow function takes: canonical float64 CSR
    hw = HardwareConfig(merge_width=4, buffer_kib=1)
    for name, dataflow in DATAFLOWS.items():
        report = dataflow(A, B, hw)  # "sparch" with its switches' defaults: all on
        assert isinstance(report, SpGEMMReport) and report.dataflow == name
        assert report.summary() == simulate_spgemm(A, B, name, hw).summary()
        assert report.dram_bytes == simulate_spgemm(A.toarray(), B.toarray(), name, hw).dram_bytes
    assert DATAFLOWS["sparch"](A, B, hw, condense=False).options["condense"] is False


def test_sparse_matrix_kinds():
    for kind in ("uniform", "power_law", "banded"):
        a, b = sparse_matrix(kind, 200, 0.05, seed=4), sparse_matrix(kind, 200, 0.05, seed=4)
        assert (a != b).nnz == 0 and a.shape == (200, 200)
        assert 0.5 * 0.05 * 200**2 <= a.nnz <= 1.1 * 0.05 * 200**2
        assert np.all(np.isin(a.data, np.arange(1, 10)))
    banded = sparse_matrix("banded", 200, 0.055, seed=0).tocoo()  # 11 per row: |i - j| <= 5
    assert np.abs(banded.row - banded.col).max() == 5
    graph = sparse_matrix("power_law", 200, 0.05, seed=0)
    assert ((graph != 0) != (graph.T != 0)).nnz == 0  # undirected: symmetric structure
    assert np.diff(graph.indptr).max() > 5 * graph.nnz / 200  # hubs


def test_tensor_core_regimes():
    for dims in ((4096, 4096, 4096), (4096, 1, 4096), (64, 65536, 64)):
        dense, sparse = tensor_core_time(*dims), tensor_core_time(*dims, pattern="2:4")
        assert sparse.math_s == pytest.approx(dense.math_s / 2)
        assert sparse.memory_s > dense.memory_s / 2
    speedup = [tensor_core_time(*d).seconds / tensor_core_time(*d, pattern="2:4").seconds
               for d in ((8192, 8192, 8192), (4096, 1, 4096), (64, 65536, 64))]
    assert speedup[0] == pytest.approx(2.0)
    assert 1.1 < speedup[1] < 16 / 9 + 1e-9
    assert speedup[2] < 1.0
    weights_only = tensor_core_time(4096, 1, 4096, "2:4", hw=TensorCoreConfig(sparse_relayout=False))
    assert weights_only.bytes == pytest.approx(4096 * 4096 * 2 * 9 / 16 + (4096 + 4096) * 2)
    int8 = tensor_core_time(64, 1, 64, "2:4", "int8", TensorCoreConfig(sparse_relayout=False))
    assert int8.bytes == pytest.approx(64 * 64 * 5 / 8 + 128)


ONES = np.ones((2, 2))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: simulate_spgemm(np.ones((2, 3)), np.ones((2, 3)), "inner"), ValueError, "(3) must equal"),
        (lambda: simulate_spgemm(np.ones((2, 2, 2)), ONES, "inner"), ValueError, "A must be a 2-D"),
        (lambda: simulate_spgemm(ONES, torch.ones(2), "inner"), ValueError, "B must be a 2-D"),
        (lambda: simulate_spgemm([[1]], np.ones((1, 1)), "inner"), TypeError, "A must be a scipy"),
        (lambda: simulate_spgemm(ONES, ONES, "gustavson"), ValueError, "dataflow"),
        (lambda: simulate_spgemm(ONES, ONES, "sparch", hw=64), TypeError, "hw"),
        (lambda: simulate_spgemm(ONES, ONES, "sparch", huffman=1), TypeError, "huffman"),
        (lambda: HardwareConfig(merge_width=1), ValueError, "merge_width"),
        (lambda: HardwareConfig(multipliers=0), ValueError, "multipliers"),
        (lambda: HardwareConfig(clock_ghz=-1.0), ValueError, "clock_ghz"),
        (lambda: HardwareConfig(dram_gb_per_s=0), ValueError, "dram_gb_per_s"),
        (lambda: HardwareConfig(value_bytes=2.5), TypeError, "value_bytes"),
        (lambda: HardwareConfig(energy_pj={"32-bit DRAM read": 640.0}), ValueError, "energy_pj"),
        (lambda: merge_schedule([1, 2], 1), ValueError, "width"),
        (lambda: merge_schedule([], 4), ValueError, "sizes"),
        (lambda: tensor_core_time(0, 1, 1), ValueError, "m must be"),
        (lambda: tensor_core_time(1, 1, 1, pattern="1:4"), ValueError, "pattern"),
        (lambda: tensor_core_time(1, 1, 1, dtype="fp64"), ValueError, "dtype"),
        (lambda: sparse_matrix("random", 10, 0.1), ValueError, "kind"),
        (lambda: sparse_matrix("uniform", 10, 1.5), ValueError, "density"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_lesson_figures_draw_the_simulated_numbers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib import plots

    A = sparse_matrix("power_law", 120, 0.05, seed=0)
    reports = compare_dataflows(A, A, HardwareConfig(merge_width=8))
    traffic_ax, cycles_ax = plots.plot_traffic_and_cycles(reports, title="test")
    tops = [sum(p.get_height() for p in traffic_ax.patches[i::3]) for i in range(3)]
    assert tops == pytest.approx([r.dram_total / 1e6 for r in reports.values()])
    cycles = [r.cycles / 1e3 for r in reports.values()]
    assert [p.get_height() for p in cycles_ax.patches] == pytest.approx(cycles)
    sizes = np.array([5, 1, 9, 2, 7])
    spilled = spilled_partials(sizes, merge_schedule(sizes, 3))
    assert spilled.tolist() == [0, 1, 3]  # the first round merges the 3 smallest (5, 1, 2); the root the rest
    _, bottom = plots.plot_spilled(sizes, {"Huffman": spilled})
    assert len(bottom.collections[0].get_offsets()) == 3
    assert "| a | b |" in core.markdown_table(["a", "b"], [[1, 2.0]])
    plt.close("all")


def test_outer_product_partials_sum_to_the_product():
    A = np.array([[1.0, 0, 2], [0, 3, 0]])  # (2, 3)
    B = np.array([[1.0, 0], [0, 4], [5, 0]])  # (3, 2)
    partials = outer_product_partials(A, B)
    assert partials.shape == (3, 2, 2)
    assert np.array_equal(partials[2], np.outer(A[:, 2], B[2]))
    assert np.array_equal(partials.sum(axis=0), A @ B)
    with pytest.raises(ValueError, match="A.shape"):
        outer_product_partials(A, A)


def test_roofline_points_agree_with_tensor_core_time():
    shapes = {"small": (64, 8, 64), "large": (4096, 8192, 4096)}
    points = roofline_points(shapes)
    for label, (m, n, k) in shapes.items():
        dense, sparse = tensor_core_time(m, n, k), tensor_core_time(m, n, k, "2:4")
        assert points[label]["intensity"] == pytest.approx(2 * m * n * k / (2 * (m * k + k * n + m * n)))
        assert points[label]["dense"] == pytest.approx(dense.flops / dense.seconds / 1e12)
        assert points[label]["2:4"] == pytest.approx(2 * m * n * k / sparse.seconds / 1e12)
    assert points["large"]["2:4"] > points["large"]["dense"]  # math-bound: 2:4 is faster
    assert points["small"]["2:4"] < points["small"]["dense"]  # memory-bound: the re-layout costs more
