"""The character transformer: shapes, causality, the shipped checkpoint, head/unit removal, sampling."""

import pytest
import torch

from course_lib import models
from course_lib.models.transformer import CharConfig, CharTransformer, generate
from course_lib.pruning import Taylor
from course_lib.structured.transformer import (
    drop_head_columns,
    head_ablation,
    head_scores,
    mlp_unit_scores,
    prune_heads_and_units,
    remove_heads,
    remove_mlp_units,
)

SMALL = CharConfig(vocab_size=11, context=16, width=24, n_layer=2, n_head=3, head_dim=8, mlp_hidden=40)


def small_model(seed=0):
    torch.manual_seed(seed)
    model = CharTransformer(SMALL).eval()
    with torch.no_grad():  # non-trivial biases, so that removal must carry them along
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def tokens(b=3, t=16, seed=1):
    return torch.randint(11, (b, t), generator=torch.Generator().manual_seed(seed))


def test_shapes_and_causality():
    model, x = small_model(), tokens()
    assert model(x).shape == (3, 16, 11)
    changed = x.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 11
    torch.testing.assert_close(model(x)[:, :10], model(changed)[:, :10])  # the future is not seen
    with pytest.raises(ValueError, match="sequence length T must be <= context = 16, got 17"):
        model(tokens(t=17))


def test_shipped_checkpoint_loads_and_predicts_text():
    model = models.load_pretrained("charlm")
    assert isinstance(model, CharTransformer) and not model.training
    assert models.checkpoint_path("charlm").stat().st_size < 5_000_000


def test_removing_a_head_equals_zeroing_its_output():
    model, x = small_model(), tokens()
    removed = remove_heads(model, [[0, 2], [0, 1, 2]])
    assert removed.heads_per_block() == [2, 3] and model.heads_per_block() == [3, 3]
    zeroed = small_model()
    with torch.no_grad():
        zeroed.blocks[0].attn.proj.weight[:, 8:16] = 0
    torch.testing.assert_close(removed(x), zeroed(x))
    torch.testing.assert_close(removed.blocks[0].attn.proj.weight,
                               drop_head_columns(model.blocks[0].attn.proj.weight, 1, 8))


def test_removing_every_head_of_a_block_leaves_the_output_bias():
    model, x = small_model(), tokens()
    removed = remove_heads(model, [[], [0, 1, 2]])
    zeroed = small_model()
    with torch.no_grad():
        zeroed.blocks[0].attn.proj.weight.zero_()
    torch.testing.assert_close(removed(x), zeroed(x))


def test_removing_mlp_units_equals_zeroing_them():
    model, x = small_model(), tokens()
    keep = [torch.arange(0, 40, 2), torch.arange(40)]
    removed = remove_mlp_units(model, keep)
    assert removed.mlp_hidden_per_block() == [20, 40]
    zeroed = small_model()
    with torch.no_grad():
        zeroed.blocks[0].mlp.proj.weight[:, 1::2] = 0
    torch.testing.assert_close(removed(x), zeroed(x))
    with pytest.raises(ValueError, match=r"kept\[0\] must hold distinct indices in \[0, 39\]"):
        remove_mlp_units(model, [[0, 0], list(range(40))])


def test_taylor_and_ablation_scores_have_one_entry_per_head_and_unit():
    model, x = small_model(), tokens()
    y = torch.roll(x, -1, dims=1)
    for criterion in ("taylor", "magnitude", "next_layer_l2", Taylor(reads="readers")):
        scores = head_scores(model, criterion, (x, y))
        assert [s.shape for s in scores] == [(3,), (3,)] and all((s >= 0).all() for s in scores)
    assert [s.shape for s in head_ablation(model, (x, y))] == [(3,), (3,)]  # removal may also help: any sign
    units = mlp_unit_scores(model, "taylor", [(x[:2], y[:2]), (x[2:], y[2:])])
    assert [u.shape for u in units] == [(40,), (40,)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    smaller = prune_heads_and_units(model, (x, y), head_fraction=1 / 3, unit_fraction=0.5)
    assert smaller.heads_per_block() == [2, 2] and smaller.mlp_hidden_per_block() == [20, 20]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # model untouched
    assert sum(p.numel() for p in smaller.parameters()) < sum(p.numel() for p in model.parameters())


def test_head_taylor_on_the_output_projection_is_the_gate_gradient_of_michel_et_al():
    """sum over a head's output-projection columns of w * dL/dw = sum of a * dL/da over its outputs a,
    the gradient of a gate multiplying the head (Michel et al. 2019); Taylor squares it per batch."""
    model, x = small_model(), tokens()
    y = torch.roll(x, -1, dims=1)
    captured = {}
    attn = model.blocks[1].attn
    def keep(module, args):
        captured["a"] = args[0]
        args[0].retain_grad()

    handle = attn.proj.register_forward_pre_hook(keep)
    try:
        torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
    finally:
        handle.remove()
        model.zero_grad()
    a = captured["a"]  # (B, T, H*D)
    gate = (a * a.grad).sum(dim=(0, 1)).view(3, 8).sum(dim=1)  # (H,)
    scores = head_scores(model, Taylor(reads="readers"), (x, y))[1]
    torch.testing.assert_close(scores, gate.square(), rtol=1e-4, atol=1e-8)


def test_ablation_measures_the_loss_increase_of_removing_each_head():
    model, x = small_model(), tokens()
    y = torch.roll(x, -1, dims=1)
    measured = head_ablation(model, (x, y))
    base = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
    without = remove_heads(model, [[0, 2], [0, 1, 2]])  # block 0 without head 1
    expected = torch.nn.functional.cross_entropy(without(x).flatten(0, 1), y.flatten()) - base
    assert measured[0][1].item() == pytest.approx(expected.item(), abs=1e-5)


def test_generate_is_reproducible_and_restores_mode():
    model = small_model().train()
    prompt = torch.tensor([1, 2, 3])
    a, b = generate(model, prompt, 20, seed=5), generate(model, prompt, 20, seed=5)
    assert torch.equal(a, b) and len(a) == 23 and torch.equal(a[:3], prompt) and model.training
    assert not torch.equal(a, generate(model, prompt, 20, seed=6))
    with pytest.raises(ValueError, match="prompt must be a non-empty 1-D LongTensor"):
        generate(model, torch.tensor([]), 5)
