"""The kit next to the libraries used at work (lesson 11): ``torch.nn.utils.prune`` and Torch-Pruning.

- Unstructured masks: ``pruning.global_magnitude_masks`` and PyTorch's ``prune.global_unstructured``
  with ``L1Unstructured`` remove the same weights (:func:`torch_prune_masks`, :func:`masks_agree`);
  :class:`CriterionPruning` plugs any of the kit's criteria (``criterion(layer, data) -> scores``)
  into ``torch.nn.utils.prune`` as a ``BasePruningMethod``.
- Channel removal: ``structured.prune_channels`` and Torch-Pruning's ``BasePruner`` (DepGraph; in
  Torch-Pruning 1.6 ``MetaPruner`` and ``MagnitudePruner`` are deprecated aliases of it)
  remove the same parameters and MACs at the same ratio. Two details differ: the default importance
  (:class:`KitChannelImportance` makes Torch-Pruning rank channels as the kit's ``"magnitude"`` does) and the
  rounding of the channel count (the kit removes ``round(ratio * C)``, Torch-Pruning keeps
  ``int(C * (1 - ratio))``, then rounds the kept count down to a multiple of ``round_to``:
  :func:`torch_pruning_kept`).
- ``round_to`` exists for speed: :func:`channel_latency` times one conv layer at several channel
  counts, to see whether multiples of the CPU's vector width cost less per MAC.
"""

import copy
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn.utils import prune

from ..core.modules import PRUNABLE_TYPES
from ..core.selection import keep_largest
from ..core.validation import check_fraction, check_int_in_range, check_positive_int
from ..pruning.criteria import get_criterion
from ..pruning.magnitude import global_magnitude_masks
from ..structured.graph import channel_groups
from ..structured.scores import n_pruned
from ..structured.surgery import prune_channels
from .latency import interleaved_latency
from .metrics import count_macs, count_params

# ---------------------------------------------------------------- torch.nn.utils.prune


def global_unstructured_copy(model: nn.Module, sparsity: float) -> nn.Module:
    """A deep copy of ``model`` pruned by ``prune.global_unstructured`` (L1, one threshold) over all
    Conv2d/Linear weights; the copy keeps PyTorch's reparametrisation (``weight_orig``,
    ``weight_mask`` and a forward pre-hook) until ``prune.remove`` is called on it."""
    sparsity = check_fraction("sparsity", sparsity)
    pruned = copy.deepcopy(model)
    layers = [(m, "weight") for m in pruned.modules() if isinstance(m, PRUNABLE_TYPES)]
    if not layers:
        raise ValueError(f"model has no Conv2d or Linear weights to prune: {type(model).__name__}")
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=sparsity)
    return pruned


def torch_prune_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks ``torch.nn.utils.prune`` holds in ``model`` as the kit's masks: parameter name
    (``"conv1.weight"``) -> bool tensor, from every ``<name>_mask`` buffer."""
    masks = {}
    for module_name, module in model.named_modules():
        for buffer_name, buffer in module.named_buffers(recurse=False):
            if buffer_name.endswith("_mask"):
                param = buffer_name.removesuffix("_mask")
                masks[f"{module_name}.{param}" if module_name else param] = buffer.bool()
    return masks


def masks_agree(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> bool:
    """Same parameter names and, for each, the same bool mask."""
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k].bool()) for k in ours)


def agreement_with_torch_prune(model: nn.Module, sparsity: float) -> dict:
    """The kit's global magnitude masks against ``prune.global_unstructured`` at ``sparsity``:
    ``{"kit": masks, "torch": masks, "agree": bool, "pruned": weights removed by the kit}``."""
    ours = global_magnitude_masks(model, sparsity)
    theirs = torch_prune_masks(global_unstructured_copy(model, sparsity))
    pruned = sum(int((~m).sum()) for m in ours.values())
    return {"kit": ours, "torch": theirs, "agree": masks_agree(ours, theirs), "pruned": pruned}


class CriterionPruning(prune.BasePruningMethod):
    """A ``torch.nn.utils.prune`` method that ranks weights with one of the kit's criteria.

    ``amount`` is the fraction of the (still unpruned) weights removed, as in ``L1Unstructured``;
    ``criterion`` is a name (``"magnitude"``, ``"random"``) or a criterion object of the kit's
    protocol, ``data`` the ``LayerData`` a data-driven criterion needs. Ties are broken as everywhere
    in the kit (earlier entries pruned first). Use it like PyTorch's own methods::

        CriterionPruning.apply(layer, "weight", amount=0.5, criterion="magnitude")
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float, criterion="magnitude", data=None):
        self.amount = check_fraction("amount", amount)
        self.criterion = get_criterion(criterion)
        self.data = data

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        # t is the weight (or, when stacked in a PruningContainer, its still-unpruned entries, 1-D)
        scores = self.criterion(SimpleNamespace(weight=t), self.data)  # the protocol reads layer.weight
        keep = keep_largest(scores, round(self.amount * t.numel()))
        return default_mask * keep.to(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, amount, criterion="magnitude", data=None):
        return super().apply(module, name, amount=amount, criterion=criterion, data=data)


# ---------------------------------------------------------------- Torch-Pruning (DepGraph)
# Torch-Pruning is imported inside the functions that use it: only lesson 11 pays for loading it.


class KitChannelImportance:
    """Torch-Pruning importance that ranks channels as the kit's ``"magnitude"`` criterion does: the L1
    norm of each channel's filters, summed over every layer that *produces* the channel (consumers
    and BatchNorms not counted). Torch-Pruning's own ``MagnitudeImportance`` also reads the
    consumers' weights and the BatchNorm scales, and normalises by the group mean. (Torch-Pruning
    calls an importance with a dependency group; any callable does.)"""

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor:
        import torch_pruning as tp

        producers = (tp.prune_conv_out_channels, tp.prune_linear_out_channels)
        scores = torch.zeros(len(group[0].idxs))
        seen = set()
        for i, (dep, idxs) in enumerate(group):
            layer = dep.target.module
            if dep.handler not in producers or id(layer) in seen:
                continue
            seen.add(id(layer))
            l1 = layer.weight.detach()[list(idxs)].flatten(1).abs().sum(dim=1)  # (len(idxs),)
            scores.scatter_add_(0, torch.tensor(group[i].root_idxs), l1)
        return scores


def output_layers(model: nn.Module, example_input: torch.Tensor) -> list[nn.Module]:
    """The layers whose output channels are the model's answer (the classifier): what Torch-Pruning
    must be told to leave alone (``ignored_layers``), and what the kit never prunes."""
    modules = dict(model.named_modules())
    return [modules[p] for g in channel_groups(model, example_input) if not g.prunable for p in g.producers]


def torch_pruning_copy(
    model: nn.Module,
    ratio: float,
    example_input: torch.Tensor,
    importance="kit",
    ignored_layers=None,
    global_pruning: bool = False,
    iterative_steps: int = 1,
    round_to: int | None = None,
) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of its channels removed by Torch-Pruning's ``BasePruner``.

    ``importance``: ``"kit"`` (:class:`KitChannelImportance`), ``"magnitude"`` (Torch-Pruning's
    default ``MagnitudeImportance(p=2)``) or any ``tp.importance.Importance``. ``ignored_layers``
    default to :func:`output_layers` (found in ``model``, mapped to the copy). ``model`` is unchanged.
    """
    import torch_pruning as tp

    ratio = check_fraction("ratio", ratio, allow_one=False)
    check_positive_int("iterative_steps", iterative_steps)
    if round_to is not None:
        check_positive_int("round_to", round_to)
    if importance == "kit":
        importance = KitChannelImportance()
    elif importance == "magnitude":
        importance = tp.importance.MagnitudeImportance(p=2)
    elif not isinstance(importance, tp.importance.Importance):
        raise ValueError(
            f"importance must be 'kit', 'magnitude' or a tp.importance.Importance, got {importance!r}"
        )
    if ignored_layers is None:
        ignored_layers = output_layers(model, example_input)
    names = {id(m): n for n, m in model.named_modules()}
    pruned = copy.deepcopy(model).eval()
    copied = dict(pruned.named_modules())
    ignored = [copied[names[id(m)]] for m in ignored_layers]
    pruner = tp.pruner.BasePruner(
        pruned, example_input, importance=importance, pruning_ratio=ratio, ignored_layers=ignored,
        global_pruning=global_pruning, iterative_steps=iterative_steps, round_to=round_to,
    )  # fmt: skip
    for _ in range(iterative_steps):
        pruner.step()
    return pruned


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels of every Conv2d and Linear layer, by module name."""
    return {
        name: m.out_channels if isinstance(m, nn.Conv2d) else m.out_features
        for name, m in model.named_modules()
        if isinstance(m, PRUNABLE_TYPES)
    }


def torch_pruning_kept(channels: int, ratio: float, round_to: int | None = None) -> int:
    """The channels Torch-Pruning's ``BasePruner`` keeps in a group of ``channels`` at ``ratio``
    (one step, local pruning): ``int(channels * (1 - ratio))``, rounded down to a multiple of
    ``round_to`` when something is pruned at all. The kit keeps ``channels - round(ratio * channels)``."""
    check_positive_int("channels", channels)
    ratio = check_fraction("ratio", ratio, allow_one=False)
    kept = int(channels * (1 - ratio))
    if round_to is not None and kept < channels:
        kept -= kept % check_positive_int("round_to", round_to)
    return kept


def kit_kept(channels: int, ratio: float) -> int:
    """The channels ``structured.prune_channels`` keeps in a group of ``channels`` at ``ratio``."""
    check_positive_int("channels", channels)
    return channels - n_pruned(channels, check_fraction("ratio", ratio, allow_one=False))


def agreement_with_torch_pruning(model: nn.Module, ratio: float, example_input: torch.Tensor,
                               importance="kit") -> dict:
    """The kit's ``prune_channels`` (``"magnitude"``) against Torch-Pruning's ``BasePruner`` at ``ratio``.

    Returns ``{"kit": {...}, "torch_pruning": {...}, "same_counts", "same_outputs",
    "max_difference"}``, each side with ``params``, ``macs`` and ``channels`` (:func:`channel_counts`);
    outputs are compared on ``example_input``.
    """
    shape = tuple(example_input.shape[1:])
    ours = prune_channels(model, ratio, example_input).eval()
    theirs = torch_pruning_copy(model, ratio, example_input, importance=importance).eval()
    sides = {
        label: {"params": count_params(m), "macs": count_macs(m, shape), "channels": channel_counts(m)}
        for label, m in (("kit", ours), ("torch_pruning", theirs))
    }
    with torch.no_grad():
        difference = (ours(example_input) - theirs(example_input)).abs().max().item()
    return sides | {
        "same_counts": sides["kit"]["channels"] == sides["torch_pruning"]["channels"],
        "max_difference": difference,
        "same_outputs": difference <= 1e-5 * (1 + model(example_input).abs().max().item()),
    }


# ---------------------------------------------------------------- round_to and the vector width


def channel_latency(
    channels, spatial: int = 16, batch_size: int = 8, kernel: int = 3, rounds: int = 3, repeats: int = 3
) -> list[dict]:
    """CPU time of one ``kernel``x``kernel`` conv with C inputs and C outputs on a (batch_size, C,
    spatial, spatial) input, for each C in ``channels``, timed in alternating turns (fastest run).

    Returns one row per C: ``{"channels", "macs", "ms", "ns_per_mac"}``. Vectorised kernels work on
    blocks of output channels (8 floats per AVX2 register, 16 per AVX-512), so a count just above a
    multiple of the block pays for a nearly empty block: ``round_to`` avoids such counts.
    """
    channels = [check_int_in_range("channels[]", c, 1) for c in channels]
    if not channels:
        raise ValueError("channels must hold at least one channel count, got an empty list")
    check_positive_int("spatial", spatial)
    check_positive_int("kernel", kernel)
    generator = torch.Generator().manual_seed(0)
    convs, inputs = [], []
    for c in channels:
        conv = nn.Conv2d(c, c, kernel, padding=kernel // 2, bias=False).eval()
        convs.append(conv)
        inputs.append(torch.randn(check_positive_int("batch_size", batch_size), c, spatial, spatial,
                                  generator=generator))
    # one model per count, each with its own input, timed in the same alternating turns
    models = [_Fixed(conv, x) for conv, x in zip(convs, inputs)]
    timings = interleaved_latency(models, torch.empty(0), rounds=rounds, repeats=repeats)
    rows = []
    for c, timing in zip(channels, timings):
        macs = batch_size * spatial * spatial * c * c * kernel * kernel
        ms = timing["min"]
        rows.append({"channels": c, "macs": macs, "ms": ms, "ns_per_mac": ms * 1e6 / macs})
    return rows


class _Fixed(nn.Module):
    """Runs ``layer`` on its own stored input, whatever it is called with (for joint timing)."""

    def __init__(self, layer: nn.Module, x: torch.Tensor):
        super().__init__()
        self.layer, self.x = layer, x

    def forward(self, _):
        return self.layer(self.x)
