"""A small decoder-only character transformer (GPT-style), built so that heads and MLP units can be
physically removed.

Each block is pre-LayerNorm: x + Attention(LN(x)), then x + MLP(LN(x)). Attention has separate query,
key and value projections of ``n_head * head_dim`` outputs each, so removing head h means deleting
rows h*D..(h+1)*D-1 of q, k, v and the same columns of the output projection; blocks may end up with
different head counts. The MLP is Linear(width, hidden) -> GELU -> Linear(hidden, width); removing a
hidden unit deletes one row of the first and one column of the second. Attention runs through
``F.scaled_dot_product_attention`` with a causal mask. The output head is not tied to the embedding.

Shapes: token ids (B, T) -> logits (B, T, vocab_size); B batch, T time (<= context), C width.
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.seeds import shifted
from ..core.validation import check_positive_int, check_positive_number


@dataclass(frozen=True)
class CharConfig:
    vocab_size: int = 65  # Tiny Shakespeare's characters
    context: int = 64  # longest sequence the position embedding covers (nanoGPT's CPU recipe)
    width: int = 128  # C, the residual stream
    n_layer: int = 4
    n_head: int = 4
    head_dim: int = 32  # n_head * head_dim = width at the start
    mlp_hidden: int = 512  # 4 * width


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with ``n_head`` heads of ``head_dim`` each (n_head may be 0)."""

    def __init__(self, width: int, n_head: int, head_dim: int):
        super().__init__()
        inner = n_head * head_dim
        self.n_head, self.head_dim = n_head, head_dim
        self.q = nn.Linear(width, inner)
        self.k = nn.Linear(width, inner)
        self.v = nn.Linear(width, inner)
        self.proj = nn.Linear(inner, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        if self.n_head == 0:  # every head removed: only the output bias is left
            return self.proj.bias.expand(B, T, -1)
        q, k, v = (lin(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
                   for lin in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))  # (B, T, C)


class FeedForward(nn.Module):
    """Linear(width, hidden) -> GELU -> Linear(hidden, width)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, width: int, n_head: int, head_dim: int, mlp_hidden: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, n_head, head_dim)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = FeedForward(width, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Token + position embeddings, ``n_layer`` pre-LN blocks, a final LayerNorm and a linear head."""

    def __init__(self, config: CharConfig = CharConfig()):
        super().__init__()
        for name in ("vocab_size", "context", "width", "n_layer", "n_head", "head_dim", "mlp_hidden"):
            check_positive_int(f"config.{name}", getattr(config, name))
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.width)
        self.pos_emb = nn.Embedding(config.context, config.width)
        self.blocks = nn.ModuleList(
            Block(config.width, config.n_head, config.head_dim, config.mlp_hidden)
            for _ in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        self.apply(self._init)
        for block in self.blocks:  # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
            for proj in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(proj.weight, std=0.02 / (2 * config.n_layer) ** 0.5)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def context(self) -> int:
        return self.config.context

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.dim() != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be a (B, T) LongTensor of token ids, got {idx.dtype} "
                             f"{tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.context:
            raise ValueError(f"sequence length T must be <= context = {self.context}, got {T}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C)
        return self.forward_from(0, x)

    def forward_from(self, first_block: int, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) from the residual stream ``x`` (B, T, C) entering block ``first_block``:
        the rest of the forward pass, for measurements that change only the later blocks."""
        for block in self.blocks[first_block:]:
            x = block(x)
        return self.head(self.ln_f(x))

    def heads_per_block(self) -> list[int]:
        return [block.attn.n_head for block in self.blocks]

    def mlp_hidden_per_block(self) -> list[int]:
        return [block.mlp.fc.out_features for block in self.blocks]


@torch.no_grad()
def rescale_features(model: CharTransformer, channels, alpha: float) -> CharTransformer:
    """A copy of ``model`` that computes the same function but whose hidden ``channels`` enter the
    attention and MLP projections ``alpha`` times larger: in every block, the LayerNorms' gain and bias
    of those channels are multiplied by ``alpha`` and the matching input columns of q, k, v and the
    first MLP layer divided by it. With ``alpha`` a power of two both scalings are exact in floating
    point, so the outputs are identical to the bit. Large language models grow such features by
    themselves (LLM.int8()'s outlier features, Dettmers et al. 2022); here we make them by hand."""
    channels = torch.as_tensor(channels, dtype=torch.long)
    check_positive_number("alpha", alpha)
    if len(channels) and (int(channels.min()) < 0 or int(channels.max()) >= model.config.width):
        raise ValueError(f"channels must lie in [0, {model.config.width - 1}], got {channels.tolist()}")
    scaled = copy.deepcopy(model)
    for block in scaled.blocks:
        attention = (block.attn.q, block.attn.k, block.attn.v)
        for norm, readers in ((block.ln1, attention), (block.ln2, (block.mlp.fc,))):
            norm.weight[channels] *= alpha
            norm.bias[channels] *= alpha
            for layer in readers:
                layer.weight[:, channels] /= alpha
    return scaled


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, vocab) against next-token targets (B, T), in nats."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@torch.no_grad()
def generate(model: nn.Module, prompt: torch.Tensor, n: int, seed: int = 0,
             temperature: float = 1.0) -> torch.Tensor:
    """Sample ``n`` tokens after ``prompt`` (1-D LongTensor of ids); returns prompt + sample, 1-D.

    Sampling uses its own generator seeded with ``seed`` (moved by the course-wide offset), so the same
    model, prompt and seed give the same text. The window is cropped to the model's context. The
    model's train/eval mode is restored afterwards."""
    if not isinstance(prompt, torch.Tensor) or prompt.dim() != 1 or prompt.dtype != torch.long \
            or len(prompt) == 0:
        raise ValueError(f"prompt must be a non-empty 1-D LongTensor of token ids, got {prompt!r:.80}")
    check_positive_int("n", n)
    check_positive_number("temperature", temperature)
    generator = torch.Generator().manual_seed(shifted(seed))
    was_training = model.training
    model.eval()
    try:
        ids = prompt.clone()
        for _ in range(n):
            logits = model(ids[-model.context:][None])[0, -1]  # (vocab,)
            probs = F.softmax(logits.double() / temperature, dim=-1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=generator)])
    finally:
        model.train(was_training)
    return ids
