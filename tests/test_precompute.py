"""precompute on a real Dask LocalCluster of process workers, with tiny runs on the tiny data set."""

import os
import signal
import time

import pytest
import torch

from bnreview import cache, data, precompute as pre
from bnreview.cache import cache_key, load_cached
from bnreview.config import TrainConfig
from bnreview.runs import Run, expected_seconds
from bnreview.train import train

distributed = pytest.importorskip("distributed")

SMALL = dict(lr=0.1, epochs=1, n_train=128, batch_size=32, device="cpu")


def as_runs(configs):
    return [Run(c, cache_key(c), ("test",), False, expected_seconds(c)) for c in configs]


@pytest.fixture(scope="module")
def clusters(tiny_root):
    """A LocalCluster of 1 and one of 2 process workers; they read the tiny data (BNREVIEW_DATA at start),
    allowed although unofficial."""
    previous = {name: os.environ.get(name) for name in ("BNREVIEW_DATA", data.UNOFFICIAL_ENV)}
    os.environ["BNREVIEW_DATA"] = str(tiny_root)
    os.environ[data.UNOFFICIAL_ENV] = "1"
    made = {n: distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                        silence_logs=50) for n in (1, 2)}
    try:
        yield made
    finally:
        for cluster in made.values():
            cluster.close()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def same_run(a, b):
    assert a.step_loss == b.step_loss and a.test_acc == b.test_acc and a.probes == b.probes
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


@pytest.mark.parametrize("workers", [1, 2])
def test_histories_are_bit_identical_to_serial_training(clusters, workers):
    configs = [TrainConfig(**SMALL, seed=s, bn=bn, probe_every=2) for s in (0, 1) for bn in ((), "all")]
    with distributed.Client(clusters[workers]) as client:
        assert pre.train_all(client, as_runs(configs), show=False) == len(configs)
    for config in configs:
        same_run(load_cached(config), train(config, progress=False))


def test_a_worker_with_other_data_is_refused_by_name(clusters):
    config = TrainConfig(**SMALL)
    with distributed.Client(clusters[1]) as client:
        with pytest.raises(pre.DataMismatch, match=r"worker tcp://.* has other mnist data .*BNREVIEW_DATA"):
            client.submit(pre.train_on_worker, config.to_dict(), {"mnist": "0" * 16}, pure=False).result()
    assert load_cached(config) is None


def test_a_run_whose_worker_dies_is_finished_by_another(clusters):
    config = TrainConfig(**{**SMALL, "epochs": 40, "n_train": 448})  # long enough to be killed mid-run
    with distributed.Client(clusters[2]) as client:
        future = client.submit(pre.train_on_worker, config.to_dict(), pre.fingerprints([config]), pure=False)
        deadline = time.monotonic() + 60
        while not (busy := [w for w, tasks in client.processing().items() if tasks]) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # well into training
        pids = client.run(os.getpid)
        os.kill(pids[busy[0]], signal.SIGKILL)
        history, state, seconds = future.result(timeout=300)
    assert history["step_loss"] == train(config, progress=False).step_loss
    client_workers = distributed.Client(clusters[2])
    client_workers.wait_for_workers(2, timeout=60)  # the nanny restarted the killed one
    client_workers.close()


def test_precompute_trains_what_is_missing_once_and_ctrl_c_keeps_what_finished(monkeypatch, clusters):
    configs = [TrainConfig(**SMALL, seed=s) for s in range(3)]
    listing = lambda chapters: (as_runs([c for c in configs if load_cached(c) is None]) +  # noqa: E731
                                [Run(c, cache_key(c), ("test",), True, 1.0) for c in configs if load_cached(c)], [])
    monkeypatch.setattr(pre, "registry", listing)
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kwargs: clusters[2])
    monkeypatch.setattr(clusters[2], "close", lambda: None)  # shared with the other tests

    stored = []
    real_store = cache.store

    def store_then_interrupt(config, history):
        real_store(config, history)
        stored.append(config)
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "store", store_then_interrupt)
    report = pre.precompute(progress=False)
    assert report.stopped and len(stored) == 1 and load_cached(stored[0]) is not None

    monkeypatch.setattr(cache, "store", real_store)
    report = pre.precompute(progress=False)
    assert (report.trained, report.cached, report.stopped) == (2, 1, False)
    assert all(load_cached(c) is not None for c in configs)

    def no_cluster(**kwargs):
        raise AssertionError("a cluster was started with nothing to train")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    report = pre.precompute(progress=False)
    assert (report.trained, report.cached) == (0, 3)


def test_a_pending_stage_has_the_runs_it_waits_for_trained_first(monkeypatch):
    from bnreview.runs import Pending

    pilot, other = TrainConfig(**SMALL, seed=7), TrainConfig(**{**SMALL, "epochs": 3})
    stage = Pending("the chosen runs", "the pilot", (pilot,))
    monkeypatch.setattr(pre, "registry", lambda chapters: (as_runs([other, pilot]), [("paper_mnist", stage)]))
    first, cached = pre._missing(None)
    assert [r.config for r in first] == [pilot] and cached == 0
    monkeypatch.setattr(pre, "registry", lambda chapters: (as_runs([other, pilot]), []))
    assert [r.config for r in pre._missing(None)[0]] == [other, pilot]  # longest first


def test_precompute_command_trains_a_chapter_and_runs_lists_it_cached(monkeypatch, capsys):
    from bnreview.cli import main

    # quick: the pilot's 8 runs of 500 images, 3 epochs (4 variants at 2 rates; the workers inherit the profile),
    # then the 4 variants at their chosen rates, which are pilot runs; the 4 decay runs and the L2 pilot's 2 new
    # runs; the L2 grid's runs are the L2 pilot's (seed 0 only): 14 in all
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert main(["precompute", "--chapter", "regularisation", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "precompute on a local cluster of 1 worker process\n" in out
    assert "14 runs trained and cached, 0 were cached already" in out
    assert main(["runs", "--chapter", "regularisation"]) == 0
    assert "14 runs: 14 cached, 0 missing" in capsys.readouterr().out
    assert main(["precompute", "--chapter", "regularisation"]) == 0
    assert "0 runs trained and cached, 14 were cached already" in capsys.readouterr().out
