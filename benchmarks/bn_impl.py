"""Epoch time of LeNet + BN with our batch norm (``bnreview.batchnorm``) vs torch.nn's.

    python benchmarks/bn_impl.py [--n 10000] [--repeats 5] [--target 1.15]

Trains ``LeNet(bn="all", bn_impl=...)`` for one pass over synthetic data (random
(N, 1, 32, 32) images, random labels: the timing does not depend on what the digits
look like), SGD lr 0.1, batch 64, cross-entropy. The two implementations are timed in
the same process, alternating (ours, torch, ours, torch, ...) so that both see the same
machine load, and compared by their medians. Prints PASS or MISS against the target
ratio; always exits 0 (a slow shared machine is not a failure of the code).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bnreview.models import LeNet  # noqa: E402

IMPLS = ("ours", "torch")


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def epoch_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float) -> float:
    """Wall time of one training pass over (x, y) in mini-batches, in seconds."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[i : i + batch]), y[i : i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="training examples per epoch (default 10000)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation (default 5)")
    p.add_argument("--target", type=float, default=1.15, help="largest acceptable ours/torch ratio")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for this run")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    x, y = make_data(args.n)
    models = {}
    for impl in IMPLS:
        torch.manual_seed(0)  # same initial weights for both
        models[impl] = LeNet(bn="all", bn_impl=impl)

    # Warm-up: one short pass each (allocator, first-call overheads).
    for impl in IMPLS:
        epoch_seconds(models[impl], x[: 20 * args.batch], y[: 20 * args.batch], args.batch, args.lr)

    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for r in range(args.repeats):
        order = IMPLS if r % 2 == 0 else IMPLS[::-1]  # alternate who goes first
        for impl in order:
            times[impl].append(epoch_seconds(models[impl], x, y, args.batch, args.lr))

    med = {impl: statistics.median(t) for impl, t in times.items()}
    ratio = med["ours"] / med["torch"]
    print(
        f"LeNet(bn='all') one epoch: n={args.n}, batch={args.batch}, SGD lr={args.lr}, "
        f"{args.repeats} repeats interleaved, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for impl in IMPLS:
        runs = ", ".join(f"{t:.3f}" for t in times[impl])
        print(f"  bn_impl={impl!r:8} median {med[impl]:.3f} s   (runs: {runs})")
    verdict = "PASS" if ratio <= args.target else "MISS"
    print(f"  ratio ours/torch = {ratio:.3f}  (target <= {args.target:.2f}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
