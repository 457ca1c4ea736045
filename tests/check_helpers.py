"""Shared helpers for the exercise-check tests (tests/test_checks_lessonNN.py)."""

import types


def learners_copy(fn):
    """A library function re-made as a new function object with the same code: what a learner who
    wrote the reference line for line would hand in (the check's own-code guard only stops the
    library's objects themselves)."""
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__kwdefaults__ = fn.__kwdefaults__
    return twin


def unfinished(*args, **kwargs):
    """An exercise as the release hands it out: not written yet."""
    raise NotImplementedError


def assert_check_passes_and_rejects(checker, reference, wrong_answers):
    """``checker`` accepts ``reference`` and rejects each wrong answer, naming a case, and says an
    unfinished answer is not done yet. When ``reference`` is one of the library functions the check
    mirrors, handing it in itself fails and a learner's copy of it passes."""
    assert "not done yet" in repr(checker(unfinished))
    if any(reference is mirror for mirror in getattr(checker, "mirrors", ())):
        handed_in = checker(reference)
        assert not handed_in and "itself" in repr(handed_in), repr(handed_in)
        reference = learners_copy(reference)
    result = checker(reference)
    assert result and "✓" in repr(result), repr(result)
    for answer in wrong_answers:
        result = checker(answer)
        assert not result, answer.__name__
        message = repr(result)
        assert message.startswith("✗") and "case" in message, message
