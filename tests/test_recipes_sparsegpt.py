"""SparseGPT (Frantar & Alistarh 2023) against its closed form, its baselines and its contract."""

import pytest
import torch

from course_lib.recipes.post_training import METHODS, InputStats
from course_lib.recipes.sparsegpt import inverse_hessian_factor, obs_update, sparsegpt_prune


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def correlated_inputs(tokens=1024, features=128, seed=0):
    """Inputs whose features are correlated and of very different scales (as in a transformer)."""
    g = _generator(seed)
    mixing = torch.randn(features, features, generator=g) / features**0.5 + torch.eye(features)
    scales = torch.rand(features, generator=g) * 3 + 0.2
    return torch.randn(tokens, features, generator=g) @ mixing * scales


def gram(x):
    return x.T @ x


def output_error(weight, new_weight, x):
    return float((x @ weight.T - x @ new_weight.T).norm())


def test_sparsity_zero_returns_the_weight_unchanged():
    x = correlated_inputs()
    w = torch.randn(32, 128, generator=_generator(1))
    new, mask = sparsegpt_prune(w, gram(x), 0.0)
    assert mask.all() and torch.equal(new, w)


def test_arguments_are_not_modified():
    x, w = correlated_inputs(), torch.randn(16, 128, generator=_generator(2))
    x0, w0 = x.clone(), w.clone()
    g = gram(x)
    g0 = g.clone()
    sparsegpt_prune(w, g, 0.5)
    sparsegpt_prune(w, g, n=2, m=4)
    assert torch.equal(x, x0) and torch.equal(w, w0) and torch.equal(g, g0)


def test_pruning_one_weight_is_the_obs_closed_form():
    g = _generator(3)
    x = torch.randn(200, 8, generator=g, dtype=torch.float64)
    w = torch.randn(1, 8, generator=g, dtype=torch.float64)
    w[0, 0] = 1e-3  # the least salient weight: the one pruned
    new, mask = sparsegpt_prune(w, gram(x), 1 / 8)
    assert mask.tolist() == [[False] + [True] * 7]
    h = 2 * x.T @ x
    h += 0.01 * h.diagonal().mean() * torch.eye(8, dtype=torch.float64)
    hinv = torch.linalg.inv(h)
    expected = w[0] - (w[0, 0] / hinv[0, 0]) * hinv[:, 0]  # δw = -(w_q / [H⁻¹]_qq) H⁻¹[:, q]
    torch.testing.assert_close(new[0], expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(obs_update(w[0], hinv, 0), expected)


def test_cholesky_factor_is_that_of_the_inverse_hessian():
    x = correlated_inputs(300, 16, seed=4)
    u = inverse_hessian_factor(gram(x.double()), damp=0.01)
    h = 2 * x.double().T @ x.double()
    h += 0.01 * h.diagonal().mean() * torch.eye(16, dtype=torch.float64)
    torch.testing.assert_close(u.T @ u, torch.linalg.inv(h))
    assert torch.equal(u, u.triu())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_output_error_sparsegpt_below_wanda_below_magnitude(seed):
    x = correlated_inputs(seed=seed)
    w = torch.randn(64, 128, generator=_generator(10 + seed))
    errors = {method: output_error(w, METHODS[method].prune(w, InputStats.of(x), 0.5)[0], x)
              for method in ("magnitude_per_row", "wanda", "sparsegpt")}
    assert errors["sparsegpt"] < 0.97 * errors["wanda"] < 0.97 * 0.97 * errors["magnitude_per_row"], errors


@pytest.mark.parametrize("n, m", [(2, 4), (4, 8), (1, 4)])
def test_nm_output_has_exactly_n_of_every_m(n, m):
    x, w = correlated_inputs(), torch.randn(24, 128, generator=_generator(5))
    new, mask = sparsegpt_prune(w, gram(x), n=n, m=m, block_size=32)
    assert (mask.view(24, -1, m).sum(-1) == n).all()
    assert (new[~mask] == 0).all()


def test_unstructured_count_per_block_and_dtype():
    x, w = correlated_inputs(), torch.randn(10, 128, generator=_generator(6))
    new, mask = sparsegpt_prune(w, gram(x), 0.3, block_size=64)
    assert int((~mask[:, :64]).sum()) == round(0.3 * 640) == int((~mask[:, 64:]).sum())
    assert new.dtype == w.dtype and new.shape == w.shape


def test_bad_arguments_give_clear_errors():
    x, w = correlated_inputs(64, 16), torch.randn(4, 16)
    with pytest.raises(ValueError, match="either sparsity or both n and m.*sparsity=0.5, n=2, m=4"):
        sparsegpt_prune(w, gram(x), 0.5, n=2, m=4)
    with pytest.raises(ValueError, match="either sparsity or both n and m"):
        sparsegpt_prune(w, gram(x))
    with pytest.raises(ValueError, match="n and m must be given together.*n=2, m=None"):
        sparsegpt_prune(w, gram(x), n=2)
    with pytest.raises(ValueError, match=r"gram must be XᵀX of shape \(16, 16\).*\(8, 8\)"):
        sparsegpt_prune(w, gram(x[:, :8]), 0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        sparsegpt_prune(w, gram(x), 1.5)
    with pytest.raises(ValueError, match="n must satisfy 0 < n <= m"):
        sparsegpt_prune(w, gram(x), n=5, m=4)
    with pytest.raises(ValueError, match="m=3 must divide the input size 16"):
        sparsegpt_prune(w, gram(x), n=1, m=3)
    with pytest.raises(ValueError, match="damp must be a number >= 0.*-1"):
        sparsegpt_prune(w, gram(x), 0.5, damp=-1)
    with pytest.raises(ValueError, match="singular.*damp=0"):
        sparsegpt_prune(w, gram(x[:8]), 0.5, damp=0)  # 8 tokens, 16 inputs: XᵀX has rank 8
