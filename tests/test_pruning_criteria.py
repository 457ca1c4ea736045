"""pruning.criteria and pruning.calibration: the one criterion protocol (weights, units, a custom
criterion) and the gradients / Hessian diagonals / input norms it reads, checked against
torch.autograd.functional.hessian, closed forms and per-example loops."""

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from course_lib import models, pruning


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def tiny_batch(n: int = 24, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=gen), torch.randint(0, 2, (n,), generator=gen)


def reference_hessian(model, batch) -> torch.Tensor:
    """The full (n, n) Hessian of the loss in both weights together (n = 12 + 8), by torch.autograd."""
    names = ["0.weight", "2.weight"]
    params = dict(model.named_parameters())

    def loss(*weights):
        return F.cross_entropy(functional_call(model, dict(zip(names, weights)), (batch[0],)), batch[1])

    blocks = torch.autograd.functional.hessian(loss, tuple(params[n].detach() for n in names))
    sizes = [params[n].numel() for n in names]
    return torch.cat([torch.cat([b.reshape(si, sj) for b, sj in zip(row, sizes)], 1)
                      for row, si in zip(blocks, sizes)])


def reference_hessian_diag(model, batch) -> dict[str, torch.Tensor]:
    diagonal = reference_hessian(model, batch).diagonal().split([12, 8])
    return {"0.weight": diagonal[0].reshape(4, 3), "2.weight": diagonal[1].reshape(2, 4)}


def test_exact_hessian_diagonal_matches_torch_autograd():
    model, batch = tiny_net(), tiny_batch()
    data = pruning.layer_data(model, batch, {"hessian_diag"})
    for name, expected in reference_hessian_diag(model, batch).items():
        assert torch.allclose(data[name].hessian_diag, expected, atol=1e-6), name


def test_exact_hessian_of_least_squares_is_twice_the_mean_squared_input():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 5, generator=gen) * torch.arange(1, 6), torch.randn(50, 1, generator=gen)
    model = nn.Linear(5, 1)
    data = pruning.layer_data(model, (x, y), {"hessian_diag"}, loss_fn=F.mse_loss)
    assert torch.allclose(data["weight"].hessian_diag, 2 * x.pow(2).mean(dim=0, keepdim=True), rtol=1e-5)


def test_hutchinson_estimate_is_within_its_standard_error_of_the_exact_diagonal():
    model, batch, n_samples = tiny_net(), tiny_batch(), 400
    hessian = reference_hessian(model, batch)
    estimate = pruning.layer_data(model, batch, {"hessian_diag"}, hessian="hutchinson",
                                     n_samples=n_samples)
    flat = torch.cat([estimate[n].hessian_diag.flatten() for n in ("0.weight", "2.weight")])
    # z_i * (Hz)_i = H_ii + sum_{j != i} H_ij z_i z_j: the variance is sum_{j != i} H_ij^2 per sample
    std_error = ((hessian.pow(2).sum(dim=1) - hessian.diagonal().pow(2)) / n_samples).sqrt()
    assert ((flat - hessian.diagonal()).abs() <= 4 * std_error + 1e-7).all()


def test_fisher_diagonal_is_the_mean_squared_per_example_gradient():
    model, (x, y) = tiny_net(), tiny_batch(n=6)
    fisher = pruning.layer_data(model, (x, y), {"hessian_diag"}, hessian="fisher")
    expected = torch.zeros_like(model[0].weight)
    for xi, yi in zip(x, y):
        model.zero_grad()
        F.cross_entropy(model(xi[None]), yi[None]).backward()
        expected += model[0].weight.grad.pow(2) / len(x)
    assert torch.allclose(fisher["0.weight"].hessian_diag, expected, atol=1e-7)
    assert not fisher["0.weight"].hessian_diag.requires_grad


def test_obd_and_taylor_follow_their_formulas():
    model, batch = tiny_net(), tiny_batch()
    model.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    w, g = model[2].weight.detach(), model[2].weight.grad
    hess = reference_hessian_diag(model, batch)["2.weight"]
    obd = pruning.importance_scores(model, "obd", batch)["2.weight"]
    taylor = pruning.importance_scores(model, "taylor", batch)["2.weight"]
    assert torch.allclose(obd, 0.5 * hess * w**2, atol=1e-7)
    assert torch.allclose(taylor, (w * g) ** 2, atol=1e-9)


def test_magnitude_and_random_criteria():
    model = tiny_net()
    assert torch.equal(pruning.importance_scores(model, "magnitude")["0.weight"], model[0].weight.abs())
    first = pruning.importance_scores(model, pruning.Random(seed=3))
    again = pruning.importance_scores(model, pruning.Random(seed=3))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert all(((s >= 0) & (s < 1)).all() for s in first.values())
    other = pruning.importance_scores(model, pruning.Random(seed=4))
    assert not torch.equal(first["0.weight"], other["0.weight"])


def test_global_magnitude_importance_masks_equal_global_magnitude_masks():
    model = models.ConvNet(width=4)
    ours = pruning.importance_masks(model, 0.6, "magnitude")
    reference = pruning.global_magnitude_masks(model, 0.6)
    assert all(torch.equal(ours[k], reference[k]) for k in reference)
    per_layer = pruning.importance_masks(model, 0.6, "magnitude", scope="layer")
    assert all(int((~m).sum()) == round(0.6 * m.numel()) for m in per_layer.values())


def test_layer_data_restores_the_training_mode_and_scores_chosen_layers():
    model = models.ConvNet(width=4).train()
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    scores = pruning.importance_scores(model, "obd", (x, y), layers=["fc2.weight"], hessian="fisher")
    assert list(scores) == ["fc2.weight"] and scores["fc2.weight"].shape == model.fc2.weight.shape
    assert model.training


class Squared(pruning.Criterion):
    """The docs' example of a new criterion: w^2 (the ranking of magnitude)."""

    def contributions(self, param, data=None):
        return param.detach().square()[None]


def test_a_custom_criterion_fits_the_interface():
    model = tiny_net()
    masks = pruning.importance_masks(model, 0.5, Squared())
    assert torch.equal(masks["0.weight"], pruning.global_magnitude_masks(model, 0.5)["0.weight"])


def test_a_registered_criterion_works_for_weights_channels_heads_and_post_training():
    from course_lib import recipes, structured
    pruning.register_criterion("squared_for_test", Squared)
    try:
        model = models.ConvNet(width=4).eval()
        x = torch.zeros(1, 1, 8, 8)
        assert torch.equal(pruning.importance_masks(model, 0.5, "squared_for_test")["fc1.weight"],
                           pruning.global_magnitude_masks(model, 0.5)["fc1.weight"])
        channels = structured.channel_importance(model, x, "squared_for_test")
        l2 = structured.channel_importance(model, x, "l2")
        assert all(torch.allclose(channels[g].sqrt(), l2[g]) for g in l2)  # sum of w^2 is the L2 norm squared
        lm = models.CharTransformer(models.CharConfig(vocab_size=5, context=8, width=8, n_layer=1, n_head=2,
                                                      head_dim=4, mlp_hidden=16))
        heads = structured.head_scores(lm, "squared_for_test")[0]
        assert heads.shape == (2,)
        method = recipes.ScoreMask("squared_for_test")
        _, report = recipes.prune_post_training(model, None, method, sparsity=0.5)
        assert report.sparsity == pytest.approx(0.5, abs=0.02)
        with pytest.raises(ValueError, match="registered already"):
            pruning.register_criterion("squared_for_test", Squared)
    finally:
        del pruning.CRITERIA["squared_for_test"]


def test_a_unit_sums_contributions_per_batch_before_taylor_squares():
    """unit_scores: per mini-batch, the sum over the unit's weights, then reduce (Taylor: square, mean)."""
    model = tiny_net()
    batches = [tiny_batch(n=8, seed=s) for s in range(3)]
    data = pruning.layer_data(model, batches, {"grad"}, params=["0.weight", "0.bias"])
    w, b = model[0].weight.detach(), model[0].bias.detach()
    rows = lambda t: t.reshape(t.shape[0], t.shape[1], -1)  # noqa: E731
    parts = [pruning.Part("0.weight", model[0].weight, "weight", rows),
             pruning.Part("0.bias", model[0].bias, "bias", rows)]
    got = pruning.unit_scores(pruning.Taylor(), parts, data)  # (4,): one per output unit
    g_w, g_b = data["0.weight"].batch_grads, data["0.bias"].batch_grads  # (3, 4, 3), (3, 4)
    z = (w * g_w).sum(dim=2) + b * g_b  # (3, 4): the first-order change per batch and unit
    assert torch.allclose(got, z.square().mean(dim=0), atol=1e-9)
    weights_only = pruning.unit_scores(pruning.Taylor(reads="weights"), parts, data)
    assert torch.allclose(weights_only, (w * g_w).sum(dim=2).square().mean(dim=0), atol=1e-9)
    assert pruning.unit_scores(pruning.get_criterion("bn_gamma"), parts, data) is None  # no norm here


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m, b: pruning.importance_scores(m, "saliency"), ValueError, "criterion must be one of"),
        (lambda m, b: pruning.importance_scores(m, len), TypeError, "criterion must be one of"),
        (lambda m, b: pruning.Magnitude(reads="inputs"), ValueError, "reads must be one of"),
        (lambda m, b: pruning.importance_scores(m, "obd"), ValueError, "needs batch"),
        (lambda m, b: pruning.importance_scores(m, "obd", b, hessian="bfgs"), ValueError, "hessian"),
        (lambda m, b: pruning.importance_scores(m, "taylor", b[0]), TypeError, "batch must be"),
        (lambda m, b: pruning.importance_scores(m, "magnitude", layers=["9.weight"]), ValueError,
         "'9.weight'"),
        (lambda m, b: pruning.importance_masks(m, 1.5, "obd", b), ValueError, "sparsity"),
        (lambda m, b: pruning.importance_scores(nn.ReLU(), "magnitude"), ValueError, "no Conv2d"),
        (lambda m, b: pruning.OBD()(m[0]), ValueError, "hessian_diag"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call(tiny_net(), tiny_batch())


def test_exact_hessian_refuses_large_models():
    model = nn.Linear(100, 50)
    with pytest.raises(ValueError, match="hutchinson"):
        pruning.layer_data(model, (torch.randn(2, 100), torch.randint(0, 50, (2,))), {"hessian_diag"})


def test_taylor_averages_squared_gradients_over_mini_batches():
    model = tiny_net()
    batches = [tiny_batch(n=8, seed=s) for s in range(3)]
    w = model[2].weight.detach()
    per_batch = []
    for x, y in batches:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        per_batch.append(model[2].weight.grad.clone())
    expected = torch.stack([(w * g) ** 2 for g in per_batch]).mean(dim=0)
    taylor = pruning.importance_scores(model, "taylor", batches)["2.weight"]
    assert torch.allclose(taylor, expected, atol=1e-9)
    # one batch given as a pair or as a list of one pair: the old (w * g)^2
    single = pruning.importance_scores(model, "taylor", batches[0])["2.weight"]
    assert torch.allclose(single, (w * per_batch[0]) ** 2, atol=1e-9)
    assert torch.equal(single, pruning.importance_scores(model, "taylor", [batches[0]])["2.weight"])
    data = pruning.layer_data(model, batches, {"grad"})["2.weight"]
    assert data.n_batches == 3 and torch.allclose(data.grad, torch.stack(per_batch).mean(dim=0), atol=1e-7)
    assert torch.allclose(data.batch_grads, torch.stack(per_batch), atol=1e-7)


def test_input_norms_follow_each_weights_own_fan_in_order():
    model = models.ConvNet(width=4).eval()
    x = torch.randn(6, 1, 8, 8)
    data = pruning.layer_data(model, (x, torch.zeros(6, dtype=torch.long)), {"input_norm"})
    patches = torch.nn.functional.unfold(model.relu(model.bn1(model.conv1(x))), 3, padding=1)  # (6, 36, 64)
    expected = patches.transpose(1, 2).reshape(-1, patches.shape[1]).norm(dim=0)  # conv2's (C_in, 3, 3) order
    assert torch.allclose(data["conv2.weight"].input_norm, expected, atol=1e-4)
    wanda = pruning.importance_scores(model, "wanda", (x, torch.zeros(6, dtype=torch.long)))
    reference = pruning.wanda_scores(model.conv2.weight.detach(), expected)
    assert torch.allclose(wanda["conv2.weight"], reference, atol=1e-4)


def test_fisher_over_mini_batches_is_the_per_example_mean_over_all_examples():
    model = tiny_net()
    x, y = tiny_batch(n=12)
    whole = pruning.layer_data(model, (x, y), {"hessian_diag"}, hessian="fisher")
    split = pruning.layer_data(model, [(x[:4], y[:4]), (x[4:], y[4:])], {"hessian_diag"}, hessian="fisher")
    for name in whole:
        assert torch.allclose(whole[name].hessian_diag, split[name].hessian_diag, atol=1e-7), name


def test_a_data_loader_is_read_as_mini_batches():
    from torch.utils.data import DataLoader, TensorDataset

    model = tiny_net()
    x, y = tiny_batch(n=12)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    from_loader = pruning.importance_scores(model, "taylor", loader)
    from_list = pruning.importance_scores(model, "taylor", [(x[i:i + 4], y[i:i + 4]) for i in (0, 4, 8)])
    assert all(torch.allclose(from_loader[k], from_list[k]) for k in from_list)
    with pytest.raises(ValueError, match="at least one"):
        pruning.layer_data(model, [], {"grad"})
    with pytest.raises(TypeError, match="item 1"):
        pruning.layer_data(model, [(x, y), x], {"grad"})
