"""Lesson 11's checks pass on the reference answers and fail, naming the case, on plausible mistakes;
the capstone measures by itself, passes a real pruning and rejects an unpruned model, a rounded one
and one that loses two points of test accuracy."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from course_lib import analysis, core, data, hardware, models, pruning, train
from course_lib.analysis.compare import compare_predictions
from course_lib.checks import lesson11 as check

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ---------------------------------------------------------------- exercise 11.1: the mask that got lost


def prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def global_prune(model, sparsity):
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=sparsity)


def remove_all(model):
    for module, name in prunable(model):
        prune.remove(module, name)


def mask_held(model, loader, sparsity):  # the fix: fine-tune under the pre-hook, remove last
    global_prune(model, sparsity)
    train.fine_tune(model, loader, epochs=1, lr=1e-3, progress=False)
    remove_all(model)
    return model


def mask_lost(model, loader, sparsity):  # the colleague's pipeline: remove, then fine-tune
    global_prune(model, sparsity)
    remove_all(model)
    train.fine_tune(model, loader, epochs=1, lr=1e-3, progress=False)
    return model


def never_removed(model, loader, sparsity):  # right training, but ships weight_orig and weight_mask
    global_prune(model, sparsity)
    train.fine_tune(model, loader, epochs=1, lr=1e-3, progress=False)
    return model


def pruned_again_after_training(model, loader, sparsity):  # zeros restored, nothing relearnt with them
    model = mask_lost(model, loader, sparsity)
    global_prune(model, sparsity)
    remove_all(model)
    return model


def test_keep_the_mask():
    assert check.keep_the_mask(mask_held)
    lost = check.keep_the_mask(mask_lost)
    assert not lost and "fine-tuning grew pruned weights back" in repr(lost)
    kept_hook = check.keep_the_mask(never_removed)
    assert not kept_hook and "still carries weight_orig" in repr(kept_hook)
    untrained = check.keep_the_mask(pruned_again_after_training)
    assert not untrained and "below 85%" in repr(untrained)
    assert "expected the pruned model" in repr(check.keep_the_mask(lambda *args: None))


# ---------------------------------------------------------------- exercise 11.2: Torch-Pruning's count


def derived(ratio, round_to=None, rounding=None):
    def kept(channels):
        k = rounding(channels, ratio) if rounding else int(channels * (1 - ratio))
        return k - k % round_to if round_to is not None and k < channels else k

    a, b, c, d = kept(16), kept(16), kept(32), kept(32)  # stem/layer1 stream, layer1 inside, layer2 ...

    def conv(c_in, c_out, k=3):
        return c_in * c_out * k * k + 2 * c_out

    return conv(1, a) + conv(a, b) + conv(b, a) + conv(a, c) + conv(c, d) + conv(a, d, k=1) + d * 10 + 10


def test_predicted_params():
    assert check.predicted_params(derived)
    kit_rounding = check.predicted_params(lambda r, t=None: derived(r, t, lambda c, r: c - round(r * c)))
    assert not kit_rounding and "case 3 (ratio 0.6)" in repr(kit_rounding)
    no_round_to = check.predicted_params(lambda r, t=None: derived(r, None))
    assert not no_round_to and "case 5 (ratio 0.3, round_to 8)" in repr(no_round_to)
    quadratic = check.predicted_params(lambda r, t=None: round(19706 * (1 - r) ** 2))  # every layer ~(1-r)^2
    assert not quadratic and "case 1 (ratio 0.5) with ratio=0.5, round_to=None: expected 5122" in repr(
        quadratic)


def test_predicted_params_cannot_run_the_kits_torch_pruning():
    def measured(ratio, round_to=None):
        resnet = models.load_pretrained("tiny_resnet")
        example = torch.zeros(1, 1, 8, 8)
        return analysis.count_params(analysis.torch_pruning_copy(resnet, ratio, example, round_to=round_to))

    result = check.predicted_params(measured)
    assert not result and "called course_lib.analysis.torch_pruning_copy" in repr(result)
    handed_in = check.predicted_params(check.torch_pruning_params)
    assert not handed_in and "itself" in repr(handed_in)


# ---------------------------------------------------------------- exercise 11.3: int8's zeros


def int8_zeros(weight, levels=127, rounding=torch.round, by_range=False):
    step = (weight.max() - weight.min()) / (2 * levels) if by_range else weight.abs().max() / levels
    return float((rounding(weight / step) == 0).float().mean())


def test_int8_zero_fraction():
    assert check.int8_zero_fraction(int8_zeros)
    assert check.int8_zero_fraction(lambda w: int8_zeros(w, levels=127.5))  # torch's convention: as close
    truncated = check.int8_zero_fraction(lambda w: int8_zeros(w, rounding=torch.trunc))
    assert not truncated and "case 1 (the trained fc1 weight" in repr(truncated)
    only_pruned = check.int8_zero_fraction(lambda w: float((w == 0).float().mean()))
    assert not only_pruned and "case 1" in repr(only_pruned)
    asymmetric = check.int8_zero_fraction(lambda w: int8_zeros(w, by_range=True))  # min..max, not ±max
    assert not asymmetric and "case 3 (fc1 with one weight 40x larger" in repr(asymmetric)
    as_tensor = check.int8_zero_fraction(lambda w: (w.abs() <= w.abs().max() / 254).float().mean())
    assert not as_tensor and "expected a Python number, got a torch.Tensor" in repr(as_tensor)


def test_int8_zero_fraction_cannot_quantize_with_the_kit():
    result = check.int8_zero_fraction(check.measured_int8_zeros)
    assert not result and "itself" in repr(result)
    delegated = check.int8_zero_fraction(lambda w: check.measured_int8_zeros(w))
    assert not delegated and "case 1" in repr(delegated) and "your code called" in repr(delegated)


def test_the_measured_zeros_keep_every_pruned_weight():
    weight = torch.randn(16, 32, generator=torch.Generator().manual_seed(0))
    weight[weight.abs() < 0.5] = 0
    assert check.measured_int8_zeros(weight) >= float((weight == 0).float().mean())


# ---------------------------------------------------------------- the capstone


@pytest.fixture(scope="module")
def loaders():
    return data.digits_loaders()


def pruned_and_fine_tuned(loaders, sparsity=0.9):
    """The notebook's reference: global magnitude, twelve epochs of masked fine-tuning (the last four at
    a lower learning rate), the epoch that scores best on validation."""
    model = models.load_pretrained("convnet")
    masks = pruning.global_magnitude_masks(model, sparsity)
    core.apply_masks(model, masks)
    train.seed_everything(0)
    best, best_accuracy = model, -1.0
    for lr in [1e-3] * 8 + [3e-4] * 4:
        train.fine_tune(model, loaders.train, epochs=1, lr=lr, masks=masks, progress=False)
        accuracy = train.evaluate(model, loaders.validation)
        if accuracy >= best_accuracy:
            best, best_accuracy = copy.deepcopy(model), accuracy
    return best


@pytest.fixture(scope="module")
def reference(loaders):
    return pruned_and_fine_tuned(loaders)


def test_the_reference_solution_passes(reference, capsys):
    result = check.capstone(lambda: reference, rounds=3)
    assert result, repr(result)
    assert "✓ Capstone passed" in repr(result) and "of the dense model's non-zero values" in repr(result)
    out = capsys.readouterr().out
    assert "Capstone scorecard" in out and "450 test images" in out


def test_a_real_fourfold_pruning_passes_the_size_target(loaders):
    dense_nonzero = hardware.stored_values(models.load_pretrained("convnet"))["nonzero"]
    model = pruned_and_fine_tuned(loaders, sparsity=0.76)  # 76% of the weights: 25% of all values left
    assert hardware.stored_values(model)["nonzero"] <= 0.25 * dense_nonzero
    assert check.capstone(model, rounds=2, show=False)


def rounded_to_16_levels(model):
    """Every parameter tensor rounded to 16 evenly spaced levels between its min and max: gzip then
    shrinks the file about fourfold, yet no weight is removed."""
    with torch.no_grad():
        for p in model.parameters():
            levels = torch.linspace(p.min().item(), p.max().item(), 16)
            p.copy_(levels[(p[..., None] - levels).abs().argmin(dim=-1)])
    return model


def test_the_16_level_rounded_unpruned_convnet_fails():
    dense = models.load_pretrained("convnet")
    rounded = rounded_to_16_levels(models.load_pretrained("convnet"))
    sizes = [hardware.gzip_size(hardware.shipped_bytes(m)) for m in (dense, rounded)]
    assert sizes[1] < sizes[0] / 4  # it would have passed a 4x gzip target
    result = check.capstone(rounded, rounds=2, show=False)
    assert not result and "neither budget is met" in repr(result) and "100.0% of the dense" in repr(result)


def test_the_dense_model_is_rejected_with_both_budgets_missed():
    result = check.capstone(models.load_pretrained("convnet"), rounds=2, show=False)
    message = repr(result)
    assert not result and "neither budget is met" in message
    assert "target at most 25%" in message and "target 2x" in message


class Misreads(nn.Module):
    """``base``, except that it answers ``images`` wrongly: a model that really loses those images."""

    def __init__(self, base: nn.Module, images: torch.Tensor):
        super().__init__()
        self.base, self.images = base, images

    def forward(self, x):
        logits = self.base(x)
        hit = (x.flatten(1)[:, None] == self.images.flatten(1)[None]).all(dim=-1).any(dim=1)  # (B,)
        return torch.where(hit[:, None], logits.roll(1, dims=1), logits)


def test_a_pruned_model_that_loses_two_points_fails(reference, loaders):
    test_x = torch.cat([x for x, _ in loaders.test])
    right = analysis.per_example(reference, loaders.test)[0].nonzero().flatten()
    worse = Misreads(reference, test_x[right[:9]])  # 9 of 450 more wrong: 2.00 points
    result = check.capstone(worse, rounds=2, show=False)
    message = repr(result)
    assert not result and "the model may really be worse" in message and "budget" not in message


@pytest.mark.parametrize("seed", range(10))
def test_two_points_lost_fails_the_accuracy_rule_whatever_the_bootstrap(seed):
    dense = torch.ones(450, dtype=torch.bool)
    dense[:3] = False
    yours = dense.clone()
    yours[:3] = True  # 3 images only yours gets right ...
    yours[3:15] = False  # ... 12 only dense gets right: 9 net, 2.00 points lost
    comparison = compare_predictions(yours, dense, seed=seed)
    assert round(100 * comparison.difference, 2) == -2.0
    assert 100 * comparison.interval[0] <= -check.MAX_LOSS_POINTS


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

    assert "your builder: raised KeyError" in repr(check.capstone(crashes))
    assert "expected a torch.nn.Module" in repr(check.capstone(lambda: 3))
    message = repr(check.capstone(torch.nn.Linear(3, 3)))
    assert "raised RuntimeError on a batch of shape (64, 1, 8, 8)" in message
    assert "logits (64, 10)" in repr(check.capstone(torch.nn.Flatten()))


def test_a_model_that_stores_nothing_is_refused():
    class Zeros(nn.Module):
        def forward(self, x):
            return x.new_zeros(len(x), 10)

    assert "stores no tensors" in repr(check.capstone(Zeros(), rounds=1, show=False))
