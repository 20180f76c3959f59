"""Retrain LeNet from a running notebook: ipywidgets controls, a background thread, live curves.

``RetrainPanel(baseline=history)`` shows the controls of a run (learning rate, where BN goes
and whose BN, epochs, training-set size, seed), a Train and a Stop button, a progress bar, a
status line and the run's curves redrawn after every epoch next to the baseline's.

* Training runs in a background thread, so the notebook stays responsive; Stop ends the run
  after the current batch and keeps what it learned (the run is marked stopped and is not
  cached). A diverging run is reported as such, with its step, never as a traceback.
* Runs go through :func:`bnreview.cache.cached_train`: a configuration trained before (by
  this panel or by any chapter) is shown at once from the cache.
* Controls that cannot matter are disabled (BN placement and implementation without any BN
  layer; Train while a run is going); a configuration :class:`~bnreview.config.TrainConfig`
  rejects is answered with its message in the panel.
* Fields the panel has no control for (batch size, momentum, activation, probes, ...) come
  from ``config`` or the baseline's config, so the baseline's own settings hit its cache entry.

In a page without a kernel (the static HTML book) the widget cannot run; the panel's mime
bundle carries, beside the widget view, a text/html and text/plain fallback saying how to run
the notebook (:data:`LIVE_ONLY_MESSAGE`).

Tests and benchmarks drive it headless: set the controls' ``value``, call
``panel.train_button.click()``, then ``panel.wait(timeout)`` and read ``panel.last_history``,
``panel.status`` and ``panel.message_text``.
"""

from __future__ import annotations

import html
import io
import math
import threading
import time
from dataclasses import replace

import ipywidgets as widgets

from bnreview import cache, plots
from bnreview.explorer import accuracy_points
from bnreview.models import BN_IMPLS, BN_LAYERS, BN_POSITIONS
from bnreview.config import TrainConfig
from bnreview.train import DIVERGENCE_LOSS, DIVERGENCE_WINDOW, History

MNIST_TRAIN_SIZE = 60_000  # the n_train that means "the whole training set" (TrainConfig.n_train=None)
N_TRAIN_OPTIONS = (2_000, 10_000, 30_000, MNIST_TRAIN_SIZE)
LR_RANGE = (1e-3, 10.0)  # the learning-rate slider's ends (log scale)
MAX_EPOCHS = 50
LIVE_ONLY_MESSAGE = (
    "Live retraining needs a running Jupyter kernel: download this notebook (the download button at the top "
    "of the page) and run it locally (make book's venv: `.venv/bin/jupyter lab chapters/`)"
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# What ``status`` can be.
IDLE, RUNNING, FINISHED, CACHED, STOPPED, DIVERGED, FAILED, INVALID = (
    "idle", "running", "finished", "cached", "stopped", "diverged", "failed", "invalid")


def live_only_html(message: str = LIVE_ONLY_MESSAGE) -> str:
    """The static page's stand-in for the panel: a note (Sphinx admonition markup) saying how to retrain."""
    body = html.escape(message).replace("`", "\0")
    parts = body.split("\0")  # odd parts were between backticks: show them as code
    body = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return (
        '<div class="admonition note bnreview-live-only">'
        '<p class="admonition-title">Retrain it yourself</p>'
        f"<p>{body}.</p></div>"
    )


def n_train_label(n: int) -> str:
    return f"{n:,} (all)" if n == MNIST_TRAIN_SIZE else f"{n:,}"


def steps_per_epoch(config: TrainConfig, n_images: int) -> int:
    """Mini-batches per epoch, as :func:`bnreview.train.train` counts them (a last batch of one is dropped)."""
    n = n_images if config.n_train is None else min(config.n_train, n_images)
    full, rest = divmod(n, config.batch_size)
    return full + (rest >= 2)


class RetrainPanel:
    """Controls to retrain LeNet in the notebook, with live curves against an optional baseline.

    Parameters
    ----------
    baseline:
        A :class:`History` drawn next to every run (and the source of the controls' initial
        values and of the fields without a control, unless ``config`` is given).
    config:
        The initial settings; default: the baseline's config, else lr 0.1 without BN, 1 epoch
        on 2,000 images.
    n_train_options:
        The training-set sizes offered (ints; 60,000 means the whole set). Default
        :data:`N_TRAIN_OPTIONS`; the initial config's size is added if missing.
    baseline_label:
        The baseline's name in the legends.
    draw:
        Draw the curves (False: skip matplotlib, e.g. for latency measurements of training alone).
    """

    def __init__(
        self,
        baseline: History | None = None,
        config: TrainConfig | None = None,
        n_train_options=None,
        baseline_label: str | None = None,
        draw: bool = True,
    ):
        if config is None:
            config = (baseline.train_config() if baseline is not None
                      else TrainConfig(lr=0.1, epochs=1, n_train=2_000))
        self.base_config = config
        self.baseline = baseline
        self.baseline_label = baseline_label or ("baseline" if baseline is None else self._run_label(baseline))
        self.draw = draw
        self.last_history: History | None = None
        self.last_config: TrainConfig | None = None
        self.last_source: str | None = None  # "cache" or "trained"
        self.last_seconds: float | None = None  # click (start) to finished, display included
        self.status = IDLE
        self.message_text = ""
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._lock = threading.Lock()
        self._running = False
        self._epochs_drawn = 0
        self._steps_total = 1
        self._last_progress = 0.0
        self.steps_done = 0  # SGD steps of the current run so far

        wide = {"description_width": "initial"}
        self.lr = widgets.FloatLogSlider(
            value=min(max(config.lr, LR_RANGE[0]), LR_RANGE[1]), base=10,
            min=math.log10(LR_RANGE[0]), max=math.log10(LR_RANGE[1]), step=0.01,
            description="learning rate", readout_format=".3g", continuous_update=False,
            style=wide, layout=widgets.Layout(width="480px"))
        self.bn_layers = {
            layer: widgets.Checkbox(value=layer in config.bn, description=layer, indent=False,
                                    layout=widgets.Layout(width="80px"))
            for layer in BN_LAYERS
        }
        self.bn_position = widgets.ToggleButtons(
            options=[("before the nonlinearity", "before"), ("after the nonlinearity", "after")],
            value=config.bn_position, description="BN goes", style={**wide, "button_width": "auto"})
        assert set(BN_POSITIONS) == {"before", "after"}
        self.bn_impl = widgets.ToggleButtons(
            options=[("ours (bnreview.batchnorm)", "ours"), ("torch.nn", "torch")],
            value=config.bn_impl, description="BN implementation", style={**wide, "button_width": "auto"})
        assert set(BN_IMPLS) == {"ours", "torch"}
        self.epochs = widgets.BoundedIntText(value=config.epochs, min=1, max=max(MAX_EPOCHS, config.epochs),
                                             description="epochs", style=wide, layout=widgets.Layout(width="140px"))
        options = sorted(set(N_TRAIN_OPTIONS if n_train_options is None else n_train_options))
        initial_n = MNIST_TRAIN_SIZE if config.n_train is None else config.n_train
        if initial_n not in options:
            options = sorted({*options, initial_n})
        self.n_train = widgets.Dropdown(options=[(n_train_label(n), n) for n in options], value=initial_n,
                                        description="training images", style=wide,
                                        layout=widgets.Layout(width="260px"))
        self.seed = widgets.BoundedIntText(value=config.seed, min=0, max=2**31 - 1, description="seed",
                                           style=wide, layout=widgets.Layout(width="150px"))
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play",
                                           tooltip="Train with these settings (or show the cached run)")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          tooltip="End the run after the current batch, keeping what it learned")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress", style=wide,
                                            layout=widgets.Layout(width="360px"))
        self.message = widgets.HTML(value="")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))

        self.train_button.on_click(self._on_train_click)
        self.stop_button.on_click(self._on_stop_click)
        for control in (self.lr, self.bn_position, self.bn_impl, self.epochs, self.n_train, self.seed,
                        *self.bn_layers.values()):
            control.observe(self._on_change, names="value")

        self.widget = widgets.VBox([
            self.lr,
            widgets.HBox([widgets.Label("BN on", layout=widgets.Layout(width="60px")), *self.bn_layers.values()]),
            self.bn_position,
            self.bn_impl,
            widgets.HBox([self.epochs, self.n_train, self.seed]),
            widgets.HBox([self.train_button, self.stop_button, self.progress]),
            self.message,
            self.plot,
        ])
        self._refresh_controls()
        if baseline is not None and draw:
            self._draw(None)

    # --- display -----------------------------------------------------------------------

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """The widget view where a kernel runs it; a note on how to retrain wherever it cannot (static HTML)."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs))
        bundle["text/plain"] = LIVE_ONLY_MESSAGE
        bundle["text/html"] = live_only_html()
        return bundle

    # --- reading the controls ------------------------------------------------------------

    def selected_layers(self) -> tuple[str, ...]:
        return tuple(layer for layer, box in self.bn_layers.items() if box.value)

    def read_config(self) -> TrainConfig:
        """The :class:`TrainConfig` the controls describe; raises ValueError where TrainConfig rejects it."""
        n_train = self.n_train.value
        return replace(
            self.base_config,
            steps=None,  # the epochs control decides the length
            lr=float(self.lr.value),
            bn=self.selected_layers(),
            bn_position=self.bn_position.value,
            bn_impl=self.bn_impl.value,
            epochs=int(self.epochs.value),
            n_train=None if n_train is None or n_train >= MNIST_TRAIN_SIZE else int(n_train),
            seed=int(self.seed.value),
        )

    @property
    def running(self) -> bool:
        return self._running

    def _refresh_controls(self) -> None:
        """Enable what can matter now; say so where the settings cannot be trained."""
        no_bn = not self.selected_layers()
        self.bn_position.disabled = no_bn
        self.bn_impl.disabled = no_bn
        self.stop_button.disabled = not self._running or (self._stop is not None and self._stop.is_set())
        if self._running:
            self.train_button.disabled = True
            return
        try:
            self.read_config()
        except ValueError as exc:
            self.train_button.disabled = True
            self._say(INVALID, f"Can't train this configuration: {exc}", "error")
            return
        self.train_button.disabled = False
        if self.status == INVALID:
            self._say(IDLE, "", "info")

    def _on_change(self, change) -> None:
        try:
            self._refresh_controls()
        except Exception as exc:  # never a traceback in the notebook
            self._say(FAILED, f"{type(exc).__name__}: {exc}", "error")

    # --- running ---------------------------------------------------------------------------

    def _on_train_click(self, _button=None) -> None:
        try:
            self.start()
        except Exception as exc:
            self._finish_ui()
            self._say(FAILED, f"Could not start: {type(exc).__name__}: {exc}", "error")

    def _on_stop_click(self, _button=None) -> None:
        self.stop()

    def start(self, config: TrainConfig | None = None) -> bool:
        """Train ``config`` (default: what the controls say) in a background thread; False if it did not start.

        ``config`` lets a caller run settings the controls cannot express (e.g. lr beyond the slider).
        """
        with self._lock:
            if self._running:
                if self._stop is not None and self._stop.is_set():  # Stop was pressed: don't ask for it again
                    self._say(self.status, "The previous run is still stopping (after its current batch): "
                                           "press Train again in a moment.", "warning")
                else:
                    self._say(self.status, "A run is already going: wait for it or press Stop first.", "warning")
                return False
            if config is None:
                try:
                    config = self.read_config()
                except ValueError as exc:
                    self._say(INVALID, f"Can't train this configuration: {exc}", "error")
                    return False
            self._running = True
        self._stop = threading.Event()
        self.steps_done = 0
        self._epochs_drawn = 0
        self.status = RUNNING
        self.train_button.disabled = True
        self.stop_button.disabled = False
        self.progress.bar_style = "info"
        self.progress.value = 0
        self._say(RUNNING, f"Looking for {config.describe()} in the cache...", "info")
        self._thread = threading.Thread(target=self._run, args=(config, self._stop, time.perf_counter()),
                                        name="bnreview-retrain", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the current run after its current batch (no-op when idle)."""
        if self._running and self._stop is not None:
            self._stop.set()
            self.stop_button.disabled = True
            self._say(RUNNING, "Stopping after the current batch...", "warning")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run (if any) is over; True if it is over, False on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return not self._running

    def _run(self, config: TrainConfig, stop: threading.Event, started: float) -> None:
        history, source = None, None
        try:
            history = cache.load_cached(config)
            source = "cache"
            if history is None:
                from bnreview.data import load_mnist

                self._steps_total = max(1, config.epochs * steps_per_epoch(config, len(load_mnist(train=True)[1])))
                self.progress.max = self._steps_total
                self._say(RUNNING, f"Training {config.describe()}...", "info")
                history = cache.cached_train(config, progress=False, callback=self._on_epoch, stop=stop,
                                               on_step=self._on_step)
                source = "trained"
            if self.draw and self._epochs_drawn != len(history.test_acc):
                self._draw(history)
        except Exception as exc:  # data missing, out of memory, ...: a message, not a traceback
            self.last_seconds = time.perf_counter() - started
            self._finish_ui()
            self._say(FAILED, f"Training failed: {type(exc).__name__}: {exc}", "error")
            return
        self.last_history, self.last_config, self.last_source = history, config, source
        self.last_seconds = time.perf_counter() - started
        self._report(history, config, source, self.last_seconds)
        self._finish_ui()

    def _finish_ui(self) -> None:
        with self._lock:
            self._running = False
        self.stop_button.disabled = True
        try:
            self._refresh_controls()
        except Exception:
            self.train_button.disabled = False

    def _on_step(self, step: int) -> None:
        """Called by ``train`` after every SGD step: moves the progress bar (at most ten redraws a second)."""
        self.steps_done = step
        now = time.perf_counter()
        if now - self._last_progress > 0.1 or step >= self._steps_total:
            self._last_progress = now
            self.progress.value = min(step, self.progress.max)

    def _on_epoch(self, epoch: int, history: History) -> None:
        self.progress.value = min(len(history.step_loss), self.progress.max)
        epochs = history.config.get("epochs", "?")
        self._say(RUNNING, f"Epoch {epoch} of {epochs}: test accuracy {100 * history.test_acc[-1]:.2f}%, "
                           f"training loss {history.train_loss[-1]:.4f}", "info")
        if self.draw:
            try:
                self._draw(history)
                self._epochs_drawn = len(history.test_acc)
            except Exception as exc:  # a plotting problem must not end the run
                self._say(RUNNING, f"{self.message_text} (could not draw the curves: {type(exc).__name__}: {exc})")

    def _report(self, history: History, config: TrainConfig, source: str, seconds: float) -> None:
        acc = f"final test accuracy {100 * history.final_test_acc:.2f}%"
        where = f"{config.describe()}"
        if history.diverged:
            self.progress.bar_style = "danger"
            self._say(DIVERGED,
                      f"Diverged at step {history.diverged_step} (epoch {len(history.test_acc)}): the training loss "
                      f"exploded (mean of the last {DIVERGENCE_WINDOW} steps above {DIVERGENCE_LOSS:.1f} nats, or "
                      f"not a number), so training ended there; {acc} (chance is 10%). {where}. "
                      "Try a smaller learning rate, or BN on more layers."
                      + (" Shown from the cache." if source == "cache" else ""), "error")
        elif history.stopped:
            self.progress.bar_style = "warning"
            self._say(STOPPED,
                      f"Stopped at step {len(history.step_loss)} of {self._steps_total} (epoch {len(history.test_acc)}):"
                      f" what it learned is kept; test accuracy then {100 * history.final_test_acc:.2f}%. "
                      f"{where}. A stopped run is not cached.", "warning")
        elif source == "cache":
            self.progress.max = max(1, len(history.step_loss))
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self._say(CACHED, f"From the cache in {seconds:.2f} s (this configuration was trained before): "
                              f"{acc}. {where}.", "success")
        else:
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self._say(FINISHED, f"Finished in {seconds:.1f} s: {acc}. {where}.", "success")

    # --- showing ---------------------------------------------------------------------------

    def _say(self, status: str, text: str, kind: str = "info") -> None:
        colors = {"info": "inherit", "success": "#1a7f37", "warning": "#9a6700", "error": "#cf222e"}
        self.status = status
        self.message_text = text
        self.message.value = f'<span style="color: {colors.get(kind, "inherit")}">{html.escape(text)}</span>'

    @staticmethod
    def _run_label(history: History) -> str:
        c = history.config
        bn = "no BN" if not c.get("bn") else f"BN on {'+'.join(c['bn'])} ({c.get('bn_position')}, {c.get('bn_impl')})"
        return f"lr {c.get('lr', float('nan')):g}, {bn}"

    def _draw(self, history: History | None) -> None:
        """Loss per epoch, test accuracy per epoch and the per-step training loss of this run and the baseline."""
        from matplotlib.figure import Figure  # no pyplot: safe in a background thread

        runs, names = {}, []
        if self.baseline is not None:
            runs["baseline"] = self.baseline
            names.append(f"baseline: {self.baseline_label}")
        if history is not None:
            runs["this run"] = history
            names.append(f"this run: {self._run_label(history)}")
        if not runs:
            return
        fig = Figure(figsize=(13, 3.6), dpi=72, layout="constrained")
        fig.suptitle(";  ".join(names), fontsize=11)
        axes = fig.subplots(1, 3)
        plots.loss_curves(runs, ax=axes[0], title="loss per epoch")
        finite = [v for h in runs.values() for v in h.train_loss + h.test_loss if math.isfinite(v) and v > 0]
        if finite and max(finite) / min(finite) > 50:
            axes[0].set_yscale("log")
        for label, h in runs.items():  # every eval_every steps where the run measured it, else per epoch
            xs, ys = accuracy_points(h)
            axes[1].plot(xs, ys, "-o", ms=3, label=label)
        axes[1].set(xlabel="SGD step", ylabel="test accuracy (%)", title="test accuracy during training")
        axes[1].legend(fontsize="small")
        axes[1].grid(alpha=0.3)
        shortest = min(len(h.step_loss) for h in runs.values())
        plots.step_loss(runs, ax=axes[2], smooth=max(1, min(50, shortest // 10)), title="training loss per step")
        if history is not None and history.diverged:
            axes[2].axvline(history.diverged_step, color="#cf222e", ls=":", lw=1)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        self.plot.value = buffer.getvalue()
