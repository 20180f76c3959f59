"""RetrainPanel driven headless: set the controls, click the buttons, wait, read what the panel shows.

Runs use the tiny MNIST of conftest.py (512 training images) and an isolated cache; the
training-set sizes offered are shrunk to fit it (``n_train_options``). The panel's parts are
tested on their own too: what the status line says at a run's end (a pure function, no
widgets), and the background run's lock.
"""

import enum
import html
import threading
import time
from dataclasses import replace

import pytest

from bnreview import cache, config as config_module, widgets
from bnreview.cache import cached_train, load_cached
from bnreview.config import TrainConfig
from bnreview.data import TRAIN_SIZE
from bnreview.models import BN_IMPLS, BN_LAYERS, BN_POSITIONS
from bnreview.train import History
from bnreview.widgets import (LIVE_ONLY_MESSAGE, WIDGET_VIEW, BackgroundRun, Message, Outcome, RetrainPanel, Status,
                              outcome_message, planned_steps)

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


def gate_training(monkeypatch):
    """Make every training run wait for the returned Event before it starts; count the runs."""
    real, gate, calls = cache.train, threading.Event(), []

    def gated(*args, **kwargs):
        calls.append(args)
        assert gate.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "train", gated)
    return gate, calls


# --- the controls --------------------------------------------------------------------------


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


def test_options_and_labels_follow_the_constants(monkeypatch):
    p = panel()
    assert [v for _, v in p.bn_position.options] == list(BN_POSITIONS)
    assert [v for _, v in p.bn_impl.options] == list(BN_IMPLS)
    assert dict(p.bn_position.options)["before the nonlinearity"] == "before"
    assert dict(p.n_train.options) == {"128": 128, "256": 256, "512": 512}
    assert widgets.n_train_label(TRAIN_SIZE) == f"{TRAIN_SIZE:,} (all)"
    monkeypatch.setattr(widgets, "LR_RANGE", (1e-2, 1.0))
    monkeypatch.setattr(widgets, "N_TRAIN_OPTIONS", (1_000, TRAIN_SIZE))
    q = RetrainPanel(config=START)
    assert (q.lr.min, q.lr.max) == (pytest.approx(-2), pytest.approx(0)) and q.lr.value == pytest.approx(0.1)
    assert dict(q.n_train.options) == {"128": 128, "1,000": 1_000, f"{TRAIN_SIZE:,} (all)": TRAIN_SIZE}


def test_the_whole_training_set_is_n_train_none():
    p = panel(n_train_options=(128, 60_000))
    p.n_train.value = 60_000
    assert p.read_config().n_train is None


def test_mime_bundle_has_the_widget_view_and_a_static_fallback():
    bundle = panel()._repr_mimebundle_()
    assert "model_id" in bundle[WIDGET_VIEW]
    assert bundle["text/plain"] == LIVE_ONLY_MESSAGE
    assert "This panel retrains in a running Jupyter kernel" in bundle["text/html"]
    assert "launch" not in LIVE_ONLY_MESSAGE  # the build has no launch buttons while repository.url is empty
    # what to do, in the two places the fallback is read: a saved notebook in JupyterLab, the HTML book
    assert "In JupyterLab, run this cell" in LIVE_ONLY_MESSAGE and "<code>make lab</code>" in bundle["text/html"]


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


def test_steps_and_labels_come_from_the_config_module():
    assert widgets.steps_per_epoch is config_module.steps_per_epoch  # no copy of its own
    assert not hasattr(widgets, "MNIST_TRAIN_SIZE")  # bnreview.data.TRAIN_SIZE instead
    assert planned_steps(TrainConfig(lr=0.1, epochs=3, n_train=128)) == 6  # batches of 64
    assert planned_steps(TrainConfig(lr=0.1, epochs=2)) == 2 * config_module.steps_per_epoch(512, 64)  # tiny set
    assert planned_steps(TrainConfig(lr=0.1, steps=5, n_train=128)) == 5
    baseline = History(config=TrainConfig(lr=0.2, n_train=256).to_dict())
    assert panel(baseline=baseline).baseline_label == baseline.train_config().describe()


# --- what the status line says at a run's end: a pure function -----------------------------


def made(config: TrainConfig = START, **fields) -> History:
    """A History as a run of ``config`` would end, without training."""
    return History(config=config.to_dict(), test_acc=[0.5, 0.975], train_loss=[1.0, 0.1], step_loss=[1.0] * 4,
                   **fields)


def test_outcome_message_of_a_finished_and_of_a_cached_run():
    finished = outcome_message(Outcome(START, made(), seconds=1.54, planned_steps=4))
    assert finished == Message(Status.FINISHED, f"Finished in 1.5 s: final test accuracy 97.50%. {START.describe()}.",
                               "success")
    cached = outcome_message(Outcome(START, made(), cached=True, seconds=0.254))
    assert cached.status is Status.CACHED and cached.tone == "success"
    assert cached.text.startswith("From the cache in 0.25 s (this configuration was trained before)")


def test_outcome_message_of_a_diverged_run_names_its_step_and_the_cache():
    trained = outcome_message(Outcome(START, made(diverged=True, diverged_step=7)))
    assert trained.status is Status.DIVERGED and trained.tone == "error"
    assert trained.text.startswith("Diverged at step 7 (epoch 2): the training loss exploded")
    assert "Shown from the cache" not in trained.text and START.describe() in trained.text
    assert outcome_message(Outcome(START, made(diverged=True, diverged_step=7), cached=True)).text.endswith(
        "Shown from the cache.")
    # the rule's window as it applied: a run stopped at step 7 had no 50 steps to average
    assert "(mean of its 7 steps so far above 23.0 nats" in trained.text
    late = outcome_message(Outcome(START, made(diverged=True, diverged_step=400))).text
    assert "(mean of the last 50 steps above 23.0 nats" in late


def test_the_whole_set_is_labelled_with_what_a_run_trains_on():
    """A panel whose runs hold out 5,000 images offers the 55,000 left, as the run's description counts them."""
    assert widgets.n_train_label(TRAIN_SIZE, 5_000) == f"{TRAIN_SIZE - 5_000:,} (all but the 5,000 held out)"
    held_out = RetrainPanel(config=replace(START, n_train=None, val_size=64))
    label = next(text for text, n in held_out.n_train.options if n == TRAIN_SIZE)
    assert label == f"{TRAIN_SIZE - 64:,} (all but the 64 held out)"
    assert f"{TRAIN_SIZE - 64:,} images" in held_out.read_config().describe()


def test_outcome_message_of_a_stopped_and_of_a_failed_run():
    stopped = outcome_message(Outcome(START, made(stopped=True), planned_steps=240))
    assert stopped.status is Status.STOPPED and stopped.tone == "warning"
    assert stopped.text.startswith("Stopped at step 4 of 240 (epoch 2): what it learned is kept")
    assert stopped.text.endswith("A stopped run is not cached.")
    failed = outcome_message(Outcome(START, error=RuntimeError("out of cheese")))
    assert failed == Message(Status.FAILED, "Training failed: RuntimeError: out of cheese", "error")


def test_status_is_an_enum_that_reads_as_its_name():
    assert issubclass(Status, enum.Enum)
    p = panel()
    assert p.status is Status.IDLE and p.status == "idle"  # a str too: comparisons with its name keep working


# --- the background run ---------------------------------------------------------------------


def test_every_change_is_shown_under_the_runs_one_lock_in_order():
    shown, done = [], threading.Event()

    def show(state):
        assert bg._lock.locked(), "shown outside the lock"
        shown.append(state)

    def work(stop):
        for step in range(1, 4):
            bg.update(steps_done=step, steps_total=3)
        assert done.wait(WAIT)
        return "result", Message(Status.FINISHED, "done", "success")

    bg = BackgroundRun(show)
    assert bg.start(work, Message(Status.RUNNING, "going"))
    assert not bg.start(work, Message(Status.RUNNING, "again")) and "already going" in bg.state.message.text
    done.set()
    assert bg.wait(WAIT)
    assert bg.state.result == "result" and bg.state.message.text == "done" and not bg.state.running
    steps = [s.steps_done for s in shown if s.running]
    assert steps == sorted(steps) and steps[-1] == 3


def test_stop_reaches_the_job_and_is_said_once():
    seen = threading.Event()
    bg = BackgroundRun(lambda state: None)
    assert not bg.request_stop()  # nothing to stop

    def work(stop):
        assert stop.wait(WAIT)
        seen.set()
        return None, Message(Status.STOPPED, "stopped", "warning")

    bg.start(work, Message(Status.RUNNING, "going"))
    assert bg.request_stop() and bg.state.stopping and not bg.request_stop()
    assert bg.wait(WAIT) and seen.is_set() and not bg.state.stopping


# --- the panel, end to end ------------------------------------------------------------------


def test_train_runs_in_the_background_and_shows_the_run():
    p = panel(draw=True)
    p.lr.value = 0.5
    p.bn_layers["conv1"].value = True
    history = run(p)
    assert p.status is Status.FINISHED and p.last_source == "trained"
    assert history.config["lr"] == 0.5 and history.config["bn"] == ["conv1"] and history.config["n_train"] == 128
    assert len(history.test_acc) == 1 and not history.stopped and not history.diverged
    assert p.progress.value == p.progress.max == 2  # 128 images, batches of 64
    assert p.plot.value[:4] == b"\x89PNG"
    assert "Finished" in p.message_text and f"{100 * history.final_test_acc:.2f}%" in p.message_text
    assert not p.train_button.disabled and p.stop_button.disabled
    assert load_cached(p.last_config) is not None  # stored for next time


def test_an_identical_second_click_comes_from_the_cache_without_training(forbid_training):
    p = panel(draw=True)
    first = run(p)
    forbid_training()  # how fast a cache hit is belongs to benchmarks/retrain_latency.py, not here
    second = run(p)
    assert p.status is Status.CACHED and p.last_source == "cache", p.message_text
    assert second.test_acc == first.test_acc and second.step_loss == first.step_loss
    assert "From the cache" in p.message_text


def test_each_click_looks_in_the_cache_once(monkeypatch):
    real, looked = cache.load_cached, []
    monkeypatch.setattr(cache, "load_cached", lambda config: looked.append(config) or real(config))
    p = panel(draw=True)
    run(p)
    assert p.status is Status.FINISHED and len(looked) == 1  # a miss: looked up once, then trained
    run(p)
    assert p.status is Status.CACHED and len(looked) == 2  # a hit: looked up once, shown


def test_a_run_made_elsewhere_is_found_in_the_cache(forbid_training):
    baseline = cached_train(TrainConfig(lr=0.2, epochs=1, n_train=256, device="cpu", bn="all", eval_every=2),
                            progress=False)  # fields without a control (eval_every) come from the baseline
    forbid_training()
    p = RetrainPanel(baseline=baseline, n_train_options=SIZES)  # controls start at the baseline's settings
    assert p.plot.value[:4] == b"\x89PNG"  # the baseline is drawn before any run
    assert p.lr.value == pytest.approx(0.2) and set(p.selected_layers()) == set(BN_LAYERS)
    history = run(p)
    assert p.status is Status.CACHED and history.test_acc == baseline.test_acc


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
    assert len(calls) == 1 and p.status is Status.FINISHED
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
    assert history.stopped and p.status is Status.STOPPED
    assert asked_at <= len(history.step_loss) <= asked_at + 1 < 240
    assert history.state_dict is not None and history.test_acc  # what it learned is kept and evaluated
    assert f"Stopped at step {len(history.step_loss)} of 240" in p.message_text
    assert load_cached(p.last_config) is None  # a stopped run is not the run its config describes
    assert not p.train_button.disabled and p.stop_button.disabled


def test_a_diverging_run_is_reported_with_its_step():
    p = panel(config=TrainConfig(lr=0.1, epochs=3, n_train=512, device="cpu"))
    p.lr.value = 10  # the slider's maximum
    history = run(p)
    assert history.diverged and p.status is Status.DIVERGED
    assert f"Diverged at step {history.diverged_step}" in p.message_text
    assert "Traceback" not in p.message_text and not p.train_button.disabled
    assert p.progress.bar_style == "danger"


def test_a_learning_rate_beyond_the_slider_runs_through_start():
    p = panel(draw=True)
    p.lr.value = 1e4
    assert p.lr.value == pytest.approx(10)  # the slider forbids it ...
    assert p.start(TrainConfig(lr=1e4, epochs=1, n_train=512, device="cpu"))  # ... a caller can still run it
    history = run(p, click=False)
    assert history.diverged and history.diverged_step <= 8
    assert f"Diverged at step {history.diverged_step}" in p.message_text
    assert p.plot.value[:4] == b"\x89PNG"


def test_an_invalid_configuration_is_answered_in_the_panel(forbid_training):
    p = panel(n_train_options=(32, 128))  # batches of 64: 32 images cannot make one
    p.n_train.value = 32
    assert p.status is Status.INVALID and p.train_button.disabled
    assert "n_train=32 is invalid" in p.message_text
    assert "n_train=32 is invalid" in html.unescape(p.message.value)
    forbid_training()
    p.train_button.click()  # clicked anyway: nothing runs
    assert not p.running and p.last_history is None and p.status is Status.INVALID
    p.n_train.value = 128
    assert p.status is Status.IDLE and not p.train_button.disabled and p.message_text == ""


def test_a_failing_run_is_a_message_not_a_traceback(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(cache, "train", boom)
    p = panel()
    run(p)
    assert p.status is Status.FAILED and "RuntimeError: out of cheese" in p.message_text
    assert p.last_history is None and not p.train_button.disabled and p.stop_button.disabled


def test_a_drawing_problem_is_said_and_does_not_fail_the_run(monkeypatch):
    from bnreview import plots

    def broken(*args, **kwargs):
        raise ValueError("no ink")

    monkeypatch.setattr(plots, "live_curves", broken)
    p = panel(draw=True)
    history = run(p)
    assert p.status is Status.FINISHED and history is not None
    assert "could not draw the curves: ValueError: no ink" in p.message_text


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
    assert history.stopped and p.status is Status.STOPPED and len(calls) == 1
    run(p)  # once it has stopped, Train runs again
    assert p.status is Status.FINISHED and len(calls) == 2
