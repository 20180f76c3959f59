"""Chapter lr_sweep: does BN allow larger learning rates, does it train faster, where must it go, and what does
the scale invariance of Sec. 3.3 do to the step? And the explorer chapter, which quotes this chapter's usable range.

From the sweep (``experiments.lr_sweep``: ``{(variant, lr): runs}``) and the placement grid
(``experiments.placement_grid``: ``{(placement, position, lr): runs}``); the explorer's one-seed grid
(``experiments.compute_grid``) and the sweep, whose usable-range sentence the explorer quotes rather than redefining it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview import experiments
from bnreview.criteria import TRAINS_ACCURACY, best_by_validation, trains
from bnreview.findings.core import (Comparison, Spread, compare, final_accuracy, largest_usable_lr, log_steps,
                                    over_runs, reaches_sooner, spread, steps_to_accuracy, train_minutes, usable_lrs,
                                    weight_growth, weight_norms)
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import listing, lr_label, sweep_setting
from bnreview.train import History

LR_NO_BN, LR_BN = "no BN", "BN (all four layers)"  # experiments.lr_sweep's variants
LR_REVIEW = 0.9  # the review's learning rate
LR_NORM_LAYER = "conv2"  # a layer whose output BN normalises (when BN is on)
LR_NORM_LRS = (0.01, 0.1, 0.9)  # where the weight norms are compared (those the sweep ran)
PAPER_LR_CLAIM = ("\"Batch Normalization allows us to use much higher learning rates and be less careful about "
                  "initialization\" (abstract); BN-Inception trains at 5 and 30 times Inception's rate (Sec. 4.2.2)")
PAPER_SPEED_CLAIM = ("\"Batch Normalization achieves the same accuracy with 14 times fewer training steps\" (abstract, "
                     "on ImageNet, with the learning rate raised and the network changed, Sec. 4.2.1)")
PAPER_SCALE_CLAIM = ("\"BN(Wu) = BN((aW)u)\" and the gradient with respect to the weights scales as 1/a: "
                     "\"larger weights lead to smaller gradients, and Batch Normalization will stabilize the "
                     "parameter growth\" (Sec. 3.3)")
REVIEW_CLAIM = ("\"The above mentionned [sic] advantages [larger learning rates, decrease training time, decrease the "
                "amount of regularization needed and remove the necessity of drop-out layer] were not noticed\" on "
                "LeNet, \"probably\" because it is shallow")


@dataclass(frozen=True)
class SpeedCounts:
    """At which learning rates each network reaches an accuracy in fewer steps (:func:`reaches_sooner`: the paired
    95% interval of the ratio of steps below 1, or every seed of one there before any seed of the other gets there)."""

    bn: list[float]
    no_bn: list[float]
    neither: list[float]  # the runs do not show which is sooner, or neither gets there
    one_seed: bool  # one run a side: a ranking, with no interval

    @property
    def n(self) -> int:
        """How many learning rates were compared."""
        return len(self.bn) + len(self.no_bn) + len(self.neither)


def speed_counts(results: dict, without: str, with_: str, accuracy: float = TRAINS_ACCURACY) -> SpeedCounts:
    """Where each network reaches ``accuracy`` sooner, over the learning rates both ran."""
    lrs = sorted(lr for v, lr in results if v == with_ and (without, lr) in results)
    bn = [lr for lr in lrs if reaches_sooner(results[without, lr], results[with_, lr], accuracy)]
    no = [lr for lr in lrs if reaches_sooner(results[with_, lr], results[without, lr], accuracy)]
    one = min((len(results[v, lr]) for v in (without, with_) for lr in lrs), default=0) == 1
    return SpeedCounts(bn, no, [lr for lr in lrs if lr not in bn and lr not in no], one)


def larger_rates_test(results: dict, without: str, with_: str) -> Test:
    """The protocol's "larger-learning-rates": at the largest rate usable with BN, final accuracy with against
    without BN (a rate usable with BN only, where the network without BN falls apart, shows as a large effect)."""
    usable = usable_lrs({lr: runs for (v, lr), runs in results.items() if v == with_})
    top = max(usable, default=None)
    if top is None or (without, top) not in results:
        return Test("larger-learning-rates", why_not="no rate of the grid is usable with BN")
    return Test("larger-learning-rates", compare(final_accuracy(results[without, top]),
                                                 final_accuracy(results[with_, top])), label=f"lr {top:g}")


SCALE_WINDOW = 100  # steps at the start and at the end of a run whose update sizes weight-scale compares


def weight_scale_test(runs: Sequence[History], layer: str = LR_NORM_LAYER, window: int = SCALE_WINDOW) -> Test:
    """The protocol's "weight-scale": ``layer``'s update relative to its weights (``History.update_size``), the mean
    over the last ``window`` steps against the first ``window``, as logs paired by run (their difference: the log
    ratio)."""
    sizes = [h.update_size.get(layer, []) for h in runs]
    if not runs or any(len(s) < 2 * window for s in sizes):
        return Test("weight-scale", why_not=f"the runs do not record {2 * window} steps' update sizes of {layer}")
    first = over_runs(runs, lambda h: math.log(statistics.fmean(h.update_size[layer][:window])))
    last = over_runs(runs, lambda h: math.log(statistics.fmean(h.update_size[layer][-window:])))
    return Test("weight-scale", compare(first, last), label=f"lr {runs[0].config['lr']:g}")


def ratio_text(test: Test) -> str:
    """A test of logs as the ratio it measures, ``"x0.42 (95% CI x0.38 to x0.47)"``, or why there is none."""
    c = test.comparison
    if c is None:
        return f"not measured ({test.why_not})"
    ci = c.interval
    return f"x{math.exp(c.difference):.2f}" + ("" if ci is None else
                                               f" (95% CI x{math.exp(ci[0]):.2f} to x{math.exp(ci[1]):.2f})")


def best_lr_by_validation(results: dict, variant: str) -> float:
    """The learning rate of ``variant`` with the highest mean validation accuracy (:func:`best_by_validation`)."""
    return best_by_validation({lr: runs for (v, lr), runs in results.items() if v == variant})


def effective_lr(histories: Sequence[History], layer: str) -> Spread:
    """``lr / ||W_end||^2`` over the runs: the step a scale-invariant layer (one followed by BN) takes at the end,
    in the units of a unit-norm weight (Sec. 3.3; van Laarhoven 2017)."""
    return over_runs(histories, lambda h: h.config["lr"] / weight_norms(h, layer)[1] ** 2)


@dataclass(frozen=True)
class NormRow:
    """At one learning rate: how much ``layer``'s weight norm grows (end over start) with and without BN, and the
    effective step lr/||W_end||^2 with BN."""

    growth_bn: Spread
    growth_nobn: Spread
    effective: Spread

    @property
    def effective_fraction(self) -> float:
        """The effective step at the end as a fraction of the start's: 1 / growth^2 (the mean growth with BN)."""
        return 1 / self.growth_bn.mean ** 2


@dataclass(frozen=True)
class EffectiveLr:
    """Sec. 3.3's scale invariance on ``layer``: its weight norm and effective step at each of the sweep's ``rows``."""

    layer: str
    rows: dict[float, NormRow]

    @property
    def ratios(self) -> tuple[float, float] | None:
        """The nominal and the effective (with BN, at the end) ratio between the largest and smallest rate compared;
        None with fewer than two rates."""
        if len(self.rows) < 2:
            return None
        lo, hi = min(self.rows), max(self.rows)
        return hi / lo, self.rows[hi].effective.mean / self.rows[lo].effective.mean

    @property
    def grows(self) -> bool:
        """With BN the weight norm grows in every seed at every rate compared."""
        return bool(self.rows) and all(r.growth_bn.lo > 1 for r in self.rows.values())

    def table(self) -> str:
        """One row per learning rate: the growth with and without BN and the effective step with BN (Markdown)."""
        rows = [f"| lr | {self.layer}'s norm grows, with BN | without BN | effective step at the end, with BN "
                "| as a fraction of the start |", "|---:|---|---|---|---|"]
        for lr, r in sorted(self.rows.items()):
            rows.append(f"| {lr:g} | x{r.growth_bn.short(2, '')} | x{r.growth_nobn.short(2, '')} | "
                        f"{r.effective.mean:.3g} | {r.effective_fraction:.2f} |")
        return "\n".join(rows)


def effective_lr_findings(results: dict, without: str, with_: str, layer: str = LR_NORM_LAYER,
                          lrs: Sequence[float] = LR_NORM_LRS) -> EffectiveLr:
    """The weight norm of ``layer`` with and without BN at ``lrs`` (those of the sweep), and the effective step."""
    lrs = sorted(lr for lr in lrs if (with_, lr) in results and (without, lr) in results)
    return EffectiveLr(layer, {lr: NormRow(weight_growth(results[with_, lr], layer),
                                           weight_growth(results[without, lr], layer),
                                           effective_lr(results[with_, lr], layer)) for lr in lrs})


PLACEMENT_POSITIONS = {"-": "no BN", "before": "before tanh", "after": "after tanh"}


def usable_placements(placement: dict) -> dict[tuple[str, str], list[float]]:
    """Each placement's usable learning rates over the grid (:func:`usable_lrs`, the protocol's definition)."""
    settings = {(w, p) for w, p, _ in placement}
    return {s: usable_lrs({lr: runs for (w, p, lr), runs in placement.items() if (w, p) == s}) for s in settings}


def placement_table(placement: dict) -> str:
    """The placement grid as a Markdown table: final test accuracy (mean and the seeds' range), diverged seeds,
    usable or not."""
    usable = usable_placements(placement)
    rows = ["| lr | layers with BN | BN | final test accuracy | diverged | usable |", "|---:|---|---|---|---|---|"]
    for (where, position, lr), runs in sorted(placement.items(), key=lambda kv: kv[0][2]):
        rows.append(f"| {lr:g} | {where} | {PLACEMENT_POSITIONS[position]} | {final_accuracy(runs).short()} | "
                    f"{sum(h.diverged for h in runs)} of {len(runs)} | "
                    f"{'yes' if lr in usable[where, position] else 'no'} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class PlacementFindings:
    """Where BN goes: at each rate of the grid, BN before against after tanh (final test accuracy, paired) for each
    set of layers, and the setting chosen on validation; the protocol's tests where both placements are usable."""

    lrs: list[float]
    before_vs_after: dict[tuple[str, float], Comparison]  # (layers, lr) -> before tanh against after tanh
    chosen: dict[float, tuple[str, str]]  # lr -> (layers, position) chosen on validation
    tests: tuple[Test, ...]
    table: str

    def wins(self, layers: str, direction: str) -> list[float]:
        """The rates where BN before tanh ends ``"higher"`` (or ``"lower"``) than after, on ``layers``."""
        return [lr for lr in self.lrs if self.before_vs_after[layers, lr].direction == direction]

    def chosen_text(self) -> str:
        """``"lr 0.1: all four (after tanh); lr 0.3: ..."``: the setting chosen on validation at each rate."""
        return "; ".join(f"lr {lr:g}: {w}" + ("" if p == "-" else f" ({PLACEMENT_POSITIONS[p]})")
                         for lr, (w, p) in sorted(self.chosen.items()))


def placement_findings(placement: dict) -> PlacementFindings:
    """The placement grid (``{(layers, position, lr): runs}``): before against after tanh per set of layers and rate,
    the choice on validation, and the tests of "before-nonlinearity" (all four layers, where both are usable)."""
    lrs = sorted({lr for _, _, lr in placement})
    layer_sets = list(dict.fromkeys(w for w, p, _ in placement if p != "-"))
    usable = usable_placements(placement)
    compared = {(w, lr): compare(final_accuracy(placement[w, "after", lr]), final_accuracy(placement[w, "before", lr]))
                for w in layer_sets for lr in lrs}
    tests = tuple(Test("before-nonlinearity", compared["all four", lr], label=f"lr {lr:g}") for lr in lrs
                  if lr in usable["all four", "before"] and lr in usable["all four", "after"])
    if not tests:
        tests = (Test("before-nonlinearity", why_not=f"the placement grid runs lr {listing(lrs)}, where BN after tanh "
                      "(all four layers) is not usable: a seed diverges, or it ends more than a point below its best"),)
    chosen = {lr: best_by_validation({(w, p): runs for (w, p, l), runs in placement.items() if l == lr}) for lr in lrs}
    return PlacementFindings(lrs, compared, chosen, tests, placement_table(placement))


def sweep_table(results: dict, accuracies: Sequence[float] = (0.97, 0.98)) -> str:
    """The sweep as a Markdown table: final test accuracy (mean and the seeds' range), diverged seeds, mean steps to
    each accuracy."""
    head = "| network | lr | final test accuracy | diverged | trains | " + " | ".join(
        f"steps to {100 * a:g}%" for a in accuracies) + " |"
    rows = [head, "|---|---:|---|---|---|" + "---|" * len(accuracies)]
    for (variant, lr), runs in sorted(results.items()):
        cells = []
        for a in accuracies:
            steps = [s for s in steps_to_accuracy(runs, a) if math.isfinite(s)]
            cells.append("never" if not steps else f"{statistics.fmean(steps):.0f}"
                         + ("" if len(steps) == len(runs) else f" ({len(steps)} of {len(runs)} seeds)"))
        rows.append(f"| {variant} | {lr:g} | {final_accuracy(runs).short()} | {sum(h.diverged for h in runs)} of "
                    f"{len(runs)} | {'yes' if trains(runs) else 'no'} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def training_time_test(nobn: Sequence[History], bn: Sequence[History], step) -> Test:
    """The protocol's "training-time": per seed, log(steps to 97% x seconds per step), the seconds from an idle
    benchmark (``step``: ``experiments.StepSeconds``; its machine and milliseconds are the chapter's to state), not
    from the training runs; paired by seed."""
    if step is None:
        return Test("training-time", why_not="no benchmark of seconds per step on file (benchmarks/results/trainer.json)")
    a, b = log_steps(nobn, TRAINS_ACCURACY), log_steps(bn, TRAINS_ACCURACY)
    return Test("training-time", compare(spread((x + math.log(step.no_bn) for x in a.values), a.seeds),
                                         spread((x + math.log(step.bn) for x in b.values), b.seeds)),
                label="steps to 97% x benchmarked seconds per step")  # a stable name: results.json keys on it


@dataclass(frozen=True)
class LrSweepFindings:
    """The learning-rate chapter: the one-epoch sweep over rates with and without BN, the placement grid, and the
    weights' scale (Sec. 3.3). Comparisons are BN against no BN after the epoch, paired over the seeds."""

    lrs: list[float]
    n_seeds: int
    n_runs: int
    minutes: float  # training time of the sweep's runs
    usable: tuple[float | None, float | None]  # the largest usable rate without BN and with BN
    top_diverged: dict[str, int]  # at the largest rate: seeds diverged, per network ("no BN", "BN")
    speed: SpeedCounts  # where each network reaches 97% sooner
    best_lrs: tuple[float, float]  # each network's rate chosen on validation (without, with BN)
    best: Comparison  # final accuracy at those rates
    review: Comparison | None  # final accuracy at the review's lr 0.9
    placement: PlacementFindings
    placement_minutes: float
    effective: EffectiveLr
    scale: Test  # weight-scale
    step: experiments.StepSeconds | None
    claims: tuple[Claim, ...]
    table: str  # the sweep, one row per network and rate
    setting: str
    first: History  # one run of the sweep, for the settings it shares (steps, batch, images)


def lr_sweep_findings(results: dict, placement: dict, step: experiments.StepSeconds | None = None,
                      without: str = LR_NO_BN, with_: str = LR_BN, norm_layer: str = LR_NORM_LAYER,
                      norm_lrs: Sequence[float] = LR_NORM_LRS) -> LrSweepFindings:
    """The learning-rate chapter. ``results``: ``experiments.lr_sweep()``; ``placement``:
    ``experiments.placement_grid()``; ``step``: seconds per training step from ``benchmarks/trainer.py``
    (``experiments.step_seconds()``), for the training-time test."""
    lrs = sorted({lr for _, lr in results})
    best_no, best_bn = best_lr_by_validation(results, without), best_lr_by_validation(results, with_)
    best = compare(final_accuracy(results[without, best_no]), final_accuracy(results[with_, best_bn]))
    review = (compare(final_accuracy(results[without, LR_REVIEW]), final_accuracy(results[with_, LR_REVIEW]))
              if (without, LR_REVIEW) in results and (with_, LR_REVIEW) in results else None)
    pl, eff = placement_findings(placement), effective_lr_findings(results, without, with_, norm_layer, norm_lrs)
    scale = weight_scale_test(results.get((with_, LR_REVIEW), ()))
    larger = larger_rates_test(results, without, with_)
    fewer = Test("fewer-steps", compare(log_steps(results[without, best_no], TRAINS_ACCURACY),
                                        log_steps(results[with_, best_bn], TRAINS_ACCURACY)),
                 label=f"lr {best_no:g} without BN, {best_bn:g} with, chosen on validation")
    speed = speed_counts(results, without, with_)
    claims = (
        Claim("larger learning rates", PAPER_LR_CLAIM, REVIEW_CLAIM,
              f"the largest usable rate is {lr_label(largest_usable_lr(results, without))} without BN and "
              f"{lr_label(largest_usable_lr(results, with_))} with BN ({sweep_setting(results)})", (larger,),
              "lr_sweep"),
        Claim("faster training", PAPER_SPEED_CLAIM, REVIEW_CLAIM,
              f"BN reaches 97% sooner at {len(speed.bn)} of {speed.n} rates, the network without BN at "
              f"{len(speed.no_bn)}; at the rates chosen on validation, BN's advantage after the epoch is "
              f"{best.effect_text()}",
              (fewer, training_time_test(results[without, best_no], results[with_, best_bn], step),
               *([Test("first-epoch", review)] if review is not None else [])), "lr_sweep"),
        Claim("BN before the nonlinearity", "\"we add the BN transform immediately before the nonlinearity\" "
              "(Sec. 3.2)", "BN \"is applied to the output of the 3 convolutional layers and the first fully "
              "connected\" (before or after tanh is not said)",
              f"on all four layers, BN before tanh ends above after tanh at lr "
              f"{listing(pl.wins('all four', 'higher'))}, below at lr {listing(pl.wins('all four', 'lower'))}",
              pl.tests, "lr_sweep"),
        Claim("larger weights, smaller steps", PAPER_SCALE_CLAIM, "not discussed",
              f"{norm_layer}'s relative update over the last {SCALE_WINDOW} steps against the first, with BN at lr "
              f"{LR_REVIEW:g}: {ratio_text(scale)}", (scale,), "lr_sweep"),
    )
    everything = [r for rs in results.values() for r in rs]
    return LrSweepFindings(
        lrs, min(len(r) for r in results.values()), len(everything), train_minutes(everything),
        (largest_usable_lr(results, without), largest_usable_lr(results, with_)),
        {"no BN": sum(h.diverged for h in results[without, max(lrs)]),
         "BN": sum(h.diverged for h in results[with_, max(lrs)])},
        speed, (best_no, best_bn), best, review, pl,
        train_minutes(r for rs in placement.values() for r in rs), eff, scale, step, claims, sweep_table(results),
        sweep_setting(results), everything[0])


# ---------------------------------------------------------------------------------------
# Chapter: explorer

PAPER_EXPLORER_CLAIM = ("\"Batch Normalization allows us to use much higher learning rates and be less careful "
                        "about initialization\", and on ImageNet it \"achieves the same accuracy with 14 times fewer "
                        "training steps\" (abstract): higher learning rates, and fewer steps on ImageNet; it does "
                        "not claim that BN trains faster at every learning rate")


@dataclass(frozen=True)
class ExplorerFindings:
    """The explorer chapter: its grid (one seed, many placements) and, quoted from the learning-rate chapter's sweep,
    the usable range; where the grid's own runs with and without BN reach 97% sooner."""

    grid: object  # experiments.Grid
    summary: dict  # experiments.grid_summary(grid): seconds per run, in total
    usable: tuple[float | None, float | None]  # from the sweep: the largest usable rate without and with BN
    sweep_seeds: int
    speed: SpeedCounts | None  # None when the grid holds no pair of runs with and without BN

    @property
    def claims(self) -> list:
        """The chapter tests no claim of the ledger (it quotes the learning-rate chapter's)."""
        return []


def explorer_findings(grid, sweep: dict, without: str = LR_NO_BN, with_: str = LR_BN) -> ExplorerFindings:
    """The explorer chapter: ``grid`` is ``experiments.compute_grid()``, ``sweep`` the learning-rate chapter's runs."""
    keys = [p.key for p in grid.placements]
    speed = None
    if "none" in keys and "all" in keys:
        runs = {(name, lr): [grid.run(lr, key)] for name, key in ((without, "none"), (with_, "all")) for lr in grid.lrs}
        speed = speed_counts(runs, without, with_)
    return ExplorerFindings(grid, experiments.grid_summary(grid),
                            (largest_usable_lr(sweep, without), largest_usable_lr(sweep, with_)),
                            min(len(r) for r in sweep.values()), speed)
