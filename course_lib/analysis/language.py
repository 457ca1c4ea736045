"""Measuring a character language model: loss in nats per character, perplexity, paired intervals,
and speed in tokens per second.

Loss is the mean cross-entropy (natural log) of predicting each validation character from the ones
before it; perplexity is exp(loss), the effective number of characters the model hesitates between.
The validation text is cut into consecutive non-overlapping windows of the model's context, the same
windows for every model, so two models can be compared *paired* (``analysis.compare_losses``): per
window, the difference of their mean losses; a bootstrap over windows gives an interval for the mean
difference. A model "beats" another only when that interval excludes zero.
"""

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.modules import eval_mode
from ..core.validation import check_positive_int
from ..data.text import sequential_windows
from ..models.transformer import generate
from .latency import interleaved_latency

EVAL_CHARS = 16_384  # validation characters scored by default: 256 windows of 64


@torch.no_grad()
def window_losses(model: nn.Module, tokens: torch.Tensor, max_chars: int | None = EVAL_CHARS,
                  batch_size: int = 64, context: int | None = None, progress: bool = False) -> torch.Tensor:
    """Mean cross-entropy (nats per token) of ``model`` on each consecutive window of ``tokens``: (N,).

    Windows have ``context`` tokens (default: the kit model's ``model.context``) and start at the
    beginning of ``tokens``; ``max_chars`` limits the tokens scored (all of them when None). Works for
    the kit's models (which return logits) and Hugging Face causal LMs (which return ``.logits``), on
    the device the model's parameters are on. The model's mode is restored."""
    check_positive_int("batch_size", batch_size)
    x, y = sequential_windows(tokens, context or model.context, max_chars)  # (N, T)
    device = next(model.parameters()).device
    losses = []
    with eval_mode(model):
        for start in tqdm(range(0, len(x), batch_size), desc="perplexity", disable=not progress, leave=False):
            out = model(x[start:start + batch_size].to(device))
            logits = getattr(out, "logits", out)  # (b, T, vocab)
            targets = y[start:start + batch_size].flatten().to(device)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets, reduction="none")
            losses.append(loss.view(-1, x.shape[1]).mean(dim=1).cpu())
    return torch.cat(losses)


def perplexity(losses: torch.Tensor) -> float:
    """exp(mean loss): perplexity from per-window (or per-character) losses in nats."""
    return float(torch.as_tensor(losses, dtype=torch.float64).mean().exp())


def sample_text(model: nn.Module, vocab, prompt: str, n: int = 200, seed: int = 0) -> str:
    """``prompt`` followed by ``n`` characters sampled from ``model`` (reproducible with ``seed``)."""
    return vocab.decode(generate(model, vocab.encode(prompt), n, seed))


def tokens_per_second(models: dict[str, nn.Module], tokens: torch.Tensor, batch_size: int = 16,
                      rounds: int = 5, repeats: int = 5) -> dict[str, dict[str, float]]:
    """CPU speed of each model, measured in alternating turns (``analysis.interleaved_latency``), from
    the fastest run of each (the steadiest figure on a shared machine):

    - ``"evaluation"``: characters scored per second on a batch of ``batch_size`` full-context windows;
    - ``"generation"``: characters generated per second, one at a time with the full context in view
      (one forward pass of a (1, context) window per character, as ``generate`` does).
    """
    check_positive_int("batch_size", batch_size)
    context = {m.context for m in models.values()}
    if len(context) != 1:
        raise ValueError(f"models must share one context length, got {sorted(context)}")
    (context,) = context
    batch, _ = sequential_windows(tokens, context, batch_size * context)  # (B, T)
    names = list(models)
    scoring = interleaved_latency([models[k] for k in names], batch, rounds, repeats)
    stepping = interleaved_latency([models[k] for k in names], batch[:1], rounds, repeats)
    return {k: {"evaluation": 1e3 * batch.numel() / s["min"], "generation": 1e3 / g["min"]}
            for k, s, g in zip(names, scoring, stepping)}


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters of a CharTransformer by part: embeddings (token + position), attention (q, k, v,
    output projection), MLP, and the rest (LayerNorms, output head)."""
    parts = {"embeddings": 0, "attention": 0, "MLP": 0, "LayerNorms and output head": 0}
    for name, p in model.named_parameters():
        if name.startswith(("tok_emb.", "pos_emb.")):
            parts["embeddings"] += p.numel()
        elif ".attn." in name:
            parts["attention"] += p.numel()
        elif ".mlp." in name:
            parts["MLP"] += p.numel()
        else:
            parts["LayerNorms and output head"] += p.numel()
    return parts


def block_weight_nonzeros(model: nn.Module) -> int:
    """Non-zero entries of the Linear weights inside the transformer blocks (what pruning removes)."""
    return sum(int(torch.count_nonzero(m.weight)) for name, m in model.named_modules()
               if name.startswith("blocks.") and isinstance(m, nn.Linear))


def feature_norms(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """‖X_j‖₂ over the calibration tokens of every input feature j of every layer: name -> (in,)."""
    return {name: x.norm(dim=0) for name, x in inputs.items()}


OUTLIER_MAGNITUDE, OUTLIER_LAYERS, OUTLIER_POSITIONS = 6.0, 0.25, 0.06  # Dettmers et al. 2022


def outlier_features(hidden: dict[str, torch.Tensor], magnitude: float = OUTLIER_MAGNITUDE,
                     layers: float = OUTLIER_LAYERS, positions: float = OUTLIER_POSITIONS) -> list[int]:
    """The hidden dimensions that are outlier features by LLM.int8()'s definition (Dettmers et al. 2022):
    a value of magnitude >= ``magnitude`` (6) in at least ``layers`` (25%) of the layers, and there at
    >= ``positions`` (6%) of the sequence positions. ``hidden``: layer name -> the hidden states that
    layer's projections read, (tokens, C), e.g. ``pruning.layer_inputs`` of the query and first MLP
    layers of every block. They emerge in transformers of about 6.7B parameters."""
    widths = {x.shape[1] for x in hidden.values()}
    if len(widths) != 1:
        raise ValueError(f"hidden must hold states of one width C, got widths {sorted(widths)}")
    large = torch.stack([(x.abs() >= magnitude).float().mean(dim=0) >= positions for x in hidden.values()])
    return (large.float().mean(dim=0) >= layers).nonzero().flatten().tolist()  # (layers, C) -> dims


# WikiText-2 perplexity **per token of the LLaMA tokenizer** of LLaMA-2 models pruned with no retraining,
# as reported by Sun et al. 2023 ("A Simple and Effective Pruning Approach for Large Language Models"), in
# the LLaMA-2 table of the authors' repository (locuslab/wanda, README). "50%" is 50% unstructured; their
# magnitude baseline uses one threshold per layer (lib/prune.py, prune_magnitude).
WANDA_LLAMA2_WIKITEXT = {
    "7B": {"dense": 5.12, "50%": {"magnitude": 14.89, "sparsegpt": 6.51, "wanda": 6.42},
           "4:8": {"magnitude": 16.48, "sparsegpt": 8.12, "wanda": 7.97},
           "2:4": {"magnitude": 54.59, "sparsegpt": 10.17, "wanda": 11.02}},
    "13B": {"dense": 4.57, "50%": {"magnitude": 6.37, "sparsegpt": 5.63, "wanda": 5.56},
            "4:8": {"magnitude": 6.76, "sparsegpt": 6.60, "wanda": 6.55},
            "2:4": {"magnitude": 8.33, "sparsegpt": 8.32, "wanda": 8.27}},
    "70B": {"dense": 3.12, "50%": {"magnitude": 4.98, "sparsegpt": 3.98, "wanda": 3.98},
            "4:8": {"magnitude": 5.58, "sparsegpt": 4.59, "wanda": 4.47},
            "2:4": {"magnitude": 6.33, "sparsegpt": 5.40, "wanda": 5.16}},
}
