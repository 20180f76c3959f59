"""Milliseconds per LeNet training step in PyTorch's default (contiguous) layout against channels_last.

    python benchmarks/layout.py [--steps 100] [--repeats 12]

bnreview trains every network contiguous (one layout, so BN's and no BN's timings compare);
this shows what channels_last would give instead: LeNet without BN and with our BN on all four
layers, random batches of 64, SGD, both layouts in one process taking turns (``--repeats``
rounds of ``--steps`` steps each), so that the machine's load hits both alike. Prints the median
time of each and the median of the per-round ratios channels_last / contiguous. Exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bnreview import models  # noqa: E402
from bnreview.cache import cpu_kind  # noqa: E402
from bnreview.train import TRAIN_THREADS, keep_freed_memory  # noqa: E402

BATCH = 64


def stepper(bn, images: torch.Tensor, labels: torch.Tensor, layout: torch.memory_format = torch.contiguous_format,
            first_conv=models.first_conv):
    """A function training ``n`` steps of a fresh LeNet in ``layout``, conv1's gradient by ``first_conv`` (weights seeded alike)."""
    torch.manual_seed(0)
    model = models.LeNet(bn=bn).to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def run(n: int) -> float:
        with mock.patch.object(models, "first_conv", first_conv):
            start = time.perf_counter()
            for i in range(n):
                x = images[i * BATCH:(i + 1) * BATCH].contiguous(memory_format=layout)
                loss = F.cross_entropy(model(x), labels[i * BATCH:(i + 1) * BATCH])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss.item()
            return time.perf_counter() - start

    run(10)  # warm-up: allocator, oneDNN's primitive caches
    return run


def compare(description: str, ways: dict[str, dict]) -> int:
    """Time LeNet's step each of two ``ways`` (``stepper``'s keyword arguments), taking turns; print both and their ratio."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=100, help="steps per round (default 100)")
    parser.add_argument("--repeats", type=int, default=12, help="rounds, the two ways taking turns (default 12)")
    args = parser.parse_args()
    if args.steps < 10 or args.repeats < 1:
        parser.error("--steps must be at least 10 and --repeats at least 1")
    keep_freed_memory()  # as train() does
    torch.set_num_threads(TRAIN_THREADS)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.steps * BATCH, 1, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (args.steps * BATCH,), generator=generator)
    print(f"LeNet training step, batch {BATCH}, torch {torch.__version__}, {cpu_kind()}, {TRAIN_THREADS} threads, "
          f"{args.repeats} rounds of {args.steps} steps")
    (first, first_way), (second, second_way) = ways.items()
    for bn, name in (((), "no BN"), ("all", "our BN on all four layers")):
        runs = [stepper(bn, images, labels, **way) for way in (first_way, second_way)]
        times = [[], []]
        for _ in range(args.repeats):
            for run, spent in zip(runs, times):
                spent.append(1e3 * run(args.steps) / args.steps)
        ratio = statistics.median(b / a for a, b in zip(*times))
        print(f"  {name:26s} {first} {statistics.median(times[0]):5.2f} ms/step, {second} "
              f"{statistics.median(times[1]):5.2f} ms/step: {second} / {first} {ratio:.3f}")
    return 0


def main() -> int:
    return compare(__doc__.split("\n")[0], {"contiguous": {}, "channels_last": {"layout": torch.channels_last}})


if __name__ == "__main__":
    sys.exit(main())
