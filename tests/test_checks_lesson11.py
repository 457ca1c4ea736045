"""Lesson 11's checks pass on the reference answers and fail, naming the case, on plausible mistakes;
the capstone measures by itself, passes the reference solution and rejects what misses a target."""

import copy
from types import SimpleNamespace

import pytest
import torch
from check_helpers import assert_check_passes_and_rejects
from torch.nn.utils import prune

from course_lib import analysis, core, data, hardware, models, pruning, train
from course_lib.checks import lesson11 as check

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ---------------------------------------------------------------- exercise 11.1


class TopkL1(prune.BasePruningMethod):  # what L1Unstructured does: agrees with the kit here
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        self.amount = amount

    def compute_mask(self, t, default_mask):
        keep = core.keep_largest(t.abs(), round(self.amount * t.numel()))
        return default_mask * keep.to(default_mask.dtype)


class SignedMagnitude(TopkL1):  # ranks w, not |w|: prunes large negative weights
    def compute_mask(self, t, default_mask):
        return default_mask * core.keep_largest(t, round(self.amount * t.numel())).to(default_mask.dtype)


class IgnoresDefaultMask(TopkL1):  # forgets earlier prunes when stacked... and the slicing
    def compute_mask(self, t, default_mask):
        scores = pruning.Magnitude()(SimpleNamespace(weight=t))
        return core.keep_largest(scores, round(self.amount * t.numel())).float()


class FlooredCount(TopkL1):  # int() instead of round()
    def compute_mask(self, t, default_mask):
        return default_mask * core.keep_largest(t.abs(), int(self.amount * t.numel())).to(default_mask.dtype)


def test_criterion_pruning_check():
    assert check.criterion_pruning(TopkL1)
    assert check.criterion_pruning(analysis.CriterionPruning)
    for wrong in (SignedMagnitude, FlooredCount):
        result = check.criterion_pruning(wrong)
        assert not result and "case" in repr(result), wrong.__name__


def test_criterion_pruning_check_reports_an_unfinished_class():
    class Unfinished(TopkL1):
        def compute_mask(self, t, default_mask):
            raise NotImplementedError

    assert "is not done yet" in repr(check.criterion_pruning(Unfinished))
    assert "raised TypeError" in repr(check.criterion_pruning(lambda: None))


# ---------------------------------------------------------------- exercises 11.2 and 11.3


def kept_by_round(channels, ratio, round_to=None):  # the kit's rule, not Torch-Pruning's
    kept = channels - round(ratio * channels)
    return kept - kept % round_to if round_to and kept < channels else kept


def kept_rounded_up(channels, ratio, round_to=None):
    kept = int(channels * (1 - ratio))
    return -(-kept // round_to) * round_to if round_to and kept < channels else kept


def kept_always_rounded(channels, ratio, round_to=None):
    kept = int(channels * (1 - ratio))
    return kept - kept % round_to if round_to else kept


def fits_ignoring_rank(declared, shape):
    return all(not isinstance(d, int) or d == s for d, s in zip(declared, shape))


def fits_ignoring_fixed_batch(declared, shape):
    return len(shape) == len(declared) and all(
        not isinstance(d, int) or d == s for d, s in list(zip(declared, shape))[1:])


def fits_strings_only(declared, shape):
    return len(shape) == len(declared) and all(
        isinstance(d, str) or d == s for d, s in zip(declared, shape))


CASES = [
    (check.torch_pruning_kept, analysis.torch_pruning_kept,
     [kept_by_round, kept_rounded_up, kept_always_rounded]),
    (check.input_fits, hardware.input_fits,
     [fits_ignoring_rank, fits_ignoring_fixed_batch, fits_strings_only]),
]  # fmt: skip


@pytest.mark.parametrize("checker, reference, wrong", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_check_passes_on_the_reference_and_fails_on_mistakes(checker, reference, wrong):
    assert_check_passes_and_rejects(checker, reference, wrong)


# ---------------------------------------------------------------- the capstone


@pytest.fixture(scope="module")
def loaders():
    return data.digits_loaders()


def reference_solution(loaders):
    """The notebook's reference: 90% global magnitude, masked fine-tuning, best epoch on validation."""
    train_loader, validation_loader, _ = loaders
    dense_validation = train.evaluate(models.load_pretrained("convnet"), validation_loader)
    model = models.load_pretrained("convnet")
    masks = pruning.global_magnitude_masks(model, 0.9)
    core.apply_masks(model, masks)
    best, best_accuracy = copy.deepcopy(model), train.evaluate(model, validation_loader)
    train.seed_everything(0)
    for _ in range(12):
        train.fine_tune(model, train_loader, epochs=1, lr=1e-3, masks=masks, progress=False)
        accuracy = train.evaluate(model, validation_loader)
        if accuracy > best_accuracy:
            best, best_accuracy = copy.deepcopy(model), accuracy
        if best_accuracy >= dense_validation:
            break
    return best


def test_the_reference_solution_passes(loaders, capsys):
    result = check.capstone(lambda: reference_solution(loaders), rounds=3)
    assert result, repr(result)
    assert "✓ Capstone passed" in repr(result) and "smaller (gzip)" in repr(result)
    assert "Capstone scorecard" in capsys.readouterr().out


def test_the_dense_model_is_rejected_with_both_budgets_missed():
    result = check.capstone(models.load_pretrained("convnet"), rounds=2, show=False)
    message = repr(result)
    assert not result and "neither budget is met" in message
    assert "target 4x" in message and "KB too big" in message and "target 2x" in message


def test_a_model_that_meets_size_but_loses_two_points_is_rejected(monkeypatch):
    small = models.load_pretrained("convnet")
    core.apply_masks(small, pruning.global_magnitude_masks(small, 0.9))  # meets the size target
    real = check.evaluate
    dense_accuracy = real(models.load_pretrained("convnet"), check._validation_loader())

    def two_points_worse(model, loader):  # what the check measures, but exactly 2 points down for ours
        return dense_accuracy - 0.02 if model is small else real(model, loader)

    monkeypatch.setattr(check, "evaluate", two_points_worse)
    result = check.capstone(small, rounds=2, show=False)
    message = repr(result)
    assert not result and "validation accuracy fell 2.00 points" in message
    assert "1.50 points too many" in message
    assert "budget" not in message  # the size target was met


def test_an_unpruned_pruning_is_counted_and_hinted():
    model = analysis.global_unstructured_copy(models.load_pretrained("convnet"), 0.9)
    message = repr(check.capstone(model, rounds=1, repeats=1, show=False))
    assert "neither budget" in message and "prune.remove" in message


def test_onnx_runtime_is_compared_with_the_dense_model_in_onnx_runtime():
    runtime = hardware.OnnxRuntimeModel.from_model(models.load_pretrained("convnet"), torch.zeros(1, 1, 8, 8))
    result = check.capstone(runtime, rounds=2, show=False)
    assert not result and "neither budget" in repr(result)  # no free 2x from the runtime alone


def raises_not_implemented():
    raise NotImplementedError("Exercise 11.4: replace this line with your code")


@pytest.mark.parametrize("submission", [None, raises_not_implemented, lambda: None])
def test_unfinished_work_is_not_done_yet_without_failing(submission, capsys):
    result = check.capstone(submission)
    assert not result and "is not done yet" in repr(result)
    assert "scorecard" not in capsys.readouterr().out


def test_broken_submissions_get_a_clear_message():
    def crashes():
        raise KeyError("conv9")

    assert "your builder raised KeyError" in repr(check.capstone(crashes))
    assert "expected a torch.nn.Module" in repr(check.capstone(lambda: 3))
    message = repr(check.capstone(torch.nn.Linear(3, 3)))
    assert "raised RuntimeError on a batch of shape (64, 1, 8, 8)" in message
    assert "logits (64, 10)" in repr(check.capstone(torch.nn.Flatten()))
