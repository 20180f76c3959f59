"""Every run the book trains, listed without training anything: the registry behind ``runs`` and ``precompute``.

Each chapter's entry in :data:`CHAPTERS` returns the plans (:data:`bnreview.experiments.Plan`:
``{key: [TrainConfig per seed]}``) of the experiments functions that chapter calls; the chapters
run those same plans (``ex.review_runs()`` is ``run_plan(review_plan())``), so the two cannot
drift apart, and ``python -m bnreview runs --check-log`` fails a build whose chapters asked for a
run the registry does not list. Some stages are known only after training: the paper's MLP runs, the regularisation
chapter's variants, the depth chapter's networks and the tuned baselines, at the learning rates their pilots choose. Until a
pilot's runs are cached, the chapter lists the pilot and says what follows (:class:`Pending`);
``precompute`` trains the pilot first, then lists again.

``expected_seconds`` is a linear model of a run's cost (steps, training images, evaluations,
probes), set from idle measurements (:data:`COST_FIT`): it orders the work (longest first) and
gives the first estimate of the time left, which the measured runs correct.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bnreview import experiments as ex
from bnreview.cache import cache_key, entry_path, load_cached
from bnreview.config import TrainConfig, steps_per_epoch
from bnreview.data import TRAIN_SIZE
from bnreview.findings import TRY_LR
from bnreview.models import MLP_DEPTH
from bnreview.criteria import pilot_choice


@dataclass(frozen=True)
class Pending:
    """Runs a chapter needs that can be listed only once the runs ``needs`` (described by ``waits_for``) are trained."""

    what: str
    waits_for: str
    needs: tuple[TrainConfig, ...] = ()


def _staged(pilot: dict, then: Callable[[dict], list], what: str) -> list:
    """``pilot`` and, once every pilot run is cached, the plans ``then(pilot's histories)`` returns (else a Pending)."""
    histories = {key: [load_cached(config) for config in configs] for key, configs in pilot.items()}
    if any(h is None for hs in histories.values() for h in hs):
        needs = tuple(config for configs in pilot.values() for config in configs)
        return [pilot, Pending(what, f"the pilot's {len(needs)} runs", needs)]
    return [pilot, *then(histories)]


def _paper_mnist() -> list:
    """The pilot; the runs at the learning rates it chooses once every pilot run is cached (else a Pending)."""
    return _staged(ex.pilot_plan(), lambda pilot: list(ex.chosen_plan(pilot_choice(pilot, ex.MLP_INIT_STD))),
                   "the paper's MLP at the learning rates (and runner-up) its pilot chooses, over the seeds")


def _regularisation() -> list:
    """The pilot; the four variants and the decay schedules at the rates it chooses, and the L2 pilot at those rates,
    once every pilot run is cached; the L2 grid's runs once the L2 pilot is (else a Pending at each stage)."""
    def chosen(pilot: dict) -> list:
        choice = ex.reg_choice(pilot)
        return [ex.regularisation_plan(choice), ex.decay_plan(choice),
                *_staged(ex.l2_pilot_plan(choice), lambda l2: [ex.l2_plan(choice, ex.l2_choice(l2))],
                         "each network with and without the weight decay its L2 pilot chooses, over the seeds")]

    return _staged(ex.reg_pilot_plan(), chosen,
                   "the four variants, the decay schedules and the L2 pilot at the rates the pilot chooses")


def _depth() -> list:
    """Each family's pilot; every network at every depth at its chosen rate once the family's pilot runs are cached
    (else a Pending)."""
    return [item for family in ex.FAMILIES for item in _staged(
        ex.depth_pilot_plan(family), lambda pilot, family=family: [ex.depth_plan(ex.depth_choice(pilot), family)],
        f"each {family} network at every depth at the learning rate its pilot chooses, over the seeds")]


def _tuned(dataset: str) -> list:
    """The pilot on ``dataset``; both networks at the rates it chooses once every pilot run is cached (else a
    Pending)."""
    return _staged(ex.tuned_pilot_plan(dataset), lambda pilot: [ex.tuned_plan(dataset, ex.tuned_choice(pilot))],
                   "both networks at the learning rates their pilot chooses, over the seeds")


# chapter -> the plans of the experiments its notebook calls (conclusion: every chapter it summarises)
CHAPTERS: dict[str, Callable[[], list]] = {
    "motivation": lambda: [ex.review_plan()],
    "algorithm": lambda: [],
    "baseline": lambda: [ex.baseline_plan()],
    "lenet_bn": lambda: [ex.review_plan(), ex.torch_bn_plan(), *_tuned("mnist")],
    "explorer": lambda: [ex.explorer_plan(), ex.lr_sweep_plan()],
    "in_browser": lambda: [ex.lr_sweep_plan(lrs=(TRY_LR,))],
    "lr_sweep": lambda: [ex.lr_sweep_plan(), ex.placement_plan()],
    "paper_mnist": lambda: [ex.review_plan(), *_paper_mnist()],
    "what_bn_does": lambda: [ex.noisy_plan(), ex.batch_size_plan(), ex.landscape_plan()],
    "regularisation": _regularisation,
    "fashion": lambda: [ex.fashion_review_plan(), ex.fashion_lr_plan(), ex.review_plan(), *_tuned(ex.FASHION)],
    "depth": _depth,
    "conclusion": lambda: [ex.review_plan(), ex.torch_bn_plan(), *_tuned("mnist"), ex.lr_sweep_plan(),
                           ex.placement_plan(), *_paper_mnist(), ex.noisy_plan(), ex.batch_size_plan(),
                           ex.landscape_plan(), *_regularisation(), ex.fashion_review_plan(), ex.fashion_lr_plan(),
                           *_tuned(ex.FASHION), ex.d2l_plan(), *_depth()],
    "protocol": lambda: [],
}


@dataclass(frozen=True)
class Run:
    """One run of the registry: its config, the chapters that read it, whether it is cached, its expected cost."""

    config: TrainConfig
    key: str
    chapters: tuple[str, ...]
    cached: bool
    seconds: float  # expected training time on 2 idle cores of the reference machine (see expected_seconds)


TEST_SIZE = 10_000  # test images in either data set

# Seconds on 2 idle cores per unit of each of features(): a step's fixed cost, a training image, the
# extra of a training image with BN on every layer, an image evaluated, a probe. Set from idle
# measurements (COST_FIT); precompute corrects its time-left estimate with the runs it times.
COST = {"lenet": (1.4e-3, 0.11e-3, 0.03e-3, 0.045e-3, 0.04), "mlp": (1.2e-3, 0.005e-3, 0.022e-3, 0.003e-3, 0.004),
        "convnet": (3.3e-3, 0.0, 0.016e-3, 0.1e-3, 0.1)}
COST_FIT = ("AMD EPYC (AVX2), 2 cores, torch 2.14.1, 2026-12-06: LeNet from benchmarks/epoch_profile.py (a step "
            "7.7 ms without BN, 9.6 ms with, 10,000 test images 0.45 s, a probe 0.04 s); the paper's MLP from the "
            "cold build's run log (50,000 steps: 80 s without BN, 143 s with); the ConvNet on an Intel Xeon (AVX-512), "
            "2026-12-07, one thread (a step of batch 60: 4.4 ms at 2 layers, 17.6 ms at 16, 22.6 ms with BN)")


def features(config: TrainConfig) -> tuple[float, float, float, float, float]:
    """What a run does, in the units of :data:`COST`: steps (times the MLP's hidden layers over the paper's 3),
    training images, training images times the share of layers with BN, images evaluated (test and validation),
    probes."""
    images = (TRAIN_SIZE - config.val_size) if config.n_train is None else config.n_train
    per_epoch = steps_per_epoch(images, config.batch_size)
    steps = config.steps if config.steps is not None else config.epochs * per_epoch
    epochs = -(-steps // per_epoch)
    layers = 1.0 if config.model == "lenet" else config.hidden_layers / MLP_DEPTH  # a deeper network costs more a step
    bn_share = len(config.bn) / (4 if config.model == "lenet" else MLP_DEPTH)
    evaluated = epochs * (TEST_SIZE + config.val_size)
    if config.eval_every:
        evaluated += (steps // config.eval_every + 1) * TEST_SIZE
    probes = steps // config.probe_every + 1 if config.probe_every else 0
    trained = steps * config.batch_size
    return steps * layers, trained, trained * bn_share, evaluated, probes


def expected_seconds(config: TrainConfig) -> float:
    """What ``config`` should cost to train on 2 idle cores, by the fitted model (:data:`COST`)."""
    return sum(unit * amount for unit, amount in zip(COST[config.model], features(config)))


def chapter_names() -> tuple[str, ...]:
    """The chapters that have an entry, in the book's order."""
    return tuple(CHAPTERS)


def plans(chapter: str) -> tuple[list[TrainConfig], list[Pending]]:
    """Every config (one per seed) ``chapter`` needs, in its plans' order, and what it cannot list yet."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; accepted: {', '.join(CHAPTERS)}")
    configs, pending = [], []
    for item in CHAPTERS[chapter]():
        if isinstance(item, Pending):
            pending.append(item)
        else:
            configs.extend(config for seeds in item.values() for config in seeds)
    return configs, pending


def registry(chapters: Iterable[str] | None = None) -> tuple[list[Run], list[tuple[str, Pending]]]:
    """Every distinct run of ``chapters`` (default: all), with the chapters that read it, and the pending stages."""
    chosen = tuple(CHAPTERS) if chapters is None else tuple(chapters)
    found: dict[str, tuple[TrainConfig, list[str]]] = {}
    waiting = []
    for chapter in chosen:
        configs, pending = plans(chapter)
        waiting += [(chapter, p) for p in pending]
        for config in configs:
            key = cache_key(config)
            entry = found.setdefault(key, (config, []))
            if chapter not in entry[1]:
                entry[1].append(chapter)
    runs = [Run(config, key, tuple(names), entry_path(config).exists(), expected_seconds(config))
            for key, (config, names) in found.items()]
    return runs, waiting


def unlisted(run_log: Path) -> list[str]:
    """The runs a build's chapters asked for (``BNREVIEW_RUN_LOG`` lines) that the registry does not list."""
    listed = {run.key for run in registry()[0]}
    missing = []
    for line in run_log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("key") not in listed and entry["run"] not in missing:
            missing.append(entry["run"])
    return missing
