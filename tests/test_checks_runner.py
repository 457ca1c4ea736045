import torch

from course_lib.checks import Case, run_check, same, summarize


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


def test_the_learner_cannot_change_what_the_reference_sees():
    def mutating(x):
        x.mul_(0)
        return 2 * x

    result = run_check("9.9", mutating, _double, CASES)
    assert not result and "expected tensor([2.0, 4.0]" in repr(result)


def test_same_compares_shape_dtype_and_value():
    assert same(torch.tensor([1.0]), torch.tensor([1.0 + 1e-9]))
    assert not same(torch.tensor([1, 0]).bool(), torch.tensor([1, 0]))
    assert not same(torch.zeros(2, 1), torch.zeros(2))
    assert same(0.5, 0.5000001) and not same(0.5, 0.51)
    assert same((1, torch.ones(1)), [1, torch.ones(1)])


def test_summaries_of_large_tensors_stay_short():
    assert len(summarize(torch.ones(100, 100))) < 80
    assert "40 True" in summarize(torch.arange(100) < 40)
