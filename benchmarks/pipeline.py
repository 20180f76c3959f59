"""Seconds per epoch: bnreview's in-memory pipeline against the standard torchvision one.

Both train the same LeNet (no BN, SGD lr 0.1, batch 64) on the same MNIST images; only the
way batches are made differs:

* torchvision: ``datasets.MNIST`` + ``transforms`` (Pad, ToTensor, Normalize) + ``DataLoader``,
  i.e. one PIL image and three transforms per sample, collated per batch;
* bnreview: the whole set padded and normalised once, batches sliced from one tensor.

Run from the repository root:  ``python benchmarks/pipeline.py [--n 20000] [--repeats 3]``
Target: bnreview at least 2x faster. Prints the ratio measured in this run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from bnreview import data
from bnreview.models import LeNet

TARGET = 2.0


def epoch(model, optimizer, batches) -> float:
    start = time.perf_counter()
    model.train()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def load_only(batches) -> float:
    """Seconds to produce one epoch of batches, no training: the pipeline's own cost."""
    start = time.perf_counter()
    for x, y in batches:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="training images per epoch (default 20,000)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per pipeline, interleaved")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's); 1 is steadier on a busy machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    root = data.find_root()
    mean, std = data.train_stats(root)
    standard = datasets.MNIST(str(root), train=True, transform=transforms.Compose(
        [transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((mean,), (std,))]))
    subset = Subset(standard, range(args.n))
    images, labels = data.load_mnist(root)
    images, labels = images[: args.n], labels[: args.n]

    torch.manual_seed(0)
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    times = {"torchvision DataLoader": [], "bnreview in-memory": []}
    for r in range(args.repeats):
        g = torch.Generator().manual_seed(r)
        loader = DataLoader(subset, batch_size=args.batch_size, shuffle=True, generator=g)
        times["torchvision DataLoader"].append(epoch(model, optimizer, loader))
        times["bnreview in-memory"].append(epoch(model, optimizer, data.batches(images, labels, args.batch_size, g)))

    print(f"LeNet, {args.n:,} images, batch {args.batch_size}, {args.repeats} epochs each (interleaved), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"  {name:24s} median {median:6.2f} s/epoch  (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    ratio = medians["torchvision DataLoader"] / medians["bnreview in-memory"]
    print(f"training epoch speed-up: {ratio:.2f}x  (target >= {TARGET:.0f}x: {'PASS' if ratio >= TARGET else 'MISS'})")

    g = torch.Generator().manual_seed(0)
    standard_load = statistics.median(
        load_only(DataLoader(subset, batch_size=args.batch_size, shuffle=True, generator=g)) for _ in range(args.repeats))
    ours_load = statistics.median(
        load_only(data.batches(images, labels, args.batch_size, g)) for _ in range(args.repeats))
    print(f"making the batches alone: torchvision {standard_load:.3f} s, bnreview {ours_load:.4f} s per epoch "
          f"({standard_load / ours_load:.0f}x); the rest of an epoch is LeNet's own forward and backward passes")


if __name__ == "__main__":
    main()
