import warnings

import pytest
import torch

from bnreview import cache, train as train_module
from bnreview.cache import cache_dir, cache_key, cached_train, entry_path, load_cached
from bnreview.train import TrainConfig

CONFIG = TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu")


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained although the run was cached")

    monkeypatch.setattr(cache, "train", fail)


def test_second_call_is_served_from_the_cache(monkeypatch):
    first = cached_train(CONFIG, progress=False)
    assert entry_path(CONFIG).is_file()
    forbid_training(monkeypatch)
    second = cached_train(CONFIG, progress=False)
    assert second == first
    for key, value in first.state_dict.items():
        assert torch.equal(second.state_dict[key], value)


def test_key_follows_config_data_and_code(monkeypatch, tmp_path):
    from conftest import write_mnist

    assert cache_key(CONFIG) == cache_key(TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu"))
    assert cache_key(CONFIG) != cache_key(TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu", seed=1))
    assert cache_key(CONFIG) != cache_key(TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu", bn="fc1"))
    key = cache_key(CONFIG)
    monkeypatch.setattr(cache, "code_version", lambda: "edited")
    assert cache_key(CONFIG) != key
    monkeypatch.undo()
    monkeypatch.setenv("BNREVIEW_DATA", str(write_mnist(tmp_path, n_train=100, n_test=20)))
    monkeypatch.setenv("BNREVIEW_CACHE", str(tmp_path / "cache"))
    assert cache_key(CONFIG) != key


def test_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BNREVIEW_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("BNREVIEW_CACHE")
    assert str(cache_dir()) == ".bnreview-cache"


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"not a torch file" * 10])
def test_corrupt_entry_is_reported_and_recomputed(damage):
    first = cached_train(CONFIG, progress=False)
    path = entry_path(CONFIG)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(UserWarning, match="unreadable"):
        again = cached_train(CONFIG, progress=False)
    assert again == first
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_cached(CONFIG) == first


def test_interrupted_run_leaves_nothing_behind():
    def interrupt(epoch, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_train(TrainConfig(lr=0.1, epochs=2, batch_size=64, device="cpu"), progress=False, callback=interrupt)
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_failed_write_leaves_no_partial_file(monkeypatch):
    def broken_save(obj, f):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(cache.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cached_train(CONFIG, progress=False)
    assert list(cache_dir().iterdir()) == []


def test_stopped_run_is_not_stored():
    import threading

    stop = threading.Event()
    stop.set()
    history = cached_train(CONFIG, progress=False, stop=stop)
    assert history.stopped and load_cached(CONFIG) is None


def test_notebook_key_follows_the_profile(monkeypatch):
    full = cache.notebook_key()
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert cache.notebook_key() != full
