"""Exercise checks: one module per lesson (``lesson00``, ``lesson01``, ...).

A check runs the learner's function on cases of its own, compares each answer with the library's
reference and reports the first failing case (input, expected, got) without showing the solution.
In a notebook, put the check call last in its cell: the result displays as one line.

    from course_lib.checks import lesson00 as check
    check.sparsity_of(sparsity_of)
"""

import copy
import math
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Case:
    """One input to try: positional ``args``, keyword ``kwargs`` and a short human description."""

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """Truthy when the exercise passed; its repr is the one-line message shown in the notebook."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def summarize(value) -> str:
    """A short description of a value: small tensors in full, large ones by shape and statistics."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 16:
            return f"tensor({value.tolist()}, dtype={value.dtype})"
        detail = f"{int(value.sum())} True" if value.dtype == torch.bool else (
            f"{int(torch.count_nonzero(value))} non-zeros"
        )
        return f"tensor of shape {tuple(value.shape)}, dtype={value.dtype}, {detail}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def same(got, expected, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    """Equal up to float tolerance: tensors need the same shape and dtype, numbers are close."""
    if isinstance(expected, torch.Tensor):
        return (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and got.dtype == expected.dtype
            and (
                torch.allclose(got, expected, rtol=rtol, atol=atol)
                if expected.is_floating_point()
                else torch.equal(got, expected)
            )
        )
    if isinstance(expected, float):
        return isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=rtol, abs_tol=atol)
    if isinstance(expected, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(same(g, e, rtol, atol) for g, e in zip(got, expected))
        )
    return got == expected


def run_check(exercise: str, learner_fn, reference_fn, cases, compare=same) -> CheckResult:
    """Compare ``learner_fn`` with ``reference_fn`` on every case; stop at the first difference.

    Each function gets its own deep copy of the inputs, so a learner's function that modifies its
    arguments cannot change what the reference sees.
    """
    for number, case in enumerate(cases, start=1):
        expected = reference_fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        where = f"Exercise {exercise}, case {number} ({case.description})"
        try:
            got = learner_fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            return CheckResult(
                exercise,
                False,
                f"Exercise {exercise} is not done yet: replace `raise NotImplementedError` "
                "in the exercise cell with your code, run that cell, then run this check again.",
            )
        except Exception as err:  # the learner's code failed: report it, not a traceback
            return CheckResult(exercise, False, f"✗ {where}: raised {type(err).__name__}: {err}")
        if not compare(got, expected):
            return CheckResult(
                exercise,
                False,
                f"✗ {where}: expected {summarize(expected)}, got {summarize(got)}",
            )
    passed = "its case passes" if len(cases) == 1 else f"all {len(cases)} cases pass"
    return CheckResult(exercise, True, f"✓ Exercise {exercise}: {passed}.")
