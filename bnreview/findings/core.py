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
from functools import cached_property

from bnreview import stats
from bnreview.findings.wording import plural, seeds_text
from bnreview.probes import PERCENTILES
from bnreview.stats import Effect
from bnreview.train import History

# ---------------------------------------------------------------------------------------
# Spreads and comparisons


@dataclass(frozen=True)
class Spread:
    """One number over a setting's runs: mean, sample std (0 for one run), min, max and how many.

    ``seeds`` names each value's run (its seed, or its place in a list of runs evaluated two ways):
    two spreads with the same ``seeds`` are compared as pairs (:class:`Comparison`).
    """

    values: tuple[float, ...]
    seeds: tuple[int, ...] | None = None

    def __post_init__(self):
        if not self.values:
            raise ValueError("a spread needs at least one value (got none)")
        if self.seeds is not None and len(self.seeds) != len(self.values):
            raise ValueError(f"{len(self.values)} values but {len(self.seeds)} seeds")

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

    def short(self, digits: int = 2, unit: str = "%") -> str:
        """``"98.94% (98.90 to 98.99)"``: the mean and the seeds' range, for a table whose caption states the seeds
        once; one value: ``"98.94%"``."""
        mean = f"{self.mean:.{digits}f}{unit}"
        return mean if self.n == 1 else f"{mean} ({self.lo:.{digits}f} to {self.hi:.{digits}f})"


def spread(values: Iterable[float], seeds: Iterable[int] | None = None) -> Spread:
    """The :class:`Spread` of some values (one per run), each named by its run's seed if given."""
    return Spread(tuple(float(v) for v in values), None if seeds is None else tuple(int(s) for s in seeds))


def seeds_of(histories: Sequence[History]) -> tuple[int, ...] | None:
    """The seed of each run, in order: what pairs runs of two settings (:class:`Comparison`); None if a run's
    config names no seed (then nothing pairs them)."""
    seeds = [h.config.get("seed") for h in histories]
    return None if None in seeds else tuple(int(s) for s in seeds)


def over_runs(histories: Sequence[History], value) -> Spread:
    """``value(run)`` over the runs, each named by its seed."""
    return spread((value(h) for h in histories), seeds_of(histories))


def final_accuracy(histories: Sequence[History]) -> Spread:
    """Final test accuracy (in %) over the runs; a diverged run counts with what it was left at."""
    return over_runs(histories, lambda h: 100 * h.final_test_acc)


def epoch_accuracy(histories: Sequence[History], epoch: int) -> Spread:
    """Test accuracy (in %) after ``epoch`` (1-based) over the runs."""
    return over_runs(histories, lambda h: 100 * h.test_acc[epoch - 1])


@dataclass(frozen=True)
class Comparison:
    """Setting ``b`` against setting ``a`` on one number: the difference of the means, with its 95% interval.

    Paired (``scipy.stats.ttest_rel``) when both sides name the same runs (``Spread.seeds``: with and
    without BN from the same seed share the batch order; one run evaluated two ways shares everything),
    else Welch's interval with an exact permutation p-value (:mod:`bnreview.stats`). The difference is
    *shown* when that interval excludes zero; one run a side, or a value that is not a number (a run
    that never reached an accuracy), gives no interval and shows nothing.
    """

    a: Spread
    b: Spread

    @property
    def difference(self) -> float:
        """``b``'s mean minus ``a``'s."""
        return self.b.mean - self.a.mean

    @property
    def paired(self) -> bool:
        """Both sides name the same runs, in the same order."""
        return self.a.seeds is not None and self.a.seeds == self.b.seeds

    @cached_property
    def effect(self) -> Effect | None:
        """The difference with its 95% interval and p-value (None without two finite values a side)."""
        values = self.a.values + self.b.values
        if self.a.n < 2 or self.b.n < 2 or not all(math.isfinite(v) for v in values):
            return None
        return stats.compare(self.a.values, self.b.values, self.paired)

    @property
    def differences(self) -> tuple[float, ...]:
        """Each pair's ``b - a`` (paired comparisons; empty otherwise)."""
        return tuple(b - a for a, b in zip(self.a.values, self.b.values)) if self.paired else ()

    @property
    def interval(self) -> tuple[float, float] | None:
        """The difference's 95% interval, ``(low, high)``, or None where there is none."""
        e = self.effect
        return None if e is None else (e.low, e.high)

    @property
    def shown(self) -> bool:
        """The 95% interval of the difference excludes zero."""
        e = self.effect
        return e is not None and (e.low > 0 or e.high < 0)

    @property
    def direction(self) -> str:
        """``"higher"``, ``"lower"`` (b against a, when shown) or ``"not shown"``."""
        if not self.shown:
            return "not shown"
        return "higher" if self.difference > 0 else "lower"

    @property
    def why_no_interval(self) -> str:
        """Why there is no interval (``""`` where there is one): one run a side, or a run that never got there."""
        if self.effect is not None:
            return ""
        return "one run a side" if min(self.a.n, self.b.n) < 2 else "a run never got there"

    def effect_text(self, digits: int = 2, unit: str = " points") -> str:
        """``"+4.75 points (95% CI +1.56 to +7.94)"``: the difference and its interval, the design left to the
        chapter (stated once per table or figure); ``"+4.75 points (no interval: one run a side)"``."""
        e = self.effect
        if e is None:
            return f"{self.difference:+.{digits}f}{unit} (no interval: {self.why_no_interval})"
        return f"{e.estimate:+.{digits}f}{unit} (95% CI {e.low:+.{digits}f} to {e.high:+.{digits}f})"

    def interval_text(self, digits: int = 2, unit: str = "%") -> str:
        """``"+0.23 points (95% CI +0.13 to +0.33; paired t, 3 seeds)"``."""
        points = " points" if unit == "%" else unit
        e = self.effect
        if e is None:
            return f"{self.difference:+.{digits}f}{points} (no interval: {self.why_no_interval})"
        f = f"{{:+.{digits}f}}"
        design = f"paired t, {e.n} seeds" if e.paired else f"Welch t, {self.a.n} and {self.b.n} runs"
        return (f"{f.format(e.estimate)}{points} (95% CI {f.format(e.low)} to {f.format(e.high)}; {design})")

    def text(self, a_name: str, b_name: str, what: str = "final test accuracy", digits: int = 2,
             unit: str = "%") -> str:
        """A sentence: ``"final test accuracy: with BN 98.94% ± 0.05 (...) against 98.71% ± ... without;
        the difference, +0.23 points (95% CI +0.13 to +0.33; paired t, 3 seeds), is above zero."``"""
        head = (f"{what}: {b_name} {self.b.text(digits, unit)} against {self.a.text(digits, unit)} {a_name}; "
                f"the difference, {self.interval_text(digits, unit)}, ")
        if self.shown:
            return head + ("is above zero" if self.difference > 0 else "is below zero")
        return head + "does not exclude zero"


def compare(a: Iterable[float] | Spread, b: Iterable[float] | Spread) -> Comparison:
    """``b`` against ``a`` (spreads, or the values of each run; plain values are compared unpaired)."""
    return Comparison(a if isinstance(a, Spread) else spread(a), b if isinstance(b, Spread) else spread(b))


# ---------------------------------------------------------------------------------------
# Learning rates


USABLE_MARGIN = 1.0  # points: the protocol's usable-rate margin (bnreview.protocol.USABLE)


def usable_lrs(by_lr: dict[float, Sequence[History]], margin: float = USABLE_MARGIN) -> list[float]:
    """The protocol's usable learning rates (:data:`bnreview.protocol.USABLE`) of one network: no seed diverges,
    and the mean final test accuracy is within ``margin`` points of that of the network's best rate."""
    ok = {lr: final_accuracy(runs).mean for lr, runs in by_lr.items() if runs and not any(h.diverged for h in runs)}
    if not ok:
        return []
    best = max(ok.values())
    return sorted(lr for lr, acc in ok.items() if acc >= best - margin)


def log_steps(histories: Sequence[History], accuracy: float) -> Spread:
    """``log`` of each run's steps to ``accuracy`` (``inf`` where a run never got there), named by seed."""
    return spread((math.log(s) if math.isfinite(s) else math.inf for s in steps_to_accuracy(histories, accuracy)),
                  seeds_of(histories))


def largest_usable_lr(results: dict[tuple[str, float], Sequence[History]], variant: str) -> float | None:
    """The largest learning rate of ``{(variant, lr): runs}`` usable for ``variant`` (:func:`usable_lrs`; None: none)."""
    return max(usable_lrs({lr: runs for (v, lr), runs in results.items() if v == variant}), default=None)


def steps_to_accuracy(histories: Sequence[History], accuracy: float) -> list[float]:
    """Each run's first SGD step at ``accuracy`` test accuracy (``math.inf``: it never got there)."""
    return [math.inf if (s := h.steps_to(accuracy)) is None else float(s) for h in histories]


def reaches_sooner(a: Sequence[History], b: Sequence[History], accuracy: float) -> bool:
    """``b`` reaches ``accuracy`` in fewer steps than ``a``, shown by the 95% interval of the paired difference
    of log steps (a ratio); where some run never gets there, or a side has one run (a ranking, not a test), when
    every run of ``b`` does so before every run of ``a`` reaches it (or never does)."""
    sb, sa = steps_to_accuracy(b, accuracy), steps_to_accuracy(a, accuracy)
    if not (sa and sb):
        return False
    if min(len(sa), len(sb)) > 1 and all(math.isfinite(s) for s in sa + sb):
        logs = compare(spread(map(math.log, sa), seeds_of(a)), spread(map(math.log, sb), seeds_of(b)))
        return logs.direction == "lower"
    return max(sb) < min(sa)


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


def percentile_drift(history: History, layer: str, unit: bool = True, skip: int = 0) -> dict[str, float]:
    """How much a layer's input to its nonlinearity moves during training, from the probes.

    For the 15th, 50th and 85th percentiles (of one unit, or of the whole layer with
    ``unit=False``): ``range`` is max - min over the probes after the first ``skip``,
    ``step`` the mean absolute change between consecutive probes; ``mean_range`` and
    ``mean_step`` average them over the three percentiles.
    """
    prefix = "unit_p" if unit else "p"
    out = {}
    for p in PERCENTILES:
        values = history.probes[layer][f"{prefix}{p}"][skip:]
        out[f"range_p{p}"] = max(values) - min(values)
        out[f"step_p{p}"] = _mean_or_nan([abs(b - a) for a, b in zip(values, values[1:])])
    out["mean_range"] = _mean_or_nan([out[f"range_p{p}"] for p in PERCENTILES])
    out["mean_step"] = _mean_or_nan([out[f"step_p{p}"] for p in PERCENTILES])
    return out


def _mean_or_nan(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def weight_norms(history: History, layer: str) -> tuple[float, float]:
    """The weight norm of ``layer`` at the first probe and at the last probe where it was finite."""
    norms = [n for n in history.probes[layer]["weight_norm"] if math.isfinite(n)]
    return norms[0], norms[-1]


def weight_growth(histories: Sequence[History], layer: str) -> Spread:
    """``||W_end|| / ||W_start||`` of ``layer`` over the runs."""
    return over_runs(histories, lambda h: (lambda start, end: end / start)(*weight_norms(h, layer)))
