"""Every number, comparison and verdict the book's prose states, computed from runs, in one tested place.

Chapters call these functions, ``glue`` what they return and plot; they compute nothing
themselves. A sentence whose truth depends on a result is returned by a function here (so a
rerun rewrites it) or follows an ``assert`` of the condition it states (so a rerun that
flips it fails the build).

The criteria, one definition each, used by every chapter that needs them:

- **Spread over seeds** (:func:`spread`): mean, sample standard deviation, min and max of
  one number over a setting's seeds. Every comparison is quoted with it.
- **Clearly different** (:func:`compare`): two settings differ clearly when every seed of
  one ends above every seed of the other (their ranges over seeds do not overlap). With
  three seeds a side that is the strongest statement the runs support without a test; any
  overlap is reported as "within the spread of the seeds".
- **A learning rate trains** (:func:`trains`): every seed ends its run at
  ``TRAINS_ACCURACY`` (97%) test accuracy or more, within the run's step budget, and none
  diverged (a diverged run counts as a failure whatever its accuracy).
- **The usable range** (:func:`largest_trainable_lr`): the largest learning rate of a grid
  that trains; "BN widens the usable range" means its largest is larger.
- **Chosen on validation** (:func:`best_by_validation`): any "best" setting is the one with
  the highest mean accuracy on the held-out validation images; the test set only reports
  the setting chosen.
- **Time per epoch** (:func:`seconds_per_epoch`): the median over runs of each run's mean
  training time per epoch (SGD steps only; evaluations excluded), so one run slowed by
  other work on the machine does not decide it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from bnreview.train import History

TRAINS_ACCURACY = 0.97
VERDICTS = ("supported", "not supported", "mixed", "not tested")


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
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def text(self, digits: int = 2, unit: str = "%") -> str:
        """``"98.94% ± 0.05 (3 seeds, 98.90 to 98.99)"``; one seed: ``"98.94% (1 seed)"``."""
        mean = f"{self.mean:.{digits}f}{unit}"
        if self.n == 1:
            return f"{mean} (1 seed)"
        return f"{mean} ± {self.std:.{digits}f} ({self.n} seeds, {self.lo:.{digits}f} to {self.hi:.{digits}f})"


def spread(values: Iterable[float]) -> Spread:
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
        return self.b.mean - self.a.mean

    @property
    def clear(self) -> bool:
        """Every value of one side above every value of the other (see the module's criteria)."""
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
            return head + f"is clear: every seed of one ends above every seed of the other"
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
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''} each"
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
    size = f"{steps} grid step{'s' if steps != 1 else ''}, x{max(a, b) / min(a, b):.3g}"
    verb = "widens" if b > a else "narrows"
    return f"BN {verb} the usable range of learning rates from {a:g} to {b:g} ({size}; {criterion}; {seeds})"


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
# Gluing


def glue_all(values: dict[str, object]) -> None:
    """``myst_nb.glue`` every ``{name: value}`` without displaying it: a chapter's one bookkeeping call."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


# ---------------------------------------------------------------------------------------
# The claims ledger


@dataclass(frozen=True)
class Claim:
    """One row of the ledger: what the paper says, what the review said, what our runs show, and the verdict."""

    topic: str
    paper: str
    review: str
    evidence: str
    verdict: str
    chapter: str = ""  # the chapter (document name) holding the runs, for a {doc} link

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is invalid; accepted: {', '.join(map(repr, VERDICTS))}")


def verdict(supported: bool | None, mixed: bool = False) -> str:
    """``"supported"``/``"not supported"`` from a condition, ``"mixed"`` if asked, ``"not tested"`` for None."""
    if supported is None:
        return "not tested"
    if mixed:
        return "mixed"
    return "supported" if supported else "not supported"


def ledger_markdown(claims: Sequence[Claim]) -> str:
    """The ledger as a Markdown table (a MyST page renders the {doc} links)."""
    rows = ["| claim | the paper | the review | our evidence | verdict |", "|---|---|---|---|---|"]
    for c in claims:
        evidence = c.evidence + (f" ({{doc}}`{c.chapter}`)" if c.chapter else "")
        cells = (c.topic, c.paper, c.review, evidence, f"**{c.verdict}**")
        rows.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(rows)
