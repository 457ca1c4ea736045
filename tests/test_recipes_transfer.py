"""Transfer helpers: label splits, re-initialisation, the tabular dataset and MLP, transfer vs scratch."""

import pytest
import torch

from course_lib import analysis, data, models, recipes, structured
from course_lib import train as training


def test_split_by_labels():
    train = data.digits_splits().train
    low = data.split_by_labels(train, range(5))
    high = data.split_by_labels(train, range(5, 10))
    assert set(low.y.tolist()) == {0, 1, 2, 3, 4} and len(low) + len(high) == len(train)
    with pytest.raises(ValueError, match="at least one"):
        data.split_by_labels(train, [])
    with pytest.raises(ValueError, match="no example"):
        data.split_by_labels(train, [42])


def test_reinitialised_keeps_shapes_changes_weights_and_is_seeded():
    model = models.load_pretrained("convnet")
    fresh, again = training.reinitialised(model, 1), training.reinitialised(model, 1)
    states = model.state_dict().items(), fresh.state_dict().values(), again.state_dict().values()
    for (name, p), q, r in zip(*states):
        assert p.shape == q.shape and torch.equal(q, r), name
    assert not torch.equal(model.conv1.weight, fresh.conv1.weight)
    assert torch.equal(fresh.bn1.running_mean, torch.zeros(16))


def test_tabular_splits_and_mlp():
    train, test = data.tabular_splits("wine")
    assert train.x.shape[1] == 13 and len(train) + len(test) == 178
    assert train.x.mean(dim=0).abs().max() < 1e-5
    assert models.tabular_mlp(13, classes=3)(train.x[:4]).shape == (4, 3)
    with pytest.raises(ValueError, match="name must be one of"):
        data.tabular_splits("iris")


def test_transfer_vs_scratch_trains_two_copies():
    train, _, test = data.digits_splits()
    model = models.load_pretrained("convnet")
    small = structured.prune_channels(model, 0.5, torch.zeros(1, 1, 8, 8))
    before = {k: v.clone() for k, v in small.state_dict().items()}
    sub = data.Split(train.x[:128], train.y[:128])
    loaders = data.make_loader(sub, 64), data.make_loader(test, 512)
    curves = recipes.transfer_vs_scratch(small, "fc2", *loaders, epochs=2)
    assert set(curves) == {"transfer", "scratch"} and all(len(c) == 2 for c in curves.values())
    assert curves["transfer"][0] > curves["scratch"][0]
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())


def test_training_macs_are_three_forward_passes_per_example_and_epoch():
    model = models.load_pretrained("convnet")
    forward = analysis.count_macs(model, (1, 8, 8))
    assert recipes.training_macs(model, (1, 8, 8), examples=100, epochs=2) == 3 * forward * 100 * 2
    assert recipes.training_macs(model, (1, 8, 8), examples=100, epochs=0) == 0
    with pytest.raises(ValueError, match="epochs"):
        recipes.training_macs(model, (1, 8, 8), examples=100, epochs=-1)


def test_transfer_pruning_orders_reach_the_same_architecture_with_the_same_steps():
    train, _, test = data.digits_splits()
    source = models.load_pretrained("convnet")
    before = {k: v.clone() for k, v in source.state_dict().items()}
    target = data.split_by_labels(data.Split(train.x[:256], train.y[:256]), range(5, 10))
    loader = data.make_loader(data.split_by_labels(test, range(5, 10)), 512)
    runs = recipes.transfer_pruning_orders(source, "fc2", 0.5, target, loader, epochs=1, recovery_epochs=1)
    assert list(runs) == ["prune, then fine-tune", "fine-tune, then prune", "pruned, from scratch"]
    shapes = [{k: v.shape for k, v in r["model"].state_dict().items()} for r in runs.values()]
    assert shapes[0] == shapes[1] == shapes[2]  # the same pruned architecture every way
    assert all(len(r["accuracy"]) == 2 for r in runs.values())  # the same number of passes
    small = structured.prune_channels(source, 0.5, torch.zeros(1, 1, 8, 8))
    n = len(target)
    assert runs["prune, then fine-tune"]["training_macs"] == recipes.training_macs(small, (1, 8, 8), n, 2)
    assert runs["fine-tune, then prune"]["training_macs"] == (
        recipes.training_macs(source, (1, 8, 8), n, 1) + recipes.training_macs(small, (1, 8, 8), n, 1))
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())
    with pytest.raises(ValueError, match="ratio"):
        recipes.transfer_pruning_orders(source, "fc2", 1.0, target, loader)
