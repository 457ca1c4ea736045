"""Checks for lesson 09's exercises (energy, dynamic gating, the search's budget rule, and the design
task: per-layer ratios for a MAC budget, judged by measuring the outcome on the validation split)."""

import torch

from .. import data, models, train
from ..analysis import ChannelCostModel
from ..analysis import best_within_budget as _best_within_budget
from ..hardware import energy_pj as _energy_pj
from ..recipes import topk_mask as _topk_mask
from ..structured import prune_channels
from . import Case, CheckResult, call_learner, exercise, failed, run_check


@exercise("9.2", mirrors=[_topk_mask])
def topk_mask(fn):
    """Exercise 9.2: per input (row), True at the k largest channel scores; ties to the higher index."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case("one input, 4 channels, k=2", (torch.tensor([[0.1, 0.9, 0.3, 0.5]]), 2)),
        Case("two inputs choose different channels", (torch.tensor([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0]]), 1)),
        Case("ties go to the higher channel index", (torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]]), 2)),
        Case("negative scores", (torch.tensor([[-1.0, -3.0, -2.0, -0.5]]), 2)),
        Case("k = C keeps everything", (torch.randn(3, 4, generator=g), 4)),
        Case("8 inputs, 16 channels, k=5", (torch.randn(8, 16, generator=g), 5)),
    ]
    return run_check("9.2", fn, _topk_mask, cases)


@exercise("9.3", mirrors=[_best_within_budget])
def best_within_budget(fn):
    """Exercise 9.3: the index of the best-scoring candidate with cost <= budget; ties to the lower
    cost, then the earlier candidate."""
    cases = [
        Case("the best overall is over budget", ([0.9, 0.7, 0.8], [0.6, 0.3, 0.5], 0.5)),
        Case("a cost exactly at the budget fits", ([0.5, 0.8], [0.2, 0.4], 0.4)),
        Case("equal scores: the cheaper wins", ([0.8, 0.8, 0.6], [0.4, 0.3, 0.1], 0.5)),
        Case("equal scores and costs: the earlier wins", ([0.7, 0.7], [0.2, 0.2], 1.0)),
        Case("only the last candidate fits", ([0.9, 0.95, 0.1], [2.0, 3.0, 1.0], 1.5)),
    ]
    return run_check("9.3", fn, _best_within_budget, cases)


@exercise("9.1", mirrors=[_energy_pj])
def energy_pj(fn):
    """Exercise 9.1: DRAM reads of the weight bytes (one 32-bit read per 4 bytes) plus a float
    multiply and a float add per MAC, in pJ."""
    cases = [
        Case("4 bytes, no MACs", (4, 0)),
        Case("no weights, one MAC", (0, 1)),
        Case("the dense ConvNet's sizes", (162_024, 616_064)),
        Case("a CSR-encoded model", (30_120, 69_073)),
    ]
    return run_check("9.1", fn, _energy_pj, cases)


DESIGN_MAC_BUDGET = 0.20  # fraction of the dense ConvNet's MACs
DESIGN_MIN_ACCURACY = 0.90  # validation accuracy after one epoch of fine-tuning
DESIGN = "9.4"


@exercise(DESIGN)
def design_ratios(fn, model=None, seed: int = 0) -> CheckResult:
    """Exercise 9.4 (design): ``fn()`` returns per-group channel ratios for the shipped ConvNet.

    Passes when the setting costs at most ``DESIGN_MAC_BUDGET`` of the dense MACs (exact count,
    ``analysis.ChannelCostModel``) and the model pruned with it (``structured.prune_channels``)
    reaches ``DESIGN_MIN_ACCURACY`` on the validation split after one epoch of fine-tuning
    (lr 1e-3, seeded with ``seed``). The check measures the outcome; any setting that meets both wins.
    """
    ratios = call_learner(DESIGN, f"Exercise {DESIGN}: choose_ratios()", fn)
    model = models.load_pretrained("convnet") if model is None else model
    example = torch.zeros(1, 1, 8, 8)
    cost = ChannelCostModel(model, example)
    try:
        fraction = cost.macs_kept(ratios)
    except (TypeError, ValueError) as err:
        return failed(DESIGN, f"case 1 (the setting is valid): expected a dict {{group: ratio in [0, 1)}} "
                            f"over the groups {sorted(cost.channels)}; got {ratios!r}, which raised: {err}")
    if fraction > DESIGN_MAC_BUDGET:
        return failed(DESIGN, f"case 2 (the MAC budget): expected at most {DESIGN_MAC_BUDGET:.0%} of the "
                            f"dense MACs, got {fraction:.1%} with {ratios}")
    splits = data.digits_splits()
    pruned = prune_channels(model, ratios, example)
    train.seed_everything(seed)
    loader = data.make_loader(splits.train, 64, shuffle=True, seed=seed)
    train.fine_tune(pruned, loader, epochs=1, lr=1e-3, progress=False)
    accuracy = train.evaluate(pruned, data.make_loader(splits.validation, 512))
    if accuracy < DESIGN_MIN_ACCURACY:
        return failed(DESIGN, f"case 3 (the accuracy target): expected at least {DESIGN_MIN_ACCURACY:.0%} "
                            f"validation accuracy after one epoch of fine-tuning, got {accuracy:.1%} "
                            f"at {fraction:.1%} of the MACs with {ratios}")
    return CheckResult(DESIGN, True, f"✓ Exercise {DESIGN}: {fraction:.1%} of the dense MACs and "
                       f"{accuracy:.1%} validation accuracy after one epoch of fine-tuning.")
