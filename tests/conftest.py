"""Shared fixtures. Tests must never reach the network: any connection to a non-loopback address fails."""

import socket

import matplotlib
import pytest

matplotlib.use("Agg")

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("localhost", "::1") and not host.startswith("127."):
        raise RuntimeError(f"tests must not use the network: connection to {address!r} blocked")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: tests that train and time tiny models, which two threads only
    slow down on a shared CPU. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits():
    """(train_loader, validation_loader, test_loader) over the digits."""
    from course_lib import data

    return data.digits_loaders()


@pytest.fixture(scope="session")
def trained_convnet():
    from course_lib import models

    return models.load_pretrained("convnet")


@pytest.fixture(scope="module")
def toy_text():
    """4,000 tokens of a learnable toy text over ``toy_lm_config()``'s 9 letters: runs of letters that
    repeat, 10% of them replaced by noise."""
    import torch

    g = torch.Generator().manual_seed(0)
    vocab_size = toy_lm_config().vocab_size
    base = torch.arange(4000) // 3 % vocab_size
    noise = torch.randint(vocab_size, (4000,), generator=g)
    return torch.where(torch.rand(4000, generator=g) < 0.1, noise, base)


@pytest.fixture(scope="module")
def toy_lm(toy_text):
    """A 2-block CharTransformer trained for 60 steps on the first 3,000 tokens of ``toy_text``."""
    import torch

    from course_lib.models import CharTransformer
    from course_lib.train import train_lm

    torch.manual_seed(0)
    model = CharTransformer(toy_lm_config())
    train_lm(model, toy_text[:3000], steps=60, batch_size=8, lr=3e-3, progress=False)
    return model


def toy_lm_config():
    """The toy language model's shape: 9 letters, context 16, 2 blocks of width 32 with 2 heads."""
    from course_lib.models import CharConfig

    return CharConfig(vocab_size=9, context=16, width=32, n_layer=2, n_head=2, head_dim=16, mlp_hidden=64)
