"""Tests for course_lib.formats: exact round trips, measured bytes against the formulas, and the same
arrays as torch.sparse and scipy.sparse."""

import math

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import core, hardware, plots
from course_lib.hardware import nm_storage_bytes
from course_lib.pruning import nm_mask

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int8)
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def matrices(draw, max_side=12, dtypes=DTYPES, min_side=0):
    """A random (R, C) matrix: any dtype of ``dtypes``, any sparsity from empty to full."""
    rows = draw(st.integers(min_side, max_side))
    cols = draw(st.integers(min_side, max_side))
    dtype = draw(st.sampled_from(dtypes))
    density = draw(st.sampled_from([0.0, 1.0, draw(st.floats(0.0, 1.0))]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    values = torch.randint(1, 100, (rows, cols), generator=generator)
    values = values * torch.where(torch.rand(rows, cols, generator=generator) < 0.5, -1, 1)
    keep = torch.rand(rows, cols, generator=generator) < density
    return (values * keep).to(dtype)


def assert_exact(encoding, dense):
    decoded = encoding.to_dense()
    assert decoded.dtype == dense.dtype and decoded.shape == dense.shape
    assert torch.equal(decoded, dense)


def assert_bytes_match_formula(encoding):
    assert encoding.nbytes == encoding.formula_bytes()
    assert encoding.nbytes == sum(-(-b // 8) for b in encoding.formula_bits().values())


# ---------------------------------------------------------------- round trips and bytes

@SETTINGS
@given(matrices(), st.sampled_from(["coo", "csr", "csc", "bitmap"]))
def test_round_trip_is_exact_and_bytes_match_formula(dense, fmt):
    encoding = hardware.encode(dense, fmt)
    assert_exact(encoding, dense)
    assert_bytes_match_formula(encoding)


@SETTINGS
@given(matrices(), st.integers(1, 5), st.integers(1, 5))
def test_bsr_round_trip_with_padding(dense, r, c):
    encoding = hardware.encode(dense, "bsr", blocksize=(r, c), pad=True)
    assert_exact(encoding, dense)
    assert_bytes_match_formula(encoding)
    # a stored block has a non-zero; an all-zero block is not stored
    assert bool((encoding.values != 0).flatten(1).any(1).all())


@SETTINGS
@given(matrices(max_side=40), st.integers(1, 8))
def test_eie_round_trip_and_padding_count(dense, gap_bits):
    encoding = hardware.encode(dense, "eie", gap_bits=gap_bits)
    assert_exact(encoding, dense)
    assert_bytes_match_formula(encoding)
    # one padding zero for every full run of 2^b positions a gap spans (gap // 2^b per non-zero)
    expected = 0
    for column in dense.T:
        positions = torch.cat([torch.tensor([-1]), (column != 0).nonzero().flatten()])
        expected += int(((positions.diff() - 1) // 2**gap_bits).sum())
    assert encoding.n_padding == expected


@SETTINGS
@given(matrices(max_side=9, min_side=1), st.integers(1, 8), st.data())
def test_nm_round_trip_and_bytes(dense, m, data):
    n = data.draw(st.integers(1, m))
    structured = dense * nm_mask(dense.float(), n, m, pad=True)
    encoding = hardware.encode(structured, "nm", n=n, m=m, pad=True)
    assert_exact(encoding, structured)
    assert_bytes_match_formula(encoding)


def test_nm_storage_agrees_with_nm_sparsity():
    weight = torch.randn(64, 256).half()
    structured = weight * nm_mask(weight, 2, 4)
    encoding = hardware.encode(structured, "nm", n=2, m=4)
    assert encoding.nbytes == sum(nm_storage_bytes(weight.numel(), 2, 4, 2))
    assert encoding.nbytes * 16 == weight.numel() * 2 * 9  # 9/16 of dense fp16


def test_nm_refuses_a_matrix_that_is_not_nm_sparse():
    with pytest.raises(ValueError, match="not 2:4 sparse: 1 groups"):
        hardware.encode(torch.tensor([[1.0, 2.0, 3.0, 0.0]]), "nm", n=2, m=4)


def test_bitmap_is_the_packed_mask():
    dense = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -3.0]])
    encoding = hardware.encode(dense, "bitmap")
    expected = np.packbits((dense != 0).flatten().numpy(), bitorder="little")
    assert np.array_equal(encoding.bitmap.numpy(), expected)
    assert encoding.values.tolist() == [1.5, 2.0, -3.0]


def test_eie_worked_example():
    # column 0 has non-zeros at rows 0 and 20: the gap of 19 zeros needs one padding zero (4 bits)
    dense = torch.zeros(40, 2)
    dense[0, 0], dense[20, 0], dense[39, 1] = 1.0, 2.0, 3.0
    encoding = hardware.encode(dense, "eie", gap_bits=4)
    assert encoding.values.tolist() == [1.0, 0.0, 2.0, 0.0, 0.0, 3.0]
    codes = core.unpack_bits(encoding.gaps, 4, 6)
    assert codes.tolist() == [0, 15, 3, 15, 15, 7]  # 0+1, 16, 20 | 15, 31, 39
    assert encoding.col_ptr.tolist() == [0, 3, 6]
    assert encoding.n_padding == 3


def test_csr_worked_example_and_formula():
    dense = torch.tensor([[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [7.0, 0.0, 0.0, 9.0]])
    encoding = hardware.encode(dense, "csr", index_bits=32)
    assert encoding.values.tolist() == [5.0, 7.0, 9.0]
    assert encoding.col_indices.tolist() == [1, 0, 3]
    assert encoding.row_ptr.tolist() == [0, 1, 1, 3]
    assert encoding.formula_bits() == {"values": 96, "col_indices": 96, "row_ptr": 128}
    assert encoding.nbytes == 40


# ---------------------------------------------------------------- torch.sparse and scipy.sparse

@SETTINGS
@given(matrices())
def test_same_arrays_as_torch_sparse(dense):
    coo, torch_coo = hardware.encode(dense, "coo"), dense.to_sparse().coalesce()
    assert torch.equal(torch.stack([coo.row_indices.long(), coo.col_indices.long()]),
                       torch_coo.indices())
    assert torch.equal(coo.values, torch_coo.values())
    for fmt, torch_layout, ptr, minor, torch_ptr, torch_minor in [
        ("csr", dense.to_sparse_csr(), "row_ptr", "col_indices", "crow_indices", "col_indices"),
        ("csc", dense.to_sparse_csc(), "col_ptr", "row_indices", "ccol_indices", "row_indices"),
    ]:
        encoding = hardware.encode(dense, fmt)
        assert torch.equal(getattr(encoding, ptr).long(), getattr(torch_layout, torch_ptr)())
        assert torch.equal(getattr(encoding, minor).long(), getattr(torch_layout, torch_minor)())
        assert torch.equal(encoding.values, torch_layout.values())
        assert torch.equal(encoding.to_torch().to_dense(), dense)
        assert_exact(hardware.from_torch(torch_layout), dense)


@SETTINGS
@given(matrices(max_side=4, min_side=1), st.integers(1, 3), st.integers(1, 3))
def test_same_arrays_as_torch_bsr(small, r, c):
    dense = small.repeat(r, c)  # a shape the blocks divide
    encoding = hardware.encode(dense, "bsr", blocksize=(r, c))
    reference = dense.to_sparse_bsr((r, c))
    assert torch.equal(encoding.row_ptr.long(), reference.crow_indices())
    assert torch.equal(encoding.col_indices.long(), reference.col_indices())
    assert torch.equal(encoding.values, reference.values())
    assert torch.equal(encoding.to_torch().to_dense(), dense)
    assert_exact(hardware.from_torch(reference), dense)


@SETTINGS
@given(matrices(dtypes=(torch.float32, torch.int8)))
def test_same_arrays_as_scipy_sparse(dense):
    array = dense.numpy()
    csr, csc = scipy.sparse.csr_array(array), scipy.sparse.csc_array(array)
    for fmt, reference, ptr, minor in [("csr", csr, "row_ptr", "col_indices"),
                                       ("csc", csc, "col_ptr", "row_indices")]:
        encoding = hardware.encode(dense, fmt)
        assert np.array_equal(getattr(encoding, ptr).long().numpy(), reference.indptr)
        assert np.array_equal(getattr(encoding, minor).long().numpy(), reference.indices)
        assert np.array_equal(encoding.values.numpy(), reference.data)
        assert np.array_equal(encoding.to_scipy().toarray(), array)
        assert_exact(hardware.from_scipy(reference), dense)
    coo = scipy.sparse.coo_array(array)
    encoding = hardware.encode(dense, "coo")
    assert np.array_equal(encoding.row_indices.long().numpy(), coo.row)
    assert np.array_equal(encoding.col_indices.long().numpy(), coo.col)
    assert np.array_equal(encoding.to_scipy().toarray(), array)
    assert_exact(hardware.from_scipy(coo), dense)


def test_same_arrays_as_scipy_bsr():
    dense = torch.zeros(6, 8)
    dense[0, 1], dense[3, 7], dense[5, 0] = 1.0, 2.0, 3.0
    reference = scipy.sparse.bsr_array(dense.numpy(), blocksize=(3, 4))
    reference.sort_indices()  # scipy builds this one with row 1's blocks out of order
    encoding = hardware.encode(dense, "bsr", blocksize=(3, 4))
    assert np.array_equal(encoding.row_ptr.long().numpy(), reference.indptr)
    assert np.array_equal(encoding.col_indices.long().numpy(), reference.indices)
    assert np.array_equal(encoding.values.numpy(), reference.data)
    assert np.array_equal(encoding.to_scipy().toarray(), dense.numpy())
    assert_exact(hardware.from_scipy(reference), dense)


def test_from_scipy_canonicalises_duplicates_and_order():
    coo = scipy.sparse.coo_array(([1.0, 2.0, 3.0], ([2, 0, 2], [1, 3, 1])), shape=(3, 4))
    encoding = hardware.from_scipy(coo.tocsr())
    assert encoding.values.tolist() == [2.0, 4.0]
    assert encoding.row_ptr.tolist() == [0, 1, 1, 2]
    assert torch.equal(hardware.from_scipy(coo).to_dense(), torch.from_numpy(coo.toarray()))


def test_scipy_conversion_refuses_half_precision():
    with pytest.raises(TypeError, match="scipy.sparse cannot hold torch.float16"):
        hardware.encode(torch.eye(3).half(), "csr").to_scipy()


def test_padded_bsr_does_not_convert_to_libraries():
    encoding = hardware.encode(torch.eye(5), "bsr", blocksize=2, pad=True)
    assert encoding.padded and encoding.values.shape[1:] == (2, 2)
    with pytest.raises(ValueError, match="torch.sparse BSR needs blocks that divide"):
        encoding.to_torch()


# ---------------------------------------------------------------- index widths

@pytest.mark.parametrize("largest, bits", [(0, 8), (255, 8), (256, 16), (65535, 16), (65536, 32),
                                           (2**32 - 1, 32), (2**32, 64)])
def test_smallest_index_width(largest, bits):
    assert hardware.index_bits_for(largest) == bits


def test_index_width_is_chosen_from_the_matrix():
    assert hardware.encode(torch.ones(1, 256), "csr").col_indices.dtype == torch.uint16  # nnz 256
    assert hardware.encode(torch.ones(1, 255), "csr").col_indices.dtype == torch.uint8
    assert hardware.encode(torch.ones(2, 2), "coo", index_bits=32).row_indices.dtype == torch.uint32


def test_too_small_index_width_is_an_error():
    with pytest.raises(ValueError, match="index_bits=8 is too small.*reach 299.*16 bits"):
        hardware.encode(torch.eye(1, 300), "coo", index_bits=8)
    with pytest.raises(ValueError, match="index_bits must be one of"):
        hardware.encode(torch.eye(3), "csr", index_bits=12)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("dense, error, message", [
    (torch.ones(3), ValueError, "dense must be a 2-D tensor .* got shape \\(3,\\)"),
    (torch.ones(2, 2, 2), ValueError, "dense must be a 2-D tensor"),
    ([[1.0, 0.0]], TypeError, "dense must be a torch.Tensor, got list"),
    (torch.ones(2, 2, dtype=torch.bool), TypeError, "got torch.bool"),
    (torch.eye(2).to_sparse(), TypeError, "use from_torch"),
])
def test_bad_matrix(dense, error, message):
    with pytest.raises(error, match=message):
        hardware.encode(dense, "csr")


@pytest.mark.parametrize("fmt, options, error, message", [
    ("csx", {}, ValueError, "fmt must be one of .* got 'csx'"),
    ("csr", {"blocksize": 2}, TypeError, "format 'csr' takes the options \\['index_bits'\\]"),
    ("bsr", {"blocksize": 0}, ValueError, "blocksize must be a positive integer, got 0"),
    ("bsr", {"blocksize": (2, -1)}, ValueError, "blocksize must be a positive integer, got -1"),
    ("bsr", {"blocksize": (1, 2, 3)}, ValueError, "blocksize must be an int or a pair"),
    ("bsr", {"blocksize": 3}, ValueError, "blocksize \\(3, 3\\) does not divide the shape .*pad=True"),
    ("eie", {"gap_bits": 0}, ValueError, "gap_bits must be a positive integer, got 0"),
    ("eie", {"gap_bits": 9}, ValueError, "gap_bits must be between 1 and 8, got 9"),
    ("nm", {"n": 2, "m": 3}, ValueError, "not a multiple of m=3"),
])
def test_bad_options(fmt, options, error, message):
    with pytest.raises(error, match=message):
        hardware.encode(torch.eye(4), fmt, **options)


def test_bad_library_inputs():
    with pytest.raises(TypeError, match="torch.sparse tensor with layout"):
        hardware.from_torch(torch.eye(2))
    with pytest.raises(TypeError, match="scipy.sparse array in coo, csr, csc or bsr"):
        hardware.from_scipy(scipy.sparse.lil_array((2, 2)))


# ---------------------------------------------------------------- formulas and crossovers

def test_csr_crossover_is_half_for_fp32_and_32_bit_indices():
    shape = (64, 256)
    crossover = hardware.crossover_sparsity("csr", shape, 32, 32)
    # 64 bits per non-zero against 32 per entry, plus (R + 1) 32-bit row pointers
    most_nnz = round((1 - crossover) * 64 * 256)
    assert most_nnz == (64 * 256 * 32 - 65 * 32 - 1) // 64 == 8159
    assert crossover == pytest.approx(0.5, abs=0.01)
    # in general 1/2 + (R + 1) / (2 R C), up to one entry
    rows, cols = 4096, 4096
    big = hardware.crossover_sparsity("csr", (rows, cols), 32, 32)
    assert big == pytest.approx(0.5 + (rows + 1) / (2 * rows * cols), abs=1 / (rows * cols))


@pytest.mark.parametrize("fmt", hardware.NNZ_FORMATS)
@pytest.mark.parametrize("value_bits, dtype", [(32, torch.float32), (16, torch.float16),
                                               (8, torch.int8)])
def test_crossover_agrees_with_measured_bytes(fmt, value_bits, dtype):
    weight = torch.randn(16, 40, generator=torch.Generator().manual_seed(0))
    numel = weight.numel()
    crossover = hardware.crossover_sparsity(fmt, weight.shape, value_bits, 32)
    most_nnz = round((1 - crossover) * numel)
    dense_bytes = numel * value_bits // 8
    options = {} if fmt == "bitmap" else {"index_bits": 32}
    sizes = [hardware.encode(hardware.prune_matrix(weight, 1 - nnz / numel, dtype), fmt, **options).nbytes
             for nnz in (most_nnz, most_nnz + 1)]
    assert sizes[0] < dense_bytes <= sizes[1]


def test_crossover_is_none_when_the_fixed_part_exceeds_dense():
    assert hardware.crossover_sparsity("csr", (1, 1), 32, 32) is None  # two 32-bit row pointers
    assert hardware.crossover_sparsity("bitmap", (1, 1), 32) == 1.0


def test_storage_bits_formulas():
    shape = (10, 20)
    assert hardware.storage_bits("dense", shape, 7, 16) == 200 * 16
    assert hardware.storage_bits("coo", shape, 7, 16, 8) == 7 * (16 + 8 + 8)
    assert hardware.storage_bits("csr", shape, 7, 16, 8) == 7 * 24 + 11 * 8
    assert hardware.storage_bits("csc", shape, 7, 16, 8) == 7 * 24 + 21 * 8
    assert hardware.storage_bits("bitmap", shape, 7, 16) == 7 * 16 + 200
    with pytest.raises(ValueError, match="shape must be two positive ints"):
        hardware.storage_bits("csr", (0, 3), 1, 32)


# ---------------------------------------------------------------- the lesson's helpers

def test_format_bytes_for_the_slider_leaves_the_weight_alone():
    weight = torch.randn(32, 48, generator=torch.Generator().manual_seed(1))
    before = weight.clone()
    sizes = hardware.format_bytes(weight, 0.75)
    assert torch.equal(weight, before)
    assert list(sizes) == ["dense", *hardware.UNSTRUCTURED_FORMATS]
    nnz = round(0.25 * weight.numel())
    assert sizes["dense"] == weight.numel() * 4
    assert sizes["csr"] == nnz * 8 + 33 * 4
    assert sizes["bitmap"] == nnz * 4 + weight.numel() // 8
    sparser = hardware.format_bytes(weight, 0.9, torch.int8, index_bits=None)
    assert sparser["dense"] == weight.numel()
    assert all(sparser[fmt] < sizes[fmt] for fmt in sizes)


def test_as_dtype_quantises_int8_symmetrically():
    weight = torch.tensor([[-0.5, 0.25, 0.001, 1.0]])
    assert hardware.as_dtype(weight, torch.int8).tolist() == [[-64, 32, 0, 127]]
    assert hardware.as_dtype(weight, torch.float16).dtype == torch.float16
    with pytest.raises(ValueError, match="dtype must be one of"):
        hardware.as_dtype(weight, torch.int32)


def test_storage_table_and_plot():
    weight = torch.randn(16, 32, generator=torch.Generator().manual_seed(2))
    sparsities = [0.0, 0.5, 0.9]
    table = hardware.storage_table(weight, sparsities, (torch.float32, torch.int8))
    assert table[torch.int8]["dense"] == [512] * 3
    assert table[torch.float32]["coo"] == [n * 12 for n in (512, 256, 51)]
    axes = plots.plot_storage(table, sparsities)
    assert len(axes) == 2 and axes[0].get_ylabel() == "storage (KiB)"


def test_matmul_times_restores_threads_and_times_every_method():
    threads = torch.get_num_threads()
    times = hardware.matmul_times((64, 64), [0.0, 0.9], batch=4, repeats=2, progress=False)
    assert torch.get_num_threads() == threads
    assert set(times) == {"dense", "torch_csr", "scipy_csr"}
    assert all(len(t) == 2 and all(ms > 0 for ms in t) for t in times.values())


@pytest.mark.parametrize("sparse_ms, expected", [
    ([2.0, 0.5, 0.1], 0.5),
    ([0.5, 2.0, 0.1], 0.9),   # faster at 0 but not from there on
    ([2.0, 2.0, 1.5], None),
    ([0.1, 0.1, 0.1], 0.0),
])
def test_measured_crossover(sparse_ms, expected):
    assert hardware.measured_crossover([0.0, 0.5, 0.9], [1.0, 1.0, 1.0], sparse_ms) == expected


def test_matrix_product_through_the_kit_equals_dense():
    weight = hardware.prune_matrix(torch.randn(30, 20, generator=torch.Generator().manual_seed(3)), 0.8)
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(4))
    csr = hardware.encode(weight, "csr")
    assert torch.allclose(csr.to_torch() @ x, weight @ x, atol=1e-6)
    assert np.allclose(csr.to_scipy() @ x.numpy(), (weight @ x).numpy(), atol=1e-6)
    assert math.isclose(float((weight != 0).float().mean()), 0.2, abs_tol=1 / 600)
