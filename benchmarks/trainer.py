"""Seconds per training epoch: bnreview's ``train()`` against the plain eager loop a reader would write.

The plain loop is what a PyTorch tutorial teaches: the same LeNet as an ``nn.Sequential``
(tanh, average pooling; ``nn.BatchNorm2d``/``nn.BatchNorm1d`` before tanh when with BN), the
default memory layout, the same in-memory MNIST tensors, ``torch.optim.SGD`` at lr 0.1, batch 64,
and ``loss.item()`` each step (a reader logs the loss). bnreview's side is ``train()`` itself
(``History.epoch_seconds``: training only, its evaluations excluded), which trains LeNet without
BN in channels_last (``TrainConfig.memory_format``). Both run on ``TRAIN_THREADS`` threads, one
epoch each, interleaved, so that a change in the machine's load hits both alike.

Run from the repository root:  ``python benchmarks/trainer.py [--n 20000] [--repeats 3]``
Target: bnreview at least 1.3x faster, without and with BN. Prints the ratios measured in this run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from bnreview.config import TrainConfig, data_split
from bnreview.models import BN_LAYERS
from bnreview.train import TRAIN_THREADS, train

TARGET = 1.3


def plain_lenet(bn: bool) -> nn.Sequential:
    """LeNet as a reader writes it: torch's layers in a Sequential, BN (torch's) before each tanh if asked."""
    def norm(kind, n):
        return [kind(n)] if bn else []

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, bias=not bn), *norm(nn.BatchNorm2d, 6), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, bias=not bn), *norm(nn.BatchNorm2d, 16), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5, bias=not bn), *norm(nn.BatchNorm2d, 120), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84, bias=not bn), *norm(nn.BatchNorm1d, 84), nn.Tanh(), nn.Linear(84, 10),
    )


def plain_epoch(bn: bool, images: torch.Tensor, labels: torch.Tensor, seed: int) -> float:
    """Seconds for one epoch of the plain loop."""
    torch.manual_seed(seed)
    model = plain_lenet(bn)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    losses = []
    start = time.perf_counter()
    model.train()
    for i in range(0, len(order) - 1, 64):
        index = order[i:i + 64]
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return time.perf_counter() - start


def bnreview_epoch(config: TrainConfig) -> float:
    """Seconds of ``train()``'s one training epoch (its evaluations excluded, as History records it)."""
    return train(config, progress=False).epoch_seconds[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="training images per epoch (default 20,000)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per variant, interleaved")
    args = parser.parse_args()
    base = TrainConfig(lr=0.1, epochs=1, batch_size=64, n_train=args.n, device="cpu")
    images, labels = data_split(base, "train")
    variants = {
        "plain loop, no BN": lambda r: plain_epoch(False, images, labels, r),
        "bnreview, no BN": lambda r: bnreview_epoch(replace(base, seed=r)),
        "plain loop, torch BN": lambda r: plain_epoch(True, images, labels, r),
        "bnreview, our BN": lambda r: bnreview_epoch(replace(base, seed=r, bn=BN_LAYERS)),
        "bnreview, torch BN": lambda r: bnreview_epoch(replace(base, seed=r, bn=BN_LAYERS, bn_impl="torch")),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        times = {name: [] for name in variants}
        for r in range(args.repeats):
            for name, run in variants.items():
                times[name].append(run(r))
    finally:
        torch.set_num_threads(threads)
    print(f"LeNet, {args.n:,} images, batch 64, lr 0.1, {args.repeats} epochs each (interleaved), "
          f"torch {torch.__version__}, {TRAIN_THREADS} threads")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"  {name:22s} median {median:6.2f} s/epoch  (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    for ours, plain in (("bnreview, no BN", "plain loop, no BN"), ("bnreview, our BN", "plain loop, torch BN"),
                        ("bnreview, torch BN", "plain loop, torch BN")):
        ratio = medians[plain] / medians[ours]
        print(f"{ours} against {plain}: {ratio:.2f}x  (target >= {TARGET}x: {'PASS' if ratio >= TARGET else 'MISS'})")


if __name__ == "__main__":
    main()
