"""Chapter paper_mnist: the paper's own MNIST experiment (Sec. 4.1, Figure 1), re-run.

Inputs: the pilot that chooses the MLP's learning rate on held-out validation images
(``{(init_std, lr, bn): [History]}``, bn "none" or "all", from ``experiments.mlp_pilot_config``); the runs at the
chosen lr (``{"without BN": runs, "with BN": runs}``, from ``experiments.paper_mlp_config``); the check at the
runner-up lr (same keys, seed 0); and the review's LeNet runs (``{"LeNet, no BN": runs, "LeNet + BN": runs}``,
from ``config.review_config``). The choice itself is :func:`bnreview.findings.core.pilot_choice`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bnreview.criteria import pilot_choice
from bnreview.findings.core import (Spread, compare, percentile_drift, final_accuracy, log_steps, over_runs, reaches_sooner, spread,
                                    steps_to_accuracy, train_minutes)
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import (lenet_setting, listing, lr_label, mlp_setting, seeds_label, seeds_text,
                                       training_images)
from bnreview.train import History

PM_LAYER = "fc3"  # the paper's "last hidden layer"
PM_LENET_LAYER = "fc1"  # LeNet's first fully connected layer
PM_LATE = 0.02  # the drift is measured from this fraction of training on (after the first fast move)
PM_MEDIAN_FROM = 0.1  # the protocol's "mlp-steadier": the median's movement from this fraction of training (step 5,000)
PM_EARLY = (0.02, 0.10)  # fractions of training at which the test accuracy is compared
PM_NORMAL_BAND = 2 * statistics.NormalDist().inv_cdf(0.85)  # the 15th-85th percentile band of N(0, 1): 2.07 wide
PM_NETWORKS = ("without BN", "with BN")
MLP_FASTER_ACCURACY = 0.95  # the protocol's "mlp-faster": steps to this test accuracy
PM_LENETS = ("LeNet, no BN", "LeNet + BN")
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


def _val(runs: Sequence[History]) -> float:
    """Mean final validation accuracy (%) of the runs."""
    return 100 * statistics.fmean(h.final_val_acc for h in runs)


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
            text += "; with one seed that is a ranking, without an interval"
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
    stds = listing(sorted({s for s, _, _ in pilot}))
    lrs = listing(sorted({lr for _, lr, _ in pilot}))
    text = (f"Over the pilot's {len(pilot) // 2} settings (σ in {stds}, lr in {lrs}), the validation accuracy "
            f"without BN ranges from {lo_n:.2f}% (σ = {worst_n[0]:g}, lr {worst_n[1]:g}) to {hi_n:.2f}%, with BN from "
            f"{lo_b:.2f}% (σ = {worst_b[0]:g}, lr {worst_b[1]:g}) to {hi_b:.2f}%: ")
    text += ("with BN the outcome depends less on the learning rate and the initial scale"
             if less else "BN does not make the outcome depend less on the learning rate and the initial scale")
    return text + " (one seed per setting).", less


def accuracy_at(histories: Sequence[History], step: int) -> Spread:
    """Test accuracy (%) at the last evaluation at or before ``step``, over the runs."""
    return over_runs(histories, lambda h: 100 * [a for s, a in zip(h.eval_steps, h.eval_acc) if s <= step][-1])


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
    reach.append("BN reaches 97% in fewer steps (the paired interval of the ratio of steps lies below 1)" if faster else
                 "the network without BN reaches 97% in fewer steps" if slower else
                 "neither network reaches 97% within the run" if neither else
                 "the runs do not show which network reaches 97% sooner")
    if faster and higher:
        shape = "As in the paper's Figure 1(a), BN trains faster and ends higher here."
    elif faster or higher:
        shape = ("Of the paper's Figure 1(a), one half holds here: BN " + ("trains faster" if faster else "ends higher")
                 + "; the runs do not show that it " + ("ends higher" if faster else "trains faster") + ".")
    else:
        shape = "Here the runs show neither that BN trains faster nor that it ends higher, unlike the paper's Figure 1(a)."
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
    its 15th, 50th and 85th percentiles over the probes, averaged over the three (:func:`percentile_drift`)."""
    return over_runs(histories, lambda h: percentile_drift(h, layer, skip=_late_index(h, fraction))["mean_range"])


def steadiness(nobn: Sequence[History], bn: Sequence[History], layer: str, fraction: float = PM_LATE) -> dict:
    """Does BN keep one unit's input steadier? Band widths at step 0, at the first probe after it and at the end;
    the drift from ``fraction`` of training on, compared (lower with BN, by its 95% interval: steadier)."""
    first, late = nobn[0].probe_steps[1], nobn[0].probe_steps[_late_index(nobn[0], fraction)]
    w = {name: [over_runs(runs, lambda h: band_width(h, layer, i)) for i in (0, 1, -1)]
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
                    }.get(drift.direction, "the runs do not show BN changing how much this unit's input moves")
    return {"text": text, "verdict": verdict_text, "steadier": drift.direction == "lower", "drift": drift,
            "late_step": late}


def median_movement(history: History, layer: str, fraction: float = PM_MEDIAN_FROM) -> float:
    """The protocol's "mlp-steadier" measure of one unit's input: the total movement of its median between
    consecutive probes from ``fraction`` of training on, in units of its mean 15th-85th percentile spread over
    those probes, as a natural log (one unit of it is a factor e)."""
    p, start = history.probes[layer], _late_index(history, fraction)
    median = p["unit_p50"][start:]
    width = statistics.fmean(p["unit_p85"][i] - p["unit_p15"][i] for i in range(start, len(p["unit_p50"])))
    moved = sum(abs(b - a) for a, b in zip(median, median[1:]))
    return math.log(moved / width) if moved > 0 and width > 0 else math.nan


def median_steadier(nobn: Sequence[History], bn: Sequence[History], layer: str = PM_LAYER) -> Test:
    """The "mlp-steadier" test: the median's movement (:func:`median_movement`) with BN against without, paired."""
    move = {name: over_runs(runs, lambda h: median_movement(h, layer)) for name, runs in (("nobn", nobn), ("bn", bn))}
    return Test("mlp-steadier", compare(move["nobn"], move["bn"]), label=f"{layer}, unit 0")


def scale_ranges(init: dict, network: str) -> Spread:
    """Per seed, the range (max - min, points) of ``network``'s final validation accuracy over the initial scales
    of ``init`` (``{(init_std, network): [History per seed]}``); a diverged run counts as 0%."""
    stds = sorted({s for s, name in init if name == network})
    by_seed: dict[int, list[float]] = {}
    for std in stds:
        for h in init[std, network]:
            by_seed.setdefault(h.config.get("seed", 0), []).append(0.0 if h.diverged else 100 * h.final_val_acc)
    seeds = sorted(seed for seed, values in by_seed.items() if len(values) == len(stds))
    return spread((max(by_seed[s]) - min(by_seed[s]) for s in seeds), seeds)


def initialisation_findings(init: dict) -> dict:
    """Is BN less sensitive to the initial scale? Per seed, each network's range of validation accuracy over the
    scales (:func:`scale_ranges`), compared paired: the protocol's "careful-initialisation"."""
    ranges = {name: scale_ranges(init, name) for name in PM_NETWORKS}
    cmp = compare(ranges[PM_NETWORKS[0]], ranges[PM_NETWORKS[1]])
    first = next(iter(init.values()))[0]
    stds = listing(sorted({s for s, _ in init}))
    text = (f"Trained {len(first.step_loss):,} steps from initial weights of σ {stds}, each network at its own chosen "
            f"rate. " + cmp.text("without BN", "with BN", "The range of validation accuracy over the scales, per seed",
                                 unit=" points"))
    verdict = {"lower": "with BN the outcome depends less on the initial scale",
               "higher": "with BN the outcome depends more on the initial scale"}.get(
        cmp.direction, "the runs do not show BN changing how much the outcome depends on the initial scale")
    return {"init_text": text + ".", "init_verdict": verdict, "init_stds": stds,
            "init_test": Test("careful-initialisation", cmp)}


def _chapter_values(pilot: dict, runs: dict, check: dict, lenet: dict, choice: dict) -> dict:
    """The chapter's values that read the runs' settings: the chosen lr, the pilot's grid, sizes, settings, times."""
    from bnreview.models import PaperMLP, count_parameters

    c = runs[PM_NETWORKS[0]][0].config
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    n = min(len(nobn), len(bn))
    return {"lr": f"{choice['lr']:g}", "runner_up": lr_label(choice["runner_up"]), "bn_lr": f"{choice['bn_lr']:g}",
            "std": f"{choice['std']:g}", "n_seeds": n, "seeds": seeds_label(nobn),
            "mlp_params": f"{count_parameters(PaperMLP()):,}", "mlp_bn_params": f"{count_parameters(PaperMLP(bn='all')):,}",
            "pilot_stds": listing(sorted({s for s, _, _ in pilot})),
            "pilot_lrs": listing(sorted({lr for _, lr, _ in pilot})),
            "pilot_steps": f"{len(next(iter(pilot.values()))[0].step_loss):,}",
            "val_size": f"{next(iter(pilot.values()))[0].config.get('val_size', 0):,}",
            "mlp_steps": f"{c['steps']:,}", "eval_every": c["eval_every"], "probe_every": c["probe_every"],
            "n_train": f"{training_images(c):,}",
            "setting": mlp_setting(nobn), "setting_seed0": mlp_setting(nobn[:1]),
            "check_setting": mlp_setting(check[PM_NETWORKS[0]]),
            "lenet_setting": lenet_setting(lenet[PM_LENETS[0]]),
            "lenet_setting_seed0": lenet_setting(lenet[PM_LENETS[0]][:1]),
            "pilot_table": pilot_table(pilot, choice), "pilot_text": pilot_text(pilot, choice),
            "optimiser": PAPER_MNIST_OPTIMISER[0].upper() + PAPER_MNIST_OPTIMISER[1:] + ".",
            "mlp_minutes": train_minutes([*nobn, *bn, *(h for r in pilot.values() for h in r)]),
            "check_minutes": train_minutes(h for r in check.values() for h in r)}


def _protocol_tests(nobn: Sequence[History], bn: Sequence[History], own: Sequence[History], init: dict | None,
                    choice: dict) -> dict:
    """The protocol's measurements beyond the chapter's figures: BN at its own rate ("mlp-higher"), the median's
    movement ("mlp-steadier") and the initial scales ("careful-initialisation"), with their sentences."""
    v = initialisation_findings(init) if init else {
        "init_text": "", "init_verdict": "", "init_stds": "",
        "init_test": Test("careful-initialisation", why_not="no initialisation grid given")}
    if own:
        own_cmp = compare(final_accuracy(nobn), final_accuracy(own))
        v["higher_test"] = Test("mlp-higher", own_cmp, label=f"lr {choice['lr']:g} without BN, {choice['bn_lr']:g} with")
        v["own_text"] = own_cmp.text(f"without BN (lr {choice['lr']:g})",
                                     f"with BN at its own rate (lr {choice['bn_lr']:g})") + "."
    else:
        v["higher_test"] = Test("mlp-higher", why_not="no runs of the network with BN at its own chosen rate given")
        v["own_text"] = ""
    v["steady_test"] = steady = median_steadier(nobn, bn)
    v["median_text"] = ("The protocol measures the same thing as the total movement of the median from step "
                        f"{nobn[0].probe_steps[_late_index(nobn[0], PM_MEDIAN_FROM)]:,} on, in units of the unit's "
                        "15th-85th spread, as a log. "
                        + steady.comparison.text("without BN", "with BN", "Its movement", unit="") + ".")
    return v


def paper_mnist_findings(pilot: dict, runs: dict, check: dict, lenet: dict, own: Sequence[History] = (),
                         init: dict | None = None) -> dict:
    """Every value and sentence of the paper-MNIST chapter, its claims, "What we learned" and its headline.

    ``pilot``: ``{(init_std, lr, bn): [History]}`` (``experiments.mlp_pilot_config`` over ``MLP_PILOT_STDS`` x
    ``MLP_PILOT_LRS`` x bn "none"/"all", seed 0); ``runs``: ``{"without BN": runs, "with BN": runs}`` at the lr
    :func:`pilot_choice` chose (``experiments.paper_mlp_config``, every seed); ``check``: the same two at the
    runner-up lr (seed 0); ``lenet``: ``{"LeNet, no BN": runs, "LeNet + BN": runs}`` (``config.review_config``);
    ``own``: the network with BN at its own chosen rate, every seed; ``init``: ``{(init_std, network): runs}``
    (``experiments.chosen_plan``'s initialisation grid). Without ``own`` or ``init`` their tests say why not.
    """
    c = runs[PM_NETWORKS[0]][0].config
    choice = pilot_choice(pilot, c["init_std"])
    if choice["lr"] != c["lr"]:
        raise ValueError(f"the runs are at lr {c['lr']:g}, but validation chose lr {choice['lr']:g}")
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    n = min(len(nobn), len(bn))
    v = _chapter_values(pilot, runs, check, lenet, choice)
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
    if ru["drift"].effect is None:
        v["lr_dependence"] = (f"The check at lr {lr_label(choice['runner_up'])} has no interval "
                              f"({seeds_label(check[PM_NETWORKS[0]])}), so these runs cannot say whether the answer "
                              f"depends on the learning rate.")
    elif main["steadier"] == ru["steadier"]:
        v["lr_dependence"] = ("At both learning rates the answer is the same, so here it does not depend on the "
                              "learning rate.")
    else:
        v["lr_dependence"] = (f"So whether BN visibly steadies the last hidden layer depends on the learning rate "
                              f"(steadier at lr {lr_label(choice['lr'] if main['steadier'] else choice['runner_up'])} "
                              f"only).")
    le = steadiness(lenet[PM_LENETS[0]], lenet[PM_LENETS[1]], PM_LENET_LAYER)
    v.update(lenet_text=le["text"], lenet_verdict=f"On LeNet ({PM_LENET_LAYER}'s first unit), {le['verdict']}.")
    v.update(_protocol_tests(nobn, bn, own, init, choice))
    v["headline"] = (f"On the paper's own MNIST network (lr {choice['lr']:g}, chosen on validation; {seeds_text(n)}, "
                     f"{c['steps']:,} steps), {f1['final_cmp'].text('without BN', 'with BN')}; at that learning rate "
                     f"{main['verdict']}.")
    v["claims"] = [
        Claim("BN trains the paper's MNIST network faster and to a higher accuracy", PAPER_MNIST_ACCURACY,
              REVIEW_MNIST, f"{f1['final']} {f1['reach']}",
              (v["higher_test"], Test("mlp-faster", compare(log_steps(nobn, MLP_FASTER_ACCURACY), log_steps(bn, MLP_FASTER_ACCURACY)),
                    label=f"{100 * MLP_FASTER_ACCURACY:g}%, lr {choice['lr']:g}")), "paper_mnist"),
        Claim("BN steadies the input of the last hidden layer's sigmoid", PAPER_MNIST_STABLE, REVIEW_MNIST,
              f"At lr {choice['lr']:g} ({seeds_label(nobn)}): {main['verdict']}. At lr "
              f"{lr_label(choice['runner_up'])} ({seeds_label(check[PM_NETWORKS[0]])}): {ru['verdict']}.",
              (v["steady_test"],), "paper_mnist"),
        Claim("less careful about initialisation", PAPER_MNIST_INIT, "not tested", v["init_text"] or v["pilot_scale"],
              (v["init_test"],), "paper_mnist"),
    ]
    v["learned"] = "\n".join(f"- {s}" for s in (
        f"The learning rate was chosen on {v['val_size']} held-out validation images: lr {choice['lr']:g} for the "
        f"network without BN (runner-up lr {lr_label(choice['runner_up'])}); the test set reports only that choice.",
        f1["final"][0].upper() + f1["final"][1:], f1["shape"].split(" The paper")[0],
        v["drift_verdict"], v["check_verdict"], v["lr_dependence"], v["lenet_verdict"], v["pilot_scale"]))
    return v

