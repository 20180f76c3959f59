"""The criteria, one definition each (see :mod:`bnreview.findings`), and the measures several chapters share.

Spread over seeds, clearly different, a learning rate trains, the usable range, chosen on validation and
time per epoch; and, built on them, the steps to an accuracy, which network gets there sooner, the growth
of a layer's weights, and the pilot's choice of the paper's MLP learning rate (which ``experiments`` uses
to train at the chosen rate).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from bnreview.findings.wording import plural, seeds_text
from bnreview.train import History

TRAINS_ACCURACY = 0.97


# ---------------------------------------------------------------------------------------
# Spreads and comparisons


@dataclass(frozen=True)
class Spread:
    """One number over a setting's seeds: mean, sample std (0 for one seed), min, max and how many."""

    values: tuple[float, ...]

    def __post_init__(self):
        if not self.values:
            raise ValueError("a spread needs at least one value (got none)")

    @property
    def n(self) -> int:
        """How many values (seeds)."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """The mean of the values."""
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        """The sample standard deviation (0 for one value)."""
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    @property
    def lo(self) -> float:
        """The smallest value."""
        return min(self.values)

    @property
    def hi(self) -> float:
        """The largest value."""
        return max(self.values)

    def text(self, digits: int = 2, unit: str = "%") -> str:
        """``"98.94% ± 0.05 (3 seeds, 98.90 to 98.99)"``; one seed: ``"98.94% (1 seed)"``."""
        mean = f"{self.mean:.{digits}f}{unit}"
        if self.n == 1:
            return f"{mean} (1 seed)"
        return f"{mean} ± {self.std:.{digits}f} ({self.n} seeds, {self.lo:.{digits}f} to {self.hi:.{digits}f})"


def spread(values: Iterable[float]) -> Spread:
    """The :class:`Spread` of some values (one per seed)."""
    return Spread(tuple(float(v) for v in values))


def final_accuracy(histories: Sequence[History]) -> Spread:
    """Final test accuracy (in %) over the runs; a diverged run counts with what it was left at."""
    return spread(100 * h.final_test_acc for h in histories)


def epoch_accuracy(histories: Sequence[History], epoch: int) -> Spread:
    """Test accuracy (in %) after ``epoch`` (1-based) over the runs."""
    return spread(100 * h.test_acc[epoch - 1] for h in histories)


@dataclass(frozen=True)
class Comparison:
    """Setting ``b`` against setting ``a`` on one number: the difference of the means and whether it is clear."""

    a: Spread
    b: Spread

    @property
    def difference(self) -> float:
        """``b``'s mean minus ``a``'s."""
        return self.b.mean - self.a.mean

    @property
    def clear(self) -> bool:
        """Every value of one side above every value of the other (see the package's criteria)."""
        return self.b.lo > self.a.hi or self.a.lo > self.b.hi

    @property
    def direction(self) -> str:
        """``"higher"``, ``"lower"`` (b against a, when clear) or ``"within the spread of the seeds"``."""
        if not self.clear:
            return "within the spread of the seeds"
        return "higher" if self.difference > 0 else "lower"

    def text(self, a_name: str, b_name: str, what: str = "final test accuracy", digits: int = 2,
             unit: str = "%") -> str:
        """A sentence: ``"final test accuracy: with BN 98.94% ± 0.05 (...) against 98.71% ± ... without;
        the difference, +0.23 points, is clear: every seed of one is above every seed of the other."``"""
        points = " points" if unit == "%" else unit
        head = (f"{what}: {b_name} {self.b.text(digits, unit)} against {self.a.text(digits, unit)} {a_name}; "
                f"the difference, {self.difference:+.{digits}f}{points}, ")
        if self.clear:
            return head + "is clear: every seed of one ends above every seed of the other"
        return head + "is within the spread of the seeds"


def compare(a: Iterable[float] | Spread, b: Iterable[float] | Spread) -> Comparison:
    """``b`` against ``a`` (spreads, or the values of each seed)."""
    return Comparison(a if isinstance(a, Spread) else spread(a), b if isinstance(b, Spread) else spread(b))


# ---------------------------------------------------------------------------------------
# Learning rates


def trains(histories: Sequence[History], accuracy: float = TRAINS_ACCURACY) -> bool:
    """Every run ended at ``accuracy`` or more (final test accuracy) and none diverged; False for no runs."""
    return bool(histories) and all(not h.diverged and h.final_test_acc >= accuracy for h in histories)


def largest_trainable_lr(results: dict[tuple[str, float], Sequence[History]], variant: str,
                         accuracy: float = TRAINS_ACCURACY) -> float | None:
    """The largest learning rate of ``{(variant, lr): runs}`` at which ``variant`` trains (None: at none)."""
    good = [lr for (v, lr), runs in results.items() if v == variant and trains(runs, accuracy)]
    return max(good) if good else None


def grid_steps(low: float, high: float, grid: Sequence[float]) -> int:
    """How many steps of the (sorted) grid lie between two of its values."""
    ordered = sorted(grid)
    return ordered.index(high) - ordered.index(low)


def usable_range_text(results: dict[tuple[str, float], Sequence[History]], without: str, with_: str,
                      accuracy: float = TRAINS_ACCURACY) -> str:
    """What BN does to the usable range of learning rates, as one sentence generated from the runs."""
    lrs = sorted({lr for _, lr in results})
    n_seeds = min(len(runs) for runs in results.values())
    a, b = largest_trainable_lr(results, without, accuracy), largest_trainable_lr(results, with_, accuracy)
    seeds = f"{seeds_text(n_seeds)} each"
    criterion = f"every seed ending at {100 * accuracy:g}% or more without diverging"
    if a is None and b is None:
        return f"no learning rate of the grid trains either network ({criterion}; {seeds})"
    if a is None or b is None:
        which, lr = ("with BN", b) if a is None else ("without BN", a)
        return (f"only the network {which} trains at some learning rate of the grid (up to {lr:g}; {criterion}; "
                f"{seeds})")
    if a == b:
        return f"BN leaves the usable range as it is: up to lr {a:g} with and without BN ({criterion}; {seeds})"
    steps = grid_steps(min(a, b), max(a, b), lrs)
    size = f"{plural(steps, 'grid step')}, x{max(a, b) / min(a, b):.3g}"
    verb = "widens" if b > a else "narrows"
    return f"BN {verb} the usable range of learning rates from {a:g} to {b:g} ({size}; {criterion}; {seeds})"


def steps_to_accuracy(histories: Sequence[History], accuracy: float) -> list[float]:
    """Each run's first SGD step at ``accuracy`` test accuracy (``math.inf``: it never got there)."""
    return [math.inf if (s := h.steps_to(accuracy)) is None else float(s) for h in histories]


def reaches_sooner(a: Sequence[History], b: Sequence[History], accuracy: float) -> bool:
    """Every run of ``b`` reaches ``accuracy`` before every run of ``a`` (a run that never does comes last):
    the "clearly different" criterion of :func:`compare` applied to the steps."""
    sb, sa = steps_to_accuracy(b, accuracy), steps_to_accuracy(a, accuracy)
    return bool(sa and sb) and max(sb) < min(sa)


# ---------------------------------------------------------------------------------------
# Chosen on validation


def best_by_validation(results: dict[Hashable, Sequence[History]], keys: Iterable[Hashable] | None = None
                       ) -> Hashable:
    """The key whose runs have the highest mean final validation accuracy (diverged runs count as 0).

    Ties go to the first key in ``keys`` order. Raises ValueError if a run held nothing out:
    a choice must never fall back on the test set.
    """
    keys = list(results if keys is None else keys)
    if not keys:
        raise ValueError("nothing to choose from: no settings given")

    def score(key) -> float:
        runs = results[key]
        if not runs or any(not h.val_acc for h in runs):
            raise ValueError(f"runs of {key!r} held out no validation images; choosing on the test set is not allowed")
        return statistics.fmean(0.0 if h.diverged else h.final_val_acc for h in runs)

    return max(keys, key=score)


def pilot_choice(pilot: dict, std: float) -> dict:
    """The learning rate of the paper's MLP, chosen on validation (:func:`best_by_validation`): the best of the
    pilot's for the network WITHOUT BN at initial scale ``std``; the runner-up (second best on validation); the best
    with BN; and the best (std, lr) without BN over every scale of the pilot."""
    lrs = sorted({lr for s, lr, _ in pilot if s == std})
    if not lrs:
        raise ValueError(f"the pilot holds no run at init_std {std:g}")
    nobn = {lr: pilot[std, lr, "none"] for lr in lrs}
    best = best_by_validation(nobn)
    rest = {lr: runs for lr, runs in nobn.items() if lr != best}
    return {"std": std, "lr": best, "runner_up": best_by_validation(rest) if rest else None,
            "bn_lr": best_by_validation({lr: pilot[std, lr, "all"] for lr in lrs}),
            "overall": best_by_validation({(s, lr): r for (s, lr, bn), r in sorted(pilot.items()) if bn == "none"})}


# ---------------------------------------------------------------------------------------
# Time


def seconds_per_epoch(histories: Sequence[History]) -> float:
    """The median over runs of each run's mean training seconds per epoch (evaluation excluded)."""
    per_run = [sum(h.epoch_seconds) / len(h.epoch_seconds) for h in histories if h.epoch_seconds]
    return statistics.median(per_run) if per_run else math.nan


def train_minutes(runs: Iterable[History]) -> float:
    """Training time of a set of runs in minutes (the sum of their epochs' seconds, evaluation excluded)."""
    return sum(sum(h.epoch_seconds) for h in runs) / 60


# ---------------------------------------------------------------------------------------
# Weights


def weight_norms(history: History, layer: str) -> tuple[float, float]:
    """The weight norm of ``layer`` at the first probe and at the last probe where it was finite."""
    norms = [n for n in history.probes[layer]["weight_norm"] if math.isfinite(n)]
    return norms[0], norms[-1]


def weight_growth(histories: Sequence[History], layer: str) -> Spread:
    """``||W_end|| / ||W_start||`` of ``layer`` over the runs."""
    return spread(end / start for start, end in (weight_norms(h, layer) for h in histories))
