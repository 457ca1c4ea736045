"""Each lesson-07 check passes on the reference answer and fails on plausible wrong ones."""

import torch
from check_helpers import assert_check_passes_and_rejects

from course_lib import hardware
from course_lib.checks import lesson07 as check


def row_pointers(dense):
    return torch.cat([torch.zeros(1, dtype=torch.long), (dense != 0).sum(1).cumsum(0)])


def test_row_pointers():
    assert check.row_pointers(row_pointers)
    assert check.row_pointers(lambda d: row_pointers(d).int())  # any integer dtype will do
    counts = check.row_pointers(lambda d: (d != 0).sum(1))
    assert not counts and "case 1 (the 3x4 example" in repr(counts)
    no_leading_zero = check.row_pointers(lambda d: (d != 0).sum(1).cumsum(0))
    assert not no_leading_zero and "case 1" in repr(no_leading_zero)
    by_column = check.row_pointers(lambda d: row_pointers(d.T))
    assert not by_column and "case 1" in repr(by_column)
    as_float = check.row_pointers(lambda d: row_pointers(d).float())
    assert not as_float


def decode_relative(values, gaps, length):
    column = torch.zeros(length, dtype=values.dtype)
    column[(gaps + 1).cumsum(0) - 1] = values
    return column


def test_decode_relative():
    assert check.decode_relative(decode_relative)

    def forgets_the_entry_itself(values, gaps, length):  # position = cumsum(gaps), no + 1
        column = torch.zeros(length, dtype=values.dtype)
        column[gaps.cumsum(0)] = values
        return column

    off_by_one = check.decode_relative(forgets_the_entry_itself)
    assert not off_by_one and "case 1 (no gaps" in repr(off_by_one)

    def absolute(values, gaps, length):  # reads the gap as the row itself
        column = torch.zeros(length, dtype=values.dtype)
        column[gaps] = values
        return column

    wrong = check.decode_relative(absolute)
    assert not wrong and "case 1" in repr(wrong)

    def skips_padding(values, gaps, length):  # drops padding entries without counting their slot
        real = values != 0
        return decode_relative(values[real], gaps[real], length)

    padding = check.decode_relative(skips_padding)
    assert not padding and "case 4 (a padding zero" in repr(padding)


def choose_storage(matrix):
    """The reference design: the format and narrowest index width with the fewest bits by formula."""
    shape, nnz, v = tuple(matrix.shape), int((matrix != 0).sum()), matrix.element_size() * 8
    options = [(("dense", None), hardware.storage_bits("dense", shape, nnz, v)),
               (("bitmap", None), hardware.storage_bits("bitmap", shape, nnz, v))]
    widest = {"coo": max(shape) - 1, "csr": max(shape[1] - 1, nnz), "csc": max(shape[0] - 1, nnz)}
    for fmt, largest in widest.items():
        bits = hardware.index_bits_for(largest)
        options.append(((fmt, bits), hardware.storage_bits(fmt, shape, nnz, v, bits)))
    return min(options, key=lambda option: option[1])[0]


def by_measurement(candidates):
    return lambda m: min(candidates, key=lambda c: check.stored_bytes(m, *c))


def test_choose_storage():
    assert_check_passes_and_rejects(check.choose_storage, choose_storage, [
        by_measurement([("csr", 32)]),                                   # what torch.sparse stores
        by_measurement([("csr", 16)]),                                   # narrow, but always CSR
        by_measurement([("bitmap", None)]),                              # a bitmap pays for every entry
        by_measurement([("csr", 16), ("bitmap", None)]),                 # forgets CSC on a tall matrix
        by_measurement([("csr", 16), ("csc", 16), ("bitmap", None)]),    # forgets dense at 0% sparsity
    ])
    too_narrow = check.choose_storage(lambda m: ("csr", 8))
    assert not too_narrow and "case 1" in repr(too_narrow)
    assert "('csr', 8) cannot store this matrix" in repr(too_narrow)
