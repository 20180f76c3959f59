"""Would ``torch.compile`` of LeNet pay for itself over a cold build? Its step time and its compile time.

Issue 18 asks to try ``torch.compile`` of the training step and to keep it only if it wins over a
whole cold build, compile time included. This script measures, on ``TRAIN_THREADS`` threads like
``train()``, bnreview's LeNet (without BN, and with our BN on all four layers) at batch 64 with plain
SGD, the loop ``train()`` runs (forward, cross-entropy, zero_grad, backward, step, ``loss.item()``):

- eager, as ``train()`` runs it today;
- ``torch.compile(model)`` (inductor, CPU): the first steps' time over the eager one is its
  compile time; then its steady step time.

Both take turns, ``--chunk`` steps at a time, so that a change in the machine's load hits both. It
prints each variant's median step time, the ratio, the compile time, and what the ratio would save
over the LeNet steps of a cold build (``python -m bnreview runs`` lists them), against one compile per
worker process and network. A compiled run rounds differently from an eager one, so adopting it
retrains every run: that is a decision for the next batch of training-path changes, not this script.

Run from the repository root, on an idle machine:  ``python benchmarks/compile_step.py [--chunk 200] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout


def step_loop(model, optimizer, images, labels, steps: int, start: int) -> float:
    """Seconds for ``steps`` SGD steps of ``train()``'s loop on batches of 64 taken in order from ``start``."""
    import torch.nn.functional as F

    began = time.perf_counter()
    for i in range(steps):
        j = (start + i) * 64 % (len(labels) - 64)
        x, y = images[j:j + 64], labels[j:j + 64]
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=200, help="steps per turn")
    parser.add_argument("--repeats", type=int, default=7, help="turns per variant")
    parser.add_argument("--build-steps", type=float, default=None,
                        help="LeNet steps of a cold build (default: counted from the registry)")
    args = parser.parse_args()

    import torch

    from bnreview.config import TrainConfig, data_split
    from bnreview.train import TRAIN_THREADS

    torch.set_num_threads(TRAIN_THREADS)
    images, labels = data_split(TrainConfig(lr=0.1, n_train=20_000, device="cpu"), "train")
    rows = {}
    for bn in ("none", "all"):
        variants = {}
        for name in ("eager", "compiled"):
            torch.manual_seed(0)
            model = TrainConfig(lr=0.1, bn=bn, device="cpu").build_model()
            variants[name] = (torch.compile(model) if name == "compiled" else model,
                              torch.optim.SGD(model.parameters(), lr=0.1))
        first = {}
        for name, (model, optimizer) in variants.items():  # the first steps: compilation (and warm-up) included
            first[name] = step_loop(model, optimizer, images, labels, 20, 0)
        times = {name: [] for name in variants}
        for turn in range(args.repeats):
            for name, (model, optimizer) in variants.items():
                times[name].append(step_loop(model, optimizer, images, labels, args.chunk, turn * args.chunk)
                                   / args.chunk)
        eager, compiled = (statistics.median(times[n]) for n in ("eager", "compiled"))
        compile_seconds = first["compiled"] - 20 * compiled - (first["eager"] - 20 * eager)
        rows[bn] = (eager, compiled, compile_seconds)
        print(f"BN {bn:4}: eager {1e3 * eager:.2f} ms/step, compiled {1e3 * compiled:.2f} ms/step "
              f"(x{eager / compiled:.2f}); compile time about {compile_seconds:.1f} s")

    build_steps = args.build_steps
    if build_steps is None:
        from bnreview import runs
        listed, _ = runs.registry()
        build_steps = sum(runs.features(r.config)[0] for r in listed if r.config.model == "lenet")
    for bn, (eager, compiled, compile_seconds) in rows.items():
        saved = (eager - compiled) * build_steps / 2  # two workers share the steps
        print(f"BN {bn:4}: over a cold build's {build_steps:,.0f} LeNet steps on 2 workers, compiling would save "
              f"about {saved / 60:.1f} minutes of wall time, against {compile_seconds:.0f} s per worker and network")


if __name__ == "__main__":
    main()
