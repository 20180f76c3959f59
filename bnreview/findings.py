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


def glueable_values(values: dict) -> dict:
    """The entries of a findings dict that ``glue_all`` can glue: strings and numbers."""
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


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


# ---------------------------------------------------------------------------------------
# Chapter: lr_sweep
#
# Does BN allow larger learning rates, does it train faster, where must it go, and what does
# the scale invariance of Sec. 3.3 do to the step? From the sweep (``experiments.lr_sweep``:
# ``{(variant, lr): runs}``) and the placement grid (``experiments.placement_grid``:
# ``{(placement, position, lr): runs}``).

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
REVIEW_CLAIM = ("\"the above mentioned advantages [larger learning rates, shorter training] were not noticed\" on "
                "LeNet, \"probably\" because it is shallow")


def lr_label(lr: float | None) -> str:
    return "none of the grid" if lr is None else f"{lr:g}"


def _seeds_text(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _listing(lrs: Sequence[float]) -> str:
    return ", ".join(f"{lr:g}" for lr in lrs) if lrs else "none"


def steps_to_accuracy(histories: Sequence[History], accuracy: float) -> list[float]:
    """Each run's first SGD step at ``accuracy`` test accuracy (``math.inf``: it never got there)."""
    return [math.inf if (s := h.steps_to(accuracy)) is None else float(s) for h in histories]


def reaches_sooner(a: Sequence[History], b: Sequence[History], accuracy: float) -> bool:
    """Every run of ``b`` reaches ``accuracy`` before every run of ``a`` (a run that never does comes last):
    the "clearly different" criterion of :func:`compare` applied to the steps."""
    sb, sa = steps_to_accuracy(b, accuracy), steps_to_accuracy(a, accuracy)
    return bool(sa and sb) and max(sb) < min(sa)


def sweep_setting(results: dict) -> str:
    """The setting the sweep's runs share, in words (for titles)."""
    h = next(iter(results.values()))[0]
    c = h.config
    images = c.get("n_train") or 60_000 - c.get("val_size", 0)
    seeds = sorted({r.config.get("seed", 0) for runs in results.values() for r in runs})
    return (f"LeNet (tanh), plain SGD, batch {c['batch_size']}, {h.steps_per_epoch} steps (1 epoch over {images:,} "
            f"images, {c.get('val_size', 0):,} held out), seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))}")


def speed_text(results: dict, without: str, with_: str, accuracy: float = TRAINS_ACCURACY) -> tuple[str, int, int]:
    """Where one network clearly reaches ``accuracy`` sooner than the other (:func:`reaches_sooner`), as a sentence;
    also how many learning rates favour BN and how many were compared."""
    lrs = sorted(lr for v, lr in results if v == with_ and (without, lr) in results)
    bn = [lr for lr in lrs if reaches_sooner(results[without, lr], results[with_, lr], accuracy)]
    no = [lr for lr in lrs if reaches_sooner(results[with_, lr], results[without, lr], accuracy)]
    rest = [lr for lr in lrs if lr not in bn and lr not in no]
    one = min((len(results[v, lr]) for v in (without, with_) for lr in lrs), default=0) == 1
    bn_runs, no_runs = ("the run", "the run") if one else ("every seed", "every seed")
    text = (f"{bn_runs} with BN reaches {100 * accuracy:g}% test accuracy before {no_runs} without BN (or gets "
            f"there where {'the run' if one else 'a seed'} without BN never does) at {len(bn)} of the {len(lrs)} "
            f"learning rates "
            f"({_listing(bn)}); the reverse holds at {len(no)} ({_listing(no)}); at the other {len(rest)} "
            f"({_listing(rest)}) {'neither' if one else 'the seeds overlap or neither'} network gets there")
    return text, len(bn), len(lrs)


def best_lr_by_validation(results: dict, variant: str) -> float:
    """The learning rate of ``variant`` with the highest mean validation accuracy (:func:`best_by_validation`)."""
    return best_by_validation({lr: runs for (v, lr), runs in results.items() if v == variant})


def weight_norms(history: History, layer: str) -> tuple[float, float]:
    """The weight norm of ``layer`` at the first probe and at the last probe where it was finite."""
    norms = [n for n in history.probes[layer]["weight_norm"] if math.isfinite(n)]
    return norms[0], norms[-1]


def weight_growth(histories: Sequence[History], layer: str) -> Spread:
    """``||W_end|| / ||W_start||`` of ``layer`` over the runs."""
    return spread(end / start for start, end in (weight_norms(h, layer) for h in histories))


def effective_lr(histories: Sequence[History], layer: str) -> Spread:
    """``lr / ||W_end||^2`` over the runs: the step a scale-invariant layer (one followed by BN) takes at the end,
    in the units of a unit-norm weight (Sec. 3.3; van Laarhoven 2017)."""
    return spread(h.config["lr"] / weight_norms(h, layer)[1] ** 2 for h in histories)


def effective_lr_findings(results: dict, without: str, with_: str, layer: str = LR_NORM_LAYER,
                          lrs: Sequence[float] = LR_NORM_LRS) -> dict:
    """The weight norm of ``layer`` with and without BN at ``lrs`` (those of the sweep), and what it implies."""
    lrs = sorted(lr for lr in lrs if (with_, lr) in results and (without, lr) in results)
    out = {"norm_lrs": lrs, "norm_layer": layer}
    parts = []
    for lr in lrs:
        g_bn, g_no = weight_growth(results[with_, lr], layer), weight_growth(results[without, lr], layer)
        eff = effective_lr(results[with_, lr], layer)
        out[lr] = {"growth_bn": g_bn, "growth_nobn": g_no, "effective": eff}
        than = {"higher": "clearly more than", "lower": "clearly less than"}.get(compare(g_no, g_bn).direction,
                                                                             "within the spread of the seeds of")
        parts.append(f"at lr {lr:g}, {layer}'s weight norm grows x{g_bn.text(2, '')} with BN, {than} the "
                     f"x{g_no.text(2, '')} without; with BN the effective step lr/||W||² falls to "
                     f"{eff.mean:.3g} by the end ({1 / g_bn.mean ** 2:.2f} of what it was at the start)")
    grows = bool(lrs) and all(min(out[lr]["growth_bn"].values) > 1 for lr in lrs)
    out["grows"] = grows
    text = "; ".join(parts) + "." if parts else "No learning rate of the sweep was compared."
    summary = text
    if len(lrs) >= 2:
        lo, hi = lrs[0], lrs[-1]
        nominal, effective = hi / lo, out[hi]["effective"].mean / out[lo]["effective"].mean
        out["nominal_ratio"], out["effective_ratio"] = nominal, effective
        if effective < nominal and not math.isclose(effective, nominal):
            summary = (f"With BN, a x{nominal:.3g} range of nominal learning rates ({lo:g} to {hi:g}) ends as a "
                     f"x{effective:.3g} range of effective ones: the weights grow more at the larger rate and take "
                     f"back part of it. So \"the same lr\" with and without BN is not the same step: with BN the "
                     f"step on {layer}'s weights shrinks as they grow; without BN nothing makes up for the scale of "
                     f"the weights.")
        else:
            summary = (f"With BN, the effective step at the end spans x{effective:.3g} between lr {lo:g} and {hi:g}, "
                     f"as much as the nominal x{nominal:.3g}: here the weight growth does not take back the larger "
                     f"rate.")
        text += " " + summary
    out["text"], out["summary"] = text, summary
    return out


PLACEMENT_POSITIONS = {"-": "no BN", "before": "before tanh", "after": "after tanh"}


def placement_table(placement: dict, accuracy: float = TRAINS_ACCURACY) -> str:
    """The placement grid as a Markdown table: final test accuracy with its spread, diverged seeds, trains or not."""
    rows = ["| lr | layers with BN | BN | final test accuracy | diverged | trains |", "|---:|---|---|---|---|---|"]
    for (where, position, lr), runs in sorted(placement.items(), key=lambda kv: kv[0][2]):
        rows.append(f"| {lr:g} | {where} | {PLACEMENT_POSITIONS[position]} | {final_accuracy(runs).text()} | "
                    f"{sum(h.diverged for h in runs)} of {len(runs)} | {'yes' if trains(runs, accuracy) else 'no'} |")
    return "\n".join(rows)


def placement_findings(placement: dict, accuracy: float = TRAINS_ACCURACY) -> dict:
    """Per learning rate: which placements train, BN before against after tanh, and the placement chosen on
    validation; and over the learning rates, where before tanh ends clearly above after tanh on all four layers."""
    lrs = sorted({lr for _, _, lr in placement})
    layer_sets = list(dict.fromkeys(w for w, p, _ in placement if p != "-"))
    sentences, before_wins, after_wins = [], [], []
    for lr in lrs:
        here = {(w, p): runs for (w, p, l), runs in placement.items() if l == lr}
        ok = [f"{w} ({PLACEMENT_POSITIONS[p]})" if p != "-" else w for (w, p), runs in here.items()
              if trains(runs, accuracy)]
        cmp = []
        for w in layer_sets:
            c = compare(final_accuracy(here[w, "after"]), final_accuracy(here[w, "before"]))
            word = {"higher": "clearly higher before tanh", "lower": "clearly higher after tanh"}.get(
                c.direction, "within the spread of the seeds")
            cmp.append(f"{w}: {c.b.mean:.2f}% before against {c.a.mean:.2f}% after, {word}")
            if w == "all four":
                (before_wins if c.direction == "higher" else after_wins if c.direction == "lower" else []).append(lr)
        chosen = best_by_validation(here)
        w, p = chosen
        sentences.append(
            f"at lr {lr:g}, {len(ok)} of the {len(here)} settings train ({', '.join(ok) if ok else 'none'}); "
            f"final test accuracy, BN before against after tanh: {'; '.join(cmp)}; the setting chosen on "
            f"validation is {w}{'' if p == '-' else ' (' + PLACEMENT_POSITIONS[p] + ')'}, at "
            f"{final_accuracy(here[chosen]).text()} test accuracy")
    n = min(len(r) for r in placement.values())
    if len(before_wins) == len(lrs):
        overall = (f"With BN on all four layers, BN before tanh ends clearly above BN after tanh at every learning "
                   f"rate run ({_listing(lrs)}; {_seeds_text(n)} each)")
    elif before_wins:
        overall = (f"With BN on all four layers, BN before tanh ends clearly above BN after tanh at lr "
                   f"{_listing(before_wins)} but not at {_listing([lr for lr in lrs if lr not in before_wins])} "
                   f"({_seeds_text(n)} each): the placement matters at some learning rates, not at all")
    else:
        overall = (f"With BN on all four layers, BN before tanh never ends clearly above BN after tanh at the "
                   f"learning rates run ({_listing(lrs)}; {_seeds_text(n)} each)")
    return {"lrs": lrs, "per_lr": [s[0].upper() + s[1:] + "." for s in sentences], "overall": overall + ".",
            "before_wins": before_wins, "after_wins": after_wins, "table": placement_table(placement, accuracy)}


def sweep_table(results: dict, accuracies: Sequence[float] = (0.97, 0.98)) -> str:
    """The sweep as a Markdown table: final test accuracy with its spread, diverged seeds, steps to each accuracy."""
    head = "| network | lr | final test accuracy | diverged | trains | " + " | ".join(
        f"steps to {100 * a:g}%" for a in accuracies) + " |"
    rows = [head, "|---|---:|---|---|---|" + "---|" * len(accuracies)]
    for (variant, lr), runs in sorted(results.items()):
        cells = []
        for a in accuracies:
            steps = [s for s in steps_to_accuracy(runs, a) if math.isfinite(s)]
            cells.append("never" if not steps else f"{statistics.fmean(steps):.0f}"
                         + ("" if len(steps) == len(runs) else f" ({len(steps)} of {len(runs)} seeds)"))
        rows.append(f"| {variant} | {lr:g} | {final_accuracy(runs).text()} | {sum(h.diverged for h in runs)} of "
                    f"{len(runs)} | {'yes' if trains(runs) else 'no'} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def lr_sweep_findings(results: dict, placement: dict, without: str = LR_NO_BN, with_: str = LR_BN,
                      norm_layer: str = LR_NORM_LAYER, norm_lrs: Sequence[float] = LR_NORM_LRS) -> dict:
    """Every value and sentence of the learning-rate chapter, its claims and its "What we learned".

    ``results``: ``experiments.lr_sweep()``; ``placement``: ``experiments.placement_grid()``.
    """
    lrs = sorted({lr for _, lr in results})
    n = min(len(r) for r in results.values())
    first = next(iter(results.values()))[0]
    v: dict = {"lrs": _listing(lrs), "n_lrs": len(lrs), "n_seeds": n, "n_runs": sum(map(len, results.values())),
               "n_steps": first.steps_per_epoch, "batch": first.config["batch_size"],
               "eval_every": first.config.get("eval_every", 0), "val_size": f"{first.config.get('val_size', 0):,}",
               "n_train": f"{first.config.get('n_train') or 60_000 - first.config.get('val_size', 0):,}",
               "setting": sweep_setting(results),
               "sweep_minutes": train_minutes(r for rs in results.values() for r in rs)}
    a, b = largest_trainable_lr(results, without), largest_trainable_lr(results, with_)
    v.update(usable_range=usable_range_text(results, without, with_), nobn_largest=lr_label(a), bn_largest=lr_label(b),
             table=sweep_table(results))
    top = max(lrs)
    v["top_lr"] = top
    gone = {name: sum(h.diverged for h in results[name, top]) for name in (without, with_)}
    v["top_text"] = (f"lr {top:g}, {gone[with_]} of {len(results[with_, top])} seeds "
                     f"with BN and {gone[without]} of {len(results[without, top])} without diverged")
    speed, n_faster, n_compared = speed_text(results, without, with_)
    v["speed"] = speed
    # the best learning rate of each network, chosen on the validation images; the test accuracy only reports it
    best_no, best_bn = best_lr_by_validation(results, without), best_lr_by_validation(results, with_)
    end = compare(final_accuracy(results[without, best_no]), final_accuracy(results[with_, best_bn]))
    v.update(nobn_best_lr=best_no, bn_best_lr=best_bn)
    v["best_compare"] = (f"At the learning rate each network does best at on the {v['val_size']} validation images "
                         f"(lr {best_no:g} without BN, {best_bn:g} with BN), " + end.text("without BN", "with BN")
                         + " (after one epoch)")
    if (without, LR_REVIEW) in results and (with_, LR_REVIEW) in results:
        review = compare(final_accuracy(results[without, LR_REVIEW]), final_accuracy(results[with_, LR_REVIEW]))
        v["review_compare"] = (f"At the review's lr {LR_REVIEW:g}: " + review.text("without BN", "with BN")
                               + " (after one epoch)")
    else:
        v["review_compare"] = f"The review's lr {LR_REVIEW:g} is not in this grid."
    pl = placement_findings(placement)
    v.update(placement_overall=pl["overall"], placement_per_lr=" ".join(pl["per_lr"]), placement_table=pl["table"],
             placement_lrs=_listing(pl["lrs"]), placement_minutes=train_minutes(
                 r for rs in placement.values() for r in rs))
    eff = effective_lr_findings(results, without, with_, norm_layer, norm_lrs)
    v.update(norm_text=eff["text"], norm_layer=norm_layer, norm_lrs=_listing(eff["norm_lrs"]))
    v["effective"] = eff
    wider = b is not None and (a is None or b > a)
    v["claims"] = [
        Claim("larger learning rates", PAPER_LR_CLAIM, REVIEW_CLAIM, v["usable_range"],
              verdict(wider), "lr_sweep"),
        Claim("faster training", PAPER_SPEED_CLAIM, REVIEW_CLAIM, speed,
              verdict(n_faster > 0, mixed=0 < n_faster <= n_compared / 2), "lr_sweep"),
        Claim("BN before the nonlinearity", "\"we add the BN transform immediately before the nonlinearity\" "
              "(Sec. 3.2)", "BN \"is applied to the output of the 3 convolutional layers and the first fully "
              "connected\" (before or after tanh is not said)", pl["overall"],
              verdict(bool(pl["before_wins"]), mixed=0 < len(pl["before_wins"]) < len(pl["lrs"])), "lr_sweep"),
        Claim("larger weights, smaller steps", PAPER_SCALE_CLAIM, "not discussed", eff["text"],
              verdict(eff["grows"] if eff["norm_lrs"] else None), "lr_sweep"),
    ]
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}" + ("" if s.endswith(".") else ".") for s in (
        v["usable_range"], speed, v["best_compare"], pl["overall"], eff["summary"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: explorer
#
# The explorer's one-seed grid (``explorer.compute_grid``) and the learning-rate chapter's sweep,
# whose usable-range sentence the explorer quotes rather than redefining it.

PAPER_EXPLORER_CLAIM = ("\"Batch Normalization allows us to use much higher learning rates and be less careful "
                        "about initialization\", and on ImageNet it \"achieves the same accuracy with 14 times fewer "
                        "training steps\" (abstract): higher learning rates, and fewer steps on ImageNet; it does "
                        "not claim that BN trains faster at every learning rate")


def explorer_findings(grid, sweep: dict, without: str = LR_NO_BN, with_: str = LR_BN) -> dict:
    """Values and sentences of the explorer chapter: the grid's setting, the per-placement table (the words of
    :func:`bnreview.explorer.summary`), the usable range quoted from the sweep, and what the grid's runs show
    about speed."""
    from bnreview import explorer

    numbers = explorer.summary(grid)
    v: dict = {"ex_n_runs": grid.n_runs, "ex_n_lrs": len(grid.lrs), "ex_lrs": _listing(grid.lrs),
               "ex_placements": "; ".join(p.label for p in grid.placements), "ex_n_placements": len(grid.placements),
               "ex_epochs": grid.epochs, "ex_n_train": grid.n_train_text(), "ex_steps": grid.steps,
               "ex_eval_every": grid.config.eval_every, "ex_batch": grid.config.batch_size, "ex_seed": grid.config.seed,
               "ex_smooth": explorer.LOSS_SMOOTH, "ex_sec_per_run": numbers["seconds_per_run"],
               "ex_min_total": numbers["seconds_total"] / 60, "ex_table": explorer.summary_markdown(grid),
               "ex_setting": explorer.settings_text(grid), "ex_paper_claim": PAPER_EXPLORER_CLAIM,
               "ex_usable_range": usable_range_text(sweep, without, with_),
               "ex_sweep_seeds": min(len(r) for r in sweep.values())}
    keys = [p.key for p in grid.placements]
    if "none" in keys and "all" in keys:
        runs = {(name, lr): [grid.run(lr, key)] for name, key in ((without, "none"), (with_, "all")) for lr in grid.lrs}
        speed, n_faster, n = speed_text(runs, without, with_)
        v["ex_speed"] = f"In the explorer's runs (seed {grid.config.seed} alone), {speed}."
        v["ex_faster_everywhere"] = int(n_faster == n)
    else:
        v["ex_speed"] = "The explorer's grid holds no pair of runs with and without BN to compare."
        v["ex_faster_everywhere"] = 0
    v["learned"] = "\n".join((
        f"- The usable range, from the learning-rate chapter's runs: {v['ex_usable_range']}.",
        f"- {v['ex_speed']}",
        f"- What the paper claims: {PAPER_EXPLORER_CLAIM}.",
    ))
    v["claims"] = []
    return v


# ---------------------------------------------------------------------------------------
# Chapter: paper_mnist
#
# The paper's own MNIST experiment (Sec. 4.1, Figure 1), re-run. Inputs: the pilot that chooses the MLP's
# learning rate on held-out validation images (``{(init_std, lr, bn): [History]}``, bn "none" or "all", from
# ``experiments.mlp_pilot_config``); the runs at the chosen lr (``{"without BN": runs, "with BN": runs}``, from
# ``experiments.paper_mlp_config``); the check at the runner-up lr (same keys, seed 0); and the review's LeNet
# runs (``{"LeNet, no BN": runs, "LeNet + BN": runs}``, from ``config.review_config``).

PM_LAYER = "fc3"  # the paper's "last hidden layer"
PM_LENET_LAYER = "fc1"  # LeNet's first fully connected layer
PM_LATE = 0.02  # the drift is measured from this fraction of training on (after the first fast move)
PM_EARLY = (0.02, 0.10)  # fractions of training at which the test accuracy is compared
PM_NORMAL_BAND = 2 * statistics.NormalDist().inv_cdf(0.85)  # the 15th-85th percentile band of N(0, 1): 2.07 wide
PM_NETWORKS = ("without BN", "with BN")
PM_LENETS = ("LeNet, no BN", "LeNet + BN")
PAPER_MNIST_INPUT = "\"a 28x28 binary image as input\" (Sec. 4.1)"
PAPER_MNIST_OPTIMISER = ("\"a version of Stochastic Gradient Descent with momentum\" is the only optimiser the paper "
                         "says it used, for Inception (Sec. 4.2); for MNIST it states neither the optimiser nor the "
                         "learning rate")
PAPER_MNIST_ACCURACY = ("\"Batch Normalization helps the network train faster and achieve higher accuracy\" "
                        "(Figure 1(a))")
PAPER_MNIST_STABLE = ("\"the distributions in the batch-normalized network are much more stable as training "
                      "progresses, which aids the training\" (Sec. 4.1, Figure 1(b, c))")
PAPER_MNIST_INIT = ("\"Batch Normalization allows us to use much higher learning rates and be less careful about "
                    "initialization\" (abstract)")
REVIEW_MNIST = "not tested (the review trains LeNet only)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def seeds_label(histories: Sequence[History]) -> str:
    """``"seed 0"`` or ``"seeds 0, 1, 2"``: the seeds of exactly the runs given."""
    seeds = sorted({h.config.get("seed", 0) for h in histories})
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def mlp_setting(histories: Sequence[History]) -> str:
    """The setting of the paper's MLP runs given, in words (for titles), with exactly their seeds."""
    c = histories[0].config
    images = c.get("n_train") or 60_000 - c.get("val_size", 0)
    return (f"3x100 sigmoid MLP, plain SGD lr {c['lr']:g}, batch {c['batch_size']}, {c['steps']:,} steps, "
            f"{images:,} training images, init N(0, {c['init_std']:g}²), {seeds_label(histories)}")


def lenet_setting(histories: Sequence[History]) -> str:
    """The setting of the review's LeNet runs given (for titles)."""
    c = histories[0].config
    return (f"LeNet (tanh), plain SGD lr {c['lr']:g}, batch {c['batch_size']}, {c['epochs']} epochs, "
            f"{seeds_label(histories)}")


def _val(runs: Sequence[History]) -> float:
    """Mean final validation accuracy (%) of the runs."""
    return 100 * statistics.fmean(h.final_val_acc for h in runs)


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


def pilot_table(pilot: dict, choice: dict) -> str:
    """The pilot as a Markdown table of validation accuracies (the test set is not looked at here)."""
    rows = ["| initial weights | lr | validation accuracy, no BN | with BN |", "|---|---:|---|---|"]
    for std, lr in sorted({(s, lr) for s, lr, _ in pilot}):
        mark = " (chosen)" if (std, lr) == (choice["std"], choice["lr"]) else ""
        rows.append(f"| N(0, {std:g}²) | {lr:g} | {_val(pilot[std, lr, 'none']):.2f}%{mark} | "
                    f"{_val(pilot[std, lr, 'all']):.2f}% |")
    return "\n".join(rows)


def pilot_text(pilot: dict, choice: dict) -> str:
    """What the pilot chose, and on what, as sentences."""
    std, best, ru = choice["std"], choice["lr"], choice["runner_up"]
    h = pilot[std, best, "none"][0]
    n = min(len(r) for r in pilot.values())
    text = (f"After {len(h.step_loss):,} steps ({seeds_label(pilot[std, best, 'none'])}), on the "
            f"{h.config.get('val_size', 0):,} validation images held out of the training set, the network without BN "
            f"at σ = {std:g} does best at lr {best:g} ({_val(pilot[std, best, 'none']):.2f}%)")
    if ru is not None:
        text += f", then at lr {ru:g} ({_val(pilot[std, ru, 'none']):.2f}%)"
        if n == 1:
            text += "; with one seed that is a ranking, not a clear difference"
    text += (f". With BN the best is lr {choice['bn_lr']:g} ({_val(pilot[std, choice['bn_lr'], 'all']):.2f}%). "
             f"Both networks are trained at lr {best:g} below: the rate chosen for the network without BN, so that "
             f"the baseline is not handicapped.")
    s, lr = choice["overall"]
    if s == std:
        text += f" Over both initial scales, validation picks the same σ = {std:g} for the network without BN."
    else:
        text += (f" Over both initial scales, validation would pick σ = {s:g} (lr {lr:g}, "
                 f"{_val(pilot[s, lr, 'none']):.2f}%) for the network without BN; the runs below keep σ = {std:g}.")
    return text


def pilot_scale_text(pilot: dict) -> tuple[str, bool]:
    """How much each network's validation accuracy depends on the learning rate and the initial scale over the
    pilot's grid, and whether it depends less with BN (its range over the grid is narrower)."""
    ranges = {}
    for bn in ("none", "all"):
        values = {(s, lr): _val(r) for (s, lr, b), r in pilot.items() if b == bn}
        worst = min(values, key=values.get)
        ranges[bn] = (min(values.values()), max(values.values()), worst)
    (lo_n, hi_n, worst_n), (lo_b, hi_b, worst_b) = ranges["none"], ranges["all"]
    less = hi_b - lo_b < hi_n - lo_n
    stds = _listing(sorted({s for s, _, _ in pilot}))
    lrs = _listing(sorted({lr for _, lr, _ in pilot}))
    text = (f"Over the pilot's {len(pilot) // 2} settings (σ in {stds}, lr in {lrs}), the validation accuracy "
            f"without BN ranges from {lo_n:.2f}% (σ = {worst_n[0]:g}, lr {worst_n[1]:g}) to {hi_n:.2f}%, with BN from "
            f"{lo_b:.2f}% (σ = {worst_b[0]:g}, lr {worst_b[1]:g}) to {hi_b:.2f}%: ")
    text += ("with BN the outcome depends less on the learning rate and the initial scale"
             if less else "BN does not make the outcome depend less on the learning rate and the initial scale")
    return text + " (one seed per setting).", less


def accuracy_at(histories: Sequence[History], step: int) -> Spread:
    """Test accuracy (%) at the last evaluation at or before ``step``, over the runs."""
    return spread(100 * [a for s, a in zip(h.eval_steps, h.eval_acc) if s <= step][-1] for h in histories)


def steps_to_text(histories: Sequence[History], accuracy: float) -> str:
    """``"at step 4000 ± 500 (3 seeds, 3500 to 4500)"``, or how many seeds never got there."""
    steps = [s for s in steps_to_accuracy(histories, accuracy) if math.isfinite(s)]
    if not steps:
        return "never within the run" + ("" if len(histories) == 1 else " (no seed gets there)")
    text = f"at step {spread(steps).text(0, '')}"
    missing = len(histories) - len(steps)
    return text + (f"; {missing} of {len(histories)} seeds never get there" if missing else "")


def figure_1a_findings(runs: dict) -> dict:
    """Figure 1(a) re-run: test accuracy early in training, at the end, and the steps to 97% and 98%, with BN
    against without, each with its spread over seeds."""
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    total = nobn[0].config["steps"]
    parts = []
    for fraction in PM_EARLY:
        step = int(total * fraction)
        parts.append(compare(accuracy_at(nobn, step), accuracy_at(bn, step)).text(
            "without BN", "with BN", f"test accuracy at step {step:,} ({100 * fraction:g}% of training)"))
    final = compare(final_accuracy(nobn), final_accuracy(bn))
    parts.append(final.text("without BN", "with BN", f"final test accuracy (step {total:,})"))
    reach = [f"{100 * a:g}% test accuracy is first reached with BN {steps_to_text(bn, a)}, without BN "
             f"{steps_to_text(nobn, a)}" for a in (0.97, 0.98)]
    faster = reaches_sooner(nobn, bn, 0.97)
    slower = reaches_sooner(bn, nobn, 0.97)
    higher = final.direction == "higher"
    neither = not any(math.isfinite(s) for s in steps_to_accuracy([*nobn, *bn], 0.97))
    reach.append("every seed with BN reaches 97% before every seed without" if faster else
                 "every seed without BN reaches 97% before every seed with BN" if slower else
                 "neither network reaches 97% within the run" if neither else
                 "the steps to 97% overlap between the seeds of the two networks")
    if faster and higher:
        shape = "As in the paper's Figure 1(a), BN trains faster and ends higher here."
    elif faster or higher:
        shape = ("Of the paper's Figure 1(a), one half holds here: BN " + ("trains faster" if faster else "ends higher")
                 + ", but does not clearly " + ("end higher" if faster else "train faster") + ".")
    else:
        shape = "Here BN neither clearly trains faster nor clearly ends higher, unlike the paper's Figure 1(a)."
    return {"early": "; ".join(parts[:-1]) + ".", "final": parts[-1] + ".", "reach": "; ".join(reach) + ".",
            "shape": shape + " The paper gives no numbers, only the plot, so levels cannot be compared.",
            "faster": faster, "higher": higher, "final_cmp": final}


def band_width(history: History, layer: str, index: int) -> float:
    """Width of one unit's 15th-85th percentile band at probe ``index``."""
    p = history.probes[layer]
    return p["unit_p85"][index] - p["unit_p15"][index]


def _late_index(history: History, fraction: float) -> int:
    total = history.config.get("steps") or len(history.step_loss)
    return next((i for i, s in enumerate(history.probe_steps) if s >= fraction * total), len(history.probe_steps) - 1)


def drift_late(histories: Sequence[History], layer: str, fraction: float = PM_LATE) -> Spread:
    """How far one unit's input moves from ``fraction`` of training on: per run, the range (max - min) of each of
    its 15th, 50th and 85th percentiles over the probes, averaged over the three (``experiments.percentile_drift``)."""
    from bnreview.experiments import percentile_drift

    return spread(percentile_drift(h, layer, skip=_late_index(h, fraction))["mean_range"] for h in histories)


def steadiness(nobn: Sequence[History], bn: Sequence[History], layer: str, fraction: float = PM_LATE) -> dict:
    """Does BN keep one unit's input steadier? Band widths at step 0, at the first probe after it and at the end;
    the drift from ``fraction`` of training on, compared (clearly lower with BN: steadier)."""
    first, late = nobn[0].probe_steps[1], nobn[0].probe_steps[_late_index(nobn[0], fraction)]
    w = {name: [spread(band_width(h, layer, i) for h in runs) for i in (0, 1, -1)]
         for name, runs in (("nobn", nobn), ("bn", bn))}
    drift = compare(drift_late(nobn, layer, fraction), drift_late(bn, layer, fraction))
    text = (f"Without BN, the 15th-85th percentile band of the unit's input is {w['nobn'][1].text(2, '')} wide at "
            f"step {first:,} and {w['nobn'][2].text(2, '')} at the end. With BN it is {w['bn'][0].text(2, '')} wide at "
            f"step 0, where BN has just normalised the unit's input over the probe images to mean 0 and variance 1 "
            f"(a normal distribution's band would be {PM_NORMAL_BAND:.2f} wide, ±{PM_NORMAL_BAND / 2:.2f}); "
            f"{w['bn'][1].text(2, '')} at step {first:,}, as γ and β move; and {w['bn'][2].text(2, '')} at the end. "
            f"From step {late:,} on, " + drift.text("without BN", "with BN", "the range each percentile sweeps "
                                                    "(mean of the three)", unit="") + ".")
    verdict_text = {"lower": "BN keeps this unit's input steadier, as the paper's Figure 1(c) shows",
                    "higher": "BN does not keep this unit's input steadier: it moves more with BN than without",
                    }.get(drift.direction, "BN makes no clear difference to how much this unit's input moves")
    return {"text": text, "verdict": verdict_text, "steadier": drift.direction == "lower", "drift": drift,
            "late_step": late}


def paper_mnist_findings(pilot: dict, runs: dict, check: dict, lenet: dict) -> dict:
    """Every value and sentence of the paper-MNIST chapter, its claims, "What we learned" and its headline.

    ``pilot``: ``{(init_std, lr, bn): [History]}`` (``experiments.mlp_pilot_config`` over ``MLP_PILOT_STDS`` x
    ``MLP_PILOT_LRS`` x bn "none"/"all", seed 0); ``runs``: ``{"without BN": runs, "with BN": runs}`` at the lr
    :func:`pilot_choice` chose (``experiments.paper_mlp_config``, every seed); ``check``: the same two at the
    runner-up lr (seed 0); ``lenet``: ``{"LeNet, no BN": runs, "LeNet + BN": runs}`` (``config.review_config``).
    """
    from bnreview.models import PaperMLP, count_parameters

    c = runs[PM_NETWORKS[0]][0].config
    choice = pilot_choice(pilot, c["init_std"])
    if choice["lr"] != c["lr"]:
        raise ValueError(f"the runs are at lr {c['lr']:g}, but validation chose lr {choice['lr']:g}")
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    n = min(len(nobn), len(bn))
    v: dict = {"lr": f"{choice['lr']:g}", "runner_up": lr_label(choice["runner_up"]), "bn_lr": f"{choice['bn_lr']:g}",
               "std": f"{choice['std']:g}", "n_seeds": n, "seeds": seeds_label(nobn),
               "mlp_params": f"{count_parameters(PaperMLP()):,}", "mlp_bn_params": f"{count_parameters(PaperMLP(bn='all')):,}",
               "pilot_stds": _listing(sorted({s for s, _, _ in pilot})),
               "pilot_lrs": _listing(sorted({lr for _, lr, _ in pilot})),
               "pilot_steps": f"{len(next(iter(pilot.values()))[0].step_loss):,}",
               "val_size": f"{next(iter(pilot.values()))[0].config.get('val_size', 0):,}",
               "mlp_steps": f"{c['steps']:,}", "eval_every": c["eval_every"], "probe_every": c["probe_every"],
               "n_train": f"{c.get('n_train') or 60_000 - c.get('val_size', 0):,}",
               "setting": mlp_setting(nobn), "setting_seed0": mlp_setting(nobn[:1]),
               "check_setting": mlp_setting(check[PM_NETWORKS[0]]),
               "lenet_setting": lenet_setting(lenet[PM_LENETS[0]]),
               "lenet_setting_seed0": lenet_setting(lenet[PM_LENETS[0]][:1]),
               "pilot_table": pilot_table(pilot, choice), "pilot_text": pilot_text(pilot, choice),
               "optimiser": PAPER_MNIST_OPTIMISER[0].upper() + PAPER_MNIST_OPTIMISER[1:] + ".",
               "mlp_minutes": train_minutes([*nobn, *bn, *(h for r in pilot.values() for h in r)]),
               "check_minutes": train_minutes(h for r in check.values() for h in r)}
    v["choice"] = choice
    v["pilot_scale"], less = pilot_scale_text(pilot)
    f1 = figure_1a_findings(runs)
    v.update(early=f1["early"], final=f1["final"], reach=f1["reach"], shape=f1["shape"])
    main = steadiness(nobn, bn, PM_LAYER)
    v.update(drift_text=main["text"], drift_verdict=f"At lr {choice['lr']:g}, {main['verdict']}.",
             late_step=f"{main['late_step']:,}")
    ru = steadiness(check[PM_NETWORKS[0]], check[PM_NETWORKS[1]], PM_LAYER)
    # the runner-up is a check on Figure 1(b, c) only: its test accuracy is not reported (the test set reports
    # only the setting chosen on validation)
    v.update(check_text=ru["text"], check_verdict=f"At lr {lr_label(choice['runner_up'])}, {ru['verdict']}.",
             check_seeds=seeds_label(check[PM_NETWORKS[0]]))
    if main["steadier"] == ru["steadier"]:
        v["lr_dependence"] = ("At both learning rates the answer is the same, so here it does not depend on the "
                              "learning rate.")
    else:
        v["lr_dependence"] = (f"So whether BN visibly steadies the last hidden layer depends on the learning rate "
                              f"(steadier at lr {lr_label(choice['lr'] if main['steadier'] else choice['runner_up'])} "
                              f"only).")
    le = steadiness(lenet[PM_LENETS[0]], lenet[PM_LENETS[1]], PM_LENET_LAYER)
    v.update(lenet_text=le["text"], lenet_verdict=f"On LeNet ({PM_LENET_LAYER}'s first unit), {le['verdict']}.")
    v["headline"] = (f"On the paper's own MNIST network (lr {choice['lr']:g}, chosen on validation; {_plural(n, 'seed')}, "
                     f"{c['steps']:,} steps), {f1['final_cmp'].text('without BN', 'with BN')}; at that learning rate "
                     f"{main['verdict']}.")
    v["claims"] = [
        Claim("BN trains the paper's MNIST network faster and to a higher accuracy", PAPER_MNIST_ACCURACY,
              REVIEW_MNIST, f"{f1['final']} {f1['reach']}",
              verdict(f1["faster"] and f1["higher"], mixed=f1["faster"] != f1["higher"]), "paper_mnist"),
        Claim("BN steadies the input of the last hidden layer's sigmoid", PAPER_MNIST_STABLE, REVIEW_MNIST,
              f"At lr {choice['lr']:g} ({seeds_label(nobn)}): {main['verdict']}. At lr "
              f"{lr_label(choice['runner_up'])} ({seeds_label(check[PM_NETWORKS[0]])}): {ru['verdict']}.",
              verdict(main["steadier"] and ru["steadier"], mixed=main["steadier"] != ru["steadier"]), "paper_mnist"),
        Claim("less careful about initialisation", PAPER_MNIST_INIT, "not tested", v["pilot_scale"], verdict(less),
              "paper_mnist"),
    ]
    v["learned"] = "\n".join(f"- {s}" for s in (
        f"The learning rate was chosen on {v['val_size']} held-out validation images: lr {choice['lr']:g} for the "
        f"network without BN (runner-up lr {lr_label(choice['runner_up'])}); the test set reports only that choice.",
        f1["final"][0].upper() + f1["final"][1:], f1["shape"].split(" The paper")[0],
        v["drift_verdict"], v["check_verdict"], v["lr_dependence"], v["lenet_verdict"], v["pilot_scale"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: what_bn_does
#
# Noisy BN after Santurkar et al. (``{lr: {"no BN": runs, "BN": runs, "noisy BN": runs}}``, each from
# ``experiments.noisy_bn_configs(lr)``), the batch-size sweep (``experiments.batch_size_sweep()``:
# ``{("no BN" or "BN", batch size): runs}``) and, for its BN runs, ``experiments.inference_accuracies``
# (moving averages, Algorithm 2's population statistics, each test batch's own statistics).

WB_NETWORKS = ("no BN", "BN", "noisy BN")  # experiments.noisy_bn_configs's keys
WB_LAYERS = ("conv1", "conv2", "conv3", "fc1")  # the layers with BN (models.BN_LAYERS)
WB_NORM_LAYER = "conv2"  # a layer whose output BN (and noisy BN) normalises: scale-invariant (Sec. 3.3)
PAPER_ICS = ("BN \"takes a step towards reducing internal covariate shift, and in doing so dramatically accelerates "
             "the training of deep neural nets\" (Sec. 1)")
REVIEW_ICS = "BN \"is believed to keep the distribution of the data stable throughout the training process\""
PAPER_INFERENCE = ("at inference, population statistics averaged over training mini-batches with the trained "
                   "network: E[x] = E_B[μ_B], Var[x] = m/(m-1) E_B[σ_B²] (Algorithm 2); \"Using moving averages "
                   "instead, we can track the accuracy of a model as it trains\" (Sec. 3.1)")
REVIEW_INFERENCE = "an exponential moving average of the batch statistics, \"μ_moving = t μ_moving + (1-t) μ\""


def unit_drift(histories: Sequence[History], layers: Sequence[str] = WB_LAYERS) -> Spread | None:
    """How much one unit's input moves from one probe to the next: per run, the mean absolute change of its 15th,
    50th and 85th percentiles between consecutive probes (``experiments.percentile_drift``'s ``mean_step``, from
    the first probe after step 0), averaged over ``layers``. Diverged runs are left out; None if all diverged."""
    from bnreview.experiments import percentile_drift

    kept = [h for h in histories if not h.diverged]
    if not kept:
        return None
    return spread(statistics.fmean(percentile_drift(h, layer, skip=1)["mean_step"] for layer in layers)
                  for h in kept)


def drift_groups(noisy: dict, layers: Sequence[str] = WB_LAYERS) -> dict:
    """``{lr: {layer: {network: [drift per seed]}}}`` for the figure (diverged runs left out)."""
    from bnreview.experiments import percentile_drift

    return {lr: {layer: {name: [percentile_drift(h, layer, skip=1)["mean_step"] for h in runs if not h.diverged]
                         for name, runs in by_name.items() if any(not h.diverged for h in runs)}
                 for layer in layers} for lr, by_name in noisy.items()}


def _outcome(runs: Sequence[History]) -> str:
    gone = sum(h.diverged for h in runs)
    return final_accuracy(runs).text() + (f", {gone} of {len(runs)} seeds diverged" if gone else "")


def noisy_findings(noisy: dict, layer: str = WB_NORM_LAYER) -> dict:
    """Noisy BN against plain BN and no BN at each learning rate: accuracy, divergence, drift of the layers'
    inputs, and the weight growth of a layer before BN (scale invariance, Sec. 3.3). The argument is made at the
    largest learning rate (``hi``), where the network without BN fails."""
    no, bn, nz = WB_NETWORKS
    lrs = sorted(noisy)
    lo, hi = lrs[0], lrs[-1]
    out: dict = {"lrs": lrs, "lo": lo, "hi": hi}
    per_lr, trails, ahead, level, drifts = [], [], [], [], {}
    for lr in lrs:
        g = noisy[lr]
        cmp = compare(final_accuracy(g[bn]), final_accuracy(g[nz]))
        {"lower": trails, "higher": ahead}.get(cmp.direction, level).append(lr)
        per_lr.append(f"At lr {lr:g}: without BN {_outcome(g[no])}; with BN {_outcome(g[bn])}; with noisy BN "
                      f"{_outcome(g[nz])}. Noisy against plain BN, " + cmp.text("with plain BN", "with noisy BN") + ".")
        drifts[lr] = {name: unit_drift(g[name]) for name in WB_NETWORKS}
    out["per_lr"] = " ".join(per_lr)
    out["trails"] = trails
    # the argument, at the large learning rate
    gh = noisy[hi]
    d_nz, d_bn, d_no_lo = drifts[hi][nz], drifts[hi][bn], drifts[lo][no]
    nobn_fails = all(h.diverged for h in gh[no])
    noisy_survives = not any(h.diverged for h in gh[nz])
    parts = []
    more_than_bn = more_than_nobn = False
    if d_nz is not None and d_bn is not None:
        c = compare(d_bn, d_nz)
        more_than_bn = c.direction == "higher"
        parts.append(f"at lr {hi:g}, " + c.text("with plain BN", "with noisy BN", "drift", unit=""))
    if d_nz is not None and d_no_lo is not None:
        c = compare(d_no_lo, d_nz)
        more_than_nobn = c.direction == "higher"
        parts.append(f"against the network without BN at lr {lo:g}, where it trains: "
                     + c.text(f"without BN (lr {lo:g})", f"with noisy BN (lr {hi:g})", "drift", unit=""))
    if drifts[hi][no] is None:
        parts.append(f"without BN at lr {hi:g} every seed diverged, so there is no drift to measure")
    every = noisy[lo][nz][0].config.get("probe_every", 0)
    out["drift"] = ("Drift of the layers' inputs (one unit per layer, mean change of its 15th, 50th and 85th "
                    f"percentiles between probes {every} steps apart, averaged over the four layers): "
                    + "; ".join(parts) + ".")
    out["drift_lo"] = "; ".join(f"{name} {d.text(3, '')}" for name, d in drifts[lo].items() if d is not None)
    against_ics = nobn_fails and noisy_survives and more_than_nobn and more_than_bn
    if against_ics:
        out["mechanism"] = (f"So at lr {hi:g} the inputs of the noisy network's layers move more than with plain BN "
                            f"and more than those of the network without BN at lr {lo:g}, yet none of its seeds "
                            f"diverges where every seed without BN does: keeping layer inputs steady is not what "
                            f"lets BN survive lr {hi:g}.")
    else:
        missing = [why for why, ok in (
            (f"the network without BN does not diverge in every seed at lr {hi:g}", nobn_fails),
            (f"noisy BN diverges in some seed at lr {hi:g}", noisy_survives),
            (f"its drift is not clearly larger than plain BN's at lr {hi:g}", more_than_bn),
            (f"its drift is not clearly larger than that of the network without BN at lr {lo:g}", more_than_nobn))
            if not ok]
        out["mechanism"] = (f"These runs do not show noisy BN surviving lr {hi:g} with more drift than the network "
                            f"without BN: " + "; ".join(missing) + ".")
    found = [f"{words} at lr {_listing(group)}" for words, group in (
        ("clearly below plain BN", trails), ("within the spread of the seeds of plain BN", level),
        ("clearly above plain BN", ahead)) if group]
    out["cost"] = ("Santurkar et al. found noisy BN to train about as well as plain BN; on LeNet, noisy BN ends "
                   + "; ".join(found) + ".")
    if trails:
        out["cost"] += (" So their result holds here only in part: the noise is not free"
                        + (", though the tolerance of the large learning rate survives it." if against_ics else ".")
                        + " These runs cannot tell whether plain BN's lead over noisy BN comes from steadier layer "
                          "inputs or simply from the absence of noise.")
    # scale invariance: the layer before (noisy) BN
    growth, grows = [], True
    for lr in lrs:
        if all(not h.diverged for h in noisy[lr][nz] + noisy[lr][bn]):
            g_bn, g_nz = weight_growth(noisy[lr][bn], layer), weight_growth(noisy[lr][nz], layer)
            grows = grows and g_bn.lo > 1 and g_nz.lo > 1
            growth.append(f"at lr {lr:g}, " + compare(g_bn, g_nz).text(
                "with plain BN", "with noisy BN", f"{layer}'s weight norm at the end over its start", unit=""))
    out["scale"] = ((f"The weights of {layer}, which stays scale-invariant under the noise, "
                     + ("grow over the epoch in every seed of both BN networks: " if grows else
                        "do not grow in every seed: ") + "; ".join(growth) + ".") if growth else
                    "No learning rate leaves both BN networks undiverged to compare their weights.")
    out["reading"] = ((f"So the noisy-BN result argues against covariate shift as the mechanism of BN's tolerance of "
                       f"lr {hi:g}, not against the paper's claim that BN allows higher learning rates: the scale "
                       f"invariance Section 3.3 credits for that claim survives the noise.") if against_ics else
                      "So these runs do not separate the two explanations.")
    if against_ics:
        out["verdict"] = verdict(False, mixed=bool(trails))
    elif nobn_fails and not noisy_survives:
        out["verdict"] = verdict(True)  # the noise, like the drift without BN, makes it fail
    else:
        out["verdict"] = "mixed"
    g_hi = noisy[hi]
    out["headline"] = (f"At lr {hi:g}, where LeNet without BN "
                       + (f"diverges ({sum(h.diverged for h in g_hi[no])} of {len(g_hi[no])} seeds)" if nobn_fails
                          else f"ends at {final_accuracy(g_hi[no]).text()}")
                       + f", noisy BN ends at {_outcome(g_hi[nz])} against {final_accuracy(g_hi[bn]).text()} with "
                         f"plain BN"
                       + (", with more drift of its layers' inputs than either" if more_than_bn and more_than_nobn
                          else "") + ".")
    out["groups"] = drift_groups(noisy)
    return out


def batch_findings(by_batch: dict, inference: dict) -> dict:
    """The batch-size sweep: per batch size, the SGD steps of the epoch, the learning rate, the test accuracy
    without BN and of BN three ways (moving averages, Algorithm 2, each test batch's statistics), with spreads."""
    sizes = sorted(b for v, b in by_batch if v == "BN")
    rows = ["| batch | SGD steps | lr | no BN | BN, moving averages | BN, Algorithm 2 | BN, train mode | BN against no BN |",
            "|---:|---:|---:|---|---|---|---|---|"]
    ahead, behind, level, steps_list = [], [], [], []
    acc, gaps = {}, []
    for b in sizes:
        h = by_batch["BN", b][0]
        ema = spread(100 * i["ema"] for i in inference[b])
        pop = spread(100 * i["population"] for i in inference[b])
        tm = spread(100 * i["batch"] for i in inference[b])
        nobn = final_accuracy(by_batch["no BN", b])
        c = compare(nobn, ema)
        {"higher": ahead, "lower": behind}.get(c.direction, level).append(b)
        acc[b] = {"ema": ema, "population": pop, "batch": tm, "nobn": nobn}
        steps_list.append(f"batch {b}: {h.steps_per_epoch:,} steps at lr {h.config['lr']:g}")
        gaps.append(f"{statistics.fmean(100 * (i['ema'] - i['batch']) for i in inference[b]):+.2f} at batch {b}")
        word = {"higher": "clearly higher", "lower": "clearly lower"}.get(c.direction, "within the spread")
        rows.append(f"| {b} | {h.steps_per_epoch:,} | {h.config['lr']:g} | {nobn.text()} | {ema.text()} | "
                    f"{pop.text()} | {tm.text()} | {c.difference:+.2f} points, {word} |")
    first = by_batch["BN", sizes[0]][0]
    n_images = first.config.get("n_train") or 60_000 - first.config.get("val_size", 0)
    out: dict = {"sizes": sizes, "table": "\n".join(rows), "acc": acc, "ahead": ahead, "behind": behind,
                 "n_images": n_images}
    out["confound"] = (f"Every run makes one pass over the same {n_images:,} training images, so the batch size "
                       f"also sets the number of SGD steps, and the learning rate grows with the batch: "
                       + "; ".join(steps_list) + ". A difference between two batch sizes is therefore a difference of "
                       "batch size, number of steps and learning rate together, not of the batch size alone.")
    part = []
    for words, group in (("clearly above", ahead), ("clearly below", behind), ("within the spread of the seeds of",
                                                                                 level)):
        if group:
            part.append(f"{words} the network without BN at batch {_listing(group)}")
    out["versus"] = ("In eval mode with its moving averages, the network with BN ends " + "; ".join(part) + ".")
    out["train_mode"] = ("Eval mode minus train mode (each test batch normalised with its own statistics), mean over "
                         "seeds, in points: " + "; ".join(gaps) + ".")
    small, large = sizes[0], sizes[-1]
    cs = compare(acc[small]["nobn"], acc[small]["ema"])
    out["small"] = f"At batch {small}, " + cs.text("without BN", "with BN") + "."
    hs = by_batch["BN", small][0]
    hl = by_batch["BN", large][0]
    out["headline"] = (f"BN's test accuracy against the batch size: at batch {small}, {acc[small]['ema'].text()} "
                       f"against {acc[small]['nobn'].text()} without BN; clearly ahead of no BN at batch "
                       f"{_listing(ahead) if ahead else 'none'}; but each batch size also changes the number of steps "
                       f"({hs.steps_per_epoch:,} at batch {small}, {hl.steps_per_epoch:,} at batch {large}: one epoch "
                       f"over {n_images:,} images) and the learning rate (scaled linearly), so the sweep does not "
                       f"isolate the batch size.")
    return out


def population_findings(inference: dict) -> dict:
    """Algorithm 2's population statistics against the moving averages, per batch size: test accuracy, the
    difference per seed, and how far apart the two sets of statistics are (in population standard deviations)."""
    sizes = sorted(inference)
    rows = ["| batch | moving averages | Algorithm 2 | Algorithm 2 minus moving averages | gap of the means (std) | "
            "gap of the stds (relative) |", "|---:|---|---|---|---|---|"]
    better, worse, level, all_diffs = [], [], [], []
    for b in sizes:
        ema = spread(100 * i["ema"] for i in inference[b])
        pop = spread(100 * i["population"] for i in inference[b])
        diff = spread(100 * (i["population"] - i["ema"]) for i in inference[b])
        all_diffs += diff.values
        c = compare(ema, pop)
        {"higher": better, "lower": worse}.get(c.direction, level).append(b)
        rows.append(f"| {b} | {ema.text()} | {pop.text()} | {diff.text(2, ' points')} | "
                    f"{spread(i['gap_mean'] for i in inference[b]).text(3, '')} | "
                    f"{spread(i['gap_std'] for i in inference[b]).text(3, '')} |")
    n_up = sum(d > 0 for d in all_diffs)
    biggest = max(sizes, key=lambda b: statistics.fmean(100 * (i["population"] - i["ema"]) for i in inference[b]))
    big = spread(100 * (i["population"] - i["ema"]) for i in inference[biggest])
    groups = [f"{words} at batch {_listing(group)}" for words, group in (
        ("clearly higher", better), ("clearly lower", worse), ("within the spread of the seeds", level)) if group]
    text = (f"Algorithm 2's statistics give a higher test accuracy than the moving averages in {n_up} of "
            f"{len(all_diffs)} BN runs (mean difference {statistics.fmean(all_diffs):+.2f} points); the largest mean "
            f"difference is at batch {biggest}, {big.text(2, ' points')}. By the book's criterion (every seed of one "
            f"above every seed of the other), Algorithm 2 is " + ", ".join(groups) + ".")
    gm = {b: statistics.fmean(i["gap_mean"] for i in inference[b]) for b in (sizes[0], sizes[-1])}
    gs = {b: statistics.fmean(i["gap_std"] for i in inference[b]) for b in (sizes[0], sizes[-1])}
    gaps = (f"Averaged over the channels of the four BN layers, the moving means lie {gm[sizes[0]]:.3f} population "
            f"standard deviations from Algorithm 2's at batch {sizes[0]} and {gm[sizes[-1]]:.3f} at batch {sizes[-1]}; "
            f"the standard deviations differ by {gs[sizes[0]]:.3f} and {gs[sizes[-1]]:.3f} (relative).")
    headline = (f"Algorithm 2's population statistics against PyTorch's moving averages: higher test accuracy in "
                f"{n_up} of {len(all_diffs)} BN runs, by {statistics.fmean(all_diffs):+.2f} points on average; "
                + "; ".join(groups) + f"; the largest mean difference is at batch {biggest}: {big.text(2, ' points')}.")
    # the ledger's verdict: supported if clearly higher somewhere and clearly lower nowhere; not supported if the
    # reverse, or if most runs are lower; mixed otherwise (both, or no clear difference with most runs higher)
    if better and not worse:
        claim = verdict(True)
    elif (worse and not better) or (not better and n_up <= len(all_diffs) / 2):
        claim = verdict(False)
    else:
        claim = "mixed"
    return {"table": "\n".join(rows), "text": text, "gaps": gaps, "better": better, "worse": worse,
            "headline": headline, "verdict": claim}


def what_bn_does_findings(noisy: dict, by_batch: dict, inference: dict | None = None) -> dict:
    """Every value and sentence of the chapter "What does BN really do?", its claims, "What we learned" and its
    headlines ("headline_noisy", "headline_batch", "headline_population").

    ``noisy``: ``{lr: experiments.run_grid(experiments.noisy_bn_configs(lr))}``; ``by_batch``:
    ``experiments.batch_size_sweep()``; ``inference``: ``{batch size: [experiments.inference_accuracies(h) for each BN
    run]}``, computed here (from the cache) when not given.
    """
    if inference is None:
        from bnreview.experiments import inference_accuracies

        inference = {b: [inference_accuracies(h) for h in runs] for (v, b), runs in by_batch.items() if v == "BN"}
    nz = noisy_findings(noisy)
    bt = batch_findings(by_batch, inference)
    pop = population_findings(inference)
    first_noisy = noisy[nz["lo"]]["noisy BN"][0]
    v: dict = {"noise": first_noisy.config["bn_noise"], "lr_lo": f"{nz['lo']:g}", "lr_hi": f"{nz['hi']:g}",
               "n_seeds": min(len(r) for g in noisy.values() for r in g.values()),
               "noisy_setting": sweep_setting(noisy[nz["lo"]]), "noisy_reading": nz["reading"],
               "noisy_setting_seed0": sweep_setting({k: r[:1] for k, r in noisy[nz["lo"]].items()}),
               "noisy_per_lr": nz["per_lr"], "noisy_drift": nz["drift"], "noisy_drift_lo": nz["drift_lo"],
               "noisy_mechanism": nz["mechanism"], "noisy_cost": nz["cost"], "noisy_scale": nz["scale"],
               "norm_layer": WB_NORM_LAYER, "batch_sizes": _listing(bt["sizes"]), "batch_n_train": f"{bt['n_images']:,}",
               "batch_smallest": bt["sizes"][0],
               "batch_lr_64": f"{by_batch['BN', bt['sizes'][0]][0].config['lr'] * 64 / bt['sizes'][0]:g}",
               "batch_table": bt["table"], "batch_confound": bt["confound"], "batch_versus": bt["versus"],
               "batch_small": bt["small"], "batch_train_mode": bt["train_mode"],
               "pop_table": pop["table"], "pop_text": pop["text"], "pop_gaps": pop["gaps"],
               "headline_noisy": nz["headline"], "headline_batch": bt["headline"], "headline_population": pop["headline"],
               "noisy_minutes": train_minutes(h for g in noisy.values() for h in g["noisy BN"]),
               "batch_minutes": train_minutes(h for r in by_batch.values() for h in r),
               "n_batch_runs": sum(map(len, by_batch.values()))}
    v["batch_setting"] = (f"LeNet (tanh), plain SGD, lr {v['batch_lr_64']} x B/64, 1 epoch over {bt['n_images']:,} "
                          f"images, {seeds_label(by_batch['BN', bt['sizes'][0]])}")
    v["drift_groups"] = nz["groups"]
    v["batch_series"] = {label: (bt["sizes"], [list(bt["acc"][b][key].values) for b in bt["sizes"]]) for label, key in (
        ("BN, eval mode (moving averages)", "ema"), ("BN, eval mode (Algorithm 2 statistics)", "population"),
        ("BN, train mode (each test batch's statistics)", "batch"), ("no BN", "nobn"))}
    v["gap_series"] = {
        "|mean (moving avg.) - mean (Algorithm 2)| / std": (bt["sizes"], [[i["gap_mean"] for i in inference[b]]
                                                                         for b in bt["sizes"]]),
        "|std (moving avg.) - std (Algorithm 2)| / std": (bt["sizes"], [[i["gap_std"] for i in inference[b]]
                                                                       for b in bt["sizes"]])}
    v["claims"] = [
        Claim("BN works by reducing internal covariate shift", PAPER_ICS, REVIEW_ICS,
              f"{nz['per_lr']} {nz['drift']} {nz['cost']}",
              nz["verdict"], "what_bn_does"),
        Claim("population statistics at inference (Algorithm 2)", PAPER_INFERENCE, REVIEW_INFERENCE, pop["text"],
              pop["verdict"], "what_bn_does"),
    ]
    v["learned"] = "\n".join(f"- {s}" for s in (
        nz["headline"], nz["mechanism"], nz["cost"], nz["scale"], bt["headline"], pop["headline"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: motivation
#
# Saturation of tanh and sigmoid units against the spread of their inputs, and the inputs to
# LeNet's nonlinearities over training: the probes (every 50 steps, on 256 test images) of the
# review's runs, ``review_config(seed=s)`` and ``review_config(bn="all", seed=s)``.

SAT_SLOPE_FRACTION = 0.1  # saturated: slope below this fraction of its maximum (the rule of probes.saturated)
MOT_SCALES = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30)  # std of a unit's input
MOT_QUOTED_SCALES = (1, 3, 10)  # the scales the prose quotes (each in MOT_SCALES)
MOT_SAMPLES, MOT_SEED = 100_000, 0
MOT_LAYERS = ("conv1", "conv2", "conv3", "fc1")
MOT_STILL = 0.1  # a spread that ends within 10% of where it started counts as held still
PAPER_ICS_CLAIM = ("\"By fixing the distribution of the layer inputs x as the training progresses, we expect to "
                   "improve the training speed\" (Sec. 2); BN takes \"a step towards reducing internal covariate "
                   "shift\" (Sec. 3)")
REVIEW_ICS_CLAIM = ("BN scales \"each mini-batch of data before input into the hidden layers, which is believed to "
                    "keep the distribution of the data stable throughout the training process\"")
PAPER_SATURATION_CLAIM = ("\"if, however, we could ensure that the distribution of nonlinearity inputs remains more "
                          "stable as the network trains, then the optimizer would be less likely to get stuck in the "
                          "saturated regime\" (Sec. 1)")
REVIEW_SATURATION_CLAIM = ("\"The larger the value the more likely it is that the sigmoid's value is gonna be larger "
                           "and that it's derivative is gonna tend to zero\"")


def saturation_threshold(activation: str, fraction: float = SAT_SLOPE_FRACTION) -> float:
    """The |z| beyond which a unit is saturated (:func:`bnreview.probes.saturated`: slope below ``fraction`` of
    its maximum). tanh: 1 - tanh(z)^2 = fraction. Sigmoid (maximum slope 1/4): s(1 - s) = fraction/4, so
    s = (1 + sqrt(1 - fraction))/2 and z = log(s/(1 - s))."""
    if activation == "tanh":
        return math.atanh(math.sqrt(1 - fraction))
    if activation == "sigmoid":
        s = (1 + math.sqrt(1 - fraction)) / 2
        return math.log(s / (1 - s))
    raise ValueError(f"activation={activation!r} is invalid; accepted: 'tanh', 'sigmoid'")


def saturation_table(scales: Sequence[float] = MOT_SCALES, n: int = MOT_SAMPLES, seed: int = MOT_SEED) -> dict:
    """Inputs z ~ N(0, s^2) for each scale s (``n`` seeded draws): ``{activation: {"scale", "saturated",
    "mean_slope"}}``, the share of saturated units (probes.saturated's rule) and the mean slope over its maximum."""
    import torch

    from bnreview.probes import saturated

    z0 = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    slopes = {"tanh": lambda z: 1 - torch.tanh(z) ** 2,
              "sigmoid": lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)) / 0.25}
    return {name: {"scale": [float(s) for s in scales],
                   "saturated": [saturated(z0 * s, name).float().mean().item() for s in scales],
                   "mean_slope": [slope(z0 * s).mean().item() for s in scales]}
            for name, slope in slopes.items()}


def input_spread(history: History, layer: str, at: int) -> float:
    """The 15-85th percentile spread of ``layer``'s input to its nonlinearity at probe ``at`` (0: initialisation)."""
    return history.probes[layer]["p85"][at] - history.probes[layer]["p15"][at]


def _layer_numbers(runs: Sequence[History], layer: str) -> dict[str, Spread]:
    return {"start": spread(input_spread(h, layer, 0) for h in runs),
            "end": spread(input_spread(h, layer, -1) for h in runs),
            "factor": spread(input_spread(h, layer, -1) / input_spread(h, layer, 0) for h in runs),
            "saturated": spread(100 * h.probes[layer]["saturated"][-1] for h in runs)}


def _seed_list(runs: Sequence[History]) -> str:
    seeds = [str(h.config.get("seed", 0)) for h in runs]
    return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(seeds)}"


def motivation_table(base: dict, bn: dict) -> str:
    """Per layer, without and with BN: the inputs' spread at the start and the end, its growth, the saturated units."""
    rows = ["| layer | network | spread at the start | spread at the end | end / start | saturated at the end |",
            "|---|---|---|---|---|---|"]
    for layer in base:
        for name, numbers in (("no BN", base[layer]), ("BN", bn[layer])):
            rows.append(f"| {layer} | {name} | {numbers['start'].text(2, '')} | {numbers['end'].text(2, '')} | "
                        f"{numbers['factor'].text(1, 'x')} | {numbers['saturated'].text(1)} |")
    return "\n".join(rows)


def motivation_findings(base_runs: Sequence[History], bn_runs: Sequence[History], layers: Sequence[str] = MOT_LAYERS,
                        scales: Sequence[float] = MOT_SCALES, quoted: Sequence[float] = MOT_QUOTED_SCALES) -> dict:
    """Every value and sentence of the motivation chapter, its claims, "What we learned" and a "headline" (what
    the probes measured, for the conclusion). ``base_runs``/``bn_runs``: the review's runs without and with BN
    on all four layers (one per seed, the same seeds)."""
    from bnreview.probes import PROBE_BATCH

    table = saturation_table(scales)
    v: dict = {"thr_tanh": saturation_threshold("tanh"), "thr_sigmoid": saturation_threshold("sigmoid"),
               "sat_fraction": SAT_SLOPE_FRACTION, "sat_samples": f"{MOT_SAMPLES:,}", "sat_seed": MOT_SEED,
               "sat_table": table}
    for name in table:
        for s in quoted:
            i = list(scales).index(s)
            v[f"sat_{name}_{s:g}"] = 100 * table[name]["saturated"][i]
            v[f"slope_{name}_{s:g}"] = table[name]["mean_slope"][i]
    h = base_runs[0]
    c = h.config
    v.update(probe_steps=h.probe_steps[-1], probe_every=c.get("probe_every", 0), n_seeds=len(base_runs),
             probe_images=PROBE_BATCH,
             seeds=_seed_list(base_runs),
             setting=runs_setting(base_runs))
    base = {layer: _layer_numbers(base_runs, layer) for layer in layers}
    bn = {layer: _layer_numbers(bn_runs, layer) for layer in layers}
    v["layers"] = {"no BN": base, "BN": bn}
    v["table"] = motivation_table(base, bn)
    for name, numbers in (("base", base), ("bn", bn)):
        for layer in layers:
            for what in ("start", "end", "saturated"):
                v[f"{name}_{layer}_{what}"] = numbers[layer][what].mean
    n = _seeds_text(len(base_runs))
    over = f"means over {_seed_list(base_runs)}" if len(base_runs) > 1 else _seed_list(base_runs)

    def growth(numbers: dict) -> str:
        lo = min(numbers, key=lambda layer: numbers[layer]["factor"].mean)
        hi = max(numbers, key=lambda layer: numbers[layer]["factor"].mean)
        return f"{numbers[lo]['factor'].mean:.1f} ({lo}) to {numbers[hi]['factor'].mean:.1f} ({hi}) times"

    def most_saturated(numbers: dict) -> str:
        return max(numbers, key=lambda layer: numbers[layer]["saturated"].mean)

    def where(found: list) -> str:
        return "in every layer" if len(found) == len(layers) else f"in {', '.join(found)} only" if found else \
            "in no layer"

    top_base, top_bn = most_saturated(base), most_saturated(bn)
    still = all(abs(bn[layer]["factor"].mean - 1) <= MOT_STILL for layer in layers)
    slower = [layer for layer in layers if compare(base[layer]["factor"], bn[layer]["factor"]).direction == "lower"]
    less_sat = [layer for layer in layers
                if compare(base[layer]["saturated"], bn[layer]["saturated"]).direction == "lower"]
    top_compare = compare(base[top_bn]["saturated"], bn[top_bn]["saturated"]).text(
        "without BN", "with BN", f"{top_bn}'s saturated units at the end", 1)
    v["drift_base"] = (f"Without BN, the 15-85th percentile spread of every layer's input to tanh ends at "
                       f"{growth(base)} its value at initialisation ({over}); at the end {base[top_base]['saturated'].mean:.1f}% of "
                       f"{top_base}'s units are saturated, the most of any layer")
    stays = f"stays within {100 * MOT_STILL:g}% of its start" if still else "does not stay put either"
    v["drift_bn"] = (f"With BN before each tanh, the spread {stays}: it ends at {growth(bn)} its initial value; "
                     f"conv1's goes from "
                     f"{bn['conv1']['start'].mean:.2f} to {bn['conv1']['end'].mean:.2f} (without BN from "
                     f"{base['conv1']['start'].mean:.2f} to {base['conv1']['end'].mean:.2f}). The most saturated "
                     f"layer with BN is {top_bn}; {top_compare}")
    head = f"Measured on LeNet at the review's settings ({v['setting']}), BN "
    if still:
        head += "holds the layers' inputs still"
    elif slower:
        head += f"slows the drift of the layers' inputs {where(slower)} but does not hold them still"
    else:
        head += "does not hold the layers' inputs still"
    v["headline"] = head + (
        f": the 15-85th percentile spread of each layer's input to tanh ends at {growth(bn)} its value at "
        f"initialisation with BN and at {growth(base)} without ({over}); fewer units end saturated with BN "
        f"{where(less_sat)} (the most saturated layer: {top_bn} at {bn[top_bn]['saturated'].mean:.1f}% with BN, "
        f"{top_base} at {base[top_base]['saturated'].mean:.1f}% without)")
    v.update(still=int(still), n_slower=len(slower), n_less_saturated=len(less_sat), n_layers=len(layers),
             top_saturated_bn=top_bn, top_saturated_base=top_base)
    v["claims"] = [
        Claim("BN fixes the distribution of layer inputs", PAPER_ICS_CLAIM, REVIEW_ICS_CLAIM, v["headline"],
              verdict(bool(slower), mixed=bool(slower) and not still), "motivation"),
        Claim("BN keeps units out of saturation", PAPER_SATURATION_CLAIM, REVIEW_SATURATION_CLAIM,
              f"saturated units at the end, most saturated layer with BN: "
              + compare(base[top_bn]["saturated"], bn[top_bn]["saturated"]).text("without BN", "with BN", top_bn, 1)
              + f"; fewer units saturated with BN {where(less_sat)} ({n})",
              verdict(bool(less_sat), mixed=0 < len(less_sat) < len(layers)), "motivation"),
    ]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"A unit counts as saturated where its slope is below {100 * SAT_SLOPE_FRACTION:g}% of its maximum: "
        f"|z| > {v['thr_tanh']:.2f} for tanh, |z| > {v['thr_sigmoid']:.2f} for the logistic sigmoid",
        f"With inputs drawn from N(0, s^2), {v['sat_tanh_1']:.0f}% of tanh units are saturated at s = 1 and "
        f"{v['sat_tanh_10']:.0f}% at s = 10 (mean slope {v['slope_tanh_1']:.2f} and {v['slope_tanh_10']:.2f} of "
        f"its maximum)",
        v["headline"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: algorithm
#
# Algorithms 1 and 2, the review's slips, and our BatchNorm against torch.nn.BatchNorm on random data
# (``batchnorm.compare_with_torch``).

ALG_SHAPES = ((64, 84), (64, 6, 28, 28), (64, 120, 1, 1), (2, 3, 5, 5), (8, 4, 16))
ALG_TOLERANCE = 1e-5  # "the same" up to float32 rounding
REVIEW_SLIPS = (
    "its sigma_B is the variance sigma_B^2, not the standard deviation",
    "its Z = gamma W + beta scales and shifts the raw input: Algorithm 1 applies gamma and beta to the normalised "
    "x_hat",
    "its moving average mu_moving = t mu_moving + (1 - t) mu is the TF/Keras convention; PyTorch's momentum is 1 - t",
    "it averages the biased sigma_B; Algorithm 2 uses the unbiased m/(m-1) sigma_B^2 at inference",
    "it lets \"W be the input data\": BN normalises each layer's input in every mini-batch, not the data fed to the "
    "network (the review's own Motivation says as much)",
)


def algorithm_findings(shapes: Sequence[tuple[int, ...]] = ALG_SHAPES, tolerance: float = ALG_TOLERANCE) -> dict:
    """Our BN against torch.nn.BatchNorm on random batches of each shape (outputs, gradients, running
    statistics), the review's slips, "What we learned" and the claim the chapter tests."""
    from bnreview.batchnorm import compare_with_torch

    worst = {shape: max(compare_with_torch(shape).values()) for shape in shapes}
    largest = max(worst.values())
    same = largest < tolerance
    v: dict = {"alg_largest": largest, "alg_n_shapes": len(shapes), "alg_tolerance": tolerance,
               "alg_same": int(same), "alg_slips": "\n".join(f"{i}. {s[0].upper() + s[1:]}."
                                                           for i, s in enumerate(REVIEW_SLIPS, 1))}
    v["alg_match"] = (f"On {len(shapes)} shapes ({'; '.join(map(str, shapes))}), the largest difference between our "
                      f"BatchNorm and torch.nn.BatchNorm in any output, gradient or running statistic is "
                      f"{largest:.1e} (relative to the largest value above 1): "
                      + (f"below {tolerance:g}, float32 rounding" if same else f"above {tolerance:g}"))
    v["claims"] = []
    v["headline"] = v["alg_match"]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"The review's statement of the algorithm has {len(REVIEW_SLIPS)} slips; the worst, Z = gamma W + beta, "
        "never normalises anything",
        "The paper's Algorithm 2 averages the mini-batch statistics after training, and Sec. 3.1 adds \"Using "
        "moving averages instead, we can track the accuracy of a model as it trains\": PyTorch's exponential "
        "moving averages follow the paper, they do not depart from it",
        v["alg_match"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: review
#
# The review's own experiment, re-run (chapters baseline and lenet_bn): LeNet at lr 0.9, batch 64,
# 10 epochs, without BN and with BN on all four layers (``review_config(seed=s)``,
# ``review_config(bn="all", seed=s)``), and our BN against torch.nn.BatchNorm
# (``review_config(bn="all", bn_impl="torch")``).

LECUN_ERROR = 0.95  # % test error of LeNet-5 on MNIST without distortions (LeCun et al. 1998)
REVIEW_ACCURACY = 98.0  # % "The overall total test accuracy of the model is 98%" (the review, with and without BN)
IMPL_SAME_POINTS = 0.1  # two implementations end "the same" when their accuracies differ by less than this
IMPL_SAME_TIME = 0.1  # ... and their times per epoch by less than this fraction
PAPER_ACCURACY_CLAIM = ("on its MNIST network (3 sigmoid layers, not LeNet), \"Batch Normalization helps the network "
                        "train faster and achieve higher accuracy\" (Figure 1(a)); on ImageNet, BN-Inception reaches "
                        "Inception's accuracy in 14 times fewer steps (Sec. 4.2.2)")
REVIEW_ACCURACY_CLAIM = ("both networks reach \"98%\"; BN's advantages \"were not noticed when using the LeNet model "
                         "generated with batch normalization\"")
REVIEW_IMPL_CLAIM = ("\"Comparisons between the BatchNormalization module of PyTorch and the one implemented were "
                     "carried out and no significant difference in running time and accuracy was noticed\"")


def runs_setting(runs: Sequence[History]) -> str:
    """The setting a set of runs (one per seed) shares, in words: lr, batch, epochs, images, seeds."""
    c = runs[0].config
    images = c.get("n_train") or 60_000 - c.get("val_size", 0)
    return (f"lr {c['lr']:g}, batch {c['batch_size']}, {c['epochs']} epochs, {images:,} images, "
            f"{_seed_list(runs)}")


def epoch_seconds_each(runs: Sequence[History]) -> list[float]:
    """Each run's mean training seconds per epoch (:func:`seconds_per_epoch` of the run alone)."""
    return [seconds_per_epoch([h]) for h in runs]


TIME_SWING = 1.5  # a run whose slowest epoch took this many times its fastest was slowed by other work


def epoch_time_swing(runs: Sequence[History]) -> float:
    """The largest ratio, over the runs, of a run's slowest epoch to its fastest (1: steady timing)."""
    return max((max(h.epoch_seconds) / min(h.epoch_seconds) for h in runs if h.epoch_seconds), default=1.0)


def time_caveat(swing: float) -> str:
    """A clause saying that the timings are rough when one run's epochs differ by ``TIME_SWING`` or more."""
    if swing < TIME_SWING:
        return ""
    return (f"; but within one run the slowest epoch took {swing:.1f} times as long as the fastest, so the machine "
            f"was doing other work while these runs trained and these times are rough")


def hardest_digit(history: History) -> int:
    """The digit with the lowest test accuracy in a run (the first on a tie)."""
    return min(range(len(history.per_class_acc)), key=lambda d: history.per_class_acc[d])


def baseline_findings(history: History, seed_runs: Sequence[History]) -> dict:
    """Values and sentences of the baseline chapter: ``history`` is the run shown (seed 0), ``seed_runs`` the
    same setting over every seed (``history`` among them)."""
    acc = [100 * a for a in history.test_acc]
    order = sorted(range(len(history.per_class_acc)), key=lambda d: history.per_class_acc[d])
    finals = final_accuracy(seed_runs)
    errors = spread(100 - a for a in finals.values)
    hardest = [hardest_digit(h) for h in seed_runs]
    v: dict = {
        "base_acc": acc[-1], "base_err": 100 - acc[-1], "base_best": max(acc), "base_best_epoch": 1 + acc.index(max(acc)),
        "base_train_loss": history.train_loss[-1], "base_test_loss": history.test_loss[-1],
        "base_min_test_loss": min(history.test_loss),
        "base_min_test_loss_epoch": 1 + history.test_loss.index(min(history.test_loss)),
        "base_epochs": len(history.test_acc), "base_seconds": seconds_per_epoch([history]),
        "worst_digit": order[0], "worst_acc": 100 * history.per_class_acc[order[0]], "second_digit": order[1],
        "second_acc": 100 * history.per_class_acc[order[1]], "best_acc_class": 100 * max(history.per_class_acc),
        "base_seed_setting": runs_setting(seed_runs), "lecun_error": LECUN_ERROR,
    }
    where = ("above" if errors.lo > LECUN_ERROR else "below" if errors.hi < LECUN_ERROR else None)
    v["base_lecun"] = (f"the test error, {errors.text()}, "
                       + (f"is {where} the {LECUN_ERROR:g}% LeCun et al. report for LeNet-5 without distortions in "
                          f"every seed" if where else
                          f"lies on both sides of the {LECUN_ERROR:g}% LeCun et al. report for LeNet-5 without "
                          f"distortions"))
    v["base_seeds"] = f"Over {_seed_list(seed_runs)}, the final test accuracy is {finals.text()}; {v['base_lecun']}"
    v["base_hardest"] = ("The hardest digit is " + ", ".join(
        f"{d} in seed {h.config.get('seed', 0)}" for d, h in zip(hardest, seed_runs))
        + (": the ranking of the classes changes from seed to seed, so a ranking from one run is weak evidence"
           if len(set(hardest)) > 1 else
           f": the same digit in every seed ({_seeds_text(len(seed_runs))})"))
    reaches = finals.lo >= REVIEW_ACCURACY
    v["headline"] = v["base_seeds"]
    v["claims"] = [Claim("LeNet's accuracy on MNIST", f"not in the paper (LeCun et al. 1998: {LECUN_ERROR:g}% test "
                         "error without distortions)", "\"The overall total test accuracy of the model is 98%\" "
                         "(lr 0.9, 10 epochs)", v["base_seeds"], verdict(reaches), "baseline")]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"At the review's settings ({runs_setting(seed_runs)}) LeNet without BN ends at {finals.text()} test accuracy"
        f" ({'at least' if reaches else 'not always'} the review's {REVIEW_ACCURACY:g}% in every seed)",
        v["base_lecun"][0].upper() + v["base_lecun"][1:], v["base_hardest"]))
    return v


def implementation_findings(ours: History, theirs: History) -> dict:
    """Our BN against torch.nn.BatchNorm on the same run (same seed and setting): time per epoch, accuracy,
    step losses, and a verdict on the review's "no significant difference" (accuracies within
    ``IMPL_SAME_POINTS`` points and times per epoch within ``IMPL_SAME_TIME``)."""
    if ours.config.get("seed", 0) != theirs.config.get("seed", 0):
        raise ValueError("the two implementations must be compared on runs of the same seed")
    ratio = seconds_per_epoch([ours]) / seconds_per_epoch([theirs])
    points = 100 * (ours.final_test_acc - theirs.final_test_acc)
    n_steps = min(len(ours.step_loss), len(theirs.step_loss))
    diffs = [abs(a - b) for a, b in zip(ours.step_loss, theirs.step_loss)]
    same_acc, same_time = abs(points) < IMPL_SAME_POINTS, abs(ratio - 1) < IMPL_SAME_TIME
    v = {"impl_ratio": ratio, "impl_points": points, "impl_ours_acc": 100 * ours.final_test_acc,
         "impl_torch_acc": 100 * theirs.final_test_acc, "impl_ours_sec": seconds_per_epoch([ours]),
         "impl_torch_sec": seconds_per_epoch([theirs]), "impl_steps": n_steps,
         "impl_loss_diff": max(diffs) if diffs else math.nan,
         "impl_same_epochs": sum(a == b for a, b in zip(ours.test_acc, theirs.test_acc)),
         "impl_epochs": min(len(ours.test_acc), len(theirs.test_acc)), "impl_seed": ours.config.get("seed", 0),
         "impl_same_acc": int(same_acc), "impl_same_time": int(same_time), "impl_same_points": IMPL_SAME_POINTS,
         "impl_same_time_pct": 100 * IMPL_SAME_TIME}
    v["impl_swing"] = epoch_time_swing([ours, theirs])
    v["impl_text"] = (f"Our BN against torch.nn.BatchNorm (seed {v['impl_seed']}, one run each): final test accuracy "
                      f"{v['impl_ours_acc']:.2f}% against {v['impl_torch_acc']:.2f}% ({points:+.2f} points), "
                      f"{v['impl_ours_sec']:.1f} s against {v['impl_torch_sec']:.1f} s per training epoch (ratio "
                      f"{ratio:.2f}); the accuracies {'differ by less' if same_acc else 'differ by more'} than "
                      f"{IMPL_SAME_POINTS:g} points and the times {'by less' if same_time else 'by more'} than "
                      f"{100 * IMPL_SAME_TIME:g}%" + time_caveat(v["impl_swing"]))
    # with unsteady timings the times decide nothing: the verdict rests on the accuracies alone
    v["impl_verdict"] = (verdict(same_acc) if v["impl_swing"] >= TIME_SWING else
                         verdict(same_acc and same_time, mixed=same_acc != same_time))
    return v


def review_findings(base_runs: Sequence[History], bn_runs: Sequence[History], torch_run: History) -> dict:
    """Every value and sentence of the LeNet + BN chapter, its claims, "What we learned" and a "headline".

    ``base_runs``/``bn_runs``: the review's runs without BN and with BN on all four layers, one per seed (the
    same seeds); ``torch_run``: the BN run with torch.nn.BatchNorm, compared with the BN run of its seed.
    """
    ours = next((h for h in bn_runs if h.config.get("seed", 0) == torch_run.config.get("seed", 0)), None)
    if ours is None:
        raise ValueError("bn_runs holds no run of torch_run's seed")
    final = compare(final_accuracy(base_runs), final_accuracy(bn_runs))
    first = compare(epoch_accuracy(base_runs, 1), epoch_accuracy(bn_runs, 1))
    loss = compare(spread(h.test_loss[-1] for h in base_runs), spread(h.test_loss[-1] for h in bn_runs))
    sec_base, sec_bn = seconds_per_epoch(base_runs), seconds_per_epoch(bn_runs)
    each = {"no BN": epoch_seconds_each(base_runs), "BN": epoch_seconds_each(bn_runs)}
    time = compare(each["no BN"], each["BN"])
    ratio = sec_bn / sec_base
    v: dict = {"setting": runs_setting(base_runs), "n_seeds": len(base_runs), "seeds": _seed_list(base_runs),
               "final_compare": final.text("without BN", "with BN"),
               "epoch1_compare": first.text("without BN", "with BN", "test accuracy after one epoch"),
               "loss_compare": loss.text("without BN", "with BN", "final test loss", 4, " nats"),
               "final_difference": final.difference, "final_clear": int(final.clear),
               "epoch1_difference": first.difference, "epoch1_clear": int(first.clear),
               "sec_base": sec_base, "sec_bn": sec_bn, "time_ratio": ratio, "epoch_seconds": each,
               "bn_acc": 100 * ours.final_test_acc, "bn_acc_epoch1": 100 * ours.test_acc[0],
               "bn_setting": runs_setting([ours])}
    slower = "slower" if ratio > 1 else "faster"
    runs_each = f"median over {len(bn_runs)} runs each" if len(bn_runs) > 1 else "one run each"
    swing = epoch_time_swing([*base_runs, *bn_runs, torch_run])
    v["time_swing"] = swing
    v["time_text"] = (f"A training epoch takes {sec_bn:.1f} s with BN against {sec_base:.1f} s without ({runs_each}; "
                      f"ratio BN / no BN {ratio:.2f}): BN is "
                      f"{abs(ratio - 1) * 100:.0f}% {slower} per epoch; "
                      + ("every run of one is slower than every run of the other" if time.clear else
                         "the runs' times overlap") + time_caveat(swing))
    impl = implementation_findings(ours, torch_run)
    v.update(impl)
    clear_final = final.direction == "higher"
    clear_first = first.direction == "higher"
    v["accuracy_verdict"] = ("BN ends clearly higher" if clear_final else
                             "BN ends clearly lower" if final.direction == "lower" else
                             "the final accuracies do not separate the two networks")
    v["headline"] = (f"At the review's settings ({v['setting']}), {v['accuracy_verdict']} ({v['final_compare']}); "
                     f"{v['epoch1_compare']}. {v['time_text']}. {impl['impl_text']}.")
    v["claims"] = [
        Claim("higher accuracy with BN (LeNet, lr 0.9, 10 epochs)", PAPER_ACCURACY_CLAIM, REVIEW_ACCURACY_CLAIM,
              f"{v['final_compare']}; {v['epoch1_compare']} ({v['setting']})",
              verdict(clear_final or clear_first, mixed=clear_first and not clear_final), "lenet_bn"),
        Claim("BN's cost in time per epoch", "not stated (the paper counts training steps, not seconds)",
              "BN can \"decrease training time\"; \"not noticed\" on LeNet", v["time_text"] + f" ({v['setting']})",
              "not tested", "lenet_bn"),
        Claim("our BN against torch.nn.BatchNorm", "not applicable", REVIEW_IMPL_CLAIM, impl["impl_text"],
              impl["impl_verdict"], "lenet_bn"),
    ]
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}." for s in (
        f"{v['accuracy_verdict']} at the review's settings ({v['setting']}): {v['final_compare']}",
        f"after one epoch, {v['epoch1_compare']}",
        v["time_text"], impl["impl_text"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: regularisation
#
# Does BN regularise, and does it let dropout go (paper Sec. 3.4 and 4.2.1)? From
# ``experiments.regularisation_runs()``: ``{"neither", "dropout", "BN", "BN + dropout": [History per seed]}``,
# LeNet trained on a small fixed subset, and ``experiments.training_accuracy`` (eval-mode accuracy on the
# run's own training images).

REG_NAMES = ("neither", "dropout", "BN", "BN + dropout")  # experiments.REG_VARIANTS's labels
PAPER_REG_CLAIM = ("\"Batch Normalization regularizes the model\" (Sec. 3.4): \"a training example is seen in "
                   "conjunction with other examples in the mini-batch, and the training network no longer producing "
                   "deterministic values for a given training example. In our experiments, we found this effect to be "
                   "advantageous to the generalization of the network\"")
PAPER_DROPOUT_CLAIM = ("\"in a batch-normalized network we found that it [Dropout] can be either removed or reduced in "
                       "strength\" (Sec. 3.4); \"Remove Dropout. [...] Removing Dropout from Modified BN-Inception "
                       "speeds up training, without increasing overfitting\" (Sec. 4.2.1)")
REVIEW_REG_CLAIM = ("\"Batch Normalization can allow for larger learning rates, decrease training time, decrease the "
                    "amount of regularization needed and remove the necessity of drop-out layer\"")


def train_test_gaps(runs: Sequence[History], train_accuracies: Sequence[float]) -> Spread:
    """Each run's training accuracy minus its final test accuracy, in points (both fractions in)."""
    return spread(100 * (a - h.final_test_acc) for h, a in zip(runs, train_accuracies, strict=True))


def largest_epoch_drop(runs: Sequence[History]) -> float:
    """The largest fall of test accuracy (points) from one epoch to the next in any of the runs (0: never falls)."""
    return max((100 * (a - b) for h in runs for a, b in zip(h.test_acc, h.test_acc[1:])), default=0.0) if runs else 0.0


def regularisation_setting(runs: dict[str, Sequence[History]]) -> str:
    """The setting the runs share, in words, read from their configs (true in either profile)."""
    first = next(iter(runs.values()))
    c = first[0].config
    p = max(h.config.get("dropout", 0.0) for hs in runs.values() for h in hs)
    return (f"LeNet (tanh), plain SGD at lr {c['lr']:g}, batch {c['batch_size']}, {c['epochs']} epochs over a "
            f"fixed subset of {c['n_train']:,} training images, dropout {p:g} on the inputs of fc1 and fc2, "
            f"{_seed_list(first)}")


def regularisation_findings(runs: dict[str, Sequence[History]], training_accuracy=None) -> dict:
    """Every value and sentence of the regularisation chapter, its claims, "What we learned" and a "headline".

    ``runs``: ``experiments.regularisation_runs()``; ``training_accuracy``: History -> accuracy on its own
    training images (default: ``experiments.training_accuracy``, cached beside each run).
    """
    if training_accuracy is None:
        from bnreview.experiments import training_accuracy
    missing = [name for name in REG_NAMES if name not in runs]
    if missing:
        raise ValueError(f"runs lack the variants {', '.join(missing)}")
    train = {name: [training_accuracy(h) for h in runs[name]] for name in REG_NAMES}
    test = {name: final_accuracy(runs[name]) for name in REG_NAMES}
    fit = {name: spread(100 * a for a in train[name]) for name in REG_NAMES}
    gap = {name: train_test_gaps(runs[name], train[name]) for name in REG_NAMES}
    n = min(len(r) for r in runs.values())
    v: dict = {"setting": regularisation_setting(runs), "n_seeds": n, "n_seeds_text": _seeds_text(n),
               "gaps": {name: list(gap[name].values) for name in REG_NAMES},
               "n_train": f"{runs['neither'][0].config['n_train']:,}", "epochs": runs["neither"][0].config["epochs"],
               "lr": runs["neither"][0].config["lr"],
               "dropout_p": max(h.config.get("dropout", 0.0) for h in runs["dropout"])}
    rows = ["| variant | training accuracy | test accuracy | train-test gap (points) |", "|---|---|---|---|"]
    for name in REG_NAMES:
        rows.append(f"| {name} | {fit[name].text()} | {test[name].text()} | {gap[name].text(2, '')} |")
    v["table"] = "\n".join(rows)
    gap_bn = compare(gap["neither"], gap["BN"])
    test_bn = compare(test["neither"], test["BN"])
    bn_vs_dropout = compare(test["dropout"], test["BN"])
    both_vs_bn = compare(test["BN"], test["BN + dropout"])
    gap_both = compare(gap["BN"], gap["BN + dropout"])
    v.update(gap_bn=gap_bn.text("without either", "with BN", "train-test gap", 2, " points"),
             test_bn=test_bn.text("without either", "with BN"),
             bn_vs_dropout=bn_vs_dropout.text("with dropout alone", "with BN alone"),
             both_vs_bn=both_vs_bn.text("with BN alone", "with BN and dropout"),
             gap_both=gap_both.text("with BN alone", "with BN and dropout", "train-test gap", 2, " points"),
             fit_bn=compare(fit["neither"], fit["BN"]).text("without either", "with BN", "training accuracy"))
    drops = {name: max(0.0, largest_epoch_drop(runs[name])) for name in REG_NAMES}
    v["unsteady"] = ("The largest fall of test accuracy from one epoch to the next, in any seed: "
                     + ", ".join(f"{drops[name]:.1f} points {label}" for name, label in zip(
                         REG_NAMES, ("without either", "with dropout", "with BN", "with both")))
                     + "; the final accuracy is where such a curve happens to stop")
    v["drop_bn"], v["drop_neither"] = drops["BN"], drops["neither"]
    smaller_gap, higher_test = gap_bn.direction == "lower", test_bn.direction == "higher"
    matches = bn_vs_dropout.direction != "lower"
    helps = both_vs_bn.direction == "higher"
    v["verdict_gap"] = ("BN clearly narrows the train-test gap" if smaller_gap else
                        "BN clearly widens the train-test gap" if gap_bn.direction == "higher" else
                        "BN does not clearly change the train-test gap")
    v["verdict_dropout"] = ("BN alone ends clearly above dropout alone" if bn_vs_dropout.direction == "higher" else
                            "BN alone ends clearly below dropout alone" if not matches else
                            "BN alone and dropout alone end within the spread of the seeds")
    v["verdict_both"] = ("adding dropout to BN clearly helps" if helps else
                         "adding dropout to BN clearly hurts" if both_vs_bn.direction == "lower" else
                         "adding dropout to BN makes no clear difference")
    v["headline"] = (f"On {v['n_train']} training images ({v['setting']}): {v['verdict_gap']} "
                     f"({gap['neither'].mean:.2f} points without either, {gap['BN'].mean:.2f} with BN); "
                     f"{v['verdict_dropout']} ({test['BN'].mean:.2f}% against {test['dropout'].mean:.2f}% test "
                     f"accuracy); {v['verdict_both']} ({test['BN + dropout'].mean:.2f}% against "
                     f"{test['BN'].mean:.2f}%)")
    v["claims"] = [
        Claim("BN regularises", PAPER_REG_CLAIM, REVIEW_REG_CLAIM,
              f"{v['gap_bn']}; {v['test_bn']} ({v['setting']})",
              verdict(smaller_gap or higher_test, mixed=smaller_gap != higher_test), "regularisation"),
        Claim("with BN, dropout can go", PAPER_DROPOUT_CLAIM, REVIEW_REG_CLAIM,
              f"{v['bn_vs_dropout']}; {v['both_vs_bn']} ({v['setting']})",
              verdict(matches or not helps, mixed=matches == helps), "regularisation"),
    ]
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}." for s in (
        f"{v['verdict_gap']} on {v['n_train']} images: {v['gap_bn']}", f"with BN, {v['test_bn']}",
        f"{v['verdict_dropout']}: {v['bn_vs_dropout']}", f"{v['verdict_both']}: {v['both_vs_bn']}", v["unsteady"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: conclusion

REVIEW_CONCLUSION = ("\"Batch Normalization can allow for larger learning rates, decrease training time, decrease the "
                     "amount of regularization needed and remove the necessity of drop-out layer. The above "
                     "mentionned advantages were not noticed when using the LeNet model [...]\"")


def _count_verdicts(claims: Sequence[Claim]) -> str:
    counts = {name: sum(c.verdict == name for c in claims) for name in VERDICTS}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)


def conclusion_findings(chapters: dict[str, dict]) -> dict:
    """The conclusion: the review's questions answered, each chapter's finding in one sentence, the claims ledger.

    ``chapters``: each chapter's findings (``{"motivation": motivation_findings(...), "lenet_bn":
    review_findings(...), "lr_sweep": lr_sweep_findings(...), "paper_mnist": ..., "what_bn_does": ...,
    "regularisation": ...}``); the keys are the chapters' document names. Every sentence is theirs.
    """
    review, sweep, reg = chapters["lenet_bn"], chapters["lr_sweep"], chapters["regularisation"]
    rows = [
        ("Does LeNet + BN end more accurate at lr 0.9 after 10 epochs?", "no: \"The overall total test accuracy of "
         "the model is 98%\" for both", f"{review['accuracy_verdict']}: {review['final_compare']}", "lenet_bn"),
        ("Does BN train faster?", "\"not noticed\"", f"{review['epoch1_compare']}; {sweep['speed']}", "lr_sweep"),
        ("Does BN cost time per epoch?", "not measured (it timed its own BN against PyTorch's only)",
         review["time_text"], "lenet_bn"),
        ("Is the review's own BN as good as PyTorch's?", "\"no significant difference in running time and "
         "accuracy\"", review["impl_text"], "lenet_bn"),
        ("Does BN allow larger learning rates?", "\"not noticed\"", sweep["usable_range"], "lr_sweep"),
        ("Does BN regularise, and let dropout go?", "\"not noticed\"", reg["headline"], "regularisation"),
    ]
    table = ["| question | the review | our runs |", "|---|---|---|"]
    table += [f"| {q} | {r} | {ours} ({{doc}}`{doc}`) |".replace("\n", " ") for q, r, ours, doc in rows]
    found = [
        ("motivation", chapters["motivation"]["headline"]),
        ("paper_mnist", chapters["paper_mnist"]["headline"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_noisy"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_batch"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_population"]),
        ("lr_sweep", sweep["effective"]["summary"]),
        ("regularisation", reg["headline"]),
    ]
    claims = [c for name in ("motivation", "lenet_bn", "lr_sweep", "paper_mnist", "what_bn_does", "regularisation")
              for c in chapters[name]["claims"]]
    by_topic = {c.topic: c for c in claims}
    wider = by_topic["larger learning rates"].verdict == "supported"
    faster = by_topic["faster training"].verdict in ("supported", "mixed")
    answer = ("The review's \"not noticed\" holds for what it measured, the final accuracy of one run at one "
              "learning rate" if review["final_clear"] == 0 else
              "Even the review's own measure, the final accuracy at lr 0.9, separates the two networks over seeds")
    beyond = [what for what, holds in (("the range of usable learning rates", wider),
                                       ("the speed of training", faster)) if holds]
    answer += (f"; the paper's claims are about {' and '.join(beyond)}, and there LeNet, shallow as it is, shows them. "
               "So the review's explanation, that the network is too shallow, is not needed for what it saw"
               if beyond else "; on the range of learning rates and the speed of training our runs do not show the "
               "paper's advantage either")
    return {"table": "\n".join(table), "found": "\n".join(f"- {s} ({{doc}}`{doc}`)" for doc, s in found),
            "ledger": ledger_markdown(claims), "verdict_counts": _count_verdicts(claims), "n_claims": len(claims),
            "answer": answer + ".", "review_conclusion": REVIEW_CONCLUSION}
