"""Seconds per training epoch: bnreview's ``train()`` against the plain eager loop a reader would write.

The plain loop is what a PyTorch tutorial teaches: the same LeNet as an ``nn.Sequential``
(tanh, average pooling; ``nn.BatchNorm2d``/``nn.BatchNorm1d`` before tanh when with BN), the
same in-memory MNIST tensors, ``torch.optim.SGD`` at lr 0.1, batch 64, and ``loss.item()`` each
step (a reader logs the loss). bnreview's side is ``train()`` itself (``History.epoch_seconds``:
training only, its evaluations excluded).

Each variant runs in a process of its own (``train()`` changes how its process allocates memory,
which must not help the plain loop), all on ``TRAIN_THREADS`` threads, taking turns one epoch at a
time, so that a change in the machine's load hits every variant alike. The script also prints how
far from the hardware the trainer is: the FLOPs of one training step of LeNet at batch 64 (the
multiply-adds of its convolutions and matrix products, counted from the layer shapes, forward and
backward), the GFLOP/s each variant achieves, and the machine's own float32 matrix-product rate.

Run from the repository root:  ``python benchmarks/trainer.py [--n 20000] [--repeats 5] [--json PATH]``
``--json`` also writes each variant's seconds per step (the medians) with the machine that measured
them: the ledger's "training-time" test reads ``benchmarks/results/trainer.json``
(:func:`bnreview.experiments.step_seconds`), measured on an idle machine.
Targets (issue 18): bnreview at least 1.5x the plain loop without BN, and with our BN at least
1.2x the plain loop with torch's BN. It prints the ratios measured in this run and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

TARGETS = {("bnreview, no BN", "plain loop, no BN"): 1.5, ("bnreview, our BN", "plain loop, torch BN"): 1.2}
VARIANTS = ("plain loop, no BN", "bnreview, no BN", "plain loop, torch BN", "bnreview, our BN", "bnreview, torch BN")
BATCH = 64
# LeNet's layers with weights: (name, multiply-adds per image forward, needs its input's gradient)
LENET_MACS = (("conv1", 6 * 28 * 28 * 1 * 25, False), ("conv2", 16 * 10 * 10 * 6 * 25, True),
              ("conv3", 120 * 16 * 25, True), ("fc1", 120 * 84, True), ("fc2", 84 * 10, True))


def step_flops(batch: int = BATCH) -> int:
    """FLOPs of one LeNet training step: 2 per multiply-add, forward once, backward once for the
    weights' gradient and once more for the input's (conv1's input needs none)."""
    return sum(2 * macs * batch * (2 + needs_input) for _, macs, needs_input in LENET_MACS)


def sgemm_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """The machine's float32 matrix-product rate on ``threads`` threads: best of ``repeats`` products."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def worker(variant: str, n: int, requests, replies) -> None:
    """One variant in its own process: answers each seed it is sent with the seconds of one epoch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from bnreview.config import TrainConfig, data_split
    from bnreview.models import BN_LAYERS
    from bnreview.train import TRAIN_THREADS, train

    torch.set_num_threads(TRAIN_THREADS)
    base = TrainConfig(lr=0.1, epochs=1, batch_size=BATCH, n_train=n, device="cpu")
    images, labels = data_split(base, "train")

    def plain_lenet(bn: bool) -> nn.Sequential:
        def norm(kind, width):
            return [kind(width)] if bn else []

        return nn.Sequential(
            nn.Conv2d(1, 6, 5, bias=not bn), *norm(nn.BatchNorm2d, 6), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5, bias=not bn), *norm(nn.BatchNorm2d, 16), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(16, 120, 5, bias=not bn), *norm(nn.BatchNorm2d, 120), nn.Tanh(), nn.Flatten(),
            nn.Linear(120, 84, bias=not bn), *norm(nn.BatchNorm1d, 84), nn.Tanh(), nn.Linear(84, 10),
        )

    def plain_epoch(bn: bool, seed: int) -> float:
        torch.manual_seed(seed)
        model = plain_lenet(bn)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        losses = []
        start = time.perf_counter()
        model.train()
        for i in range(0, len(order) - 1, BATCH):
            index = order[i:i + BATCH]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return time.perf_counter() - start

    runs = {
        "plain loop, no BN": lambda seed: plain_epoch(False, seed),
        "bnreview, no BN": lambda seed: train(replace(base, seed=seed), progress=False).epoch_seconds[0],
        "plain loop, torch BN": lambda seed: plain_epoch(True, seed),
        "bnreview, our BN": lambda seed: train(replace(base, seed=seed, bn=BN_LAYERS), progress=False).epoch_seconds[0],
        "bnreview, torch BN": lambda seed: train(replace(base, seed=seed, bn=BN_LAYERS, bn_impl="torch"),
                                                  progress=False).epoch_seconds[0],
    }
    replies.put("ready")
    for seed in iter(requests.get, None):
        replies.put(runs[variant](seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="training images per epoch (default 20,000)")
    parser.add_argument("--repeats", type=int, default=5, help="epochs timed per variant, interleaved (default 5)")
    parser.add_argument("--json", type=Path, help="also write each variant's seconds per step, with the machine, here")
    args = parser.parse_args()
    if args.n < BATCH or args.repeats < 1:
        parser.error(f"--n must be at least {BATCH} and --repeats at least 1")
    from bnreview.train import TRAIN_THREADS

    context = mp.get_context("spawn")
    workers = {}
    for variant in VARIANTS:
        requests, replies = context.Queue(), context.Queue()
        process = context.Process(target=worker, args=(variant, args.n, requests, replies), daemon=True)
        process.start()
        workers[variant] = (process, requests, replies)
    for _, _, replies in workers.values():
        replies.get()  # data loaded
    times = {variant: [] for variant in VARIANTS}
    for seed in range(args.repeats + 1):  # the first round warms each process up and is not counted
        for variant, (_, requests, replies) in workers.items():
            requests.put(seed)
            seconds = replies.get()
            if seed:
                times[variant].append(seconds)
    for process, requests, _ in workers.values():
        requests.put(None)
        process.join()

    import torch

    steps = -(-args.n // BATCH)
    flops = step_flops()
    print(f"LeNet, {args.n:,} images ({steps} steps of {BATCH}), lr 0.1, {args.repeats} epochs each "
          f"(interleaved, one process per variant), torch {torch.__version__}, {TRAIN_THREADS} threads")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        rate = flops * steps / median / 1e9
        print(f"  {name:22s} median {median:6.2f} s/epoch  {1e3 * median / steps:5.2f} ms/step  {rate:5.1f} GFLOP/s"
              f"  (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    for (ours, plain), target in TARGETS.items():
        ratio = statistics.median(p / o for p, o in zip(times[plain], times[ours]))  # paired by round
        print(f"{ours} against {plain}: {ratio:.2f}x  (target >= {target}x: {'PASS' if ratio >= target else 'MISS'})")
    ours_torch = statistics.median(o / t for o, t in zip(times["bnreview, our BN"], times["bnreview, torch BN"]))
    print(f"our BN / torch's BN, both inside bnreview's LeNet: {ours_torch:.3f} (target <= 1.05: "
          f"{'PASS' if ours_torch <= 1.05 else 'MISS'}; benchmarks/bn_impl.py measures it step by step)")
    if args.json:
        from dataclasses import asdict

        from bnreview.verify import Machine

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": asdict(Machine.here()), "threads": TRAIN_THREADS, "images": args.n, "batch": BATCH,
            "repeats": args.repeats, "seconds_per_step": {name: m / steps for name, m in medians.items()},
            "epoch_seconds": times}, indent=1) + "\n")
        print(f"seconds per step written to {args.json}")
    peak = sgemm_gflops(TRAIN_THREADS)
    best = max(flops * steps / m / 1e9 for m in medians.values())
    print(f"One training step: {flops / 1e6:.0f} MFLOP (multiply-adds of convolutions and matrix products, x2, "
          f"forward + backward). Machine: {peak:.0f} GFLOP/s float32 matrix product (1024x1024, "
          f"{TRAIN_THREADS} threads); the fastest variant reaches {best:.1f} GFLOP/s, {100 * best / peak:.0f}% of it.")


if __name__ == "__main__":
    main()
