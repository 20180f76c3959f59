"""The statistics behind every verdict: an effect with its 95% interval, Holm's correction, the rule.

Every interval and p-value comes from ``scipy.stats``; nothing here is computed by hand but
Holm's step-down (a few lines over sorted p-values, as statsmodels' ``multipletests`` does).

- :func:`paired`: two measurements of the same runs (one run evaluated two ways; with and without
  BN from the same seed, which share initial weights' seed and batch order). The effect is the
  mean of the differences ``b - a``; its interval and p-value are the paired t-test's
  (``scipy.stats.ttest_rel``).
- :func:`unpaired`: two independent groups of runs. The effect is ``mean(b) - mean(a)``, with
  Welch's interval (``ttest_ind(equal_var=False)``) and the exact permutation p-value of the
  difference in means (``scipy.stats.permutation_test``), which needs no normality.
- :func:`holm`: adjusted p-values across a family of claims, and the level each claim's interval
  is drawn at (claim ``i`` of ``m``, in increasing order of p, at ``1 - alpha / (m - i)``: Holm's
  critical level for it); :func:`family` draws every claim's interval at its level.
- :func:`verdict`: for a claim that one side is higher, **supported** when the (corrected)
  interval lies on the claimed side of zero; **contradicted** when it excludes the smallest
  effect that would matter in the claimed direction; **inconclusive** otherwise. A null result is
  never "supported". Claims that something "can go" or that two things agree are tested against
  a margin fixed in the protocol (non-inferiority, equivalence).

>>> e = paired([97.0, 97.2, 96.9, 97.1], [97.5, 97.6, 97.4, 97.7])
>>> round(e.estimate, 2), e.low > 0, e.test
(0.5, True, 'paired t')
>>> verdict(e, direction=+1, smallest=0.3)
'supported'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95  # every interval's confidence level before correction
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")


@dataclass(frozen=True)
class Effect:
    """A difference ``b - a`` with its interval at ``level``, the two-sided p-value, and how it was got."""

    estimate: float
    low: float
    high: float
    p: float
    n: int  # runs per group (pairs, when paired)
    paired: bool
    test: str
    level: float = LEVEL

    def __post_init__(self):
        if not self.low <= self.estimate <= self.high:
            raise ValueError(f"the estimate {self.estimate} lies outside its interval [{self.low}, {self.high}]")

    def text(self, unit: str = "", digits: int = 2) -> str:
        """``+0.50 (95% CI +0.21 to +0.79)``: the effect with its interval, signs shown."""
        f = f"{{:+.{digits}f}}{unit}"
        return f"{f.format(self.estimate)} ({100 * self.level:.4g}% CI {f.format(self.low)} to {f.format(self.high)})"


def _samples(a: Sequence[float], b: Sequence[float], need_pairs: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or len(a) < 2 or len(b) < 2:
        raise ValueError(f"each group needs at least 2 runs, got {len(a)} and {len(b)}")
    if need_pairs and len(a) != len(b):
        raise ValueError(f"a paired comparison needs as many runs on each side, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a run's value is not a finite number")
    return a, b


def paired(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Effect:
    """The mean of ``b[i] - a[i]`` over pairs, with the paired t interval and p-value."""
    a, b = _samples(a, b, need_pairs=True)
    d = b - a
    if np.allclose(d, d[0], rtol=1e-6, atol=1e-12):  # every pair differs by the same amount: no spread to test
        m = float(d.mean()) if abs(d.mean()) > 1e-12 else 0.0  # (up to rounding: else scipy loses all precision)
        return Effect(m, m, m, 0.0 if m else 1.0, len(d), True, "paired t", level)
    result = scipy_stats.ttest_rel(b, a)
    ci = result.confidence_interval(level)
    return Effect(float(d.mean()), float(ci.low), float(ci.high), float(result.pvalue), len(d), True, "paired t", level)


def unpaired(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Effect:
    """``mean(b) - mean(a)`` with Welch's interval and the exact permutation p-value (all splits, up to 10^5)."""
    a, b = _samples(a, b, need_pairs=False)
    diff = float(b.mean() - a.mean())
    if np.allclose(a, a[0], rtol=1e-6, atol=1e-12) and np.allclose(b, b[0], rtol=1e-6, atol=1e-12):
        return Effect(diff, diff, diff, 0.0 if diff else 1.0, min(len(a), len(b)), False, "Welch t", level)
    with warnings.catch_warnings():  # a group of identical values (a rate every seed ends at alike) has variance 0,
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)  # which scipy doubts; it is right
        ci = scipy_stats.ttest_ind(b, a, equal_var=False).confidence_interval(level)
    splits = math.comb(len(a) + len(b), len(a))
    test = scipy_stats.permutation_test((b, a), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                        permutation_type="independent", n_resamples=min(splits, 100_000),
                                        vectorized=True, random_state=0)
    return Effect(diff, float(ci.low), float(ci.high), float(test.pvalue), min(len(a), len(b)), False,
                  "Welch t, permutation p", level)


def holm(p_values: Sequence[float], alpha: float = 1 - LEVEL) -> tuple[list[float], list[float]]:
    """Holm's adjusted p-values, and the confidence level of each claim's corrected interval.

    In increasing order of p, claim ``i`` (from 0) of ``m`` is tested at ``alpha / (m - i)``, and
    an adjusted p-value never falls below the one before it.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda k: p_values[k])
    adjusted, levels = [0.0] * m, [0.0] * m
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[k]))
        adjusted[k] = running
        levels[k] = 1 - alpha / (m - rank)
    return adjusted, levels


def compare(a: Sequence[float], b: Sequence[float], is_paired: bool, level: float = LEVEL) -> Effect:
    """:func:`paired` or :func:`unpaired`, as the design says."""
    return paired(a, b, level) if is_paired else unpaired(a, b, level)


def family(comparisons: Sequence[tuple[Sequence[float], Sequence[float], bool]]) -> list[Effect]:
    """Every comparison ``(a, b, paired)`` of a family of claims, corrected together: its interval
    drawn at its Holm level, its p-value Holm's adjusted one."""
    first = [compare(a, b, is_paired) for a, b, is_paired in comparisons]
    adjusted, levels = holm([e.p for e in first])
    return [replace(compare(a, b, is_paired, level), p=p)
            for (a, b, is_paired), p, level in zip(comparisons, adjusted, levels)]


KINDS = ("superiority", "non-inferiority", "equivalence")


def verdict(effect: Effect, direction: int, smallest: float, kind: str = "superiority",
            alpha: float = 1 - LEVEL) -> str:
    """The protocol's rule for a claim about ``b - a``.

    ``direction`` is +1 when the claim favours ``b``, -1 when it favours ``a``; ``smallest`` (> 0)
    is the smallest effect that would matter. By ``kind`` of claim:

    - superiority ("b is higher"): **supported** when the interval lies on the claimed side of
      zero (and the test rejects at ``alpha``: with :func:`family`'s effects, after Holm's
      correction); **contradicted** when it excludes ``smallest`` in the claimed direction;
    - non-inferiority ("b is no worse", e.g. "dropout can go"): **supported** when the interval
      excludes a loss of ``smallest`` or more; **contradicted** when it lies wholly beyond that loss;
    - equivalence ("a and b agree"): **supported** when the interval lies within ``±smallest``;
      **contradicted** when it lies wholly outside.

    Anything else is **inconclusive**. A null result (an interval across zero) is never
    "supported" for superiority; the other two kinds state their margin before the runs.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not smallest > 0:
        raise ValueError(f"the smallest effect that matters must be positive, got {smallest!r}")
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is invalid; accepted: {', '.join(map(repr, KINDS))}")
    low, high = sorted((direction * effect.low, direction * effect.high))
    if kind == "superiority":
        if low > 0 and effect.p < alpha:
            return "supported"
        return "contradicted" if high < smallest else "inconclusive"
    if kind == "non-inferiority":
        if low > -smallest:
            return "supported"
        return "contradicted" if high < -smallest else "inconclusive"
    if -smallest < low and high < smallest:
        return "supported"
    return "contradicted" if low > smallest or high < -smallest else "inconclusive"
