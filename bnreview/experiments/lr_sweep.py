"""Runs of the chapter "Does BN allow larger learning rates?" and of the explorer, which shares them.

* The sweep (:func:`lr_sweep_runs`): LeNet without BN and with BN on all four layers
  (:data:`SWEEP_NETWORKS`) at every learning rate of :data:`LRS`, over the seeds.
* The placement grid (:func:`placement_grid`): every placement of :data:`PLACEMENTS` (BN on
  some layers, before or after tanh) at :data:`PLACEMENT_LRS`, over the seeds.
* The explorer's grid (:func:`compute_grid`, a :class:`Grid`): :data:`EXPLORER_PLACEMENTS` at
  every learning rate of :data:`LRS`, one seed (:data:`GRID_SEED`); :func:`grid_summary` gives
  its numbers per placement. :mod:`bnreview.explorer` draws it.

:data:`PLACEMENTS` is the one list of where BN goes (key, words, layers, before or after
tanh); every run is :func:`~bnreview.experiments.common.sweep_config` with BN placed by
:func:`placement_config`, so the three share their cache entries: the explorer trains only the
placements the chapter does not run at every learning rate. The quick profile
(``BNREVIEW_QUICK=1``) shrinks every grid and run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bnreview import criteria
from bnreview.config import TrainConfig, is_quick, pick
from bnreview.experiments.common import Plan, grid_plan, run_plan, seed_summary, sweep_config, run_configs
from bnreview.data import TRAIN_SIZE
from bnreview.models import BN_LAYERS
from bnreview.train import History

LRS = (0.01, 0.03, 0.1, 0.3, 0.9, 3.0, 9.0)
QUICK_LRS = (0.1, 0.9, 9.0)
PLACEMENT_LRS = (0.1, 0.3, 0.9, 3.0)  # where BN goes, over the seeds: the protocol tests the placement at each
# of these usable for both (other rates: the explorer's one-seed grid)
GRID_SEED = 0  # the explorer's grid runs this seed only


@dataclass(frozen=True)
class Placement:
    """Where BN goes in LeNet: a key, the layers with BN in words and by name, before or after tanh."""

    key: str
    layers: str  # the layers with BN in words ("no BN" for none): the placement grid's first key
    bn: tuple[str, ...] = ()
    position: str = "before"  # BN before or after the nonlinearity (tanh)

    @property
    def label(self) -> str:
        """The placement in words, as buttons, legends and tables name it: "fc1 only", "all four, after tanh"."""
        return f"{self.layers}, after tanh" if self.bn and self.position == "after" else self.layers

    @property
    def grid_key(self) -> tuple[str, str]:
        """Its key in the placement grid: ``(layers, position)``, the position "-" without BN."""
        return self.layers, (self.position if self.bn else "-")


CONV_LAYERS = ("conv1", "conv2", "conv3")
PLACEMENTS = (  # every placement the book runs, in the order tables and figures list them
    Placement("none", "no BN"),
    Placement("convs", "convs only", CONV_LAYERS),
    Placement("convs-after", "convs only", CONV_LAYERS, "after"),
    Placement("fc1", "fc1 only", ("fc1",)),
    Placement("fc1-after", "fc1 only", ("fc1",), "after"),
    Placement("all", "all four", BN_LAYERS),
    Placement("all-after", "all four", BN_LAYERS, "after"),
)
PLACEMENT_BY_KEY = {p.key: p for p in PLACEMENTS}
SWEEP_NETWORKS = {"no BN": "none", "BN (all four layers)": "all"}  # the sweep's networks: name -> placement key
EXPLORER_PLACEMENTS = ("none", "convs", "fc1", "all", "all-after")
QUICK_EXPLORER_PLACEMENTS = ("none", "all")


def placement(key: str | Placement) -> Placement:
    """The placement of :data:`PLACEMENTS` with this key (a Placement is returned as it is)."""
    if isinstance(key, Placement):
        return key
    try:
        return PLACEMENT_BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown placement {key!r}; accepted: {', '.join(PLACEMENT_BY_KEY)}") from None


def placement_config(lr: float, where: str | Placement, seed: int = GRID_SEED, **changes) -> TrainConfig:
    """The sweep's run at ``lr`` (:func:`~bnreview.experiments.common.sweep_config`) with BN placed as ``where``."""
    p = placement(where)
    if p.bn:
        changes = {"bn_position": p.position, **changes}
    return sweep_config(lr, p.bn, seed=seed, **changes)


# ---------------------------------------------------------------------------------------
# The sweep and the placement grid, over the seeds


def lr_sweep_plan(lrs: Sequence[float] | None = None, variants: dict[str, tuple] | None = None,
                  seed_list: Iterable[int] | None = None, **changes) -> Plan:
    """``{(network, lr): [config per seed]}`` for every learning rate and network (name -> BN layers).

    Defaults: the learning rates ``LRS`` (``QUICK_LRS`` in the quick profile), the networks of
    :data:`SWEEP_NETWORKS` (no BN, BN on all four layers), ``SEEDS``.
    """
    lrs = pick(LRS, QUICK_LRS) if lrs is None else lrs
    if variants is None:
        variants = {name: placement(key).bn for name, key in SWEEP_NETWORKS.items()}
    return grid_plan({(name, lr): sweep_config(lr, bn, **changes) for name, bn in variants.items() for lr in lrs},
                     seed_list)


def lr_sweep_runs(lrs: Sequence[float] | None = None, variants: dict[str, tuple] | None = None,
                  seed_list: Iterable[int] | None = None, **changes) -> dict[tuple[str, float], list[History]]:
    """The runs of :func:`lr_sweep_plan`: ``{(network, lr): [History per seed]}``."""
    return run_plan(lr_sweep_plan(lrs, variants, seed_list, **changes))


def sweep_rows(results: dict[tuple[str, float], list[History]], accuracies=(0.97, 0.98)) -> list[dict]:
    """One row per (network, lr): the :func:`~bnreview.experiments.common.seed_summary` plus ``variant`` and ``lr``."""
    return [{"variant": variant, "lr": lr, **seed_summary(hs, accuracies)} for (variant, lr), hs in results.items()]


def placement_configs(lr: float, placements: Iterable[str | Placement] | None = None
                      ) -> dict[tuple[str, str], TrainConfig]:
    """``{placement's grid_key: config}`` at ``lr``: every placement (default :data:`PLACEMENTS`), no BN once."""
    chosen = PLACEMENTS if placements is None else tuple(map(placement, placements))
    return {p.grid_key: placement_config(lr, p) for p in chosen}


def placement_plan(lrs: Sequence[float] | None = None, seed_list: Iterable[int] | None = None) -> Plan:
    """``{(layers, position, lr): [config per seed]}``: every placement before and after tanh at each of
    ``PLACEMENT_LRS`` (in the quick profile, the last one only)."""
    lrs = pick(PLACEMENT_LRS, PLACEMENT_LRS[-1:]) if lrs is None else lrs
    return grid_plan({(layers, position, lr): config for lr in lrs
                      for (layers, position), config in placement_configs(lr).items()}, seed_list)


def placement_grid(lrs: Sequence[float] | None = None, seed_list: Iterable[int] | None = None
                   ) -> dict[tuple[str, str, float], list[History]]:
    """The runs of :func:`placement_plan`: ``{(layers, position, lr): [History per seed]}``."""
    return run_plan(placement_plan(lrs, seed_list))


# ---------------------------------------------------------------------------------------
# The explorer's grid: every learning rate x placement, one seed


def grid_settings(quick: bool | None = None) -> dict:
    """The explorer's grid: ``{"lrs": ..., "placements": (Placement, ...)}``.

    Full profile: :data:`LRS` x :data:`EXPLORER_PLACEMENTS`. Quick profile (``BNREVIEW_QUICK=1``):
    :data:`QUICK_LRS` x :data:`QUICK_EXPLORER_PLACEMENTS` (each run shrunk by the quick profile).
    """
    quick = is_quick() if quick is None else quick
    lrs, keys = (QUICK_LRS, QUICK_EXPLORER_PLACEMENTS) if quick else (LRS, EXPLORER_PLACEMENTS)
    return {"lrs": tuple(lrs), "placements": tuple(map(placement, keys))}


@dataclass
class Grid:
    """Runs for every (learning rate, placement) pair; ``runs[i, j]`` is lr ``lrs[i]`` with ``placements[j]``."""

    lrs: tuple[float, ...]
    placements: tuple[Placement, ...]
    configs: dict[tuple[int, int], TrainConfig] = field(default_factory=dict)
    runs: dict[tuple[int, int], History] = field(default_factory=dict)
    wall_seconds: float = 0.0  # this computation's wall time (small when the runs came from the cache)

    def index(self, lr: float, where: str | Placement) -> tuple[int, int]:
        """The ``(i, j)`` of the run at ``lr`` with BN placed as ``where``."""
        key = placement(where).key
        return self.lrs.index(lr), [p.key for p in self.placements].index(key)

    def run(self, lr: float, where: str | Placement) -> History:
        """The run at ``lr`` with BN placed as ``where``."""
        return self.runs[self.index(lr, where)]

    @property
    def config(self) -> TrainConfig:
        """The settings every run shares (the first run's config; lr and BN differ)."""
        return self.configs[0, 0]

    @property
    def epochs(self) -> int:
        """Epochs of every run."""
        return self.config.epochs

    @property
    def n_train(self) -> int | None:
        """Training images of every run (None: the whole training set but the held-out images)."""
        return self.config.n_train

    @property
    def steps(self) -> int:
        """SGD steps of a run that did not diverge."""
        h = self.runs[0, 0]
        return self.config.steps or self.epochs * h.steps_per_epoch

    def train_seconds(self, i: int, j: int) -> float:
        """The run's training time when it was computed (evaluation excluded), from its History."""
        return float(sum(self.runs[i, j].epoch_seconds))

    @property
    def n_runs(self) -> int:
        """Runs in the grid."""
        return len(self.runs)

    def final_acc(self, i: int, j: int) -> float:
        """Final test accuracy of run ``(i, j)``."""
        return self.runs[i, j].final_test_acc

    def n_train_text(self) -> str:
        """The number of training images, written out ("55,000")."""
        return f"{TRAIN_SIZE - self.config.val_size:,}" if self.n_train is None else f"{self.n_train:,}"


def explorer_plan(lrs: Sequence[float] | None = None, placements: Iterable[str | Placement] | None = None,
                  seed: int = GRID_SEED, make_config: Callable[..., TrainConfig] = placement_config, **changes) -> Plan:
    """The explorer's grid as a plan: ``{(i, j): [config]}``, lr ``lrs[i]`` with ``placements[j]``, one seed.
    Unset arguments come from :func:`grid_settings`."""
    settings = grid_settings()
    lrs = tuple(settings["lrs"] if lrs is None else lrs)
    chosen = tuple(map(placement, settings["placements"] if placements is None else placements))
    return {(i, j): [make_config(lr, p, seed=seed, **changes)] for j, p in enumerate(chosen) for i, lr in enumerate(lrs)}


def compute_grid(
    lrs: Sequence[float] | None = None,
    placements: Iterable[str | Placement] | None = None,
    seed: int = GRID_SEED,
    progress: bool = True,
    make_config: Callable[..., TrainConfig] = placement_config,
    **changes,
) -> Grid:
    """Train (or read from the run cache) every run of :func:`explorer_plan` into a :class:`Grid`.

    ``changes`` override fields of every run's config (tests: a small ``n_train``, ``device``).
    """
    settings = grid_settings()
    grid = Grid(lrs=tuple(settings["lrs"] if lrs is None else lrs),
                placements=tuple(map(placement, settings["placements"] if placements is None else placements)))
    start = time.perf_counter()
    plan = explorer_plan(grid.lrs, grid.placements, seed, make_config, **changes)
    for key, history in zip(plan, run_configs([config for (config,) in plan.values()], progress)):
        grid.configs[key] = plan[key][0]
        grid.runs[key] = history
    grid.wall_seconds = time.perf_counter() - start
    return grid


def grid_summary(grid: Grid, accuracy: float = criteria.TRAINS_ACCURACY) -> dict:
    """The grid's numbers per placement key, with the book's one set of criteria (:mod:`bnreview.findings`):

    - ``best_lr``: the learning rate chosen on the held-out validation images
      (:func:`~bnreview.criteria.best_by_validation`), ``best_acc`` its final test accuracy (%);
    - ``largest_trains_lr``: the largest learning rate that trains (:func:`~bnreview.criteria.trains`: the
      run ends at ``accuracy`` test accuracy or more and did not diverge), here on the grid's one seed;
    - ``min_diverged_lr``/``n_diverged``: the smallest learning rate at which the run diverged, and how many did;
    - and over the grid, ``seconds_per_run`` and ``seconds_total`` of training.
    """
    out = {}
    for j, p in enumerate(grid.placements):
        runs = {lr: [grid.runs[i, j]] for i, lr in enumerate(grid.lrs)}
        best = criteria.best_by_validation(runs, grid.lrs)
        diverged = [lr for lr in grid.lrs if runs[lr][0].diverged]
        out[p.key] = {
            "label": p.label,
            "best_lr": best,
            "best_acc": 100 * runs[best][0].final_test_acc,
            "largest_trains_lr": criteria.largest_trainable_lr({(p.key, lr): r for lr, r in runs.items()}, p.key,
                                                               accuracy),
            "min_diverged_lr": min(diverged) if diverged else None,
            "n_diverged": len(diverged),
        }
    seconds = [grid.train_seconds(i, j) for (i, j) in grid.runs]
    out["seconds_per_run"] = sum(seconds) / max(len(seconds), 1)
    out["seconds_total"] = sum(seconds)
    return out
