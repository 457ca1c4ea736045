"""The kit's character transformer as a Hugging Face GPT-2 model, weight for weight.

Both are pre-LayerNorm decoders with learned position embeddings, exact GELU and an untied output
head without bias, so the conversion is a relabelling: GPT-2 keeps the query, key and value
projections side by side in one ``Conv1D`` (``c_attn``, weight (C, 3C)) and every ``Conv1D`` stores
its weight transposed, (in, out).
"""

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from ..models.transformer import CharTransformer


def _conv1d(linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (in, sum of outs) and bias of a GPT-2 Conv1D that computes the given Linears side by side."""
    weight = torch.cat([layer.weight.detach() for layer in linears]).T.contiguous()
    bias = torch.cat([layer.bias.detach() for layer in linears])
    return weight, bias


@torch.no_grad()
def to_hf_gpt2(model: CharTransformer) -> GPT2LMHeadModel:
    """A ``transformers.GPT2LMHeadModel`` that computes what ``model`` (a ``models.CharTransformer`` whose
    blocks all keep their heads and MLP width) computes: the same logits, up to float rounding."""
    if not isinstance(model, CharTransformer):
        raise TypeError(f"model must be a course_lib.models.CharTransformer, got {type(model).__name__}")
    config = model.config
    if model.heads_per_block() != [config.n_head] * config.n_layer or \
            model.mlp_hidden_per_block() != [config.mlp_hidden] * config.n_layer:
        raise ValueError("model must have every head and MLP unit of its config (GPT-2 has one width for all "
                         f"blocks); got heads {model.heads_per_block()}, MLP {model.mlp_hidden_per_block()}")
    if config.n_head * config.head_dim != config.width:
        raise ValueError(f"GPT-2 needs n_head * head_dim = width, got {config.n_head} * {config.head_dim} != "
                         f"{config.width}")
    hf_config = GPT2Config(vocab_size=config.vocab_size, n_positions=config.context, n_embd=config.width,
                           n_layer=config.n_layer, n_head=config.n_head, n_inner=config.mlp_hidden,
                           activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                           layer_norm_epsilon=model.blocks[0].ln1.eps, tie_word_embeddings=False,
                           bos_token_id=None, eos_token_id=None)  # GPT-2's 50256: not a character id
    hf = GPT2LMHeadModel(hf_config).to(model.tok_emb.weight.dtype).eval()
    hf.transformer.wte.weight.copy_(model.tok_emb.weight)
    hf.transformer.wpe.weight.copy_(model.pos_emb.weight)
    for block, hf_block in zip(model.blocks, hf.transformer.h):
        for ours, theirs in ((block.ln1, hf_block.ln_1), (block.ln2, hf_block.ln_2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
        attn = block.attn
        pairs = (([attn.q, attn.k, attn.v], hf_block.attn.c_attn), ([attn.proj], hf_block.attn.c_proj),
                 ([block.mlp.fc], hf_block.mlp.c_fc), ([block.mlp.proj], hf_block.mlp.c_proj))
        for linears, conv in pairs:
            weight, bias = _conv1d(linears)
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
    hf.transformer.ln_f.weight.copy_(model.ln_f.weight)
    hf.transformer.ln_f.bias.copy_(model.ln_f.bias)
    hf.lm_head.weight.copy_(model.head.weight)
    return hf
