"""Chapters baseline and lenet_bn: the review's own experiment, re-run.

LeNet at lr 0.9, batch 64, 10 epochs, without BN and with BN on all four layers (``review_config(seed=s)``,
``review_config(bn="all", seed=s)``), and our BN against torch.nn.BatchNorm
(``review_config(bn="all", bn_impl="torch")``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bnreview import protocol
from bnreview.findings.core import compare, epoch_accuracy, final_accuracy, over_runs, seconds_per_epoch, spread
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import runs_setting, seeds_label, seeds_text
from bnreview.train import History

LECUN_ERROR = 0.95  # % test error of LeNet-5 on MNIST without distortions (LeCun et al. 1998)
REVIEW_ACCURACY = 98.0  # % "The overall total test accuracy of the model is 98%" (the review, with and without BN)
IMPL_SAME_POINTS = protocol.entry("implementation").smallest  # the equivalence margin, in points
IMPL_SAME_TIME = 0.1  # ... and their times per epoch by less than this fraction
PAPER_ACCURACY_CLAIM = ("on its MNIST network (3 sigmoid layers, not LeNet), \"Batch Normalization helps the network "
                        "train faster and achieve higher accuracy\" (Figure 1(a)); on ImageNet, BN-Inception reaches "
                        "Inception's accuracy in 14 times fewer steps (Sec. 4.2.2)")
REVIEW_ACCURACY_CLAIM = ("both networks reach \"98%\"; BN's advantages \"were not noticed when using the LeNet model "
                         "generated with batch normalization\"")
REVIEW_IMPL_CLAIM = ("\"Comparisons between the BatchNormalization module of PyTorch and the one implemented were "
                     "carried out and no significant difference in running time and accuracy was noticed\"")


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
    v["base_seeds"] = (f"Over {seeds_label(seed_runs, distinct=False)}, the final test accuracy is {finals.text()}; "
                       f"{v['base_lecun']}")
    v["base_hardest"] = ("The hardest digit is " + ", ".join(
        f"{d} in seed {h.config.get('seed', 0)}" for d, h in zip(hardest, seed_runs))
        + (": the ranking of the classes changes from seed to seed, so a ranking from one run is weak evidence"
           if len(set(hardest)) > 1 else
           f": the same digit in every seed ({seeds_text(len(seed_runs))})"))
    review = spread([REVIEW_ACCURACY] * finals.n, finals.seeds)  # the review's number, paired with each seed
    above = compare(review, finals)
    v["base_vs_review"] = above.interval_text()
    v["headline"] = v["base_seeds"]
    v["claims"] = [Claim("LeNet's accuracy on MNIST", f"not in the paper (LeCun et al. 1998: {LECUN_ERROR:g}% test "
                         "error without distortions)", "\"The overall total test accuracy of the model is 98%\" "
                         "(lr 0.9, 10 epochs)", v["base_seeds"], (Test("baseline-accuracy", above),), "baseline")]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"At the review's settings ({runs_setting(seed_runs)}) LeNet without BN ends at {finals.text()} test accuracy"
        f" ({above.interval_text()} against the review's {REVIEW_ACCURACY:g}%)",
        v["base_lecun"][0].upper() + v["base_lecun"][1:], v["base_hardest"]))
    return v


def implementation_findings(ours: Sequence[History], theirs: Sequence[History]) -> dict:
    """Our BN against torch.nn.BatchNorm, paired by seed (same setting, initial weights and batches): final
    accuracy over the seeds (the protocol's equivalence test), the first pair's step losses and test accuracies
    compared step by step, and time per epoch (``IMPL_SAME_POINTS`` points and ``IMPL_SAME_TIME`` give the
    chapter's descriptive bars)."""
    pairs = {h.config.get("seed", 0): h for h in theirs}
    if not ours or sorted(pairs) != sorted(h.config.get("seed", 0) for h in ours):
        raise ValueError("the two implementations must be compared on runs of the same seeds")
    first, first_theirs = ours[0], pairs[ours[0].config.get("seed", 0)]
    theirs = [pairs[h.config.get("seed", 0)] for h in ours]
    ratio = seconds_per_epoch(ours) / seconds_per_epoch(theirs)
    accuracy = compare(final_accuracy(theirs), final_accuracy(ours))
    diffs = [abs(a - b) for a, b in zip(first.step_loss, first_theirs.step_loss)]
    same_time = abs(ratio - 1) < IMPL_SAME_TIME
    v = {"impl_ratio": ratio, "impl_points": accuracy.difference, "impl_ours_acc": accuracy.b.mean,
         "impl_torch_acc": accuracy.a.mean, "impl_ours_sec": seconds_per_epoch(ours),
         "impl_torch_sec": seconds_per_epoch(theirs), "impl_steps": min(len(first.step_loss), len(first_theirs.step_loss)),
         "impl_loss_diff": max(diffs) if diffs else math.nan,
         "impl_same_epochs": sum(a == b for a, b in zip(first.test_acc, first_theirs.test_acc)),
         "impl_epochs": min(len(first.test_acc), len(first_theirs.test_acc)), "impl_seed": first.config.get("seed", 0),
         "impl_n": len(ours), "impl_same_time": int(same_time), "impl_same_points": IMPL_SAME_POINTS,
         "impl_same_time_pct": 100 * IMPL_SAME_TIME, "impl_interval": accuracy.interval_text()}
    v["impl_swing"] = epoch_time_swing([*ours, *theirs])
    v["impl_text"] = (f"Over {seeds_text(len(ours))}, our BN ends at {accuracy.b.text()} and torch.nn.BatchNorm at "
                      f"{accuracy.a.text()} ({accuracy.interval_text()}); a training epoch takes "
                      f"{v['impl_ours_sec']:.1f} s against {v['impl_torch_sec']:.1f} s (ratio {ratio:.2f})"
                      + time_caveat(v["impl_swing"]))
    v["impl_test"] = Test("implementation", accuracy)
    return v


def review_findings(base_runs: Sequence[History], bn_runs: Sequence[History], torch_runs: Sequence[History]) -> dict:
    """Every value and sentence of the LeNet + BN chapter, its claims, "What we learned" and a "headline".

    ``base_runs``/``bn_runs``: the review's runs without BN and with BN on all four layers, one per seed (the
    same seeds); ``torch_runs``: the BN runs with torch.nn.BatchNorm, the same seeds, paired with ``bn_runs``.
    """
    ours = bn_runs[0]
    final = compare(final_accuracy(base_runs), final_accuracy(bn_runs))
    first = compare(epoch_accuracy(base_runs, 1), epoch_accuracy(bn_runs, 1))
    loss = compare(over_runs(base_runs, lambda h: h.test_loss[-1]), over_runs(bn_runs, lambda h: h.test_loss[-1]))
    sec_base, sec_bn = seconds_per_epoch(base_runs), seconds_per_epoch(bn_runs)
    each = {"no BN": epoch_seconds_each(base_runs), "BN": epoch_seconds_each(bn_runs)}
    ratio = sec_bn / sec_base
    v: dict = {"setting": runs_setting(base_runs), "n_seeds": len(base_runs),
               "seeds": seeds_label(base_runs, distinct=False),
               "final_compare": final.text("without BN", "with BN"),
               "epoch1_compare": first.text("without BN", "with BN", "test accuracy after one epoch"),
               "loss_compare": loss.text("without BN", "with BN", "final test loss", 4, " nats"),
               "final_difference": final.difference, "final_clear": int(final.shown),
               "epoch1_difference": first.difference, "epoch1_clear": int(first.shown),
               "sec_base": sec_base, "sec_bn": sec_bn, "time_ratio": ratio, "epoch_seconds": each,
               "bn_acc": 100 * ours.final_test_acc, "bn_acc_epoch1": 100 * ours.test_acc[0],
               "bn_setting": runs_setting([ours])}
    slower = "slower" if ratio > 1 else "faster"
    runs_each = f"median over {len(bn_runs)} runs each" if len(bn_runs) > 1 else "one run each"
    swing = epoch_time_swing([*base_runs, *bn_runs])
    v["time_swing"] = swing
    v["time_text"] = (f"A training epoch takes {sec_bn:.1f} s with BN against {sec_base:.1f} s without ({runs_each}; "
                      f"ratio BN / no BN {ratio:.2f}): BN is "
                      f"{abs(ratio - 1) * 100:.0f}% {slower} per epoch; "
                      + "times read from training runs, not a benchmark" + time_caveat(swing))
    impl = implementation_findings(bn_runs, torch_runs)
    v.update(impl)
    v["accuracy_verdict"] = ("BN ends higher" if final.direction == "higher" else
                             "BN ends lower" if final.direction == "lower" else
                             "the final accuracies do not separate the two networks")
    v["headline"] = (f"At the review's settings ({v['setting']}), {v['accuracy_verdict']} ({v['final_compare']}); "
                     f"{v['epoch1_compare']}. {v['time_text']}. {impl['impl_text']}.")
    v["claims"] = [
        Claim("higher accuracy with BN (LeNet, lr 0.9, 10 epochs)", PAPER_ACCURACY_CLAIM, REVIEW_ACCURACY_CLAIM,
              f"{v['final_compare']}; {v['epoch1_compare']} ({v['setting']})",
              (Test("accuracy-review", final),), "lenet_bn"),
        Claim("BN's cost in time per epoch", "not stated (the paper counts training steps, not seconds)",
              "BN can \"decrease training time\"; \"not noticed\" on LeNet", v["time_text"] + f" ({v['setting']}; the "
              "ledger's test of training time, steps to 97% times benchmarked seconds per step, is in lr_sweep)",
              (), "lenet_bn"),
        Claim("our BN against torch.nn.BatchNorm", "not applicable", REVIEW_IMPL_CLAIM, impl["impl_text"],
              (impl["impl_test"],), "lenet_bn"),
    ]
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}." for s in (
        f"{v['accuracy_verdict']} at the review's settings ({v['setting']}): {v['final_compare']}",
        f"after one epoch, {v['epoch1_compare']}",
        v["time_text"], impl["impl_text"]))
    return v

