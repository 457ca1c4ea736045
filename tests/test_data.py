import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import data


def test_digits_splits_are_fixed_stratified_disjoint_and_normalised():
    train, validation, test = data.digits_splits()
    assert (len(train), len(validation), len(test)) == (1077, 270, 450)
    assert len(validation) >= 0.15 * 1797
    assert train.x.shape == (1077, 1, 8, 8) and train.x.dtype == torch.float32
    assert test.y.dtype == torch.int64
    # stratified: every class keeps its share of images in each split
    for split, share in ((test, 0.25), (validation, 0.15)):
        for label in range(10):
            total = sum(int((s.y == label).sum()) for s in (train, validation, test))
            assert abs(int((split.y == label).sum()) / total - share) < 0.02
    # disjoint: no image appears in two splits (the digits have no exact duplicates across them)
    rows = {name: {tuple(x.flatten().tolist()) for x in s.x} for name, s in
            (("train", train), ("validation", validation), ("test", test))}
    assert not rows["train"] & rows["validation"] and not rows["train"] & rows["test"]
    assert not rows["validation"] & rows["test"]
    assert abs(train.x.mean()) < 1e-5 and abs(train.x.std() - 1) < 1e-3
    again = data.digits_splits()
    assert torch.equal(train.x, again.train.x) and torch.equal(test.y, again.test.y)


def test_the_test_split_does_not_depend_on_the_validation_fraction():
    assert torch.equal(data.digits_splits(validation_fraction=0.1).test.y, data.digits_splits().test.y)


def test_loaders_shuffle_reproducibly_with_their_seed():
    def first_batch(seed):
        return next(iter(data.digits_loaders(seed=seed).train))[1]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan"), 0.9])
def test_bad_test_fraction_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits_splits(test_fraction=bad)


@pytest.mark.parametrize("bad", [0.0, -0.1, 0.8])
def test_bad_validation_fraction_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="validation_fraction"):
        data.digits_splits(validation_fraction=bad)


def test_bad_batch_size_is_a_clear_error():
    train = data.digits_splits().train
    with pytest.raises(ValueError, match="batch_size"):
        data.make_loader(train, batch_size=0)


def test_unknown_dataset_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="name must be one of .*'mnist'.*got 'imagenet'"):
        data.load_torchvision_dataset("imagenet", root=tmp_path)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_files_say_how_to_fetch_them_and_do_not_download(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=r"download=True.*python -m course_lib.data"):
        data.load_torchvision_dataset(name, root=tmp_path)
    assert not any(tmp_path.rglob("*.gz")), "nothing may be downloaded without download=True"


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write an array in the IDX format MNIST uses: magic (0, 0, type 0x08 = ubyte, ndim), sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_style_files_on_disk_load_as_tensors(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in [("train", 12), ("t10k", 5)]:
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    split = data.load_torchvision_dataset(name, train=False, root=tmp_path)
    assert split.x.shape == (5, 1, 28, 28) and split.x.dtype == torch.float32
    assert 0.0 <= split.x.min() and split.x.max() <= 1.0
    assert split.y.shape == (5,) and split.y.dtype == torch.int64


def test_cifar10_files_on_disk_load_as_tensors(tmp_path, monkeypatch):
    import torchvision.datasets.cifar

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (folder / batch).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    # torchvision checks the real archive's MD5 sums, which these small files cannot match: check
    # only that each file exists, as the rest of the loading code still runs for real.
    exists = lambda path, md5=None: Path(path).is_file()  # noqa: E731
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)
    split = data.load_torchvision_dataset("cifar10", train=True, root=tmp_path)
    assert split.x.shape == (20, 3, 32, 32)
    assert split.y.tolist() == [0, 1, 2, 3] * 5
