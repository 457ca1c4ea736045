"""Exercise checks: one module per lesson (``lesson00``, ``lesson01``, ...).

A check runs the learner's function on cases of its own, compares each answer with the library's
reference and reports the first failing case (its arguments, what was expected, what came back)
without showing the solution. In a notebook, put the check call last in its cell: the result
displays as one line.

    from course_lib.checks import lesson00 as check
    check.sparsity_of(sparsity_of)

Three rules hold for every check, because every public check is declared with :func:`exercise`:

- **Own code only.** A check names the library functions that compute its exercise's answer
  (``mirrors``). While it runs, those functions answer only the library's own code: called from the
  learner's code they raise :class:`LibraryAnswerUsed`, and the check fails saying which one was
  called. Handing in the library function itself fails the same way.
- **Inputs stay as given.** :func:`run_check` compares every argument before and after the learner's
  call; an answer that changes its inputs in place fails, naming the argument.
- **Grading fails safe.** Where nbgrader executes the notebook it sets ``NBGRADER_EXECUTION``
  (``autograde`` or ``validate``) in the kernel's environment; there a failed or unfinished check
  raises ``AssertionError`` with its message, so nbgrader's default configuration scores it zero.
  Anywhere else it returns a :class:`CheckResult` whose one-line verdict shows, and the notebook runs on.
"""

import copy
import functools
import inspect
import math
import numbers
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

GRADING_VARIABLE = "NBGRADER_EXECUTION"  # set by nbgrader in the kernel it grades or validates in
LIBRARY = "course_lib"


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


def not_done(exercise: str) -> CheckResult:
    """The verdict on an exercise whose placeholder still raises ``NotImplementedError``."""
    return CheckResult(exercise, False, f"Exercise {exercise} is not done yet: replace `raise "
                       "NotImplementedError` in the exercise cell with your code, run that cell, then run "
                       "this check again.")


def failed(exercise: str, message: str) -> CheckResult:
    return CheckResult(exercise, False, f"✗ Exercise {exercise}: {message}")


class Invalid:
    """What a measuring wrapper returns for an answer it cannot measure: the reason is the message."""

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return self.reason


class Verdict(Exception):
    """Raised inside a check to end it with ``result`` (see :func:`call_learner`)."""

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result


class LibraryAnswerUsed(RuntimeError):
    """The learner's code called a library function that computes the exercise's answer."""


def call_learner(exercise: str, where: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; an unfinished exercise or an exception ends the check with a
    :class:`Verdict` (one line, no traceback)."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Verdict(not_done(exercise)) from None
    except LibraryAnswerUsed as err:
        raise Verdict(CheckResult(exercise, False, f"✗ {where}: {err}")) from None
    except Exception as err:  # the learner's code failed: report it, not a traceback
        message = f"✗ {where}: raised {type(err).__name__}: {err}"
        raise Verdict(CheckResult(exercise, False, message)) from None


# ---------------------------------------------------------------- describing values


def summarize(value) -> str:
    """A short description of a value: small tensors in full, large ones by shape and statistics."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 16:
            return f"tensor({value.tolist()}, dtype={value.dtype})"
        detail = f"{int(value.sum())} True" if value.dtype == torch.bool else (
            f"{int(torch.count_nonzero(value))} non-zeros"
        )
        return f"tensor of shape {tuple(value.shape)}, dtype={value.dtype}, {detail}"
    if isinstance(value, np.ndarray):
        shown = value.tolist() if value.size <= 16 else f"{np.count_nonzero(value)} non-zeros"
        return f"numpy array of shape {value.shape}, dtype={value.dtype}: {shown}"
    if isinstance(value, nn.Module):
        return f"{type(value).__name__} ({sum(p.numel() for p in value.parameters()):,} parameters)"
    if hasattr(value, "nnz") and hasattr(value, "shape"):  # a scipy.sparse matrix
        return f"{type(value).__name__} of shape {value.shape} with {value.nnz} non-zeros"
    if isinstance(value, torch.utils.data.DataLoader):
        return f"DataLoader over {len(value.dataset)} examples"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        head = ", ".join(summarize(v) for v in value[:6])
        return f"{type(value).__name__} of {len(value)}: [{head}, ...]"
    if isinstance(value, dict) and len(value) > 8:
        head = ", ".join(f"{k!r}: {summarize(v)}" for k, v in list(value.items())[:4])
        return f"dict of {len(value)} entries: {{{head}, ...}}"
    return repr(value)


def _kind(value) -> str:
    kind = type(value)
    package = kind.__module__.split(".")[0]
    return f"a {kind.__name__}" if package == "builtins" else f"a {package}.{kind.__name__}"


def type_problem(got, expected, exact: bool = True) -> str:
    """Why ``got`` cannot be the answer ``expected`` whatever its values ('' when it could be):
    another kind of object, or (``exact``) a tensor of another shape or dtype, a list of another length."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {_kind(got)} ({summarize(got)})"
        if exact and got.shape != expected.shape:
            return f"expected a tensor of shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if exact and got.dtype != expected.dtype:
            return f"expected a tensor of dtype {expected.dtype}, got dtype {got.dtype}"
    elif isinstance(expected, numbers.Real) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor):
            return f"expected a Python number, got a torch.Tensor ({summarize(got)}): use .item()"
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            return f"expected a Python number, got {_kind(got)} ({summarize(got)})"
    elif isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            hint = ": use .tolist()" if isinstance(got, (torch.Tensor, np.ndarray)) else ""
            return f"expected a {type(expected).__name__}, got {_kind(got)} ({summarize(got)}){hint}"
        if exact and len(got) != len(expected):
            return f"expected {len(expected)} entries, got {len(got)}"
    return ""


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


def unchanged(before, after) -> bool:
    """Is ``after`` (an argument after the learner's call) still equal to ``before`` (a pristine copy)?
    Tensors, arrays, modules (their state), sparse matrices and containers of them are compared;
    other objects are taken as unchanged."""
    if isinstance(before, torch.Tensor):
        return before.shape == after.shape and before.dtype == after.dtype and (
            torch.equal(before, after) or bool(torch.isclose(before, after, 0, 0, equal_nan=True).all()))
    if isinstance(before, np.ndarray):
        nan_is_nan = before.dtype.kind == "f"
        return before.shape == after.shape and np.array_equal(before, after, equal_nan=nan_is_nan)
    if isinstance(before, nn.Module):
        return unchanged(before.state_dict(), after.state_dict())
    if hasattr(before, "nnz") and hasattr(before, "shape"):  # a scipy.sparse matrix
        return before.shape == after.shape and (before != after).nnz == 0
    if isinstance(before, (list, tuple)):
        return len(before) == len(after) and all(unchanged(b, a) for b, a in zip(before, after))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(unchanged(before[k], after[k]) for k in before)
    return True


def _arguments(fn, args: tuple, kwargs: dict) -> list[tuple[str, object]]:
    """(name, value) for each argument of a call of ``fn``: the parameter names when they bind."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        named = []
        for name, value in bound.arguments.items():
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                named += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                named += list(value.items())
            else:
                named.append((name, value))
        return named
    except (TypeError, ValueError):
        return [(f"argument {i}", v) for i, v in enumerate(args, start=1)] + list(kwargs.items())


def run_check(exercise: str, learner_fn, reference_fn, cases, compare=same,
              may_modify_inputs: bool = False) -> CheckResult:
    """Compare ``learner_fn`` with ``reference_fn`` on every case; stop at the first difference.

    Each function gets its own deep copy of the inputs; the learner's copy is compared with the
    original afterwards, and an answer that changed one of its inputs fails (unless
    ``may_modify_inputs``). A failure names the case and its arguments. ``compare(got, expected)``
    decides equality (default :func:`same`); a learner's answer of the wrong kind (a tensor for a
    list, an array for a number) is reported as such before any values are compared.
    """
    for number, case in enumerate(cases, start=1):
        expected = reference_fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        named = _arguments(reference_fn, case.args, case.kwargs)
        where = f"Exercise {exercise}, case {number} ({case.description})"
        if named:
            where += " with " + ", ".join(f"{name}={summarize(value)}" for name, value in named)
        try:
            got = call_learner(exercise, where, learner_fn, *args, **kwargs)
        except Verdict as verdict:
            return verdict.result
        given = _arguments(reference_fn, args, kwargs)
        changed = [name for (name, before), (_, after) in zip(named, given) if not unchanged(before, after)]
        if changed and not may_modify_inputs:
            return CheckResult(exercise, False, f"✗ {where}: your function changed its argument "
                               f"`{changed[0]}` in place; leave the inputs as they are and return a new "
                               "value.")
        problem = got.reason if isinstance(got, Invalid) else type_problem(got, expected, compare is same)
        if problem:
            return CheckResult(exercise, False, f"✗ {where}: {problem}")
        if not compare(got, expected):
            message = f"✗ {where}: expected {summarize(expected)}, got {summarize(got)}"
            return CheckResult(exercise, False, message)
    passed = "its case passes" if len(cases) == 1 else f"all {len(cases)} cases pass"
    return CheckResult(exercise, True, f"✓ Exercise {exercise}: {passed}.")


# ---------------------------------------------------------------- own code only, and grading


def library_name(obj) -> str:
    """The shortest public path under which the library offers ``obj``
    (``course_lib.recipes.agp_sparsity``)."""
    paths = [f"{name}.{key}" for name, module in list(sys.modules.items())
             if (name == LIBRARY or name.startswith(LIBRARY + ".")) and ".checks" not in name
             for key, value in list(vars(module).items()) if value is obj and not key.startswith("_")]
    return min(paths, key=lambda p: (p.count("."), p)) if paths else f"{obj.__module__}.{obj.__qualname__}"


def _guard(original, name: str, calls: list):
    """``original`` for the library's own code; for anyone else's, a :class:`LibraryAnswerUsed`."""

    @functools.wraps(original)
    def guarded(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == LIBRARY or caller.startswith(LIBRARY + "."):
            return original(*args, **kwargs)
        calls.append(name)
        raise LibraryAnswerUsed(f"your code called {name}, which computes this exercise's answer: use your "
                                "own code (the check makes it unavailable to yours)")

    return guarded


def _namespaces(handed_in) -> list[dict]:
    """Where a reference may be bound: every module of the library, ``__main__`` (a notebook's
    namespace) and the modules that define what the learner handed in."""
    names = [n for n in list(sys.modules) if n == LIBRARY or n.startswith(LIBRARY + ".")] + ["__main__"]
    for value in handed_in:
        if inspect.isclass(value) or inspect.isroutine(value):
            names.append(getattr(value, "__module__", None))
    spaces = [vars(sys.modules[n]) for n in names if n in sys.modules]
    spaces += [value.__globals__ for value in handed_in if inspect.isfunction(value)]
    return list({id(space): space for space in spaces}.values())


def _blocked(mirrors, handed_in) -> tuple[list, list]:
    """Replace every binding of each mirrored function by its guard; returns (restore list, calls)."""
    calls, patched = [], []
    for original in mirrors:
        guard = _guard(original, library_name(original), calls)
        for space in _namespaces(handed_in):
            for key, value in list(space.items()):
                if value is original:
                    patched.append((space, key, original))
                    space[key] = guard
    return patched, calls


def _is_mirror(value, mirrors) -> bool:
    return any(candidate is m for m in mirrors
               for candidate in (value, getattr(value, "func", None), getattr(value, "__wrapped__", None),
                                 getattr(value, "__func__", None)))


def graded(result: CheckResult) -> CheckResult:
    """``result``, except that under nbgrader (``NBGRADER_EXECUTION`` set) a failure raises."""
    if not result.passed and os.environ.get(GRADING_VARIABLE):
        raise AssertionError(result.message)
    return result


def exercise(number: str, mirrors=()):
    """Declare a public check of Exercise ``number``: its learner-facing rules (own code only, fail
    safe under nbgrader) wrap it. ``mirrors`` are the library functions that compute the answer."""
    mirrors = tuple(mirrors)

    def declare(check):
        @functools.wraps(check)
        def checked(*args, **kwargs):
            handed_in = [*args, *kwargs.values()]
            used = [library_name(m) for m in mirrors if any(_is_mirror(v, [m]) for v in handed_in)]
            if used:
                return graded(failed(number, f"you handed in {used[0]} itself, the library's answer: "
                                             "write your own function."))
            patched, calls = _blocked(mirrors, handed_in)
            try:
                result = check(*args, **kwargs)
            except Verdict as verdict:
                result = verdict.result
            finally:
                for space, key, original in reversed(patched):
                    space[key] = original
            if calls and (result.passed or "your code called" not in result.message):  # caught and hidden
                result = failed(number, f"your code called {calls[0]}, which computes this exercise's "
                                        "answer: use your own code (the check makes it unavailable to yours)")
            return graded(result)

        checked.exercise, checked.mirrors = number, mirrors
        return checked

    return declare
