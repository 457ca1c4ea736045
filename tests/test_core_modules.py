"""core.modules' context managers: eval_mode restores the mode, hooks_attached removes its hooks."""

import pytest
import torch
from torch import nn

from course_lib.core import eval_mode, hooks_attached


def test_eval_mode_restores_training_mode_even_when_the_body_raises():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training and not model[1].training
        raise RuntimeError("boom")
    assert model.training and model[1].training


def test_hooks_attached_records_inputs_and_outputs_then_removes_every_hook():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = {}
    forward = [(model[2], lambda m, args, out: seen.__setitem__("out", out.shape))]
    pre = [(model[0], lambda m, args: seen.__setitem__("in", args[0].shape))]
    with hooks_attached(forward=forward, pre=pre):
        model(torch.zeros(5, 3))
    assert seen == {"in": (5, 3), "out": (5, 2)}
    seen.clear()
    model(torch.zeros(1, 3))
    assert seen == {} and not model[0]._forward_pre_hooks and not model[2]._forward_hooks
    with pytest.raises(RuntimeError), hooks_attached(forward=forward, pre=pre):
        model(torch.zeros(1, 7))  # wrong input size: the hooks still come off
    assert not model[0]._forward_pre_hooks and not model[2]._forward_hooks
