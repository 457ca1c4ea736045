import pytest

from course_lib.core import check_choice, check_fraction, check_positive_int


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_fractions_outside_the_unit_interval_are_value_errors(bad):
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\], got"):
        check_fraction("sparsity", bad)


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5]])
def test_non_numbers_are_type_errors(bad):
    with pytest.raises(TypeError, match="sparsity must be a real number"):
        check_fraction("sparsity", bad)


def test_fractions_at_the_ends_are_allowed_unless_excluded():
    assert check_fraction("s", 0) == 0.0 and check_fraction("s", 1) == 1.0
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\)"):
        check_fraction("ratio", 1.0, allow_one=False)


def test_positive_ints_and_choices():
    assert check_positive_int("n", 3) == 3
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        check_positive_int("n", 0)
    with pytest.raises(TypeError, match="n must be a positive integer, got 2.0"):
        check_positive_int("n", 2.0)
    with pytest.raises(ValueError, match=r"fmt must be one of \['coo', 'csr'\], got 'bsr'"):
        check_choice("fmt", "bsr", {"csr", "coo"})
