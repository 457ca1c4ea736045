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
    with pytest.raises(FileNotFoundError, match=r"(?s)download=True.*python -m course_lib.data.*copy"):
        data.load_torchvision_dataset(name, root=tmp_path)
    assert not any(tmp_path.rglob("*.gz")), "nothing may be downloaded without download=True"


@pytest.fixture
def offline(monkeypatch):
    """torchvision's downloads fail as they do on a machine with no network (no DNS answer)."""
    import urllib.error

    import torchvision.datasets.utils

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(torchvision.datasets.utils.urllib.request, "urlopen", no_network)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_a_failed_download_says_so_with_its_cause_and_what_to_do(tmp_path, name, offline, capsys):
    with pytest.raises(SystemExit) as stop:
        data.main([name, "--root", str(tmp_path)])
    assert stop.value.code == 1
    said = capsys.readouterr().err
    assert "failed" in said and "Temporary failure in name resolution" in said  # the cause
    urls, folder = data.source_files(name, tmp_path)
    assert urls and all(url in said for url in urls)  # what to fetch elsewhere...
    assert f"copy them into {folder}/" in said or f"copy it into {folder}/" in said  # ...and where it goes
    assert "HTTPS_PROXY" in said
    assert "Traceback" not in said


def test_a_failed_download_from_python_is_a_download_error_not_missing_files(tmp_path, offline):
    with pytest.raises(data.DatasetDownloadError, match="(?s)Downloading MNIST.*failed.*copy them into"):
        data.load_torchvision_dataset("mnist", root=tmp_path, download=True)


def test_files_copied_by_hand_install_without_the_network(tmp_path, offline, monkeypatch, capsys):
    """What the error tells a user to do works: the .gz files copied into raw/, the same command
    checks and unpacks them offline. (Small fake files, with their MD5 sums given to torchvision.)"""
    import gzip
    import hashlib

    import torchvision.datasets

    urls, raw = data.source_files("mnist", tmp_path)
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    resources = []
    for prefix, n in [("train", 12), ("t10k", 5)]:
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))),
                            ("labels-idx1", rng.integers(0, 10, n))):
            plain = tmp_path / "plain"
            _write_idx(plain, array)
            gz = raw / f"{prefix}-{kind}-ubyte.gz"
            gz.write_bytes(gzip.compress(plain.read_bytes()))
            resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    assert sorted(url.rsplit("/", 1)[1] for url in urls) == sorted(name for name, _ in resources)
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
    data.main(["mnist", "--root", str(tmp_path)])
    assert capsys.readouterr().out.splitlines() == ["mnist train: 12 images", "mnist test: 5 images"]


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
