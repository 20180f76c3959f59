import json
import os
import warnings

import pytest
import torch

from bnreview import cache
from bnreview.cache import cache_dir, cache_key, cached_train, entry_path, load_cached
from bnreview.config import TrainConfig

CONFIG = TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu")


def test_second_call_is_served_from_the_cache(forbid_training):
    first = cached_train(CONFIG, progress=False)
    assert entry_path(CONFIG).is_file()
    forbid_training()
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
    with monkeypatch.context() as edited:
        edited.setattr(cache, "code_version", lambda: "edited")
        assert cache_key(CONFIG) != key
    assert cache_key(CONFIG) == key
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

    history = cached_train(TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu", seed=1), progress=False)
    for leftover in cache_dir().iterdir():
        leftover.unlink()
    monkeypatch.setattr(cache.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.store(CONFIG, history)
    assert list(cache_dir().iterdir()) == []
    with pytest.warns(UserWarning, match="not cached: OSError: disk full"):  # cached_train keeps the run
        assert cached_train(CONFIG, progress=False).test_acc
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


# Issue 10: never a traceback for a user's mistake, nothing lost.


def test_a_cache_path_that_is_a_file_is_said_once_before_training_and_the_run_is_kept(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BNREVIEW_CACHE", str(blocker))
    said_before_training = []
    real = cache.train
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        monkeypatch.setattr(cache, "train", lambda *a, **k: said_before_training.append(len(seen)) or real(*a, **k))
        history = cached_train(CONFIG, progress=False)
    assert [str(w.message) for w in seen] == [
        f"bnreview cache {blocker} is not writable (it is a file, not a folder); runs will not be cached"]
    assert said_before_training == [1] and history.test_acc and history.state_dict
    with warnings.catch_warnings():  # said once: the next run is quiet and still returned
        warnings.simplefilter("error")
        assert cached_train(CONFIG, progress=False) == history
    assert blocker.read_text() == "not a folder"


def test_a_write_that_fails_after_training_keeps_the_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "atomic_write", refuse)
    with pytest.warns(UserWarning, match="not cached: PermissionError"):
        run = cache.cached_run(CONFIG, progress=False)
    assert run.history.test_acc and not run.hit and run.path is None
    assert load_cached(CONFIG) is None


def test_a_folder_where_the_entry_should_be_is_reported_and_recomputed():
    first = cached_train(CONFIG, progress=False)
    path = entry_path(CONFIG)
    path.unlink()
    path.mkdir()
    (path / "something").write_text("a user's file")
    with pytest.warns(UserWarning) as seen:
        again = cached_train(CONFIG, progress=False)
    messages = " | ".join(str(w.message) for w in seen)
    assert "unreadable" in messages and "could not remove" in messages and "not cached" in messages
    assert again == first and (path / "something").read_text() == "a user's file"


def test_a_corrupt_entry_in_a_read_only_cache_is_recomputed(monkeypatch):
    first = cached_train(CONFIG, progress=False)
    path = entry_path(CONFIG)
    path.write_bytes(b"garbled" * 10)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.Path, "unlink", read_only)
    monkeypatch.setattr(cache.tempfile, "mkstemp", read_only)
    with pytest.warns(UserWarning) as seen:
        again = cached_train(CONFIG, progress=False)
    messages = " | ".join(str(w.message) for w in seen)
    assert "unreadable" in messages and "could not remove" in messages and "not writable" in messages
    assert again == first


def test_an_entry_under_another_configurations_key_is_not_served():
    other = TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu", seed=1)
    first = cached_train(CONFIG, progress=False)
    entry_path(other).write_bytes(entry_path(CONFIG).read_bytes())  # copied under the other key
    with pytest.warns(UserWarning, match="does not hold the run"):
        assert load_cached(other) is None
    assert not entry_path(other).exists()
    entry_path(other).write_bytes(entry_path(CONFIG).read_bytes())
    with pytest.warns(UserWarning, match="does not hold the run"):
        retrained = cached_train(other, progress=False)
    assert retrained.config["seed"] == 1 and retrained != first
    assert load_cached(other) == retrained


def test_entries_hold_the_identity_they_are_keyed_on():
    cached_train(CONFIG, progress=False)
    entry = torch.load(entry_path(CONFIG), weights_only=True)
    assert entry["identity"] == cache.identity(CONFIG) and entry["identity"]["format"] == cache.FORMAT >= 2
    assert entry["identity"]["config"]["lr"] == 0.1


def test_entries_store_a_runs_lists_as_tensors_and_give_back_the_same_lists(forbid_training):
    first = cached_train(CONFIG, progress=False)
    stored = torch.load(entry_path(CONFIG), weights_only=True)["history"]
    assert stored["step_loss"].dtype == torch.float64 and stored["sample_indices"].dtype == torch.int64
    assert isinstance(stored["confusion"], list)  # nested lists stay lists
    forbid_training()
    again = load_cached(CONFIG)
    assert again == first and type(again.step_loss) is list and type(again.step_loss[0]) is float
    assert again.step_loss == first.step_loss and again.sample_indices == first.sample_indices


def test_an_entry_written_with_plain_lists_still_loads(forbid_training):
    first = cached_train(CONFIG, progress=False)
    entry = {"identity": cache.identity(CONFIG), "history": first.to_dict(), "state_dict": first.state_dict}
    torch.save(entry, entry_path(CONFIG))  # as entries were written before lists were stored as tensors
    forbid_training()
    assert load_cached(CONFIG) == first


def test_code_version_can_add_the_modules_that_derive_a_value(monkeypatch):
    from bnreview import experiments

    base = cache.code_version()
    with_experiments = cache.code_version(experiments)
    assert with_experiments != base
    assert cache_key(CONFIG, experiments) != cache_key(CONFIG)
    real = cache._source
    with monkeypatch.context() as edited:
        edited.setattr(cache, "_source", lambda m: real(m) + (b"# edited" if m is experiments else b""))
        cache.code_version.cache_clear()
        try:
            assert cache.code_version(experiments) != with_experiments and cache.code_version() == base
        finally:
            cache.code_version.cache_clear()


def test_code_version_ignores_docstrings_and_comments_but_not_code(tmp_path):
    import importlib.util

    def version_of(source: str) -> bytes:
        path = tmp_path / "edited_module.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("edited_module", path)
        return cache._source(importlib.util.module_from_spec(spec))

    base = version_of('"""Doc."""\n\ndef f(x):\n    """Square it."""\n    return x * x  # why\n')
    assert version_of('"""Other doc."""\n\n\ndef f(x):\n    """Another."""\n    # a new comment\n    return x * x\n') == base
    assert version_of('def f(x):\n    return x * x\n') == base
    assert version_of('def f(x):\n    return x * x + 0\n') != base
    assert version_of('def f(x):\n    return x ** 2\n') != base


def test_cached_json_survives_damage_and_an_unwritable_cache(monkeypatch, tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": 1.5}

    path = cache_dir() / "k.numbers.json"
    assert cache.cached_json(path, compute) == {"x": 1.5} and cache.cached_json(path, compute) == {"x": 1.5}
    assert len(calls) == 1
    path.write_text("{trunc")
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.cached_json(path, compute) == {"x": 1.5}
    path.unlink()
    path.mkdir()
    with pytest.warns(UserWarning) as seen:
        assert cache.cached_json(path, compute) == {"x": 1.5}
    assert "could not remove" in str(seen[0].message) and any("not cached" in str(w.message) for w in seen)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="not writable"):
        assert cache.cached_json(blocker / "k.numbers.json", compute) == {"x": 1.5}


def test_run_log_says_what_was_trained_and_what_was_read(monkeypatch, tmp_path):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("BNREVIEW_RUN_LOG", str(log))
    config = TrainConfig(lr=0.1, epochs=1, n_train=64, batch_size=32, device="cpu")
    cached_train(config, progress=False)
    cached_train(config, progress=False)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["hit"] for line in lines] == [False, True]
    assert all(line["run"] == config.describe() and line["pid"] == os.getpid() for line in lines)
    assert lines[0]["seconds"] > 0 and lines[1]["started"] >= lines[0]["started"]
    monkeypatch.delenv("BNREVIEW_RUN_LOG")
    cached_train(config, progress=False)  # unset: nothing written
    assert len(log.read_text().splitlines()) == 2
