"""Retrain LeNet from a running notebook: ipywidgets controls, a background thread, live curves.

``RetrainPanel(baseline=history)`` shows the controls of a run (learning rate, where BN goes and
whose BN, epochs, training-set size, seed), Train and Stop, a progress bar, a status line and the
run's curves, redrawn after every epoch next to the baseline's. Training runs in a worker thread;
Stop ends it after the current batch, keeping what it learned (a stopped run is not cached); a
diverging run is reported with its step, never as a traceback. Each click looks its configuration
up in the cache once: a run trained before, here or by any chapter, shows at once. Controls that
cannot matter are disabled; settings :class:`~bnreview.config.TrainConfig` rejects get its message;
fields without a control (batch size, probes, ...) come from ``config`` or the baseline's.

Its parts: :class:`Controls` (the inputs, read into a config), :class:`BackgroundRun` (the worker
and all the state both threads touch, under one lock), :func:`outcome_message` (the status line at
a run's end) and :func:`bnreview.plots.live_curves`. Without a kernel (the static book, a saved notebook
not yet run) the mime bundle falls back to :data:`LIVE_ONLY_MESSAGE`. Tests click ``train_button``, ``wait()``.
"""

from __future__ import annotations

import enum
import html
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import ipywidgets as widgets

from bnreview import cache, plots
from bnreview.browser import LR_RANGE  # the learning-rate slider's ends (log scale), the same in both panels
from bnreview.config import TrainConfig, steps_per_epoch
from bnreview.data import TRAIN_SIZE, load_mnist
from bnreview.models import BN_IMPLS, BN_LAYERS, BN_POSITIONS
from bnreview.train import DIVERGENCE_LOSS, DIVERGENCE_WINDOW, History

N_TRAIN_OPTIONS = (2_000, 10_000, 30_000, TRAIN_SIZE)  # TRAIN_SIZE: the whole training set (n_train=None)
MAX_EPOCHS = 50
IMPL_NAMES = {"ours": "ours (bnreview.batchnorm)", "torch": "torch.nn"}  # labels of the BN_IMPLS
LIVE_ONLY_MESSAGE = ("This panel retrains in a running Jupyter kernel. In JupyterLab, run this cell (or Run All). "
                     "In the HTML book, download this notebook (the button atop the page); open it with `make lab`")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
COLORS = {"info": "inherit", "success": "#1a7f37", "warning": "#9a6700", "error": "#cf222e"}  # by tone
WIDE = {"description_width": "initial"}


class Status(enum.StrEnum):
    """What the panel is doing, or how its last click ended (a str: ``panel.status == "cached"`` holds)."""

    IDLE, RUNNING, INVALID = "idle", "running", "invalid"
    FINISHED, CACHED, STOPPED, DIVERGED, FAILED = "finished", "cached", "stopped", "diverged", "failed"  # how runs end


BAR_STYLES = {Status.RUNNING: "info", Status.FINISHED: "success", Status.CACHED: "success",
              Status.STOPPED: "warning", Status.DIVERGED: "danger", Status.FAILED: "danger"}


class Message(NamedTuple):
    """The status line: the status it reports, its text, and its tone (a key of :data:`COLORS`)."""

    status: Status
    text: str
    tone: str = "info"


@dataclass(frozen=True)
class Outcome:
    """How a click ended: the run and whether it came from the cache, or the error; seconds from the click."""

    config: TrainConfig
    history: History | None = None
    cached: bool = False
    seconds: float = 0.0
    planned_steps: int | None = None  # the steps the run was to make (known once it trained)
    error: BaseException | None = None

    @property
    def source(self) -> str | None:
        """Where the run came from: "cache" or "trained" (None when it failed)."""
        return None if self.history is None else ("cache" if self.cached else "trained")


def outcome_message(outcome: Outcome) -> Message:
    """What the status line says once a click's run is over: finished, from the cache, diverged, stopped or failed."""
    h, where, error = outcome.history, outcome.config.describe(), outcome.error
    if h is None:
        return Message(Status.FAILED, f"Training failed: {type(error).__name__}: {error}", "error")
    acc = f"final test accuracy {100 * h.final_test_acc:.2f}%"
    if h.diverged:  # the rule's window as it applied: a run stopped at step 6 had no 50 steps to average
        step, last = h.diverged_step, f"the last {DIVERGENCE_WINDOW} steps"
        window = last if step >= DIVERGENCE_WINDOW else f"its {step} step{'s' * (step != 1)} so far"
        return Message(Status.DIVERGED, f"Diverged at step {step} (epoch {len(h.test_acc)}): the training loss "
                       f"exploded (mean of {window} above {DIVERGENCE_LOSS:.1f} nats, or not a number), so training ended "
                       f"there; {acc} (chance is 10%). {where}. Try a smaller learning rate, or BN on more layers."
                       + (" Shown from the cache." if outcome.cached else ""), "error")
    if h.stopped:
        return Message(Status.STOPPED, f"Stopped at step {len(h.step_loss)} of {outcome.planned_steps or len(h.step_loss)}"
                       f" (epoch {len(h.test_acc)}): what it learned is kept; test accuracy then "
                       f"{100 * h.final_test_acc:.2f}%. {where}. A stopped run is not cached.", "warning")
    if outcome.cached:
        return Message(Status.CACHED, f"From the cache in {outcome.seconds:.2f} s (this configuration was trained "
                                      f"before): {acc}. {where}.", "success")
    return Message(Status.FINISHED, f"Finished in {outcome.seconds:.1f} s: {acc}. {where}.", "success")


def live_only_html(message: str = LIVE_ONLY_MESSAGE) -> str:
    """The static page's stand-in for the panel: a note (Sphinx admonition markup) saying how to retrain."""
    parts = html.escape(message).split("`")  # odd parts were between backticks: show them as code
    body = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return ('<div class="admonition note bnreview-live-only"><p class="admonition-title">Retrain it yourself</p>'
            f"<p>{body}.</p></div>")


def n_train_label(n: int, val_size: int = 0) -> str:
    """The training-images option ``n`` in words: ``TRAIN_SIZE`` and up is the whole set less ``val_size`` held out."""
    held_out = f"all but the {val_size:,} held out" if val_size else "all"
    return f"{n:,}" if n < TRAIN_SIZE else f"{TRAIN_SIZE - val_size:,} ({held_out})"


def planned_steps(config: TrainConfig) -> int:
    """The SGD steps a run of ``config`` makes unless it diverges or is stopped (loads its training images)."""
    if config.steps is not None:
        return config.steps
    available = len(load_mnist(train=True, size=config.input_size, dataset=config.dataset)[1]) - config.val_size
    n_images = available if config.n_train is None else min(config.n_train, available)
    return config.epochs * steps_per_epoch(n_images, config.batch_size)


class Controls:
    """The panel's inputs (learning rate, BN layers, placement and implementation, epochs, images, seed).

    ``config`` gives the initial values and the fields without a control; ``n_train_options`` the
    training-set sizes offered (:data:`N_TRAIN_OPTIONS` by default; the config's own is added).
    """

    def __init__(self, config: TrainConfig, n_train_options=None):
        self.base = config
        low, high = LR_RANGE
        self.lr = widgets.FloatLogSlider(
            value=min(max(config.lr, low), high), base=10, min=math.log10(low), max=math.log10(high), step=0.01,
            description="learning rate", readout_format=".3g", continuous_update=False, style=WIDE,
            tooltip=f"from {low:g} to {high:g}, log scale", layout=widgets.Layout(width="480px"))
        self.bn_layers = {layer: widgets.Checkbox(value=layer in config.bn, description=layer, indent=False,
                                                  layout=widgets.Layout(width="80px")) for layer in BN_LAYERS}
        buttons = {**WIDE, "button_width": "auto"}
        self.bn_position = widgets.ToggleButtons(options=[(f"{p} the nonlinearity", p) for p in BN_POSITIONS],
                                                 value=config.bn_position, description="BN goes", style=buttons)
        self.bn_impl = widgets.ToggleButtons(options=[(IMPL_NAMES.get(i, i), i) for i in BN_IMPLS],
                                             value=config.bn_impl, description="BN implementation", style=buttons)
        self.epochs = widgets.BoundedIntText(value=config.epochs, min=1, max=max(MAX_EPOCHS, config.epochs),
                                             description="epochs", style=WIDE, layout=widgets.Layout(width="140px"))
        initial = TRAIN_SIZE if config.n_train is None else config.n_train
        options = sorted({*(N_TRAIN_OPTIONS if n_train_options is None else n_train_options), initial})
        self.n_train = widgets.Dropdown(options=[(n_train_label(n, config.val_size), n) for n in options],
                                        value=initial,
                                        description="training images", style=WIDE,
                                        layout=widgets.Layout(width="260px"))
        self.seed = widgets.BoundedIntText(value=config.seed, min=0, max=2**31 - 1, description="seed",
                                           style=WIDE, layout=widgets.Layout(width="150px"))
        self.inputs = [self.lr, *self.bn_layers.values(), self.bn_position, self.bn_impl, self.epochs, self.n_train,
                       self.seed]  # every widget whose value goes into the config
        bn_on = widgets.HBox([widgets.Label("BN on", layout=widgets.Layout(width="60px")), *self.bn_layers.values()])
        self.rows = [self.lr, bn_on, self.bn_position, self.bn_impl,
                     widgets.HBox([self.epochs, self.n_train, self.seed])]

    def selected_layers(self) -> tuple[str, ...]:
        """The layers whose BN box is ticked."""
        return tuple(layer for layer, box in self.bn_layers.items() if box.value)

    def read(self) -> TrainConfig:
        """The :class:`TrainConfig` the controls describe; raises ValueError where TrainConfig rejects it."""
        n_train = self.n_train.value
        return replace(self.base, steps=None,  # the epochs control decides the length
                       lr=float(self.lr.value), bn=self.selected_layers(), bn_position=self.bn_position.value,
                       bn_impl=self.bn_impl.value, epochs=int(self.epochs.value),
                       n_train=None if n_train is None or n_train >= TRAIN_SIZE else int(n_train),
                       seed=int(self.seed.value))

    def problem(self) -> Message | None:
        """Why the controls' settings can't be trained (an INVALID message), or None."""
        try:
            self.read()
        except ValueError as exc:
            return Message(Status.INVALID, f"Can't train this configuration: {exc}", "error")
        return None


class RunState(NamedTuple):
    """A :class:`BackgroundRun`'s state at one moment (immutable: each change makes a new one)."""

    message: Message = Message(Status.IDLE, "")
    running: bool = False
    stopping: bool = False  # Stop was pressed and the job has not ended yet
    steps_done: int = 0
    steps_total: int = 1
    result: object = None  # what the last job returned


class BackgroundRun:
    """One job at a time in a worker thread, with its Stop flag, progress, status line and result under one lock.

    The notebook's thread (clicks, control changes) and the worker (steps, epochs, the end) both
    change the state: each change takes the lock, replaces :attr:`state` and calls ``show(state)``
    before letting go, so the display follows the changes in the order they were made (``show``
    must not call back into the run).
    """

    def __init__(self, show: Callable[[RunState], None]):
        self._show = show
        self._lock = threading.Lock()
        self._state, self._shown_at = RunState(), 0.0
        self._stop, self._thread = threading.Event(), None  # the current job's Stop flag and thread

    @property
    def state(self) -> RunState:
        """The state now."""
        with self._lock:
            return self._state

    def _change(self, **changes) -> None:  # the lock is held
        self._state = self._state._replace(**changes)
        self._shown_at = time.perf_counter()
        self._show(self._state)

    def update(self, message: Message | None = None, steps_done: int | None = None, steps_total: int | None = None,
               throttle: bool = False) -> None:
        """Change the status line or the progress; ``throttle``: show a step at most ten times a second."""
        changes = {"message": message, "steps_done": steps_done, "steps_total": steps_total}
        with self._lock:
            state = self._state._replace(**{k: v for k, v in changes.items() if v is not None})
            if throttle and time.perf_counter() - self._shown_at < 0.1 and state.steps_done < state.steps_total:
                self._state = state  # counted, shown with a later step
            else:
                self._change(**state._asdict())

    def settle(self, problem: Message | None) -> None:
        """While no job runs, say ``problem`` (why the settings can't be trained) or clear the last one; then show."""
        with self._lock:
            message = self._state.message
            if not self._state.running:
                message = problem or (Message(Status.IDLE, "") if message.status is Status.INVALID else message)
            self._change(message=message)

    def start(self, work: Callable[[threading.Event], tuple[object, Message]] | None, message: Message) -> bool:
        """Run ``work(stop) -> (result, last message)`` in a worker, saying ``message``; False, and why, if it can't.

        It can't while a job is going; ``work=None``: nothing can start, and ``message`` says why.
        """
        with self._lock:
            if self._state.running:
                text = ("The previous run is still stopping (after its current batch): press Train again in a moment."
                        if self._state.stopping else "A run is already going: wait for it or press Stop first.")
                self._change(message=Message(self._state.message.status, text, "warning"))
                return False
            if work is None:
                self._change(message=message)
                return False
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._main, args=(work, self._stop), name="bnreview-retrain",
                                            daemon=True)
            self._change(message=message, running=True, stopping=False, steps_done=0, steps_total=1)
            self._thread.start()  # the worker waits for the lock: it starts from this state
            return True

    def _main(self, work: Callable[[threading.Event], tuple[object, Message]], stop: threading.Event) -> None:
        try:
            result, message = work(stop)
        except Exception as exc:  # ``work`` reports its own failures; this is the last resort, not a traceback
            result, message = None, Message(Status.FAILED, f"{type(exc).__name__}: {exc}", "error")
        with self._lock:
            self._change(message=message, result=result, running=False, stopping=False)

    def request_stop(self) -> bool:
        """Ask the job to stop after its current batch; False if none is going or it was asked already."""
        with self._lock:
            if not self._state.running or self._state.stopping:
                return False
            self._stop.set()
            self._change(message=Message(Status.RUNNING, "Stopping after the current batch...", "warning"),
                         stopping=True)
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job (if any) is over; True if it is over, False on timeout."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.state.running


def _from_state(read: Callable[[RunState], object], doc: str) -> property:
    """A read-only property of the panel: ``read`` of its run's state, taken under the run's lock."""
    return property(lambda panel: read(panel.run.state), doc=doc)


class RetrainPanel:
    """Controls to retrain LeNet in the notebook, with live curves against an optional baseline.

    ``baseline``: a History drawn next to every run, whose config gives the initial settings unless
    ``config`` does (default: lr 0.1 without BN, 1 epoch on 2,000 images); ``n_train_options``: see
    :class:`Controls`; ``baseline_label`` (default: its config in words); ``draw=False``: no figure.
    """

    def __init__(self, baseline: History | None = None, config: TrainConfig | None = None, n_train_options=None,
                 baseline_label: str | None = None, draw: bool = True):
        if config is None:
            config = baseline.train_config() if baseline is not None else TrainConfig(lr=0.1, epochs=1, n_train=2_000)
        self.base_config, self.baseline, self.draw = config, baseline, draw
        self.baseline_label = baseline_label or ("baseline" if baseline is None else plots.setting(baseline))
        self.controls = c = Controls(config, n_train_options)
        self.lr, self.bn_layers, self.bn_position, self.bn_impl = c.lr, c.bn_layers, c.bn_position, c.bn_impl
        self.epochs, self.n_train, self.seed = c.epochs, c.n_train, c.seed
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play",
                                           tooltip="Train with these settings (or show the cached run)")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          tooltip="End the run after the current batch, keeping what it learned")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress", style=WIDE,
                                            layout=widgets.Layout(width="360px"))
        self.message = widgets.HTML(value="")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.widget = widgets.VBox([*c.rows, widgets.HBox([self.train_button, self.stop_button, self.progress]),
                                    self.message, self.plot])
        self.run = BackgroundRun(self._show)
        self._figure = None  # drawn by one thread at a time: this one now, then each run's worker, one at a time
        self.train_button.on_click(self._guarded(self.start, "Could not start"))
        self.stop_button.on_click(self._guarded(self.stop, "Could not stop"))
        for control in c.inputs:
            control.observe(self._guarded(self._on_change, "Could not read the controls"), names="value")
        self._on_change()
        if baseline is not None:
            self._draw(None, config)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """The widget view where a kernel runs it; a note on how to retrain wherever it cannot (static HTML)."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs))
        return {**bundle, "text/plain": LIVE_ONLY_MESSAGE, "text/html": live_only_html()}

    def selected_layers(self) -> tuple[str, ...]:
        """The layers whose BN box is ticked."""
        return self.controls.selected_layers()

    def read_config(self) -> TrainConfig:
        """The :class:`TrainConfig` the controls describe; raises ValueError where TrainConfig rejects it."""
        return self.controls.read()

    running = _from_state(lambda s: s.running, "Whether a run is going.")
    status = _from_state(lambda s: s.message.status, "What the panel is doing, or how its last click ended.")
    message_text = _from_state(lambda s: s.message.text, "The status line's text.")
    steps_done = _from_state(lambda s: s.steps_done, "SGD steps of the current (or last) run so far.")
    last_outcome = _from_state(lambda s: s.result, "How the last run ended (an :class:`Outcome`; None before any).")
    last_history = _from_state(lambda s: getattr(s.result, "history", None), "The last run's History, if any.")
    last_config = _from_state(lambda s: getattr(s.result, "config", None), "The config of the last run.")
    last_source = _from_state(lambda s: getattr(s.result, "source", None), 'The last run\'s "cache" or "trained".')

    def _show(self, state: RunState) -> None:
        """Render the run's state (under its lock, from either thread): status line, progress, buttons."""
        message = state.message
        self.message.value = f'<span style="color: {COLORS[message.tone]}">{html.escape(message.text)}</span>'
        self.progress.max = max(1, state.steps_total)
        self.progress.value = min(state.steps_done, self.progress.max)
        self.progress.bar_style = BAR_STYLES.get(message.status, self.progress.bar_style)
        self.train_button.disabled = state.running or self.controls.problem() is not None
        self.stop_button.disabled = not state.running or state.stopping

    def _on_change(self, _change=None) -> None:
        """A control changed: enable what can matter now; say so where the settings cannot be trained."""
        c = self.controls
        c.bn_position.disabled = c.bn_impl.disabled = not c.selected_layers()  # they matter only with BN
        self.run.settle(c.problem())

    def _guarded(self, action: Callable[[], object], what: str) -> Callable:
        """``action`` as a widget callback: an exception it raises is said in the status line, never a traceback."""
        def callback(*_args) -> None:
            try:
                action()
            except Exception as exc:
                self.run.update(Message(Status.FAILED, f"{what}: {type(exc).__name__}: {exc}", "error"))
        return callback

    def start(self, config: TrainConfig | None = None) -> bool:
        """Train ``config`` (default: what the controls say) in a background thread; False if it did not start.

        ``config`` lets a caller run settings the controls cannot express (e.g. lr beyond the slider).
        """
        started = time.perf_counter()
        if config is None:
            problem = self.controls.problem()
            if problem is not None:
                return self.run.start(None, problem)
            config = self.controls.read()
        return self.run.start(lambda stop: self._work(config, stop, started),
                              Message(Status.RUNNING, f"Looking for {config.describe()} in the cache...", "info"))

    def stop(self) -> None:
        """End the current run after its current batch (no-op when idle)."""
        self.run.request_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run (if any) is over; True if it is over, False on timeout."""
        return self.run.wait(timeout)

    def _work(self, config: TrainConfig, stop: threading.Event, started: float) -> tuple[Outcome, Message]:
        """The worker's job: the run, from the cache (one look-up) or trained with live progress, then drawn."""
        planned, drawn, note = None, 0, ""  # note: why the curves could not be drawn, if they could not

        def on_step(step: int) -> None:
            nonlocal planned
            if planned is None:  # training, not the cache: its images are loaded by now
                planned = planned_steps(config)
                training = Message(Status.RUNNING, f"Training {config.describe()}...", "info")
                self.run.update(None if stop.is_set() else training, steps_total=planned)
            self.run.update(steps_done=step, throttle=True)

        def on_epoch(epoch: int, history: History) -> None:
            nonlocal drawn, note
            note, drawn = self._draw(history, config), len(history.test_acc)
            text = (f"Epoch {epoch} of {config.epochs}: test accuracy {100 * history.test_acc[-1]:.2f}%, "
                    f"training loss {history.train_loss[-1]:.4f}{note}")
            self.run.update(None if stop.is_set() else Message(Status.RUNNING, text, "info"),
                            steps_done=len(history.step_loss))

        try:
            run = cache.cached_run(config, progress=False, callback=on_epoch, stop=stop, on_step=on_step)
        except Exception as exc:  # data missing, out of memory, ...: a message, not a traceback
            outcome = Outcome(config, seconds=time.perf_counter() - started, error=exc)
            return outcome, outcome_message(outcome)
        if drawn != len(run.history.test_acc):
            note = self._draw(run.history, config)
        done = len(run.history.step_loss)
        self.run.update(steps_done=done, steps_total=planned if planned and not run.hit else done)
        outcome = Outcome(config, run.history, run.hit, time.perf_counter() - started, planned)
        message = outcome_message(outcome)
        return outcome, message._replace(text=message.text + note)

    def _draw(self, history: History | None, config: TrainConfig) -> str:
        """Redraw the baseline's curves and ``history``'s; '' or, in words, why they could not be drawn."""
        runs = {label: h for label, h in (("baseline", self.baseline), ("this run", history)) if h is not None}
        if not self.draw or not runs:
            return ""
        names = {"baseline": f"baseline: {self.baseline_label}", "this run": f"this run: {config.describe()}"}
        diverged_at = history.diverged_step if history is not None and history.diverged else None
        try:
            self._figure = plots.live_curves(runs, "\n".join(names[k] for k in runs), diverged_at, fig=self._figure)
            self.plot.value = plots.png(self._figure)
        except Exception as exc:  # a plotting problem must not end the run
            self._figure = None  # start afresh next time
            return f" (could not draw the curves: {type(exc).__name__}: {exc})"
        return ""
