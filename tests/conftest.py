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
