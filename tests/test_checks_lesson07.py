"""Each lesson-07 check passes on the reference answer and fails on plausible wrong ones."""

import torch

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


def test_csr_bits():
    assert check.csr_bits(lambda s, nnz, v, i: nnz * (v + i) + (s[0] + 1) * i)
    no_plus_one = check.csr_bits(lambda s, nnz, v, i: nnz * (v + i) + s[0] * i)
    assert not no_plus_one and "case 1" in repr(no_plus_one)
    columns = check.csr_bits(lambda s, nnz, v, i: nnz * (v + i) + (s[1] + 1) * i)
    assert not columns and "case 1" in repr(columns)
    no_indices = check.csr_bits(lambda s, nnz, v, i: nnz * v + (s[0] + 1) * i)
    assert not no_indices and "case 1" in repr(no_indices)
