import shutil

import pytest
import torch

from course_lib import models, pretrain


@pytest.mark.parametrize("model_class", [models.ConvNet, models.MLP, models.TinyResNet])
def test_models_map_digits_to_ten_logits(model_class):
    assert model_class()(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_shipped_convnet_is_accurate_and_small(trained_convnet, digits):
    from course_lib.train import evaluate

    assert evaluate(trained_convnet, digits[1]) >= 0.98
    assert models.checkpoint_path("convnet").stat().st_size < 500_000


@pytest.mark.parametrize("name", sorted(models.CHECKPOINTS))
def test_every_shipped_checkpoint_matches_its_recorded_hash(name):
    assert models.sha256_of(models.checkpoint_path(name)) == models.CHECKPOINTS[name][1]
    assert not models.load_pretrained(name).training


def test_checkpoints_load_with_weights_only(monkeypatch):
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    models.load_pretrained("mlp")
    assert seen.get("weights_only") is True


def test_missing_checkpoint_names_the_rebuild_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m course_lib.pretrain convnet"):
        models.load_pretrained("convnet", path=tmp_path / "convnet.pt")


def test_altered_checkpoint_is_refused(tmp_path):
    altered = tmp_path / "convnet.pt"
    shutil.copy(models.checkpoint_path("convnet"), altered)
    with altered.open("ab") as f:
        f.write(b"tampered")
    with pytest.raises(ValueError, match=r"SHA-256.*python -m course_lib.pretrain convnet"):
        models.load_pretrained("convnet", path=altered)


def test_unknown_checkpoint_name_is_a_clear_error():
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_pretrained("alexnet")


def test_rebuilding_a_checkpoint_reproduces_it_byte_for_byte(tmp_path):
    accuracy = pretrain.build("convnet", directory=tmp_path)
    assert accuracy >= 0.98
    assert models.sha256_of(tmp_path / "convnet.pt") == models.CHECKPOINTS["convnet"][1]


def test_readme_states_each_checkpoints_measured_accuracy(digits):
    from pathlib import Path

    from course_lib.train import evaluate

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in ("convnet", "mlp", "tiny_resnet"):
        accuracy = evaluate(models.load_pretrained(name), digits[1])
        assert f"| `{name}` |" in readme and f"| {accuracy:.2%} |" in readme, name
