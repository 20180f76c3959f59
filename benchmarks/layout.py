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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bnreview.models import LeNet  # noqa: E402
from bnreview.train import TRAIN_THREADS, keep_freed_memory  # noqa: E402

BATCH = 64


def stepper(bn, layout: torch.memory_format, images: torch.Tensor, labels: torch.Tensor):
    """A function training ``n`` steps of a fresh LeNet in ``layout`` on ``images`` (weights seeded alike)."""
    torch.manual_seed(0)
    model = LeNet(bn=bn).to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def run(n: int) -> float:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per round (default 100)")
    parser.add_argument("--repeats", type=int, default=12, help="rounds, alternating the layouts (default 12)")
    args = parser.parse_args()
    if args.steps < 10 or args.repeats < 1:
        parser.error("--steps must be at least 10 and --repeats at least 1")
    keep_freed_memory()  # as train() does
    torch.set_num_threads(TRAIN_THREADS)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.steps * BATCH, 1, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (args.steps * BATCH,), generator=generator)
    print(f"LeNet training step, batch {BATCH}, torch {torch.__version__}, {TRAIN_THREADS} threads, "
          f"{args.repeats} rounds of {args.steps} steps")
    for bn, name in (((), "no BN"), ("all", "our BN on all four layers")):
        runs = {layout: stepper(bn, layout, images, labels) for layout in (torch.contiguous_format, torch.channels_last)}
        times = {layout: [] for layout in runs}
        for _ in range(args.repeats):
            for layout, run in runs.items():
                times[layout].append(1e3 * run(args.steps) / args.steps)
        ratio = statistics.median(c / d for d, c in zip(times[torch.contiguous_format], times[torch.channels_last]))
        print(f"  {name:26s} contiguous {statistics.median(times[torch.contiguous_format]):5.2f} ms/step, "
              f"channels_last {statistics.median(times[torch.channels_last]):5.2f} ms/step: "
              f"channels_last / contiguous {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
