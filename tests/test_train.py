import pytest
import torch

from course_lib import data, models, pruning, train


def _train_once(seed):
    train.seed_everything(seed)
    model = models.MLP()
    loader = data.digits_loaders(seed=seed).train
    train.train(model, loader, epochs=2, progress=False)
    return model


def test_same_seed_gives_the_same_weights():
    a, b = _train_once(0), _train_once(0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = _train_once(1)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_training_learns_and_history_is_recorded(digits):
    train.seed_everything(0)
    model = models.MLP()
    history = train.train(model, digits.train, epochs=3, eval_loader=digits.test, progress=False)
    assert len(history["loss"]) == len(history["accuracy"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] > 0.8


def test_evaluate_restores_training_mode(digits):
    model = models.ConvNet().train()
    train.evaluate(model, digits.test)
    assert model.training


def test_fine_tune_keeps_pruned_weights_at_zero(trained_convnet, digits):
    import copy

    model = copy.deepcopy(trained_convnet)
    masks = pruning.global_magnitude_masks(model, 0.8)
    train.fine_tune(model, digits.train, epochs=1, masks=masks, progress=False)
    for name, param in model.named_parameters():
        if name in masks:
            assert torch.all(param[~masks[name]] == 0)
    assert train.evaluate(model, digits.test) > 0.9


@pytest.mark.parametrize("epochs", [0, -1])
def test_bad_epochs_is_a_clear_error(epochs, digits):
    with pytest.raises(ValueError, match="epochs"):
        train.train(models.MLP(), digits.train, epochs=epochs)


def test_bad_learning_rate_is_a_clear_error(digits):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        train.train(models.MLP(), digits.train, epochs=1, lr=0)
