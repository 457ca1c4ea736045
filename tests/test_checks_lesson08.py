import math

import numpy as np
import pytest
from check_helpers import assert_check_passes_and_rejects, learners_copy

from course_lib import hardware
from course_lib.checks import lesson08 as check

condense = learners_copy(hardware.condense)  # a learner's own version (the library's is blocked in 8.2)


def test_references_pass_as_a_learners_own_code_and_fail_when_handed_in():
    for checker, reference in [(check.outer_product_multiplications, hardware.count_multiplications),
                               (check.zero_outputs, hardware.linear_zero_outputs)]:
        assert not checker(reference) and "itself" in repr(checker(reference))
        assert checker(learners_copy(reference))
    assert check.condense_columns(lambda A: condense(A)[1])
    delegated = check.condense_columns(lambda A: hardware.condense(A)[1])
    assert not delegated and "case 1" in repr(delegated)
    assert "called course_lib.hardware.condense" in repr(delegated)


@pytest.mark.parametrize(
    "wrong, case",
    [
        (lambda A, B: A.nnz * B.nnz, "case 1"),
        (lambda A, B: int(np.dot(np.diff(A.indptr)[: B.shape[0]], np.diff(B.indptr))), "case 2"),
        (lambda A, B: (A @ B).nnz, "case 5"),
    ],
)
def test_outer_product_multiplications_rejects_wrong_answers(wrong, case):
    result = check.outer_product_multiplications(wrong)
    assert not result and "8.1" in repr(result) and case in repr(result)


def zero_padded(A):
    columns = condense(A)[1]
    return np.where(columns < 0, 0, columns)


def full_width(A):
    columns = np.full(A.shape, -1)
    for i in range(A.shape[0]):
        cols = A.indices[A.indptr[i]: A.indptr[i + 1]]
        columns[i, : cols.size] = cols
    return columns


@pytest.mark.parametrize(
    "wrong, case",
    [(zero_padded, "case 1"), (full_width, "case 1"), (lambda A: condense(A)[1][:, ::-1], "case 1")],
)
def test_condense_columns_rejects_wrong_answers(wrong, case):
    result = check.condense_columns(wrong)
    assert not result and "8.2" in repr(result) and case in repr(result)


@pytest.mark.parametrize(
    "wrong, case",
    [
        (lambda W, z: (W == 0).all(1), "case 2"),  # ignores the zero inputs
        (lambda W, z: ((W == 0) | z).any(1), "case 2"),  # any instead of all
        (lambda W, z: ((W == 0) | z[None, :]).all(1) & (W == 0).any(1), "case 3"),
    ],
)
def test_zero_outputs_rejects_wrong_answers(wrong, case):
    result = check.zero_outputs(wrong)
    assert not result and "8.3" in repr(result) and case in repr(result)


def test_not_done_yet_message():
    def todo(A, B):
        raise NotImplementedError

    assert "not done yet" in repr(check.outer_product_multiplications(todo))


def choose_dataflow(A, B, hw):
    """The reference design: each dataflow's DRAM traffic by its closed form, the smaller one wins."""
    eb, ib = hw.entry_bytes, hw.index_bytes
    a = A.nnz * eb + (A.shape[0] + 1) * ib
    b_rows, b_cols = B.nnz * eb + (B.shape[0] + 1) * ib, B.nnz * eb + (B.shape[1] + 1) * ib
    c = (A @ B).nnz * eb + (A.shape[0] + 1) * ib
    passes = 1 if min(a, b_cols) <= hw.buffer_bytes else math.ceil(a / hw.buffer_bytes)
    mults = int(np.dot(A.getnnz(axis=0), B.getnnz(axis=1)))
    return "inner" if a + passes * b_cols + c <= a + b_rows + 2 * mults * eb + c else "outer"


def test_choose_dataflow():
    assert_check_passes_and_rejects(check.choose_dataflow, choose_dataflow, [
        lambda A, B, hw: "inner",                                          # never re-reads B? it does
        lambda A, B, hw: "outer",                                          # every product goes to DRAM
        lambda A, B, hw: "inner" if A.nnz * 8 <= hw.buffer_bytes else "outer",  # only asks whether A fits
    ])
    assert "expected" in repr(check.choose_dataflow(lambda A, B, hw: "sparch"))  # not one of the two
