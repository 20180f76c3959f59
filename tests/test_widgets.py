"""RetrainPanel driven headless: set the controls, click the buttons, wait, read what the panel shows.

Runs use the tiny MNIST of conftest.py (512 training images) and an isolated cache; the
training-set sizes offered are shrunk to fit it (``n_train_options``).
"""

import html
import threading
import time

import pytest

from bnreview import cache
from bnreview.cache import cached_train, load_cached
from bnreview.models import BN_LAYERS
from bnreview.config import TrainConfig
from bnreview.widgets import LIVE_ONLY_MESSAGE, WIDGET_VIEW, RetrainPanel

START = TrainConfig(lr=0.1, epochs=1, n_train=128, device="cpu")
SIZES = (128, 256, 512)
WAIT = 60  # seconds; a run here takes well under one, the shared test machine may be slow


def panel(**kwargs) -> RetrainPanel:
    kwargs.setdefault("config", START)
    kwargs.setdefault("n_train_options", SIZES)
    kwargs.setdefault("draw", False)
    return RetrainPanel(**kwargs)


def run(p: RetrainPanel, click: bool = True):
    if click:
        p.train_button.click()
    assert p.wait(WAIT), "the run did not finish"
    return p.last_history


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained although the run was cached")

    monkeypatch.setattr(cache, "train", fail)


def gate_training(monkeypatch):
    """Make every training run wait for the returned Event before it starts; count the runs."""
    real, gate, calls = cache.train, threading.Event(), []

    def gated(*args, **kwargs):
        calls.append(args)
        assert gate.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "train", gated)
    return gate, calls


def test_controls_are_named_attributes_with_the_specified_ranges():
    p = RetrainPanel(config=START)  # default training-set sizes
    assert p.lr.min == pytest.approx(-3) and p.lr.max == pytest.approx(1) and p.lr.base == 10  # 1e-3 .. 10
    assert set(p.bn_layers) == set(BN_LAYERS)
    assert {"before", "after"} == {v for _, v in p.bn_position.options}
    assert {"ours", "torch"} == {v for _, v in p.bn_impl.options}
    sizes = [v for _, v in p.n_train.options]
    assert 2_000 in sizes and 60_000 in sizes and 128 in sizes  # the initial config's size is offered too
    assert p.epochs.value == 1 and p.seed.value == 0 and p.n_train.value == 128
    assert not p.train_button.disabled and p.stop_button.disabled
    assert p.read_config() == START
    counted = RetrainPanel(config=TrainConfig(lr=0.1, steps=5, n_train=128, device="cpu"), n_train_options=SIZES)
    assert counted.read_config().steps is None  # the epochs control decides the length


def test_the_whole_training_set_is_n_train_none():
    p = panel(n_train_options=(128, 60_000))
    p.n_train.value = 60_000
    assert p.read_config().n_train is None


def test_mime_bundle_has_the_widget_view_and_a_static_fallback():
    bundle = panel()._repr_mimebundle_()
    assert "model_id" in bundle[WIDGET_VIEW]
    assert bundle["text/plain"] == LIVE_ONLY_MESSAGE
    assert "Live retraining needs a running Jupyter kernel" in bundle["text/html"]
    assert "launch" not in LIVE_ONLY_MESSAGE  # the build has no launch buttons while repository.url is empty
    assert "<code>.venv/bin/jupyter lab chapters/</code>" in bundle["text/html"]


def test_bn_settings_are_disabled_without_a_bn_layer():
    p = panel()
    assert p.selected_layers() == ()
    assert p.bn_position.disabled and p.bn_impl.disabled
    p.bn_layers["fc1"].value = True
    assert not p.bn_position.disabled and not p.bn_impl.disabled
    p.bn_position.value = "after"
    p.bn_impl.value = "torch"
    config = p.read_config()
    assert (config.bn, config.bn_position, config.bn_impl) == (("fc1",), "after", "torch")
    p.bn_layers["fc1"].value = False
    assert p.bn_position.disabled and p.bn_impl.disabled


def test_train_runs_in_the_background_and_shows_the_run():
    p = panel(draw=True)
    p.lr.value = 0.5
    p.bn_layers["conv1"].value = True
    history = run(p)
    assert p.status == "finished" and p.last_source == "trained"
    assert history.config["lr"] == 0.5 and history.config["bn"] == ["conv1"] and history.config["n_train"] == 128
    assert len(history.test_acc) == 1 and not history.stopped and not history.diverged
    assert p.progress.value == p.progress.max == 2  # 128 images, batches of 64
    assert p.plot.value[:4] == b"\x89PNG"
    assert "Finished" in p.message_text and f"{100 * history.final_test_acc:.2f}%" in p.message_text
    assert not p.train_button.disabled and p.stop_button.disabled
    assert load_cached(p.last_config) is not None  # stored for next time


def test_an_identical_second_click_comes_from_the_cache_without_training(monkeypatch):
    p = panel(draw=True)
    first = run(p)
    forbid_training(monkeypatch)  # how fast a cache hit is belongs to benchmarks/retrain_latency.py, not here
    second = run(p)
    assert p.status == "cached" and p.last_source == "cache", p.message_text
    assert second.test_acc == first.test_acc and second.step_loss == first.step_loss
    assert "From the cache" in p.message_text


def test_a_run_made_elsewhere_is_found_in_the_cache(monkeypatch):
    baseline = cached_train(TrainConfig(lr=0.2, epochs=1, n_train=256, device="cpu", bn="all", eval_every=2),
                            progress=False)  # fields without a control (eval_every) come from the baseline
    forbid_training(monkeypatch)
    p = RetrainPanel(baseline=baseline, n_train_options=SIZES)  # controls start at the baseline's settings
    assert p.plot.value[:4] == b"\x89PNG"  # the baseline is drawn before any run
    assert p.lr.value == pytest.approx(0.2) and set(p.selected_layers()) == set(BN_LAYERS)
    history = run(p)
    assert p.status == "cached" and history.test_acc == baseline.test_acc


def test_train_while_running_is_disabled_and_refused(monkeypatch):
    gate, calls = gate_training(monkeypatch)
    p = panel()
    p.train_button.click()
    assert p.running and p.train_button.disabled and not p.stop_button.disabled
    p.lr.value = 0.3  # changing a control mid-run does not re-enable Train
    assert p.train_button.disabled
    p.train_button.click()  # click() ignores `disabled`: the panel itself refuses, with a message
    assert "already going" in p.message_text
    assert p.start() is False
    gate.set()
    run(p, click=False)
    assert len(calls) == 1 and p.status == "finished"
    assert not p.train_button.disabled


def test_stop_ends_the_run_within_one_batch_and_keeps_what_was_learned():
    p = panel(config=TrainConfig(lr=0.1, epochs=30, n_train=512, device="cpu"))  # 240 steps
    p.train_button.click()
    deadline = time.perf_counter() + WAIT
    while (p.steps_done < 3) and p.running and time.perf_counter() < deadline:
        time.sleep(0.001)
    p.stop_button.click()
    asked_at = p.steps_done
    assert p.stop_button.disabled
    history = run(p, click=False)
    assert history.stopped and p.status == "stopped"
    assert asked_at <= len(history.step_loss) <= asked_at + 1 < 240
    assert history.state_dict is not None and history.test_acc  # what it learned is kept and evaluated
    assert f"Stopped at step {len(history.step_loss)}" in p.message_text
    assert load_cached(p.last_config) is None  # a stopped run is not the run its config describes
    assert not p.train_button.disabled and p.stop_button.disabled


def test_a_diverging_run_is_reported_with_its_step():
    p = panel(config=TrainConfig(lr=0.1, epochs=3, n_train=512, device="cpu"))
    p.lr.value = 10  # the slider's maximum
    history = run(p)
    assert history.diverged and p.status == "diverged"
    assert f"Diverged at step {history.diverged_step}" in p.message_text
    assert "Traceback" not in p.message_text and not p.train_button.disabled


def test_a_learning_rate_beyond_the_slider_runs_through_start():
    p = panel(draw=True)
    p.lr.value = 1e4
    assert p.lr.value == pytest.approx(10)  # the slider forbids it ...
    assert p.start(TrainConfig(lr=1e4, epochs=1, n_train=512, device="cpu"))  # ... a caller can still run it
    history = run(p, click=False)
    assert history.diverged and history.diverged_step <= 8
    assert f"Diverged at step {history.diverged_step}" in p.message_text
    assert p.plot.value[:4] == b"\x89PNG"


def test_an_invalid_configuration_is_answered_in_the_panel(monkeypatch):
    p = panel(n_train_options=(32, 128))  # batches of 64: 32 images cannot make one
    p.n_train.value = 32
    assert p.status == "invalid" and p.train_button.disabled
    assert "n_train=32 is invalid" in p.message_text
    assert "n_train=32 is invalid" in html.unescape(p.message.value)
    forbid_training(monkeypatch)
    p.train_button.click()  # clicked anyway: nothing runs
    assert not p.running and p.last_history is None and p.status == "invalid"
    p.n_train.value = 128
    assert p.status == "idle" and not p.train_button.disabled and p.message_text == ""


def test_a_failing_run_is_a_message_not_a_traceback(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(cache, "train", boom)
    p = panel()
    run(p)
    assert p.status == "failed" and "RuntimeError: out of cheese" in p.message_text
    assert p.last_history is None and not p.train_button.disabled and p.stop_button.disabled


def test_train_after_stop_while_the_run_winds_down_says_it_is_stopping(monkeypatch):
    gate, calls = gate_training(monkeypatch)
    p = panel()
    p.train_button.click()
    p.stop_button.click()  # asked to stop, but the run has not reached its next batch yet
    assert p.running and p.stop_button.disabled
    p.train_button.click()
    assert "still stopping" in p.message_text and "press Stop" not in p.message_text
    assert p.start() is False and "still stopping" in p.message_text
    gate.set()
    history = run(p, click=False)
    assert history.stopped and p.status == "stopped" and len(calls) == 1
    run(p)  # once it has stopped, Train runs again
    assert p.status == "finished" and len(calls) == 2
