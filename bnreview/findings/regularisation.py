"""Chapter regularisation: does BN regularise, and does it let dropout go (paper Sec. 3.4 and 4.2.1)?

From ``experiments.regularisation_runs()``: ``{"neither", "dropout", "BN", "BN + dropout": [History per seed]}``,
LeNet trained on a small fixed subset, each variant at its own rate chosen on validation, and ``experiments.training_accuracy`` (eval-mode accuracy on the run's own
training images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bnreview.findings.core import Spread, compare, final_accuracy, seeds_of, spread
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import regularisation_setting, seeds_text
from bnreview.train import History

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
    """Each run's training accuracy minus its final test accuracy, in points (both fractions in), named by seed."""
    return spread((100 * (a - h.final_test_acc) for h, a in zip(runs, train_accuracies, strict=True)), seeds_of(runs))


def largest_epoch_drop(runs: Sequence[History]) -> float:
    """The largest fall of test accuracy (points) from one epoch to the next in any of the runs (0: never falls)."""
    return max((100 * (a - b) for h in runs for a, b in zip(h.test_acc, h.test_acc[1:])), default=0.0) if runs else 0.0


def regularisation_table(fit: dict[str, Spread], test: dict[str, Spread], gap: dict[str, Spread]) -> str:
    """Per variant, a Markdown table row: training accuracy, test accuracy and their gap, each over the seeds."""
    rows = ["| variant | training accuracy | test accuracy | train-test gap (points) |", "|---|---|---|---|"]
    for name in REG_NAMES:
        rows.append(f"| {name} | {fit[name].text()} | {test[name].text()} | {gap[name].text(2, '')} |")
    return "\n".join(rows)


def _unsteady_text(drops: dict[str, float]) -> str:
    """The largest fall of test accuracy between epochs of each variant (``drops``, in points), as a sentence."""
    return ("The largest fall of test accuracy from one epoch to the next, in any seed: "
            + ", ".join(f"{drops[name]:.1f} points {label}" for name, label in zip(
                REG_NAMES, ("without either", "with dropout", "with BN", "with both")))
            + "; the final accuracy is where such a curve happens to stop")


def regularisation_findings(runs: dict[str, Sequence[History]], training_accuracy: Callable[[History], float]) -> dict:
    """Every value and sentence of the regularisation chapter, its claims, "What we learned" and a "headline".

    ``runs``: ``experiments.regularisation_runs()``; ``training_accuracy``: History -> accuracy on its own
    training images (``experiments.training_accuracy``, cached beside each run).
    """
    missing = [name for name in REG_NAMES if name not in runs]
    if missing:
        raise ValueError(f"runs lack the variants {', '.join(missing)}")
    train = {name: [training_accuracy(h) for h in runs[name]] for name in REG_NAMES}
    test = {name: final_accuracy(runs[name]) for name in REG_NAMES}
    fit = {name: spread((100 * a for a in train[name]), seeds_of(runs[name])) for name in REG_NAMES}
    gap = {name: train_test_gaps(runs[name], train[name]) for name in REG_NAMES}
    n = min(len(r) for r in runs.values())
    v: dict = {"setting": regularisation_setting(runs), "n_seeds": n, "n_seeds_text": seeds_text(n),
               "gaps": {name: list(gap[name].values) for name in REG_NAMES},
               "n_train": f"{runs['neither'][0].config['n_train']:,}", "epochs": runs["neither"][0].config["epochs"],
               "lrs": {name: runs[name][0].config["lr"] for name in REG_NAMES},
               "val_size": f"{runs['neither'][0].config.get('val_size', 0):,}",
               "dropout_p": max(h.config.get("dropout", 0.0) for h in runs["dropout"])}
    v["table"] = regularisation_table(fit, test, gap)
    gap_bn = compare(gap["neither"], gap["BN"])
    test_bn = compare(test["neither"], test["BN"])
    bn_vs_dropout = compare(test["dropout"], test["BN"])
    both_vs_bn = compare(test["BN"], test["BN + dropout"])
    without_dropout = compare(test["BN + dropout"], test["BN"])  # the protocol's sides: BN alone against BN + dropout
    gap_both = compare(gap["BN"], gap["BN + dropout"])
    v.update(gap_bn=gap_bn.text("without either", "with BN", "train-test gap", 2, " points"),
             test_bn=test_bn.text("without either", "with BN"),
             bn_vs_dropout=bn_vs_dropout.text("with dropout alone", "with BN alone"),
             both_vs_bn=both_vs_bn.text("with BN alone", "with BN and dropout"),
             gap_both=gap_both.text("with BN alone", "with BN and dropout", "train-test gap", 2, " points"),
             fit_bn=compare(fit["neither"], fit["BN"]).text("without either", "with BN", "training accuracy"))
    drops = {name: max(0.0, largest_epoch_drop(runs[name])) for name in REG_NAMES}
    v["unsteady"] = _unsteady_text(drops)
    v["drop_bn"], v["drop_neither"] = drops["BN"], drops["neither"]
    smaller_gap = gap_bn.direction == "lower"
    matches = bn_vs_dropout.direction != "lower"
    helps = both_vs_bn.direction == "higher"
    v["verdict_gap"] = ("BN narrows the train-test gap" if smaller_gap else
                        "BN widens the train-test gap" if gap_bn.direction == "higher" else
                        "the runs do not show BN changing the train-test gap")
    v["verdict_dropout"] = ("BN alone ends above dropout alone" if bn_vs_dropout.direction == "higher" else
                            "BN alone ends below dropout alone" if not matches else
                            "the runs do not separate BN alone from dropout alone")
    v["verdict_both"] = ("adding dropout to BN helps" if helps else
                         "adding dropout to BN hurts" if both_vs_bn.direction == "lower" else
                         "the runs do not show adding dropout to BN making a difference")
    v["headline"] = (f"On {v['n_train']} training images ({v['setting']}): {v['verdict_gap']} "
                     f"({gap['neither'].mean:.2f} points without either, {gap['BN'].mean:.2f} with BN); "
                     f"{v['verdict_dropout']} ({test['BN'].mean:.2f}% against {test['dropout'].mean:.2f}% test "
                     f"accuracy); {v['verdict_both']} ({test['BN + dropout'].mean:.2f}% against "
                     f"{test['BN'].mean:.2f}%)")
    v["claims"] = [
        Claim("BN regularises", PAPER_REG_CLAIM, REVIEW_REG_CLAIM,
              f"{v['gap_bn']}; {v['test_bn']} ({v['setting']})",
              (Test("regularises", gap_bn),), "regularisation"),
        Claim("with BN, dropout can go", PAPER_DROPOUT_CLAIM, REVIEW_REG_CLAIM,
              f"{v['bn_vs_dropout']}; {v['both_vs_bn']} ({v['setting']})",
              (Test("dropout-can-go", without_dropout),), "regularisation"),
    ]
    v["learned"] = "\n".join(f"- {s[0].upper() + s[1:]}." for s in (
        f"{v['verdict_gap']} on {v['n_train']} images: {v['gap_bn']}", f"with BN, {v['test_bn']}",
        f"{v['verdict_dropout']}: {v['bn_vs_dropout']}", f"{v['verdict_both']}: {v['both_vs_bn']}", v["unsteady"]))
    return v

