"""analysis.per_class_accuracy: per-class accuracy and counts, checked against a plain loop."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import analysis, data, models


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=60))
def test_per_class_accuracy_matches_a_loop(pairs):
    labels = torch.tensor([y for y, _ in pairs])
    correct = torch.tensor([c for _, c in pairs])
    accuracy, counts = analysis.per_class_accuracy(correct, labels, num_classes=5)
    for cls in range(5):
        members = [c for y, c in pairs if y == cls]
        assert counts[cls] == len(members)
        if members:
            assert accuracy[cls].item() == pytest.approx(sum(members) / len(members))
        else:
            assert math.isnan(accuracy[cls].item())  # nothing to measure is not 0%
    # the overall accuracy is the count-weighted mean of the per-class ones
    seen = counts > 0
    overall = (accuracy[seen] * counts[seen]).sum() / counts.sum()
    assert overall.item() == pytest.approx(correct.float().mean().item())


def test_per_class_accuracy_of_a_model_on_the_digits():
    model = models.load_pretrained("convnet")
    test = data.digits_splits().test
    correct, _ = analysis.per_example(model, data.make_loader(test, 512))
    accuracy, counts = analysis.per_class_accuracy(correct, test.y)
    assert counts.sum() == len(test) and len(counts) == 10 and counts.min() >= 40
    assert torch.all((accuracy >= 0) & (accuracy <= 1))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        analysis.per_class_accuracy(torch.ones(3, dtype=torch.bool), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class ids"):
        analysis.per_class_accuracy(torch.ones(2, dtype=torch.bool), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="0/1"):
        analysis.per_class_accuracy(torch.tensor([0, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        analysis.per_class_accuracy(torch.tensor([1, 0]), torch.tensor([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match="at least one example"):
        analysis.per_class_accuracy(torch.tensor([], dtype=torch.bool), torch.tensor([], dtype=torch.long))
