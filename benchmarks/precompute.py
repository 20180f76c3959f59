"""What Dask costs, and what more workers would give: serial ``train()`` against precompute on 1 worker,
and the makespan of the whole registry on 8, 16 and 64 workers.

    python benchmarks/precompute.py [--runs 6] [--run-log _build/runs.jsonl]

1. **Overhead.** ``--runs`` of the learning-rate sweep's runs on the quick profile's 2,000 images
   (lr 0.1 .. 0.9, with and without BN): trained one after another by ``train()`` in this
   process, then by ``precompute`` on a one-worker ``LocalCluster`` (its start, the transfer of
   every History and weights, and the client's writes included), each into an empty cache of its
   own, alternating which goes first. The difference is the engine's overhead; the target is under
   5% of a cold build, whose training minutes come from ``--run-log`` (or the registry's estimate).
2. **Makespan.** Every run of the registry with its cost: measured (the seconds the cold build's
   run log gives it), else estimated (``runs.expected_seconds``). As ``precompute`` does it: the
   paper-MLP pilot's runs first (what they choose is listed only then), then every other run,
   longest first, each to the first free worker. Printed for 1, 2, 8, 16 and 64 workers: a
   simulation from measured costs, not a run on 64 cores.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bnreview import cache, runs  # noqa: E402
from bnreview import experiments as ex  # noqa: E402
from bnreview.experiments import sweep_config  # noqa: E402
from bnreview.models import BN_LAYERS  # noqa: E402
from bnreview.train import train  # noqa: E402

TARGET = 0.05  # the engine's overhead, as a share of a cold build


def overhead_configs(n: int):
    """``n`` small sweep runs: 2,000 images, one epoch, with and without BN at a few rates."""
    lrs = (0.1, 0.3, 0.9, 0.03, 3.0, 0.01)
    return [sweep_config(lrs[i // 2 % len(lrs)], BN_LAYERS if i % 2 else (), n_train=2000, seed=i // 12)
            for i in range(n)]


def serial_seconds(configs) -> float:
    start = time.perf_counter()
    for config in configs:
        history = train(config, progress=False)
        cache.store(config, history)
    return time.perf_counter() - start


def dask_seconds(configs) -> float:
    from distributed import Client, LocalCluster

    from bnreview.precompute import train_all

    start = time.perf_counter()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        train_all(client, [runs.Run(c, cache.cache_key(c), ("benchmark",), False, runs.expected_seconds(c))
                           for c in configs], show=False)
    return time.perf_counter() - start


def makespan(costs: list[float], workers: int, waiting: list[float] = ()) -> float:
    """Longest first to the first free worker; ``waiting`` runs start once the first ``costs`` are done."""
    free = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + cost)
    if not waiting:
        return max(free)
    ready = max(free)  # the pilot's choice is known when the first wave is done
    free = [ready] * workers
    for cost in sorted(waiting, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="runs in the overhead comparison (default 6)")
    parser.add_argument("--run-log", type=Path, default=None, help="a cold build's runs.jsonl (measured costs)")
    args = parser.parse_args()
    measured = {}
    if args.run_log is not None:
        for line in args.run_log.read_text().splitlines():
            entry = json.loads(line)
            if not entry["hit"]:
                measured[entry.get("key") or entry["run"]] = entry["seconds"]  # older logs name runs only
    listed, pending = runs.registry()
    gating = {cache.cache_key(c) for _, stage in pending for c in stage.needs}
    if not pending:  # the pilot is trained: its runs still go first, in a wave of their own
        gating = {cache.cache_key(c) for configs in ex.pilot_plan().values() for c in configs}
    cost = {r.key: measured.get(r.key, measured.get(r.config.describe(), r.seconds)) for r in listed}
    timed = sum(r.key in measured or r.config.describe() in measured for r in listed)
    first = [cost[r.key] for r in listed if r.key in gating]
    rest = [cost[r.key] for r in listed if r.key not in gating]
    costs = first + rest
    build = sum(costs)

    configs = overhead_configs(args.runs)
    times = {"serial": [], "dask": []}
    for order in (("serial", "dask"), ("dask", "serial")):
        for name in order:
            with tempfile.TemporaryDirectory() as folder:
                os.environ[cache.CACHE_ENV] = folder
                times[name].append(serial_seconds(configs) if name == "serial" else dask_seconds(configs))
    serial, dask = (min(times[k]) for k in ("serial", "dask"))
    print(f"{len(configs)} runs of 2,000 images: serial train() {serial:.1f} s, precompute on 1 worker {dask:.1f} s "
          f"(best of 2 each, alternating): overhead {dask - serial:+.1f} s")
    share = (dask - serial) / build
    print(f"  against a cold build's {build / 60:.0f} training minutes ({timed} runs measured, "
          f"{len(listed) - timed} estimated): {100 * share:.2f}% (target < {100 * TARGET:.0f}%: "
          f"{'PASS' if share < TARGET else 'MISS'})")
    print(f"Makespan of the registry ({len(listed)} runs, longest first, the {len(first)} pilot runs in a first wave"
          f"{'; the runs the pilot chooses are not listed yet: run precompute, then this again' if pending else ''}):")
    for workers in (1, 2, 8, 16, 64):
        span = makespan(first, workers, rest)
        print(f"  {workers:3d} workers: {span / 60:6.1f} min  (longest run {max(costs) / 60:.1f} min; "
              f"{100 * build / workers / span:.0f}% of the workers' time busy)")


if __name__ == "__main__":
    main()
