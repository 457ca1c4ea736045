"""Shared assertion for the exercise-check tests (tests/test_checks_lessonNN.py)."""


def assert_check_passes_and_rejects(checker, reference, wrong_answers):
    """``checker`` accepts the library's ``reference`` and rejects each wrong answer, naming a case."""
    result = checker(reference)
    assert result and "✓" in repr(result), repr(result)
    for answer in wrong_answers:
        result = checker(answer)
        assert not result, answer.__name__
        message = repr(result)
        assert "case" in message and ("expected" in message or "raised" in message), message
