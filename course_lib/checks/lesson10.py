"""Checks for lesson 10's exercises (pruning a language model): a derivation (OBS with a diagonal Hessian),
one block of SparseGPT, the function-preserving rescaling that makes outlier features, and a sparsity
design."""

import copy
import functools
import math
from dataclasses import dataclass

import torch

from ..analysis.language import EVAL_CHARS, window_losses
from ..data import calibration_windows, shakespeare_splits
from ..models import CharConfig, CharTransformer, load_pretrained
from ..models.transformer import rescale_features as _rescale_features
from ..pruning.criteria import wanda_scores as _wanda_scores
from ..recipes.post_training import (
    default_blocks,
    depth_ramp_sparsities,
    prunable_layers,
    prune_post_training,
)
from ..recipes.sparsegpt import inverse_hessian_factor
from ..recipes.sparsegpt import sparsegpt_block as _sparsegpt_block
from . import Case, exercise, run_check, same, summarize


def _random(*shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _correlated(tokens: int, features: int, seed: int) -> torch.Tensor:
    x = _random(tokens, features, seed=seed, dtype=torch.float64)
    x[:, 1:] += 0.8 * x[:, :-1]  # correlated inputs of different scales, as in a transformer
    return x * torch.linspace(0.2, 3.0, features, dtype=torch.float64)


def _diagonal_obs_saliency(weight: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """w_q² / (2 [D⁻¹]_qq) with D the diagonal of H = 2 XᵀX: the OBS saliency, diagonal Hessian."""
    h_diag = 2 * inputs.square().sum(dim=0)  # (in,)
    return weight.square() / (2 / h_diag)


@exercise("10.1", mirrors=[_wanda_scores])
def diagonal_obs_saliency(fn):
    """Exercise 10.1: ``fn(weight, inputs)`` is Optimal Brain Surgeon's saliency w_q² / (2 [H⁻¹]_qq) of
    every weight of ``weight`` (out, in) when the Hessian H = 2 XᵀX of the inputs X (tokens, in) is
    replaced by its diagonal."""
    cases = [
        Case("one row, inputs of norms 1, 2 and 3", (torch.tensor([[1.0, 1.0, 1.0]]),
                                                     torch.tensor([[1.0, 2.0, 3.0]]))),
        Case("4 x 6 weight, 50 correlated tokens", (_random(4, 6, seed=1, dtype=torch.float64),
                                                    _correlated(50, 6, seed=2))),
        Case("an input that is always zero costs nothing",
             (_random(3, 4, seed=3), _random(20, 4, seed=4) * torch.tensor([1.0, 0, 1, 1]))),
    ]
    return run_check("10.1", fn, _diagonal_obs_saliency, cases)


def _block_case(description: str, out: int, width: int, sparsity: float, seed: int) -> Case:
    x = _correlated(8 * width, width, seed)  # (tokens, in)
    u = inverse_hessian_factor(x.T @ x)
    return Case(f"{description}: w ({out}, {width}), sparsity {sparsity}",
                (_random(out, width, seed=seed + 1, dtype=torch.float64), u, sparsity))


@exercise("10.2", mirrors=[_sparsegpt_block])
def sparsegpt_block(fn):
    """Exercise 10.2: ``fn(w, u, sparsity)`` prunes one block of columns ``w`` (out, b) with SparseGPT,
    given the block ``u`` (b, b) of the upper Cholesky factor of H⁻¹: the mask from the saliency
    w² / U_qq² over the whole block, then column by column the OBS update. Returns (new block, mask,
    err) as the library's block does."""
    cases = [
        _block_case("half of a small block", 3, 8, 0.5, seed=10),
        _block_case("a quarter of a wider block", 5, 16, 0.25, seed=20),
        _block_case("nothing pruned: the block is unchanged", 4, 8, 0.0, seed=30),
    ]
    return run_check("10.2", fn, lambda w, u, s: _sparsegpt_block(w, u, s), cases,
                     compare=lambda got, expected: same(got, expected, rtol=1e-7, atol=1e-9))


@functools.lru_cache(maxsize=1)
def _small_transformer() -> CharTransformer:
    torch.manual_seed(0)
    model = CharTransformer(CharConfig(vocab_size=11, context=8, width=16, n_layer=2, n_head=2, head_dim=8,
                                       mlp_hidden=32)).eval()
    with torch.no_grad():  # trained-looking LayerNorms: gains and biases that are not 1 and 0
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@dataclass(frozen=True)
class _Rescaled:
    """What a rescaling did to a small model: its outputs, and the first parameter that differs from
    the expected rescaling (empty when none does)."""

    outputs_unchanged: bool
    wrong_parameter: str = ""
    problem: str = ""

    def __repr__(self):
        if self.problem:
            return self.problem
        wrong = (f"{self.wrong_parameter} differs from the rescaling" if self.wrong_parameter
                 else "parameters right")
        return f"outputs {'unchanged' if self.outputs_unchanged else 'CHANGED'}, {wrong}"


def _rescaling(fn, channels, alpha) -> _Rescaled:
    """Run ``fn`` on a copy of a small model and compare with the kit's rescaling."""
    model = copy.deepcopy(_small_transformer())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scaled = fn(model, channels, alpha)
    if not all(torch.equal(before[k], v) for k, v in model.state_dict().items()):
        return _Rescaled(False, problem="the model passed in was changed: rescale a copy (copy.deepcopy)")
    if not isinstance(scaled, CharTransformer):
        return _Rescaled(False, problem=f"not a CharTransformer: {type(scaled).__name__}")
    expected = _rescale_features(model, channels, alpha).state_dict()
    wrong = next((k for k, v in scaled.state_dict().items() if not torch.allclose(v, expected[k])), "")
    x = torch.arange(16).remainder(11).view(2, 8)
    with torch.no_grad():
        return _Rescaled(torch.equal(model(x), scaled(x)), wrong)


@exercise("10.3", mirrors=[_rescale_features])
def rescale_features(fn):
    """Exercise 10.3: ``fn(model, channels, alpha)`` returns a copy of the CharTransformer that computes
    exactly the same outputs, with the hidden ``channels`` entering every block's q, k, v and first MLP
    layer ``alpha`` times larger. The check runs it on a small model and compares the outputs (equal to
    the bit for a power-of-two ``alpha``) and every parameter with the kit's rescaling."""
    cases = [Case("channels [1, 5], alpha 8", ([1, 5], 8.0)), Case("channel [0], alpha 32", ([0], 32.0)),
             Case("no channel: nothing changes", ([], 4.0))]
    return run_check("10.3", lambda c, a: _rescaling(fn, c, a), lambda c, a: _Rescaled(True), cases)


# --- Exercise 10.4: design per-layer sparsities ------------------------------------------------------

DESIGN_TARGET = 0.7  # fraction of the block Linear weights Wanda removes
DESIGN_MARGIN = 0.05  # nats per character a design must gain over uniform 70%
SELECTION = slice(EVAL_CHARS, 2 * EVAL_CHARS)  # validation characters the lesson does not report on


@functools.lru_cache(maxsize=1)
def _charlm_and_text():
    """The trained character model, its calibration windows and the selection characters."""
    model = load_pretrained("charlm")
    splits = shakespeare_splits()
    calibration = calibration_windows(splits.train, model.context)
    return model, calibration, splits.validation[SELECTION]


def _block_layers(model):
    return prunable_layers(model, default_blocks(model))


def block_layer_sizes() -> dict[str, int]:
    """The number of weights of each block Linear of the shipped character model, by name."""
    return {name: layer.weight.numel() for name, layer in _block_layers(_charlm_and_text()[0]).items()}


@dataclass(frozen=True)
class _Allocation:
    """Per-layer sparsities and what Wanda makes of them: the sparsity reached and the loss."""

    problem: str = ""
    sparsity: float = 0.0
    loss: float = 0.0

    def __repr__(self):
        if self.problem:
            return self.problem
        return (f"{self.sparsity:.1%} of the block weights removed, {self.loss:.3f} nats/char "
                f"(perplexity {math.exp(self.loss):.2f}) on the selection characters")


def _measure_allocation(sparsities, target: float) -> _Allocation:
    model, calibration, selection = _charlm_and_text()
    if not isinstance(sparsities, dict):
        return _Allocation(f"not a {{layer name: sparsity}} dict: {summarize(sparsities)}")
    try:
        pruned, report = prune_post_training(model, calibration, "wanda", sparsity=sparsities)
    except ValueError as err:
        return _Allocation(str(err))
    reached = report.sparsity
    if reached < target - 0.005:
        return _Allocation(f"only {reached:.1%} of the block weights removed; the budget is {target:.0%}")
    return _Allocation("", reached, float(window_losses(pruned, selection).mean()))


@dataclass(frozen=True)
class _Goal:
    """What a design must do: remove at least ``target`` and beat ``uniform`` by ``DESIGN_MARGIN``."""

    target: float
    uniform: _Allocation

    def __repr__(self):
        return (f"at least {self.target:.0%} removed and a loss {DESIGN_MARGIN} nats/char or more below "
                f"uniform {self.target:.0%} ({self.uniform.loss:.3f} nats/char, perplexity "
                f"{math.exp(self.uniform.loss):.2f})")


def _beats_uniform(got, expected: _Goal) -> bool:
    return (isinstance(got, _Allocation) and not got.problem
            and got.loss <= expected.uniform.loss - DESIGN_MARGIN)


@exercise("10.4", mirrors=[depth_ramp_sparsities])
def allocate_sparsity(fn):
    """Exercise 10.4: ``fn(layer_sizes, target)`` gives each block Linear its own sparsity. Wanda prunes
    the character model with them; the check measures the fraction removed (at least ``target``) and
    the loss on validation characters the lesson does not report on, which must be at least
    ``DESIGN_MARGIN`` nats/char below uniform pruning at ``target`` (about 3 s)."""
    sizes = block_layer_sizes()
    cases = [Case(f"Wanda, {DESIGN_TARGET:.0%} of the block weights", (sizes, DESIGN_TARGET))]

    def uniform(layer_sizes, target):
        return _Goal(target, _measure_allocation(dict.fromkeys(layer_sizes, target), target))

    return run_check("10.4", lambda s, t: _measure_allocation(fn(s, t), t), uniform, cases,
                     compare=_beats_uniform)
