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

from bnreview import experiments, explorer
from bnreview.criteria import TRAINS_ACCURACY, best_by_validation, trains
from bnreview.findings.core import (Spread, compare, final_accuracy, largest_usable_lr, log_steps, over_runs, spread,
                                    reaches_sooner, steps_to_accuracy, train_minutes, usable_lrs, usable_range_text,
                                    weight_growth, weight_norms)
from bnreview.findings.ledger import Claim, Test, judge
from bnreview.findings.wording import listing, lr_label, seeds_text, sweep_setting, training_images
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


def speed_text(results: dict, without: str, with_: str, accuracy: float = TRAINS_ACCURACY) -> tuple[str, int, int]:
    """Where one network reaches ``accuracy`` in fewer steps than the other (:func:`reaches_sooner`), as a sentence;
    also how many learning rates favour BN and how many were compared."""
    lrs = sorted(lr for v, lr in results if v == with_ and (without, lr) in results)
    bn = [lr for lr in lrs if reaches_sooner(results[without, lr], results[with_, lr], accuracy)]
    no = [lr for lr in lrs if reaches_sooner(results[with_, lr], results[without, lr], accuracy)]
    rest = [lr for lr in lrs if lr not in bn and lr not in no]
    one = min((len(results[v, lr]) for v in (without, with_) for lr in lrs), default=0) == 1
    how = (" (one run each: a ranking, with no interval)" if one else " (95% interval of the paired ratio of steps "
           "below 1, or every seed with BN there before every seed without gets there at all)")
    text = (f"BN reaches {100 * accuracy:g}% test accuracy in fewer steps{how} at {len(bn)} of the {len(lrs)} "
            f"learning rates ({listing(bn)}); the network without BN does at {len(no)} ({listing(no)}); at the "
            f"other {len(rest)} ({listing(rest)}) the runs do not show which is sooner, or neither gets there")
    return text, len(bn), len(lrs)


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
        than = {"higher": "more than", "lower": "less than"}.get(compare(g_no, g_bn).direction,
                                                                 "not distinguishable from")
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


def usable_placements(placement: dict) -> dict[tuple[str, str], list[float]]:
    """Each placement's usable learning rates over the grid (:func:`usable_lrs`, the protocol's definition)."""
    settings = {(w, p) for w, p, _ in placement}
    return {s: usable_lrs({lr: runs for (w, p, lr), runs in placement.items() if (w, p) == s}) for s in settings}


def placement_table(placement: dict) -> str:
    """The placement grid as a Markdown table: final test accuracy with its spread, diverged seeds, usable or not."""
    usable = usable_placements(placement)
    rows = ["| lr | layers with BN | BN | final test accuracy | diverged | usable |", "|---:|---|---|---|---|---|"]
    for (where, position, lr), runs in sorted(placement.items(), key=lambda kv: kv[0][2]):
        rows.append(f"| {lr:g} | {where} | {PLACEMENT_POSITIONS[position]} | {final_accuracy(runs).text()} | "
                    f"{sum(h.diverged for h in runs)} of {len(runs)} | "
                    f"{'yes' if lr in usable[where, position] else 'no'} |")
    return "\n".join(rows)


def placement_findings(placement: dict) -> dict:
    """Per learning rate: which placements are usable, BN before against after tanh, and the placement chosen on
    validation; and over the learning rates, where before tanh ends above after tanh on all four layers (the
    95% interval of the paired difference above zero)."""
    lrs = sorted({lr for _, _, lr in placement})
    layer_sets = list(dict.fromkeys(w for w, p, _ in placement if p != "-"))
    sentences, before_wins, after_wins, tests = [], [], [], []
    usable = usable_placements(placement)
    for lr in lrs:
        here = {(w, p): runs for (w, p, l), runs in placement.items() if l == lr}
        ok = [f"{w} ({PLACEMENT_POSITIONS[p]})" if p != "-" else w for (w, p) in here if lr in usable[w, p]]
        cmp = []
        for w in layer_sets:
            c = compare(final_accuracy(here[w, "after"]), final_accuracy(here[w, "before"]))
            word = {"higher": "higher before tanh", "lower": "higher after tanh"}.get(
                c.direction, "interval includes zero")
            cmp.append(f"{w}: {c.b.mean:.2f}% before against {c.a.mean:.2f}% after, {word}")
            if w == "all four":
                (before_wins if c.direction == "higher" else after_wins if c.direction == "lower" else []).append(lr)
                if lr in usable[w, "before"] and lr in usable[w, "after"]:
                    tests.append(Test("before-nonlinearity", c, label=f"lr {lr:g}"))
        chosen = best_by_validation(here)
        w, p = chosen
        sentences.append(
            f"at lr {lr:g}, {len(ok)} of the {len(here)} settings are usable ({', '.join(ok) if ok else 'none'}); "
            f"final test accuracy, BN before against after tanh: {'; '.join(cmp)}; the setting chosen on "
            f"validation is {w}{'' if p == '-' else ' (' + PLACEMENT_POSITIONS[p] + ')'}, at "
            f"{final_accuracy(here[chosen]).text()} test accuracy")
    n = min(len(r) for r in placement.values())
    if len(before_wins) == len(lrs):
        overall = (f"With BN on all four layers, BN before tanh ends above BN after tanh at every learning "
                   f"rate run ({listing(lrs)}; {seeds_text(n)} each)")
    elif before_wins:
        overall = (f"With BN on all four layers, BN before tanh ends above BN after tanh at lr "
                   f"{listing(before_wins)} but not at {listing([lr for lr in lrs if lr not in before_wins])} "
                   f"({seeds_text(n)} each): the placement matters at some learning rates, not at all")
    else:
        overall = (f"With BN on all four layers, the runs never show BN before tanh ending above BN after tanh at the "
                   f"learning rates run ({listing(lrs)}; {seeds_text(n)} each)")
    if not tests:
        tests = [Test("before-nonlinearity", why_not=f"the placement grid runs lr {listing(lrs)}, where BN after tanh "
                      "(all four layers) is not usable: a seed diverges, or it ends more than a point below its best")]
    return {"lrs": lrs, "per_lr": [s[0].upper() + s[1:] + "." for s in sentences], "overall": overall + ".",
            "tests": tests,
            "before_wins": before_wins, "after_wins": after_wins, "table": placement_table(placement)}


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


def benchmark_text(step) -> str:
    """The benchmarked seconds per step (``experiments.StepSeconds`` or None) in a sentence."""
    if step is None:
        return "No benchmark of seconds per step is on file, so the ledger does not test training time"
    return (f"An idle benchmark (`benchmarks/trainer.py`, {step.machine}) times a training step at "
            f"{1e3 * step.no_bn:.2f} ms without BN and {1e3 * step.bn:.2f} ms with our BN; the ledger's "
            "training-time test multiplies each seed's steps to 97% by them")


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


def lr_sweep_findings(results: dict, placement: dict, step: experiments.StepSeconds | None = None,
                      without: str = LR_NO_BN, with_: str = LR_BN, norm_layer: str = LR_NORM_LAYER,
                      norm_lrs: Sequence[float] = LR_NORM_LRS) -> dict:
    """Every value and sentence of the learning-rate chapter, its claims and its "What we learned".

    ``results``: ``experiments.lr_sweep()``; ``placement``: ``experiments.placement_grid()``; ``step``: seconds per
    training step from ``benchmarks/trainer.py`` (``experiments.step_seconds()``), for the training-time test.
    """
    lrs = sorted({lr for _, lr in results})
    n = min(len(r) for r in results.values())
    first = next(iter(results.values()))[0]
    v: dict = {"lrs": listing(lrs), "n_lrs": len(lrs), "n_seeds": n, "n_runs": sum(map(len, results.values())),
               "n_steps": first.steps_per_epoch, "batch": first.config["batch_size"],
               "eval_every": first.config.get("eval_every", 0), "val_size": f"{first.config.get('val_size', 0):,}",
               "n_train": f"{training_images(first.config):,}",
               "setting": sweep_setting(results),
               "sweep_minutes": train_minutes(r for rs in results.values() for r in rs)}
    a, b = largest_usable_lr(results, without), largest_usable_lr(results, with_)
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
    v.update(nobn_best_lr=best_no, bn_best_lr=best_bn, step_text=benchmark_text(step))
    v["best_compare"] = (f"At the learning rate each network does best at on the {v['val_size']} validation images "
                         f"(lr {best_no:g} without BN, {best_bn:g} with BN), " + end.text("without BN", "with BN")
                         + " (after one epoch)")
    review = None
    if (without, LR_REVIEW) in results and (with_, LR_REVIEW) in results:
        review = compare(final_accuracy(results[without, LR_REVIEW]), final_accuracy(results[with_, LR_REVIEW]))
        v["review_compare"] = (f"At the review's lr {LR_REVIEW:g}: " + review.text("without BN", "with BN")
                               + " (after one epoch)")
    else:
        v["review_compare"] = f"The review's lr {LR_REVIEW:g} is not in this grid."
    pl = placement_findings(placement)
    v.update(placement_overall=pl["overall"], placement_per_lr=" ".join(pl["per_lr"]), placement_table=pl["table"],
             placement_lrs=listing(pl["lrs"]), placement_minutes=train_minutes(
                 r for rs in placement.values() for r in rs))
    eff = effective_lr_findings(results, without, with_, norm_layer, norm_lrs)
    v.update(norm_text=eff["text"], norm_layer=norm_layer, norm_lrs=listing(eff["norm_lrs"]))
    v["effective"] = eff
    scale = weight_scale_test(results.get((with_, LR_REVIEW), ()))
    v["claims"] = [
        Claim("larger learning rates", PAPER_LR_CLAIM, REVIEW_CLAIM, v["usable_range"],
              (larger_rates_test(results, without, with_),), "lr_sweep"),
        Claim("faster training", PAPER_SPEED_CLAIM, REVIEW_CLAIM, f"{speed}; {v['review_compare']}",
              (Test("fewer-steps", compare(log_steps(results[without, best_no], TRAINS_ACCURACY),
                                           log_steps(results[with_, best_bn], TRAINS_ACCURACY)),
                    label=f"lr {best_no:g} without BN, {best_bn:g} with, chosen on validation"),
               training_time_test(results[without, best_no], results[with_, best_bn], step),
               *([Test("first-epoch", review)] if review is not None else [])), "lr_sweep"),
        Claim("BN before the nonlinearity", "\"we add the BN transform immediately before the nonlinearity\" "
              "(Sec. 3.2)", "BN \"is applied to the output of the 3 convolutional layers and the first fully "
              "connected\" (before or after tanh is not said)", pl["overall"], tuple(pl["tests"]), "lr_sweep"),
        Claim("larger weights, smaller steps", PAPER_SCALE_CLAIM, "not discussed", eff["text"], (scale,), "lr_sweep"),
    ]
    v["scale_ratio"] = ratio_text(scale)
    v["scale_verdict"] = judge([scale])[0].verdict
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}" + ("" if s.endswith(".") else ".") for s in (
        v["usable_range"], speed, v["best_compare"], pl["overall"], eff["summary"]))
    return v


# ---------------------------------------------------------------------------------------
# Chapter: explorer

PAPER_EXPLORER_CLAIM = ("\"Batch Normalization allows us to use much higher learning rates and be less careful "
                        "about initialization\", and on ImageNet it \"achieves the same accuracy with 14 times fewer "
                        "training steps\" (abstract): higher learning rates, and fewer steps on ImageNet; it does "
                        "not claim that BN trains faster at every learning rate")


def explorer_findings(grid, sweep: dict, without: str = LR_NO_BN, with_: str = LR_BN) -> dict:
    """Values and sentences of the explorer chapter: the grid's setting, the per-placement table (the words of
    :func:`bnreview.experiments.grid_summary`), the usable range quoted from the sweep, and what the grid's runs show
    about speed."""
    numbers = experiments.grid_summary(grid)
    v: dict = {"ex_n_runs": grid.n_runs, "ex_n_lrs": len(grid.lrs), "ex_lrs": listing(grid.lrs),
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

