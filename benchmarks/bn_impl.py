"""Epoch time of LeNet + BN with our batch norm (``bnreview.batchnorm``) vs torch.nn's.

    python benchmarks/bn_impl.py [--n 10000] [--repeats 5] [--block 8] [--threads T] [--target 1.05]

Trains ``LeNet(bn="all", bn_impl=...)`` (BN on conv1, conv2, conv3 and fc1) for full
passes over synthetic data: random (N, 1, 32, 32) images and random labels (the time
of a step does not depend on what the pixels show), SGD lr 0.1, batch 64,
cross-entropy. Both implementations start from the same weights.

Timing on a shared machine: the two models train side by side in the same process,
taking turns every ``--block`` mini-batches (ours, torch, torch, ours, ...), and each
one's epoch time is the sum of its blocks. Both therefore see the same machine load
at nearly the same moments; a burst of load from another process lands on both.
Each repeat is one full epoch of each; the script reports the medians over repeats,
their ratio, and PASS or MISS against ``--target``. It always exits 0: a slow or busy
machine is not a failure of the code.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bnreview.models import LeNet  # noqa: E402
from bnreview.train import TRAIN_THREADS, keep_freed_memory  # noqa: E402

IMPLS = ("ours", "torch")


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


class Trainer:
    """One model + optimizer; ``run(x, y)`` trains on the batches of (x, y) and returns seconds."""

    def __init__(self, impl: str, lr: float, batch: int):
        torch.manual_seed(0)  # same initial weights for both implementations
        self.model = LeNet(bn="all", bn_impl=impl).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.batch = batch

    def run(self, x: torch.Tensor, y: torch.Tensor) -> float:
        start = time.perf_counter()
        for i in range(0, len(x), self.batch):
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(x[i : i + self.batch]), y[i : i + self.batch])
            loss.backward()
            self.opt.step()
        return time.perf_counter() - start


def interleaved_epoch(trainers: dict[str, Trainer], x, y, batch: int, block: int, flip: bool) -> dict[str, float]:
    """One full pass over (x, y) for each trainer, alternating blocks of ``block`` batches."""
    totals = dict.fromkeys(trainers, 0.0)
    step = block * batch
    for k, i in enumerate(range(0, len(x), step)):
        order = list(trainers)
        if (k % 2 == 1) != flip:  # ABBA order: neither always goes first
            order.reverse()
        for impl in order:
            totals[impl] += trainers[impl].run(x[i : i + step], y[i : i + step])
    return totals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="training examples per epoch (default 10000)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation (default 5)")
    p.add_argument("--block", type=int, default=8, help="mini-batches per turn when interleaving (default 8)")
    p.add_argument("--target", type=float, default=1.05, help="largest acceptable ours/torch ratio (issue 18: 1.05)")
    p.add_argument("--threads", type=int, default=TRAIN_THREADS, help=f"torch.set_num_threads (default {TRAIN_THREADS}, as train())")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train() does: no fresh pages for each step's activations

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # before we add to it
    x, y = make_data(args.n)
    trainers = {impl: Trainer(impl, args.lr, args.batch) for impl in IMPLS}

    warm = 20 * args.batch  # first calls: allocator, oneDNN primitive caches
    interleaved_epoch(trainers, x[:warm], y[:warm], args.batch, args.block, flip=False)

    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for r in range(args.repeats):
        for impl, t in interleaved_epoch(trainers, x, y, args.batch, args.block, flip=r % 2 == 1).items():
            times[impl].append(t)

    med = {impl: statistics.median(t) for impl, t in times.items()}
    ratio = med["ours"] / med["torch"]
    paired = statistics.median(o / t for o, t in zip(times["ours"], times["torch"]))
    steps = -(-args.n // args.batch)
    print(
        f"LeNet(bn='all') training epoch: {args.n} synthetic 1x32x32 images ({steps} steps of {args.batch}), "
        f"SGD lr={args.lr}, cross-entropy"
    )
    cpus = os.cpu_count() or 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, {cpus} CPUs, "
        f"load average {load:.1f} at start; {args.repeats} repeats, interleaved every {args.block} steps"
    )
    for impl in IMPLS:
        runs = ", ".join(f"{t:.3f}" for t in times[impl])
        per_step = 1e3 * med[impl] / steps
        print(f"  bn_impl={impl!r:8} median {med[impl]:.3f} s/epoch  ({per_step:.2f} ms/step; runs: {runs})")
    verdict = "PASS" if ratio <= args.target else "MISS"
    print(
        f"  ratio ours/torch = {ratio:.3f} (median of per-repeat ratios {paired:.3f}); "
        f"target <= {args.target:.2f}: {verdict}"
    )
    if load > 0.5 * cpus and torch.get_num_threads() > 1:
        print(
            "  note: other processes were using the CPUs. Intra-op threads then wait for each other "
            "and step times swing by 10x; trust a quiet machine, or compare with --threads 1."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
