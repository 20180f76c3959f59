"""Chapter regularisation: does BN regularise, and does it let dropout go (paper Sec. 3.4 and 4.2.1)?

Typed: :class:`RegularisationFindings`. From ``experiments.regularisation_runs()``: ``{"neither", "dropout", "BN",
"BN + dropout": [History per seed]}``, LeNet trained on a small fixed subset, each variant at its own rate chosen on
validation, and ``experiments.training_accuracy`` (eval-mode accuracy on the run's own training images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bnreview.findings.core import Comparison, Spread, compare, final_accuracy, seeds_of, spread
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
    """Per variant, a Markdown table row: training accuracy, test accuracy and their gap, each the mean over the seeds
    with their range (the header counts the seeds, once)."""
    seeds = seeds_text(test[REG_NAMES[0]].n)
    rows = [f"| variant ({seeds}: mean, range) | training accuracy | test accuracy | train-test gap (points) |",
            "|---|---|---|---|"]
    for name in REG_NAMES:
        rows.append(f"| {name} | {fit[name].short()} | {test[name].short()} | {gap[name].short(2, '')} |")
    return "\n".join(rows)


PAPER_L2_CLAIM = ("\"Reduce the L2 weight regularization. While Inception an L2 loss on the model parameters controls "
                  "overfitting, in Modified BN-Inception the weight of this loss is reduced by a factor of 5. We find "
                  "that this improves the accuracy on the held-out validation data.\" (Sec. 4.2.1)")
PAPER_DECAY_CLAIM = ("\"Accelerate the learning rate decay. In training Inception, learning rate was decayed "
                     "exponentially. Because our network trains faster than Inception, we lower the learning rate 6 "
                     "times faster.\" (Sec. 4.2.1)")


@dataclass(frozen=True)
class L2Findings:
    """The L2 grid: each network's weight decay chosen on validation (a first-seed pilot), and over the seeds the gain
    in final test accuracy from that weight decay against none; ``less``: BN's gain against no BN's, paired."""

    pilot: dict[str, dict[float, float]]  # network -> weight decay -> validation accuracy (%), the first seed
    chosen: dict[str, float]  # network -> the weight decay chosen on validation
    gains: dict[str, Spread]  # network -> per seed, final test accuracy at the chosen weight decay minus at none
    none: dict[str, Spread]  # network -> final test accuracy without weight decay
    less: Comparison
    claim: Claim


def l2_findings(pilot: dict[tuple[str, float], Sequence[History]], chosen: dict[str, float],
                runs: dict[tuple[str, str], Sequence[History]]) -> L2Findings:
    """``pilot``: ``{(network, weight decay): [History]}``; ``chosen``: ``{network: weight decay}``; ``runs``:
    ``{(network, "none" or "chosen"): [History per seed]}`` (``experiments.l2_runs()``)."""
    networks = list(chosen)
    none = {n: final_accuracy(runs[n, "none"]) for n in networks}
    gains = {n: spread((b - a for a, b in zip(none[n].values, final_accuracy(runs[n, "chosen"]).values, strict=True)),
                       none[n].seeds) for n in networks}
    less = compare(gains["neither"], gains["BN"])
    claim = Claim("with BN, less L2 regularisation", PAPER_L2_CLAIM, REVIEW_REG_CLAIM,
                  f"weight decay chosen on validation: {chosen['neither']:g} without BN, {chosen['BN']:g} with; its "
                  f"gain in test accuracy with BN against without {less.effect_text()}", (Test("less-l2", less),),
                  "regularisation")
    return L2Findings({n: {wd: 100 * hs[0].val_acc[-1] for (m, wd), hs in pilot.items() if m == n} for n in networks},
                      dict(chosen), gains, none, less, claim)


@dataclass(frozen=True)
class DecayFindings:
    """The learning-rate decay: final test accuracy per (network, schedule) over the seeds, and per network the six
    times faster schedule against the base one, paired."""

    final: dict[tuple[str, str], Spread]
    faster: dict[str, Comparison]  # network -> "6x faster" against "base"
    factors: dict[str, float]  # schedule -> the factor the rate is multiplied by after every epoch
    claim: Claim


def decay_findings(runs: dict[tuple[str, str], Sequence[History]]) -> DecayFindings:
    """``runs``: ``{(network, schedule): [History per seed]}`` (``experiments.decay_runs()``), schedules "base" and
    "6x faster"."""
    final = {key: final_accuracy(hs) for key, hs in runs.items()}
    networks = list(dict.fromkeys(n for n, _ in runs))
    faster = {n: compare(final[n, "base"], final[n, "6x faster"]) for n in networks}
    claim = Claim("with BN, a faster learning-rate decay", PAPER_DECAY_CLAIM, "not discussed",
                  f"with BN, the six times faster decay against the base one: {faster['BN'].effect_text()}",
                  (Test("faster-decay", faster["BN"]),), "regularisation")
    return DecayFindings(final, faster, {s: hs[0].config["lr_decay"] for (_, s), hs in runs.items()}, claim)


@dataclass(frozen=True)
class RegularisationFindings:
    """What the regularisation chapter measures, per variant (``REG_NAMES``) over the seeds, and the comparisons
    its prose quotes (each the second side against the first, paired: the four variants train from the same seeds)."""

    fit: dict[str, Spread]  # training accuracy (%), in eval mode on the run's own training images
    test: dict[str, Spread]  # final test accuracy (%)
    gap: dict[str, Spread]  # training minus test accuracy, points
    lrs: dict[str, float]  # each variant's rate, chosen on validation
    drops: dict[str, float]  # the largest fall of test accuracy from one epoch to the next, any seed, points
    gap_bn: Comparison  # BN alone against neither: the gap
    test_bn: Comparison  # BN alone against neither: test accuracy
    fit_bn: Comparison  # BN alone against neither: training accuracy
    bn_vs_dropout: Comparison  # BN alone against dropout alone: test accuracy
    both_vs_bn: Comparison  # BN and dropout against BN alone: test accuracy
    gap_both: Comparison  # BN and dropout against BN alone: the gap
    l2: L2Findings | None
    decay: DecayFindings | None
    claims: tuple[Claim, ...]  # the dropout chapter's two, then the L2 grid's and the decay's
    n_seeds: int
    n_train: int
    epochs: int
    val_size: int
    dropout: float
    setting: str  # for figure titles

    def table(self) -> str:
        """Per variant, a Markdown table row: training accuracy, test accuracy and their gap, each over the seeds."""
        return regularisation_table(self.fit, self.test, self.gap)


def regularisation_findings(runs: dict[str, Sequence[History]], training_accuracy: Callable[[History], float],
                            l2: L2Findings | None = None, decay: DecayFindings | None = None) -> RegularisationFindings:
    """The chapter's findings. ``runs``: ``experiments.regularisation_runs()``; ``training_accuracy``: History ->
    accuracy on its own training images (``experiments.training_accuracy``, cached beside each run); ``l2`` and
    ``decay``: :func:`l2_findings` and :func:`decay_findings`, whose claims join the chapter's."""
    missing = [name for name in REG_NAMES if name not in runs]
    if missing:
        raise ValueError(f"runs lack the variants {', '.join(missing)}")
    train = {name: [training_accuracy(h) for h in runs[name]] for name in REG_NAMES}
    test = {name: final_accuracy(runs[name]) for name in REG_NAMES}
    fit = {name: spread((100 * a for a in train[name]), seeds_of(runs[name])) for name in REG_NAMES}
    gap = {name: train_test_gaps(runs[name], train[name]) for name in REG_NAMES}
    gap_bn, test_bn = compare(gap["neither"], gap["BN"]), compare(test["neither"], test["BN"])
    bn_vs_dropout, both_vs_bn = compare(test["dropout"], test["BN"]), compare(test["BN"], test["BN + dropout"])
    without_dropout = compare(test["BN + dropout"], test["BN"])  # the protocol's sides: BN alone against BN + dropout
    setting = regularisation_setting(runs)
    claims = (
        Claim("BN regularises", PAPER_REG_CLAIM, REVIEW_REG_CLAIM,
              f"train-test gap with BN against neither {gap_bn.effect_text()}; test accuracy "
              f"{test_bn.effect_text()} ({setting})", (Test("regularises", gap_bn),), "regularisation"),
        Claim("with BN, dropout can go", PAPER_DROPOUT_CLAIM, REVIEW_REG_CLAIM,
              f"test accuracy of BN alone against dropout alone {bn_vs_dropout.effect_text()}; of BN with dropout "
              f"against BN alone {both_vs_bn.effect_text()} ({setting})",
              (Test("dropout-can-go", without_dropout),), "regularisation"),
    )
    c = runs["neither"][0].config
    return RegularisationFindings(
        fit=fit, test=test, gap=gap, lrs={name: runs[name][0].config["lr"] for name in REG_NAMES},
        drops={name: max(0.0, largest_epoch_drop(runs[name])) for name in REG_NAMES},
        gap_bn=gap_bn, test_bn=test_bn, fit_bn=compare(fit["neither"], fit["BN"]), bn_vs_dropout=bn_vs_dropout,
        both_vs_bn=both_vs_bn, gap_both=compare(gap["BN"], gap["BN + dropout"]), l2=l2, decay=decay,
        claims=claims + tuple(part.claim for part in (l2, decay) if part is not None),
        n_seeds=min(len(r) for r in runs.values()), n_train=c["n_train"], epochs=c["epochs"],
        val_size=c.get("val_size", 0), dropout=max(h.config.get("dropout", 0.0) for h in runs["dropout"]),
        setting=setting)
