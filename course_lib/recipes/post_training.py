"""Post-training pruning: prune a trained model with no retraining, from a little calibration data.

One pipeline for every model of the course (lesson 06's CNN, lesson 10's transformer) and for the
Hugging Face models of ``course_lib.llm``: :func:`prune_post_training`.

**Layer by layer, in order.** As in the Wanda and SparseGPT papers, each layer is calibrated on what
it receives once the layers before it are pruned, so later layers see (and SparseGPT repairs) the
earlier errors. A model with a list of blocks (a transformer) is pruned block by block: the inputs of
the first block are captured once, each block then runs on the hidden states the pruned blocks before
it produced, its layers are pruned from that one pass, and its output feeds the next block. Peak
memory is one block plus the calibration activations, and each block can visit a GPU in turn. Any
other model is pruned one layer at a time, in the order its forward pass calls them.

**What a layer sees** (``pruning.input_rows``: its input rows X (N, K), a convolution's unfolded
patches) is summed up as the method needs it, in float32 as the reference implementations do
(:class:`InputStats`): every method gets ‖X_j‖₂ (Wanda's norms, from the sums of squares); SparseGPT and
the least-squares refit get the Gram matrix G = XᵀX (SparseGPT's Hessian is 2G), which costs N·K² to
sum. A layer's relative output error ‖X(W - Ŵ)ᵀ‖ / ‖XWᵀ‖ is measured on the first
:data:`ERROR_ROWS` rows it sees.

**Methods** (:data:`METHODS`):

- ``"magnitude"``: the largest |W| with one threshold per layer (the Wanda paper's baseline);
- ``"magnitude_per_row"``: the largest |W| of each output row;
- ``"wanda"``: the largest |W_ij|·‖X_j‖₂ of each output row (Sun et al. 2023);
- ``"sparsegpt"``: the OBS mask and weight update (Frantar & Alistarh 2023, ``recipes.sparsegpt_prune``);
- ``ScoreMask(criterion, scope, refit)``: any registered criterion that reads at most the layer's
  inputs, compared per row or per layer, optionally followed by a least-squares refit of the kept
  weights (:func:`reconstruct_weight`).

Each unstructured target removes ``round(sparsity * K)`` weights of every row (per row), or
``round(sparsity * C_out * K)`` of the layer (per layer; SparseGPT: of every block of columns); an
N:M target keeps ``n`` of every ``m`` consecutive weights along K.
"""

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import hooks_attached
from ..core.selection import keep_largest, keep_largest_per_row
from ..core.tables import markdown_table
from ..core.validation import check_choice, check_fraction, check_positive_int
from ..pruning.calibration import LayerData, input_rows, is_prunable_layer, layer_kind
from ..pruning.criteria import get_criterion
from ..pruning.nm import check_target, nm_mask
from ..train import evaluate
from .sparsegpt import sparsegpt_prune

ERROR_ROWS = 512  # calibration rows per layer kept to measure its output error


@dataclass
class InputStats:
    """What one layer received on the calibration data: the number of rows, the sum of squares of each of
    its K input features (K,), the Gram matrix XᵀX (K, K) when a method needs it, and a sample of the
    first rows (for the output error)."""

    rows: int = 0
    sum_sq: torch.Tensor | float = 0.0
    gram: torch.Tensor | None = None
    sample: torch.Tensor | None = None

    @classmethod
    def of(cls, x: torch.Tensor, with_gram: bool = True) -> "InputStats":
        """The statistics of input rows ``x`` (N, K), in one go."""
        stats = cls()
        stats.add(x, with_gram)
        return stats

    def add(self, x: torch.Tensor, with_gram: bool) -> None:
        """Add rows ``x`` (N, K): float32 sums (float64 for a float64 model)."""
        x = x if x.dtype == torch.float64 else x.float()
        self.rows += len(x)
        self.sum_sq = self.sum_sq + x.square().sum(dim=0)
        if with_gram:
            self.gram = (0 if self.gram is None else self.gram) + x.T @ x
        if self.sample is None or len(self.sample) < ERROR_ROWS:
            self.sample = x[:ERROR_ROWS] if self.sample is None else torch.cat([self.sample, x])[:ERROR_ROWS]

    @property
    def input_norm(self) -> torch.Tensor:
        """‖X_j‖₂ of every input feature: (K,)."""
        return self.sum_sq.sqrt()


@torch.no_grad()
def reconstruct_weight(
    weight: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor, damping: float = 0.01
) -> torch.Tensor:
    """Refit the kept weights so the layer's outputs on the calibration inputs change as little as possible.

    For each output row i with kept set S_i, solve min over w' (zero outside S_i) of
    ||X (w' - w_i)||^2 + lam ||w' - w_i||^2, whose normal equations are H_SS w'_S = (H w_i)_S with
    H = G + lam I, G = XᵀX and lam = ``damping`` * mean(diag G). All rows are solved in one batched
    call: pruned coordinates get an identity row and a zero right-hand side, so they come out 0.

    ``weight``: (C_out, K); ``mask``: bool of the same shape; ``gram``: (K, K). Memory is C_out * K^2.
    """
    if mask.shape != weight.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape {tuple(weight.shape)}, got "
                         f"{mask.dtype} {tuple(mask.shape)}")
    if gram.shape != (weight.shape[1], weight.shape[1]):
        raise ValueError(f"gram must have shape ({weight.shape[1]}, {weight.shape[1]}), "
                         f"got {tuple(gram.shape)}")
    w, keep = weight.double(), mask  # (C_out, K)
    g = gram.double()
    hessian = g + damping * g.diagonal().mean().clamp_min(1e-12) * torch.eye(len(g), dtype=torch.float64)
    pair = keep[:, :, None] & keep[:, None, :]  # (C_out, K, K): both coordinates kept
    system = torch.where(pair, hessian, 0.0) + torch.diag_embed((~keep).double())
    rhs = torch.where(keep, w @ hessian, 0.0)  # (C_out, K): (H w_i)_S, H symmetric
    # Each system is symmetric positive definite (a block of H, identity elsewhere): Cholesky fits, and
    # it avoids torch.linalg.solve's batched LU, which returned garbage on 2 CPU threads (torch 2.14, MKL).
    solved = torch.cholesky_solve(rhs[..., None], torch.linalg.cholesky(system))[..., 0]
    return solved.to(weight.dtype)


@dataclass(frozen=True)
class ScoreMask:
    """Keep the weights a criterion scores highest, compared within each output row (``scope="row"``)
    or over the whole layer (``"layer"``); with ``refit`` the kept weights are then refitted by least
    squares on the calibration inputs. The criterion may read the layer's input norms (Wanda)."""

    criterion: object = "magnitude"
    scope: str = "row"
    refit: bool = False

    def __post_init__(self):
        check_choice("scope", self.scope, ("row", "layer"))
        criterion = get_criterion(self.criterion)
        if criterion.needs - {"input_norm"}:
            raise ValueError(f"criterion {criterion!r} needs {sorted(criterion.needs)}: post-training "
                             "pruning reads only the layers' calibration inputs (use magnitude, wanda or "
                             "random)")
        object.__setattr__(self, "criterion", criterion)

    @property
    def needs_inputs(self) -> bool:
        return self.refit or bool(self.criterion.needs)

    @property
    def needs_gram(self) -> bool:
        return self.refit

    def prune(self, weight, stats: InputStats | None, sparsity=None, n=None, m=None):
        """(new weight, mask) for the (C_out, K) matrix ``weight``, from the layer's input ``stats``."""
        if self.needs_inputs and stats is None:
            raise ValueError(f"method {self!r} needs calibration inputs, got calibration=None")
        data = None if stats is None else LayerData(input_norm=stats.input_norm.to(weight.dtype))
        scores = self.criterion.reduce(self.criterion.contributions(weight, data))  # (C_out, K), >= 0
        if sparsity is None:
            mask = nm_mask(scores, n, m)
        elif self.scope == "row":
            mask = keep_largest_per_row(scores, round(sparsity * weight.shape[1]))
        else:
            mask = keep_largest(scores, round(sparsity * weight.numel()))
        new = reconstruct_weight(weight, mask, stats.gram) if self.refit else weight
        return new * mask, mask


@dataclass(frozen=True)
class SparseGPT:
    """SparseGPT's mask selection and OBS weight update (``recipes.sparsegpt_prune``)."""

    block_size: int = 128
    damp: float = 0.01
    needs_inputs: bool = field(default=True, init=False)
    needs_gram: bool = field(default=True, init=False)

    def prune(self, weight, stats: InputStats | None, sparsity=None, n=None, m=None):
        if stats is None:
            raise ValueError("method 'sparsegpt' needs calibration inputs, got calibration=None")
        return sparsegpt_prune(weight, stats.gram, sparsity, n=n, m=m, block_size=self.block_size,
                               damp=self.damp)


METHODS = {
    "magnitude": ScoreMask("magnitude", scope="layer"),
    "magnitude_per_row": ScoreMask("magnitude"),
    "wanda": ScoreMask("wanda"),
    "sparsegpt": SparseGPT(),
}


def get_method(method):
    """A post-training method from its name in :data:`METHODS`, or as given (an object with
    ``prune(weight, stats, sparsity, n, m)``, ``needs_inputs`` and ``needs_gram``)."""
    if isinstance(method, str):
        return METHODS[check_choice("method", method, METHODS)]
    if not (callable(getattr(method, "prune", None)) and hasattr(method, "needs_gram")):
        raise TypeError(f"method must be one of {sorted(METHODS)} or a ScoreMask / SparseGPT, got {method!r}")
    return method


@dataclass(frozen=True)
class LayerReport:
    """One pruned layer: the fraction of its weights removed, and the relative error of its output on
    the calibration inputs it received, ‖X(W - Ŵ)ᵀ‖ / ‖XWᵀ‖ over its first :data:`ERROR_ROWS` rows (None
    without calibration data)."""

    sparsity: float
    error: float | None


@dataclass
class PruningReport:
    """What :func:`prune_post_training` did: masks by weight name, a :class:`LayerReport` per layer
    (module name), and the layers left dense with the reason."""

    masks: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned layers' weights removed, over all of them."""
        total = sum(mask.numel() for mask in self.masks.values())
        if total == 0:
            raise ValueError("no layer was pruned: the report has no masks")
        return sum(int((~mask).sum()) for mask in self.masks.values()) / total

    def table(self) -> str:
        """A Markdown table, one row per layer (sparsity and output error)."""
        rows = [[name, f"{r.sparsity:.1%}", "—" if r.error is None else f"{r.error:.4f}"]
                for name, r in self.layers.items()]
        rows += [[name, "dense", reason] for name, reason in self.skipped.items()]
        return markdown_table(["layer", "sparsity", "relative output error"], rows)


def relative_output_error(weight: torch.Tensor, pruned: torch.Tensor, x: torch.Tensor) -> float:
    """‖X(W - Ŵ)ᵀ‖ / ‖XWᵀ‖ for inputs ``x`` (N, K) and (C_out, K) weights, in at least float32 (the
    difference W - Ŵ is taken first, so the small error is not lost between two large products)."""
    dtype = torch.promote_types(torch.promote_types(x.dtype, weight.dtype), torch.float32)
    x, w = x.to(dtype), weight.to(dtype)
    return float((x @ (w - pruned.to(dtype)).T).norm() / (x @ w.T).norm().clamp_min(torch.finfo(dtype).tiny))


@torch.no_grad()
def layer_output_errors(model: nn.Module, pruned: nn.Module,
                        inputs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Relative output error ‖X Wᵀ - X Ŵᵀ‖ / ‖X Wᵀ‖ of each layer in ``inputs`` (module name -> rows
    (N, K) from ``pruning.layer_inputs`` on the *dense* ``model``), for the same layer of ``pruned``.
    Measure on held-out data, not on the calibration windows."""
    dense, sparse = dict(model.named_modules()), dict(pruned.named_modules())
    return {name: relative_output_error(layer_kind(dense[name]).matrix(dense[name]),
                                        layer_kind(sparse[name]).matrix(sparse[name]), x)
            for name, x in inputs.items()}


class _Caught(Exception):
    """Raised by the hook that records the first block's inputs, to stop the forward pass there."""


def _to(value, device):
    """``value`` (a tensor, or tuples / lists / dicts of them) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def _hidden(output):
    """A block's output hidden states: the tensor itself, or the first item of a tuple."""
    return output[0] if isinstance(output, (tuple, list)) else output


class _BlockRunner:
    """Runs a model block by block: captures what enters ``blocks[0]`` once, then one block at a time."""

    def __init__(self, model, blocks, chunks, forward_kwargs, device):
        self.blocks, self.device = blocks, device
        self.inputs = []  # one (args, kwargs) per calibration chunk, args[0] the hidden states

        def catch(module, args, kwargs):
            self.inputs.append(_to((args, kwargs), device))
            raise _Caught

        handle = blocks[0].register_forward_pre_hook(catch, with_kwargs=True)
        try:
            for chunk in chunks:
                try:
                    model(chunk, **forward_kwargs)
                except _Caught:
                    pass
        finally:
            handle.remove()
        if len(self.inputs) != len(chunks):
            raise ValueError("the model's forward pass never reached its first block")

    def steps(self, prefix, layers):
        return [[(name, m) for name, m in layers if name.startswith(f"{prefix}{b}.")]
                for b in range(len(self.blocks))]

    def run(self, b):
        block = self.blocks[b] if self.device is None else self.blocks[b].to(self.device)
        return [_hidden(block(*args, **kwargs)) for args, kwargs in self.inputs]

    def advance(self, b, outputs):
        self.inputs = [((out, *args[1:]), kwargs) for out, (args, kwargs) in zip(outputs, self.inputs)]


class _LayerRunner:
    """Runs the whole model once per layer: each layer sees the outputs of the pruned layers before it."""

    def __init__(self, model, chunks, forward_kwargs):
        self.model, self.chunks, self.forward_kwargs = model, chunks, forward_kwargs

    def steps(self, prefix, layers):
        order = []
        def recorder(name):
            return lambda module, args, output: order.append(name) if name not in order else None

        hooks = [(m, recorder(name)) for name, m in layers]
        with hooks_attached(forward=hooks):
            self.model(self.chunks[0], **self.forward_kwargs)
        named = dict(layers)
        return [[(name, named[name])] for name in order]

    def run(self, step):
        return [self.model(chunk, **self.forward_kwargs) for chunk in self.chunks]

    def advance(self, step, outputs):
        pass


def _chunks(calibration, batch_size):
    if batch_size is None:
        return [calibration]
    check_positive_int("batch_size", batch_size)
    return list(calibration.split(batch_size))


def _per_layer(sparsity, names):
    if not isinstance(sparsity, dict):
        return dict.fromkeys(names, sparsity)
    missing, unknown = [n for n in names if n not in sparsity], [n for n in sparsity if n not in names]
    if missing or unknown:
        raise ValueError(f"sparsity must give one value for each pruned layer ({len(names)}: "
                         f"{names[0]!r} ... {names[-1]!r}); missing {missing[:3]}, unknown {unknown[:3]}")
    return {name: check_fraction(f"sparsity[{name!r}]", sparsity[name]) for name in names}


def prunable_layers(model: nn.Module, blocks: nn.ModuleList | None = None) -> dict[str, nn.Module]:
    """The layers post-training pruning prunes by default, by module name: every layer of a known
    kind (``pruning.LAYER_KINDS``) inside ``blocks`` when given (a transformer keeps its embeddings
    and output head dense), otherwise every one in the model."""
    inside = None if blocks is None else {id(m) for m in blocks.modules()}
    return {name: m for name, m in model.named_modules()
            if is_prunable_layer(m) and (inside is None or id(m) in inside)}


def default_blocks(model: nn.Module) -> nn.ModuleList | None:
    """``model.blocks`` when it is a ModuleList (the kit's transformer), else None."""
    blocks = getattr(model, "blocks", None)
    return blocks if isinstance(blocks, nn.ModuleList) else None


@torch.no_grad()
def prune_post_training(model: nn.Module, calibration: torch.Tensor | None, method="wanda", *,
                        sparsity: float | dict | None = None, n: int | None = None, m: int | None = None,
                        blocks: nn.ModuleList | str | None = "auto", layers=None, row_splits=None,
                        batch_size: int | None = None, forward_kwargs=None, device=None,
                        strict: bool = False, inplace: bool = False,
                        progress: bool = False) -> tuple[nn.Module, PruningReport]:
    """Prune ``model`` after training, layer by layer in order, with no retraining.

    ``calibration``: a batch the model accepts (images (B, C, H, W), or token ids (B, T) of *training*
    text); None only for methods that read no data. ``method``: a name of :data:`METHODS` or a
    :class:`ScoreMask` / :class:`SparseGPT`. Give ``sparsity`` (one fraction, or a dict with one per
    pruned layer) or ``n`` and ``m``. A layer whose K the pattern's ``m`` does not divide is left dense
    (an error with ``strict``), as NVIDIA's ASP does.

    ``blocks``: ``"auto"`` (``model.blocks`` when it exists), a ModuleList of the model's blocks, or
    None (layer by layer over the whole model). ``layers``: module names to prune (default:
    :func:`prunable_layers`). ``row_splits``: {layer name: [rows, ...]} for layers that hold several
    matrices side by side (GPT-2's fused query/key/value), each pruned as its own layer.
    ``batch_size``: calibration samples per forward pass; ``forward_kwargs`` go to ``model(...)``;
    ``device``: where each block runs (its weights move there in turn).

    Returns (the pruned model, a :class:`PruningReport`). The pruned model is a deep copy unless
    ``inplace``: ``model`` itself is then changed (for models too large to copy).
    """
    if isinstance(sparsity, dict):
        _no_nm(n, m)
    else:
        check_target(sparsity, n, m)
    method = get_method(method)
    if calibration is None and method.needs_inputs:
        raise ValueError(f"method {method!r} needs calibration data, got calibration=None")
    if calibration is not None and not isinstance(calibration, torch.Tensor):
        raise TypeError(f"calibration must be a tensor the model accepts, got {type(calibration).__name__}")
    pruned = model if inplace else copy.deepcopy(model)
    pruned.eval()
    block_list = default_blocks(pruned) if blocks == "auto" else _check_blocks(pruned, blocks, inplace)
    chosen = prunable_layers(pruned, block_list)
    if layers is not None:
        unknown = [name for name in layers if name not in chosen]
        if unknown:
            raise ValueError(f"layers has {unknown[:3]}, not prunable layers; allowed: "
                             f"{list(chosen)[:6]} ...")
        chosen = {name: chosen[name] for name in layers}
    if not chosen:
        raise ValueError(f"{type(model).__name__} has no layer the kit can prune")
    targets = _per_layer(sparsity, list(chosen))
    report = PruningReport()
    if calibration is None:  # no data: every layer independently
        for name, layer in chosen.items():
            _prune_layer(name, layer, None, method, targets[name], n, m, row_splits, strict, report)
        return pruned, report
    chunks = _chunks(calibration, batch_size)
    forward_kwargs = forward_kwargs or {}
    home = _home(pruned)
    if block_list is not None:
        runner = _BlockRunner(pruned, block_list, chunks, forward_kwargs, device)
        prefix = _prefix(pruned, block_list)
    else:
        runner, prefix = _LayerRunner(pruned.to(device) if device else pruned, chunks, forward_kwargs), ""
    steps = runner.steps(prefix, list(chosen.items()))
    for step, layers_here in enumerate(tqdm(steps, desc="pruning", disable=not progress, leave=False)):
        stats = {name: InputStats() for name, _ in layers_here}
        hooks = [(layer, _recorder(stats[name], method.needs_gram)) for name, layer in layers_here]
        with hooks_attached(forward=hooks):
            outputs = runner.run(step)  # what each layer of this step receives, earlier layers pruned
        for name, layer in layers_here:
            _prune_layer(name, layer, stats[name], method, targets[name], n, m, row_splits, strict, report)
        if block_list is not None:
            if step < len(steps) - 1:  # the pruned block's output feeds the next block (the last feeds none)
                outputs = runner.run(step)
            if device is not None:
                block_list[step].to(home)
        runner.advance(step, outputs)
    return pruned, report


def _no_nm(n, m):
    if n is not None or m is not None:
        raise ValueError(f"give either per-layer sparsities or n and m, not both; got n={n!r}, m={m!r}")


def _home(model):
    """The device a block returns to after its turn: where the model's parameters are."""
    first = next(model.parameters(), None)
    return first.device if first is not None else "cpu"


def _check_blocks(model, blocks, inplace):
    if blocks is None:
        return None
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise TypeError(f"blocks must be 'auto', None or a non-empty nn.ModuleList, "
                        f"got {type(blocks).__name__}")
    if not inplace:
        raise ValueError("pass blocks= together with inplace=True (blocks must be modules of the "
                         "model pruned)")
    return blocks


def _prefix(model, blocks):
    """The module-name prefix of the blocks ("blocks." or "model.layers.")."""
    for name, module in model.named_modules():
        if module is blocks:
            return f"{name}."
    raise ValueError("blocks must be a ModuleList inside the model")


def _recorder(stats: InputStats, with_gram: bool):
    """A forward hook adding its layer's input rows to ``stats``."""
    def record(module, args, output):
        stats.add(input_rows(module, args[0]).detach(), with_gram)
    return record


def _prune_layer(name, layer, stats, method, sparsity, n, m, row_splits, strict, report):
    kind = layer_kind(layer)
    weight = kind.matrix(layer).detach()  # (C_out, K), a view of the layer's weight
    if sparsity is None and weight.shape[1] % m:
        reason = f"K = {weight.shape[1]} is not a multiple of m = {m}"
        if strict:
            raise ValueError(f"n:m = {n}:{m} does not fit layer {name!r}: {reason}")
        report.skipped[name] = reason
        return
    splits = (row_splits or {}).get(name, [weight.shape[0]])
    if sum(splits) != weight.shape[0]:
        raise ValueError(f"row_splits[{name!r}] = {splits} must add up to the layer's {weight.shape[0]} rows")
    work = weight if stats is None or weight.dtype == torch.float64 else weight.float()
    pieces = [method.prune(part, stats, sparsity, n, m) for part in work.split(splits)]
    new = torch.cat([p[0] for p in pieces])
    mask = torch.cat([p[1] for p in pieces])
    error = None if stats is None else relative_output_error(work, new, stats.sample)  # before the write
    layer.weight.copy_(kind.to_weight(layer, new.to(weight.dtype)))
    report.masks[f"{name}.weight"] = kind.to_weight(layer, mask).to(layer.weight.device)
    report.layers[name] = LayerReport(float((~mask).float().mean()), error)


def depth_ramp_sparsities(layer_sizes: dict[str, int], target: float, step: float = 0.05) -> dict[str, float]:
    """Per-layer sparsities that rise by ``step`` per block, later blocks pruned harder, with the
    size-weighted mean equal to ``target``. ``layer_sizes``: block Linear name -> number of weights."""
    check_fraction("target", target)
    depth = {name: int(name.split(".")[1]) for name in layer_sizes}  # "blocks.2.mlp.fc" -> 2
    mean_depth = sum(depth[n] * size for n, size in layer_sizes.items()) / sum(layer_sizes.values())
    ramp = {name: target + step * (depth[name] - mean_depth) for name in layer_sizes}
    if not all(0 <= s <= 1 for s in ramp.values()):
        raise ValueError(f"step={step} takes a sparsity outside [0, 1] around target={target}; "
                         "use a smaller step")
    return ramp


# The post-training recipes lesson 06 compares, by name.
POST_TRAINING_RECIPES = {
    "magnitude": METHODS["magnitude_per_row"],
    "wanda": METHODS["wanda"],
    "wanda + least squares": ScoreMask("wanda", refit=True),
}


def post_training_sweep(
    model: nn.Module, x: torch.Tensor, loader, sparsities, recipes=tuple(POST_TRAINING_RECIPES)
) -> dict[tuple[str, float], float]:
    """Accuracy on ``loader`` of ``model`` pruned after training by each recipe at each sparsity.

    ``recipes`` are names of ``POST_TRAINING_RECIPES``; ``x`` is the calibration batch. Returns
    ``{(recipe, sparsity): accuracy}``; every entry prunes a fresh copy, ``model`` is unchanged. Use a
    validation loader here when the result chooses anything.
    """
    for name in recipes:
        check_choice("recipe", name, set(POST_TRAINING_RECIPES))
    sparsities = [check_fraction("sparsity", s) for s in sparsities]
    return {
        (name, s): evaluate(prune_post_training(model, x, POST_TRAINING_RECIPES[name], sparsity=s)[0], loader)
        for name in recipes
        for s in sparsities
    }


def choose_post_training(accuracies: dict, baseline: float, max_drop: float) -> tuple[str, float] | None:
    """The (recipe, sparsity) of ``accuracies`` with the highest sparsity whose accuracy is at most
    ``max_drop`` below ``baseline``; among equal sparsities the most accurate, then the first listed.
    ``None`` when nothing meets the target. ``accuracies`` is ``post_training_sweep``'s result."""
    max_drop = check_fraction("max_drop", max_drop)
    meets = [(s, acc, -i, name) for i, ((name, s), acc) in enumerate(accuracies.items())
             if acc >= baseline - max_drop - 1e-12]
    if not meets:
        return None
    sparsity, _, _, name = max(meets)
    return name, sparsity


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are re-estimated on the batch ``x``.

    Pruning shifts every layer's output distribution, so the mean and variance a BatchNorm stored
    during training no longer fit. One forward pass in train mode with a cumulative average
    (momentum None) replaces them by the statistics of ``x``: no gradient, no trainable parameter.
    ``model`` itself is unchanged.
    """
    fixed = copy.deepcopy(model)
    norms = [m for m in fixed.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError(f"model has no BatchNorm layer to recalibrate: {type(model).__name__}")
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    fixed.train()
    fixed(x)
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    return fixed.eval()
