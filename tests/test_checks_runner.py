import functools
import importlib
import inspect

import numpy as np
import pytest
import torch

from course_lib.checks import Case, Invalid, exercise, run_check, same, summarize


def _double(x):
    return 2 * x


CASES = [Case("small", (torch.tensor([1.0, 2.0]),)), Case("negative", (torch.tensor([-3.0]),))]


def test_a_correct_function_passes():
    result = run_check("9.9", lambda x: x + x, _double, CASES)
    assert result and "all 2 cases pass" in repr(result)


def test_the_first_failing_case_is_reported_with_input_expected_and_got():
    result = run_check("9.9", lambda x: 2 * x.abs(), _double, CASES)
    assert not result
    message = repr(result)
    assert "case 2 (negative)" in message
    assert "expected tensor([-6.0]" in message and "got tensor([6.0]" in message


def test_an_unsolved_exercise_gets_one_friendly_line():
    def unsolved(x):
        raise NotImplementedError("Exercise 9.9")

    result = run_check("9.9", unsolved, _double, CASES)
    assert not result
    assert repr(result).startswith("Exercise 9.9 is not done yet")
    assert "Traceback" not in repr(result)


def test_an_exception_in_the_learners_code_is_reported_not_raised():
    result = run_check("9.9", lambda x: x.no_such_method(), _double, CASES)
    assert not result and "raised AttributeError" in repr(result)


def test_an_answer_that_changes_its_input_in_place_fails_naming_the_argument():
    def mutating(x):
        return x.mul_(2)  # the right values, but the caller's tensor is doubled too

    result = run_check("9.9", mutating, _double, CASES)
    assert not result and "changed its argument `x` in place" in repr(result)
    assert run_check("9.9", mutating, _double, CASES, may_modify_inputs=True)


def test_failures_name_the_arguments_of_the_case():
    result = run_check("9.9", lambda x: 3 * x, _double, CASES)
    assert "case 1 (small) with x=tensor([1.0, 2.0], dtype=torch.float32): expected" in repr(result)


@pytest.mark.parametrize(
    "answer, expected, says",
    [
        (np.array([0.5, 0.75]), [0.5, 0.75], "expected a list, got a numpy.ndarray"),
        (torch.tensor(0.5), 0.5, "expected a Python number, got a torch.Tensor"),
        ([0.5], torch.tensor([0.5]), "expected a torch.Tensor, got a list"),
        (torch.zeros(2, dtype=torch.int64), torch.zeros(2), "expected a tensor of dtype torch.float32"),
        ("0.5", 0.5, "expected a Python number, got a str"),
    ],
)
def test_a_wrong_type_is_reported_as_a_wrong_type(answer, expected, says):
    result = run_check("9.9", lambda: answer, lambda: expected, [Case("one")])
    assert not result and says in repr(result), repr(result)
    assert "got array(" not in repr(result)


def test_an_invalid_answer_is_reported_by_its_reason_alone():
    result = run_check("9.9", lambda: Invalid("the sparsity falls"), lambda: 1.0, [Case("one")])
    assert repr(result) == "✗ Exercise 9.9, case 1 (one): the sparsity falls"


# ---------------------------------------------------------------- own code only, grading


def _reference(x):
    return 2 * x


def _helper_calling_the_reference(x):  # library-internal use (this module poses as course_lib below)
    return _reference(x)


@exercise("9.9", mirrors=[_reference])
def _check(fn):
    return run_check("9.9", fn, _reference, CASES)


def test_handing_in_the_reference_itself_fails():
    for handed_in in (_reference, functools.partial(_reference)):
        result = _check(handed_in)
        assert not result and "you handed in" in repr(result) and "_reference itself" in repr(result)


def test_calling_the_reference_fails_even_when_the_error_is_swallowed():
    def delegates(x):
        return _reference(x)

    def swallows(x):
        try:
            return _reference(x)
        except Exception:
            return 2 * x

    for answer in (delegates, swallows):
        result = _check(answer)
        assert not result and "your code called" in repr(result), repr(result)
    assert _check(lambda x: x + x)  # and the reference is back afterwards:
    assert _reference is globals()["_reference"] and _reference(torch.ones(1)).item() == 2


def test_the_library_itself_may_still_call_the_reference(monkeypatch):
    monkeypatch.setitem(globals(), "__name__", "course_lib.fake")  # its frames now pose as the library's
    assert _check(_helper_calling_the_reference)


def test_under_nbgrader_a_failed_or_unfinished_check_raises(monkeypatch):
    def unfinished(x):
        raise NotImplementedError

    assert repr(_check(unfinished)).startswith("Exercise 9.9 is not done yet")  # a student sees one line
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="not done yet"):
        _check(unfinished)
    with pytest.raises(AssertionError, match="case 2"):
        _check(lambda x: 2 * x.abs())
    assert _check(lambda x: x + x)  # a pass is still a pass


def test_every_lesson_check_is_declared_with_its_exercise():
    for name in [f"lesson{n:02d}" for n in range(12)]:
        module = importlib.import_module(f"course_lib.checks.{name}")
        public = [f for f in vars(module).values()
                  if inspect.isfunction(f) and f.__module__ == module.__name__
                  and (f.__doc__ or "").startswith(("Exercise", "The capstone"))]
        assert public, name
        for check in public:
            assert hasattr(check, "exercise"), f"{name}.{check.__name__} is not declared with @exercise"


def test_same_compares_shape_dtype_and_value():
    assert same(torch.tensor([1.0]), torch.tensor([1.0 + 1e-9]))
    assert not same(torch.tensor([1, 0]).bool(), torch.tensor([1, 0]))
    assert not same(torch.zeros(2, 1), torch.zeros(2))
    assert same(0.5, 0.5000001) and not same(0.5, 0.51)
    assert same((1, torch.ones(1)), [1, torch.ones(1)])


def test_summaries_of_large_tensors_stay_short():
    assert len(summarize(torch.ones(100, 100))) < 80
    assert "40 True" in summarize(torch.arange(100) < 40)
