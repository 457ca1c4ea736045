"""analysis.sweeps: pruned copies and the accuracy-against-sparsity sweep (lesson 00)."""

import copy

import pytest
import torch

from course_lib import analysis


def test_pruned_copy_leaves_the_model_untouched(trained_convnet):
    before = copy.deepcopy(trained_convnet.state_dict())
    pruned = analysis.pruned_copy(trained_convnet, 0.9)
    assert analysis.overall_sparsity(pruned) == pytest.approx(0.9, abs=1e-4)
    assert all(torch.equal(before[k], v) for k, v in trained_convnet.state_dict().items())


def test_accuracy_vs_sparsity_starts_at_the_dense_accuracy(trained_convnet, digits):
    from course_lib.train import evaluate

    accuracies = analysis.accuracy_vs_sparsity(trained_convnet, digits.test, [0.0, 0.99], progress=False)
    assert accuracies[0] == evaluate(trained_convnet, digits.test)
    assert accuracies[1] < 0.5
    with pytest.raises(ValueError, match="sparsities"):
        analysis.accuracy_vs_sparsity(trained_convnet, digits.test, [0.5, 1.2])
