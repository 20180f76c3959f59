"""Train every missing run of the registry in parallel, on Dask: ``python -m bnreview precompute``.

By default a Dask ``LocalCluster`` of process workers, as many as the cores allow at the
trainer's pinned thread count (``cores // TRAIN_THREADS``), so every run trains exactly as it
would in a notebook: same config, same numbers. ``scheduler="tcp://host:8786"`` submits to an
existing cluster instead (a ``dask scheduler`` with ``dask worker``s, or one started by
dask-jobqueue on Slurm or dask-kubernetes), whose workers must have bnreview installed and the
data under their own ``BNREVIEW_DATA``.

Each worker trains one run at a time and sends its History (with the weights) back; this process
alone writes the cache (atomically, as ever). Before training, a worker compares the fingerprint
of its data with ours and refuses to train on other data, naming itself. The longest runs go
first. A run whose worker dies is given to another by Dask; Ctrl-C stops at once, and every run
finished before it stays cached. The paper's MLP runs that its pilot decides are listed once the
pilot is trained, so precompute trains in waves until nothing is missing or pending.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from bnreview import cache, data
from bnreview.config import TrainConfig
from bnreview.runs import Run, registry
from bnreview.train import PROGRESS_ENV, TRAIN_THREADS, History, train


class DataMismatch(ValueError):
    """A worker's data is not the data the client's cache keys were computed from."""


def default_workers() -> int:
    """Worker processes for this machine: its cores over the trainer's threads, at least one."""
    return max(1, (os.cpu_count() or 1) // TRAIN_THREADS)


def fingerprints(configs: Iterable[TrainConfig]) -> dict[str, str]:
    """The data sets these runs train on, each with its fingerprint here."""
    return {name: data.fingerprint(dataset=name) for name in sorted({c.dataset for c in configs})}


def train_on_worker(config: dict, expected: dict[str, str]) -> tuple[dict, dict, float]:
    """Runs on a Dask worker: check its data, train ``config``; the History, its weights and the seconds it took."""
    try:
        from distributed import get_worker

        where = get_worker().address
    except (ImportError, ValueError):
        where = f"process {os.getpid()}"
    config = TrainConfig.from_dict(config)
    try:
        found = data.fingerprint(dataset=config.dataset)
    except data.DataNotFoundError as exc:
        raise DataMismatch(f"worker {where} has no {config.dataset} data: {' '.join(str(exc).split())}") from None
    if found != expected[config.dataset]:
        raise DataMismatch(f"worker {where} has other {config.dataset} data (fingerprint {found}, expected "
                           f"{expected[config.dataset]}): point its BNREVIEW_DATA at the same files")
    started = time.perf_counter()
    history = train(config, progress=False)
    return history.to_dict(), history.state_dict, time.perf_counter() - started


@dataclass
class Report:
    """What a precompute did: runs trained (and stored), runs already cached, seconds, whether it was stopped."""

    trained: int = 0
    cached: int = 0
    seconds: float = 0.0
    stopped: bool = False


def _missing(chapters: Sequence[str] | None) -> tuple[list[Run], int]:
    """What to train next, longest first, and how many runs are cached. While a stage is pending (the
    paper's MLP runs wait for their pilot), only the runs it waits for: then the registry is listed again."""
    listed, pending = registry(chapters)
    missing = sorted((r for r in listed if not r.cached), key=lambda r: -r.seconds)
    gating = {cache.cache_key(config) for _, stage in pending for config in stage.needs}
    first = [r for r in missing if r.key in gating]
    return first or missing, len(listed) - len(missing)


def precompute(chapters: Sequence[str] | None = None, workers: int | None = None, scheduler: str | None = None,
               progress: bool = True) -> Report:
    """Train every missing run of ``chapters`` (default: the whole book); see the module's docstring."""
    from distributed import Client, LocalCluster

    report, started = Report(), time.perf_counter()
    missing, report.cached = _missing(chapters)
    if not missing:
        report.seconds = time.perf_counter() - started
        return report
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
    client = Client(cluster if cluster is not None else scheduler)
    show = progress and os.environ.get(PROGRESS_ENV, "1") != "0"
    try:
        while missing:
            report.trained += train_all(client, missing, show)
            before = {r.key for r in missing}
            missing, _ = _missing(chapters)  # a pilot trained: the runs it chooses are listed now
            if {r.key for r in missing} & before:
                raise RuntimeError(f"{len(missing)} runs were trained but are not in the cache {cache.cache_dir()}")
    except KeyboardInterrupt:
        report.stopped = True
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    report.seconds = time.perf_counter() - started
    return report


def train_all(client, runs: list[Run], show: bool = True) -> int:
    """Submit ``runs`` (longest first) to ``client``'s cluster and store each History as it arrives; how many."""
    from distributed import as_completed

    expected = fingerprints(r.config for r in runs)
    futures = {client.submit(train_on_worker, r.config.to_dict(), expected, key=f"train-{r.key}", pure=False): r
               for r in runs}
    estimate = sum(r.seconds for r in runs)
    done_estimate, done_seconds, start, stored = 0.0, 0.0, time.perf_counter(), 0
    bar = tqdm(total=len(runs), disable=not show, desc="precompute", unit="run")
    try:
        for future in as_completed(futures):
            run = futures[future]
            history_dict, state_dict, seconds = future.result()  # a worker's error (DataMismatch) is raised here
            history = History.from_dict(history_dict, state_dict)
            cache.store(run.config, history)
            cache.log_run(run.config, False, time.time() - seconds, worker=True)
            stored += 1
            done_estimate += run.seconds
            done_seconds = time.perf_counter() - start
            left = (estimate - done_estimate) * done_seconds / done_estimate if done_estimate else float("nan")
            bar.update()
            bar.set_postfix_str(f"about {left / 60:.0f} min left")
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()
    return stored
