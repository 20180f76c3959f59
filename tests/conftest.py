"""Shared fixtures: a tiny MNIST written as real IDX files, and an isolated run cache.

Unit tests never touch the real data set or the user's cache: each test sees
``BNREVIEW_DATA`` pointing at a small, learnable MNIST look-alike and ``BNREVIEW_CACHE``
pointing at its own temporary folder.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from pathlib import Path

import pytest
import torch

from bnreview import cache, data

TINY_TRAIN, TINY_TEST = 512, 200
# The real data sets, where the environment names them (make test and CI do): read before any test
# points BNREVIEW_DATA at the tiny look-alike.
REAL_DATA = os.environ.get(data.ENV_VAR)


def digit_like(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """28x28 uint8 images whose class is readable: a bright bar at a class-dependent row, plus noise."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 60, (len(labels), 28, 28), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 3 + 2 * label : 5 + 2 * label, 4:24] = 255
    return images


def write_idx(path: Path, tensor: torch.Tensor, compress: bool = False) -> Path:
    magic = 2051 if tensor.dim() == 3 else 2049
    header = struct.pack(">II", magic, tensor.shape[0]) + b"".join(struct.pack(">I", s) for s in tensor.shape[1:])
    payload = header + tensor.numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_mnist(root: Path, n_train: int = TINY_TRAIN, n_test: int = TINY_TEST, compress: bool = False) -> Path:
    raw = root / "MNIST" / "raw"
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        labels = torch.arange(n) % 10
        labels = labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
        write_idx(raw / f"{split}-images-idx3-ubyte", digit_like(labels, seed), compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels.to(torch.uint8), compress)
    return root


def write_fashion(root, n_train=96, n_test=40):
    """Fashion-MNIST-shaped IDX files (torchvision's FashionMNIST/raw layout), darker than the tiny MNIST."""
    raw = root / "FashionMNIST" / "raw"
    for split, n, seed in (("train", n_train, 5), ("t10k", n_test, 6)):
        labels = torch.arange(n) % 10
        images = (torch.rand(n, 28, 28, generator=torch.Generator().manual_seed(seed)) * 120).to(torch.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels.to(torch.uint8))
    return root


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """The tiny look-alike, loaded once with the unofficial-data warning it earns said here, not in some test."""
    root = write_mnist(tmp_path_factory.mktemp("tiny-mnist"))
    os.environ[data.UNOFFICIAL_ENV] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for train in (True, False):
                data.load_raw(root, train=train)
    finally:
        del os.environ[data.UNOFFICIAL_ENV]
    return root


@pytest.fixture(autouse=True)
def isolated(tiny_root, tmp_path, monkeypatch):
    """Every test: tiny data (allowed although unofficial), its own cache folder, full (not quick) profile, and 64 of the tiny
    set's 512 training images held out where the book holds out 5,000."""
    from bnreview import experiments

    monkeypatch.setenv(data.ENV_VAR, str(tiny_root))
    monkeypatch.setenv("BNREVIEW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(data.UNOFFICIAL_ENV, "1")  # the tests' own IDX files are not the official ones
    monkeypatch.delenv("BNREVIEW_RUN_LOG", raising=False)  # a build's run log counts the chapters' runs, not the tests'
    monkeypatch.delenv("BNREVIEW_QUICK", raising=False)
    monkeypatch.setattr(experiments.common, "VAL_SIZE", 64)
    yield


@pytest.fixture
def forbid_training(monkeypatch):
    """Call the fixture's value to make any later training fail: what follows must come from the cache."""
    def forbid():
        def fail(*args, **kwargs):
            raise AssertionError("trained although the run was cached")

        monkeypatch.setattr(cache, "train", fail)

    return forbid
