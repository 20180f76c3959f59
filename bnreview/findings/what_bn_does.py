"""Chapter what_bn_does: noisy BN after Santurkar et al., the batch size, and Algorithm 2's population statistics.

Inputs: ``{lr: {"no BN": runs, "BN": runs, "noisy BN": runs}}``, each from ``experiments.noisy_bn_configs(lr)``;
the batch-size sweep (``experiments.batch_size_sweep()``: ``{("no BN" or "BN", batch size): runs}``) and, for its
BN runs, ``experiments.inference_accuracies`` (moving averages, Algorithm 2's population statistics, each test
batch's own statistics).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bnreview.findings.core import (Spread, compare, final_accuracy, over_runs, percentile_drift, spread, train_minutes,
                                    weight_growth)
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import listing, seeds_label, sweep_setting, training_images
from bnreview.train import History

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
    50th and 85th percentiles between consecutive probes (``percentile_drift``'s ``mean_step``, from
    the first probe after step 0), averaged over ``layers``. Diverged runs are left out; None if all diverged."""
    kept = [h for h in histories if not h.diverged]
    if not kept:
        return None
    return over_runs(kept, lambda h: statistics.fmean(percentile_drift(h, layer, skip=1)["mean_step"]
                                                      for layer in layers))


def drift_groups(noisy: dict, layers: Sequence[str] = WB_LAYERS) -> dict:
    """``{lr: {layer: {network: [drift per seed]}}}`` for the figure (diverged runs left out)."""
    return {lr: {layer: {name: [percentile_drift(h, layer, skip=1)["mean_step"] for h in runs if not h.diverged]
                         for name, runs in by_name.items() if any(not h.diverged for h in runs)}
                 for layer in layers} for lr, by_name in noisy.items()}


def _outcome(runs: Sequence[History]) -> str:
    gone = sum(h.diverged for h in runs)
    return final_accuracy(runs).text() + (f", {gone} of {len(runs)} seeds diverged" if gone else "")


def _noisy_per_lr(noisy: dict) -> tuple[str, dict[str, list], dict]:
    """Each learning rate in a sentence; the learning rates where noisy BN ends below ("trails"), level with
    (the interval includes zero) or above ("ahead") plain BN; and the drift of each network at each learning rate."""
    no, bn, nz = WB_NETWORKS
    per_lr, groups, drifts = [], {"trails": [], "ahead": [], "level": []}, {}
    for lr in sorted(noisy):
        g = noisy[lr]
        cmp = compare(final_accuracy(g[bn]), final_accuracy(g[nz]))
        groups[{"lower": "trails", "higher": "ahead"}.get(cmp.direction, "level")].append(lr)
        per_lr.append(f"At lr {lr:g}: without BN {_outcome(g[no])}; with BN {_outcome(g[bn])}; with noisy BN "
                      f"{_outcome(g[nz])}. Noisy against plain BN, " + cmp.text("with plain BN", "with noisy BN") + ".")
        drifts[lr] = {name: unit_drift(g[name]) for name in WB_NETWORKS}
    return " ".join(per_lr), groups, drifts


def _noisy_drift(noisy: dict, drifts: dict, lo: float, hi: float) -> tuple[str, bool, bool]:
    """The drift sentence at ``hi`` (noisy BN against plain BN, and against no BN at ``lo``, where it trains), and
    whether noisy BN's drift is larger (95% interval) than plain BN's and than that of the network without BN."""
    no, bn, nz = WB_NETWORKS
    d_nz, d_bn, d_no_lo = drifts[hi][nz], drifts[hi][bn], drifts[lo][no]
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
    text = ("Drift of the layers' inputs (one unit per layer, mean change of its 15th, 50th and 85th "
            f"percentiles between probes {every} steps apart, averaged over the four layers): "
            + "; ".join(parts) + ".")
    return text, more_than_bn, more_than_nobn


def _noisy_mechanism(lo: float, hi: float, checks: dict[str, bool]) -> str:
    """Whether the runs show noisy BN surviving ``hi`` with more drift than the network without BN, and if not,
    what is missing; ``checks``: nobn_fails, noisy_survives, more_than_bn, more_than_nobn."""
    if all(checks.values()):
        return (f"So at lr {hi:g} the inputs of the noisy network's layers move more than with plain BN "
                f"and more than those of the network without BN at lr {lo:g}, yet none of its seeds "
                f"diverges where every seed without BN does: keeping layer inputs steady is not what "
                f"lets BN survive lr {hi:g}.")
    missing = [why for why, ok in (
        (f"the network without BN does not diverge in every seed at lr {hi:g}", checks["nobn_fails"]),
        (f"noisy BN diverges in some seed at lr {hi:g}", checks["noisy_survives"]),
        (f"its drift is not shown larger than plain BN's at lr {hi:g}", checks["more_than_bn"]),
        (f"its drift is not shown larger than that of the network without BN at lr {lo:g}",
         checks["more_than_nobn"]))
        if not ok]
    return (f"These runs do not show noisy BN surviving lr {hi:g} with more drift than the network "
            f"without BN: " + "; ".join(missing) + ".")


def _noisy_cost(groups: dict[str, list], against_ics: bool) -> str:
    """What the noise costs against plain BN, set against Santurkar et al.'s result."""
    found = [f"{words} at lr {listing(group)}" for words, group in (
        ("below plain BN", groups["trails"]), ("not distinguishable from plain BN", groups["level"]),
        ("above plain BN", groups["ahead"])) if group]
    cost = ("Santurkar et al. found noisy BN to train about as well as plain BN; on LeNet, noisy BN ends "
            + "; ".join(found) + ".")
    if groups["trails"]:
        cost += (" So their result holds here only in part: the noise is not free"
                 + (", though the tolerance of the large learning rate survives it." if against_ics else ".")
                 + " These runs cannot tell whether plain BN's lead over noisy BN comes from steadier layer "
                   "inputs or simply from the absence of noise.")
    return cost


def _noisy_scale(noisy: dict, layer: str) -> str:
    """Scale invariance: the growth of the weights of ``layer`` (before (noisy) BN) with plain and noisy BN."""
    _, bn, nz = WB_NETWORKS
    growth, grows = [], True
    for lr in sorted(noisy):
        if all(not h.diverged for h in noisy[lr][nz] + noisy[lr][bn]):
            g_bn, g_nz = weight_growth(noisy[lr][bn], layer), weight_growth(noisy[lr][nz], layer)
            grows = grows and g_bn.lo > 1 and g_nz.lo > 1
            growth.append(f"at lr {lr:g}, " + compare(g_bn, g_nz).text(
                "with plain BN", "with noisy BN", f"{layer}'s weight norm at the end over its start", unit=""))
    return ((f"The weights of {layer}, which stays scale-invariant under the noise, "
             + ("grow over the epoch in every seed of both BN networks: " if grows else
                "do not grow in every seed: ") + "; ".join(growth) + ".") if growth else
            "No learning rate leaves both BN networks undiverged to compare their weights.")


def noisy_findings(noisy: dict, layer: str = WB_NORM_LAYER) -> dict:
    """Noisy BN against plain BN and no BN at each learning rate: accuracy, divergence, drift of the layers'
    inputs, and the weight growth of a layer before BN (scale invariance, Sec. 3.3). The argument is made at the
    largest learning rate (``hi``), where the network without BN fails."""
    no, bn, nz = WB_NETWORKS
    lrs = sorted(noisy)
    lo, hi = lrs[0], lrs[-1]
    out: dict = {"lrs": lrs, "lo": lo, "hi": hi}
    out["per_lr"], groups, drifts = _noisy_per_lr(noisy)
    out["trails"] = groups["trails"]
    # the argument, at the large learning rate
    gh = noisy[hi]
    nobn_fails = all(h.diverged for h in gh[no])
    noisy_survives = not any(h.diverged for h in gh[nz])
    out["drift"], more_than_bn, more_than_nobn = _noisy_drift(noisy, drifts, lo, hi)
    out["drift_lo"] = "; ".join(f"{name} {d.text(3, '')}" for name, d in drifts[lo].items() if d is not None)
    against_ics = nobn_fails and noisy_survives and more_than_nobn and more_than_bn
    out["mechanism"] = _noisy_mechanism(lo, hi, {"nobn_fails": nobn_fails, "noisy_survives": noisy_survives,
                                                 "more_than_bn": more_than_bn, "more_than_nobn": more_than_nobn})
    out["cost"] = _noisy_cost(groups, against_ics)
    out["scale"] = _noisy_scale(noisy, layer)
    out["reading"] = ((f"So the noisy-BN result argues against covariate shift as the mechanism of BN's tolerance of "
                       f"lr {hi:g}, not against the paper's claim that BN allows higher learning rates: the scale "
                       f"invariance Section 3.3 credits for that claim survives the noise.") if against_ics else
                      "So these runs do not separate the two explanations.")
    out["tests"] = [Test("covariate-shift", compare(final_accuracy(noisy[lr][bn]), final_accuracy(noisy[lr][nz])),
                         label=f"lr {lr:g}") for lr in lrs]
    out["headline"] = (f"At lr {hi:g}, where LeNet without BN "
                       + (f"diverges ({sum(h.diverged for h in gh[no])} of {len(gh[no])} seeds)" if nobn_fails
                          else f"ends at {final_accuracy(gh[no]).text()}")
                       + f", noisy BN ends at {_outcome(gh[nz])} against {final_accuracy(gh[bn]).text()} with "
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
        word = {"higher": "higher", "lower": "lower"}.get(c.direction, "not distinguishable")
        rows.append(f"| {b} | {h.steps_per_epoch:,} | {h.config['lr']:g} | {nobn.text()} | {ema.text()} | "
                    f"{pop.text()} | {tm.text()} | {c.difference:+.2f} points, {word} |")
    first = by_batch["BN", sizes[0]][0]
    n_images = training_images(first.config)
    out: dict = {"sizes": sizes, "table": "\n".join(rows), "acc": acc, "ahead": ahead, "behind": behind,
                 "n_images": n_images}
    out["confound"] = (f"Every run makes one pass over the same {n_images:,} training images, so the batch size "
                       f"also sets the number of SGD steps, and the learning rate grows with the batch: "
                       + "; ".join(steps_list) + ". A difference between two batch sizes is therefore a difference of "
                       "batch size, number of steps and learning rate together, not of the batch size alone.")
    part = []
    for words, group in (("above", ahead), ("below", behind), ("not distinguishable from",
                                                                                 level)):
        if group:
            part.append(f"{words} the network without BN at batch {listing(group)}")
    out["versus"] = ("In eval mode with its moving averages, the network with BN ends " + "; ".join(part) + ".")
    out["train_mode"] = ("Eval mode minus train mode (each test batch normalised with its own statistics), mean over "
                         "seeds, in points: " + "; ".join(gaps) + ".")
    small, large = sizes[0], sizes[-1]
    cs = compare(acc[small]["nobn"], acc[small]["ema"])
    out["small"] = f"At batch {small}, " + cs.text("without BN", "with BN") + "."
    hs = by_batch["BN", small][0]
    hl = by_batch["BN", large][0]
    out["headline"] = (f"BN's test accuracy against the batch size: at batch {small}, {acc[small]['ema'].text()} "
                       f"against {acc[small]['nobn'].text()} without BN; ahead of no BN at batch "
                       f"{listing(ahead) if ahead else 'none'}; but each batch size also changes the number of steps "
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
    better, worse, level, all_diffs, tests = [], [], [], [], []
    for b in sizes:
        runs = range(len(inference[b]))  # one run evaluated two ways: paired
        ema = spread((100 * i["ema"] for i in inference[b]), runs)
        pop = spread((100 * i["population"] for i in inference[b]), runs)
        tests.append(Test("population-statistics", compare(ema, pop), label=f"batch {b}"))
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
    groups = [f"{words} at batch {listing(group)}" for words, group in (
        ("higher", better), ("lower", worse), ("not distinguishable (the interval includes zero)", level)) if group]
    text = (f"Algorithm 2's statistics give a higher test accuracy than the moving averages in {n_up} of "
            f"{len(all_diffs)} BN runs (mean difference {statistics.fmean(all_diffs):+.2f} points); the largest mean "
            f"difference is at batch {biggest}, {big.text(2, ' points')}. By the 95% interval of the paired difference "
            f"(uncorrected), Algorithm 2 is " + ", ".join(groups) + ".")
    gm = {b: statistics.fmean(i["gap_mean"] for i in inference[b]) for b in (sizes[0], sizes[-1])}
    gs = {b: statistics.fmean(i["gap_std"] for i in inference[b]) for b in (sizes[0], sizes[-1])}
    gaps = (f"Averaged over the channels of the four BN layers, the moving means lie {gm[sizes[0]]:.3f} population "
            f"standard deviations from Algorithm 2's at batch {sizes[0]} and {gm[sizes[-1]]:.3f} at batch {sizes[-1]}; "
            f"the standard deviations differ by {gs[sizes[0]]:.3f} and {gs[sizes[-1]]:.3f} (relative).")
    headline = (f"Algorithm 2's population statistics against PyTorch's moving averages: higher test accuracy in "
                f"{n_up} of {len(all_diffs)} BN runs, by {statistics.fmean(all_diffs):+.2f} points on average; "
                + "; ".join(groups) + f"; the largest mean difference is at batch {biggest}: {big.text(2, ' points')}.")
    return {"table": "\n".join(rows), "text": text, "gaps": gaps, "better": better, "worse": worse,
            "headline": headline, "tests": tests}


def what_bn_does_findings(noisy: dict, by_batch: dict, inference: dict) -> dict:
    """Every value and sentence of the chapter "What does BN really do?", its claims, "What we learned" and its
    headlines ("headline_noisy", "headline_batch", "headline_population").

    ``noisy``: ``{lr: experiments.run_grid(experiments.noisy_bn_configs(lr))}``; ``by_batch``:
    ``experiments.batch_size_sweep()``; ``inference``: ``{batch size: [experiments.inference_accuracies(h) for each BN
    run]}`` (``experiments.inference_by_batch(by_batch)``).
    """
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
               "norm_layer": WB_NORM_LAYER, "batch_sizes": listing(bt["sizes"]), "batch_n_train": f"{bt['n_images']:,}",
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
              tuple(nz["tests"]), "what_bn_does"),
        Claim("population statistics at inference (Algorithm 2)", PAPER_INFERENCE, REVIEW_INFERENCE, pop["text"],
              tuple(pop["tests"]), "what_bn_does"),
    ]
    v["learned"] = "\n".join(f"- {s}" for s in (
        nz["headline"], nz["mechanism"], nz["cost"], nz["scale"], bt["headline"], pop["headline"]))
    return v

