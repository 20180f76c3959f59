"""Where a run's time goes: training steps, evaluations, probes, data batches, set-up, Python's share.

    python benchmarks/epoch_profile.py [--n 55000] [--run-log _build/runs.jsonl]

Trains the book's two kinds of run, each with and without BN (our BN on all four layers), lr 0.9:

* ``sweep``: the learning-rate sweep's run (``experiments.sweep_config``): one epoch over the
  55,000 images left after holding out 5,000, test accuracy every 100 steps, probes every 50;
* ``review``: one epoch of the review's setting (``config.review_config``): probes every 50,
  test accuracy once at the end.

``train()`` is timed from outside: its ``evaluate``, ``probe`` and ``batches`` are wrapped with
timers, training steps are the epoch's time less probes and batches (``History.epoch_seconds``
already leaves evaluations out), and set-up is what is left (building the network, the data split).
The fixed cost of a step (Python, dispatch, autograd, the optimiser: what does not grow with the
batch) is estimated by timing steps on batches of 2 images against batches of 64.

With ``--run-log`` (the ``_build/runs.jsonl`` a ``make book`` writes), it also prints the whole
book's share of training time outside training steps and probes: every run that build trained, its
``epoch_seconds`` (from the run cache, found by the log's cache key) against its total seconds (from
the log). A run's probes fall inside its ``epoch_seconds``, so this share is evaluation and set-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bnreview import train as train_module  # noqa: E402
from bnreview.cache import cache_dir, read_entry  # noqa: E402
from bnreview.config import TrainConfig, review_config  # noqa: E402
from bnreview.experiments import sweep_config  # noqa: E402
from bnreview.models import BN_LAYERS  # noqa: E402

TARGET_SHARE = 0.15  # evaluation and probes together: at most this share of a run (issue 18)


class Timers:
    """Seconds spent in ``evaluate``, ``probe`` and fetching ``batches`` while ``train()`` runs."""

    def __init__(self):
        self.seconds = {"evaluation": 0.0, "probes": 0.0, "batches": 0.0}

    def timed(self, name: str, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return wrapper

    def timed_batches(self, function):
        def generator(*args, **kwargs):
            iterator = function(*args, **kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.seconds["batches"] += time.perf_counter() - start
                yield item
        return generator


def profile_run(config: TrainConfig) -> dict[str, float]:
    """Seconds of each part of one ``train(config)``."""
    timers = Timers()
    originals = {name: getattr(train_module, name) for name in ("evaluate", "probe", "batches")}
    train_module.evaluate = timers.timed("evaluation", originals["evaluate"])
    train_module.probe = timers.timed("probes", originals["probe"])
    train_module.batches = timers.timed_batches(originals["batches"])
    try:
        start = time.perf_counter()
        history = train_module.train(config, progress=False)
        total = time.perf_counter() - start
    finally:
        for name, function in originals.items():
            setattr(train_module, name, function)
    parts = dict(timers.seconds)
    parts["training steps"] = sum(history.epoch_seconds) - parts["probes"] - parts["batches"]
    parts["set-up"] = total - sum(parts.values())
    parts["total"] = total
    parts["steps"] = len(history.step_loss)
    return parts


def fixed_step_cost(bn, steps: int = 100) -> tuple[float, float]:
    """Milliseconds per step of LeNet on batches of 2 and of 64 images (random data, SGD)."""
    config = TrainConfig(lr=0.1, bn=bn)
    times = []
    threads = torch.get_num_threads()
    torch.set_num_threads(train_module.TRAIN_THREADS)
    try:
        for batch in (2, 64):
            torch.manual_seed(0)
            model = config.build_model()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(batch, 1, 32, 32), torch.randint(0, 10, (batch,))
            best = float("inf")
            for repeat in range(4):
                start = time.perf_counter()
                for _ in range(steps):
                    loss = F.cross_entropy(model(x), y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss.item()
                if repeat:  # the first pass warms up
                    best = min(best, (time.perf_counter() - start) / steps * 1e3)
            times.append(best)
    finally:
        torch.set_num_threads(threads)
    return times[0], times[1]


def book_share(run_log: Path) -> str:
    """The book's time outside training steps and probes, over every run the build that wrote ``run_log`` trained
    (matched by cache key: the log's ``key``)."""
    trained = {}  # cache key -> seconds the run took, as the log says
    for line in run_log.read_text().splitlines():
        entry = json.loads(line)
        if not entry["hit"]:
            trained[entry["key"]] = trained.get(entry["key"], 0.0) + entry["seconds"]
    steps = sum(sum(read_entry(cache_dir() / f"{key}.pt")[1].epoch_seconds) for key in trained)
    total = sum(trained.values())
    if not total:
        return f"{run_log}: the build trained no run (its runs came from the cache)"
    # epoch_seconds counts the probes (they run between steps) and leaves evaluations out
    return (f"The book's {len(trained)} trained runs: {total / 60:.1f} minutes, of which training steps and probes "
            f"{steps / 60:.1f} ({100 * steps / total:.0f}%); evaluation and set-up {100 * (1 - steps / total):.0f}% "
            f"(target <= {100 * TARGET_SHARE:.0f}% for evaluation and probes together)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None, help="training images (default: the runs' own)")
    parser.add_argument("--run-log", type=Path, default=None, help="a build's runs.jsonl, for the book's share")
    args = parser.parse_args()
    kinds = {"sweep": lambda bn: sweep_config(0.9, bn), "review": lambda bn: replace(review_config(bn=bn), epochs=1)}
    print(f"torch {torch.__version__}, {train_module.TRAIN_THREADS} threads; seconds (share of the run)")
    order = ("training steps", "evaluation", "probes", "batches", "set-up")
    for kind, make in kinds.items():
        for bn in ((), BN_LAYERS):
            config = make(bn)
            if args.n is not None:
                config = replace(config, n_train=args.n)
            parts = profile_run(config)
            total = parts["total"]
            shares = "  ".join(f"{name} {parts[name]:.1f} ({100 * parts[name] / total:.0f}%)" for name in order)
            side = (parts["evaluation"] + parts["probes"]) / total
            print(f"{kind:6s} {'BN' if bn else 'no BN':5s} {parts['steps']} steps, {total:.1f} s: {shares}; "
                  f"evaluation + probes {100 * side:.0f}% ({'PASS' if side <= TARGET_SHARE else 'MISS'} "
                  f"<= {100 * TARGET_SHARE:.0f}%)")
    for bn in ((), BN_LAYERS):
        small, full = fixed_step_cost(bn)
        print(f"fixed cost of a step, {'BN' if bn else 'no BN':5s}: {small:.2f} ms on 2 images against {full:.2f} ms "
              f"on 64: about {100 * small / full:.0f}% of a step is Python, dispatch, autograd and the optimiser")
    if args.run_log is not None:
        print(book_share(args.run_log))


if __name__ == "__main__":
    main()
