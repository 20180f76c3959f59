"""Chapters baseline and lenet_bn: the review's own experiment, re-run.

LeNet at lr 0.9, batch 64, 10 epochs, without BN and with BN on all four layers (``review_config(seed=s)``,
``review_config(bn="all", seed=s)``), and our BN against torch.nn.BatchNorm
(``review_config(bn="all", bn_impl="torch")``). Typed: :class:`BaselineFindings`, :class:`ReviewFindings` (with
:class:`ImplementationFindings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview import protocol
from bnreview.experiments import StepSeconds, TunedRuns
from bnreview.findings.core import Comparison, Spread, compare, epoch_accuracy, final_accuracy, over_runs, spread
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.tuned import TunedFindings, tuned_findings
from bnreview.findings.wording import runs_setting
from bnreview.train import History

LECUN_ERROR = 0.95  # % test error of LeNet-5 on MNIST without distortions (LeCun et al. 1998)
REVIEW_ACCURACY = 98.0  # % "The overall total test accuracy of the model is 98%" (the review, with and without BN)
IMPL_SAME_POINTS = protocol.entry("implementation").smallest  # the equivalence margin, in points
PAPER_ACCURACY_CLAIM = ("on its MNIST network (3 sigmoid layers, not LeNet), \"Batch Normalization helps the network "
                        "train faster and achieve higher accuracy\" (Figure 1(a)); on ImageNet, BN-Inception reaches "
                        "Inception's accuracy in 14 times fewer steps (Sec. 4.2.2)")
REVIEW_ACCURACY_CLAIM = ("both networks reach \"98%\"; BN's advantages \"were not noticed when using the LeNet model "
                         "generated with batch normalization\"")
REVIEW_IMPL_CLAIM = ("\"Comparisons between the BatchNormalization module of PyTorch and the one implemented were "
                     "carried out and no significant difference in running time and accuracy was noticed\"")


def hardest_digit(history: History) -> int:
    """The digit with the lowest test accuracy in a run (the first on a tie)."""
    return min(range(len(history.per_class_acc)), key=lambda d: history.per_class_acc[d])


@dataclass(frozen=True)
class BaselineFindings:
    """The baseline chapter: the run it shows (``shown``, seed 0) and the same setting over every seed."""

    shown: History
    finals: Spread  # final test accuracy (%) over the seeds
    errors: Spread  # final test error (%) over the seeds
    hardest: dict[int, int]  # seed -> the digit with the lowest test accuracy
    vs_review: Comparison  # each seed against the review's 98%, paired (a one-sample t)
    claim: Claim
    setting: str

    @property
    def claims(self) -> list[Claim]:
        """The chapter's rows of the ledger."""
        return [self.claim]

    @property
    def digits_by_accuracy(self) -> list[int]:
        """The shown run's digits, hardest first."""
        return sorted(range(len(self.shown.per_class_acc)), key=lambda d: self.shown.per_class_acc[d])


def baseline_findings(history: History, seed_runs: Sequence[History]) -> BaselineFindings:
    """The baseline chapter: ``history`` is the run shown (seed 0), ``seed_runs`` the same setting over every seed
    (``history`` among them)."""
    finals = final_accuracy(seed_runs)
    review = spread([REVIEW_ACCURACY] * finals.n, finals.seeds)  # the review's number, paired with each seed
    above = compare(review, finals)
    claim = Claim("LeNet's accuracy on MNIST", f"not in the paper (LeCun et al. 1998: {LECUN_ERROR:g}% test error "
                  "without distortions)", "\"The overall total test accuracy of the model is 98%\" (lr 0.9, 10 epochs)",
                  f"final test accuracy {finals.text()} against the review's {REVIEW_ACCURACY:g}%: "
                  f"{above.effect_text()} ({runs_setting(seed_runs)})", (Test("baseline-accuracy", above),), "baseline")
    return BaselineFindings(history, finals, spread(100 - a for a in finals.values),
                            {h.config.get("seed", 0): hardest_digit(h) for h in seed_runs}, above, claim,
                            runs_setting(seed_runs))


@dataclass(frozen=True)
class ImplementationFindings:
    """Our BN against torch.nn.BatchNorm, paired by seed (same setting, initial weights and batches)."""

    accuracy: Comparison  # final test accuracy (%), ours against torch's: the protocol's equivalence test
    seed: int  # the first pair's seed, compared step by step
    steps: int
    loss_diff: float  # the largest difference of the first pair's step losses, nats
    same_epochs: int  # epochs after which the first pair's test accuracies are identical
    epochs: int
    test: Test


def implementation_findings(ours: Sequence[History], theirs: Sequence[History]) -> ImplementationFindings:
    """Our BN against torch.nn.BatchNorm: the runs of each, the same seeds (a ValueError otherwise)."""
    pairs = {h.config.get("seed", 0): h for h in theirs}
    if not ours or sorted(pairs) != sorted(h.config.get("seed", 0) for h in ours):
        raise ValueError("the two implementations must be compared on runs of the same seeds")
    first, first_theirs = ours[0], pairs[ours[0].config.get("seed", 0)]
    theirs = [pairs[h.config.get("seed", 0)] for h in ours]
    accuracy = compare(final_accuracy(theirs), final_accuracy(ours))
    diffs = [abs(a - b) for a, b in zip(first.step_loss, first_theirs.step_loss)]
    return ImplementationFindings(
        accuracy, first.config.get("seed", 0), min(len(first.step_loss), len(first_theirs.step_loss)),
        max(diffs) if diffs else math.nan, sum(a == b for a, b in zip(first.test_acc, first_theirs.test_acc)),
        min(len(first.test_acc), len(first_theirs.test_acc)), Test("implementation", accuracy))


@dataclass(frozen=True)
class ReviewFindings:
    """The LeNet + BN chapter: the review's two networks over the seeds, each comparison BN against no BN, paired.
    Time comes from the benchmark (``step``), never from the training runs, which trained beside other work."""

    final: Comparison  # final test accuracy (%)
    epoch1: Comparison  # test accuracy after one epoch (%)
    loss: Comparison  # final test loss (nats)
    tuned: TunedFindings  # each network at its own rate, chosen on validation
    impl: ImplementationFindings
    step: StepSeconds | None  # seconds per training step, benchmarks/trainer.py (None without its results)
    claims: tuple[Claim, ...]
    setting: str


def review_findings(base_runs: Sequence[History], bn_runs: Sequence[History], torch_runs: Sequence[History],
                    tuned: TunedRuns, step: StepSeconds | None = None) -> ReviewFindings:
    """The LeNet + BN chapter. ``base_runs``/``bn_runs``: the review's runs without BN and with BN on all four layers,
    one per seed (the same seeds); ``torch_runs``: the BN runs with torch.nn.BatchNorm, paired with ``bn_runs``;
    ``tuned``: the tuned baselines on MNIST (``experiments.tuned_runs()``: pilot, choice, runs); ``step``: the
    benchmarked seconds per step (``experiments.step_seconds()``)."""
    final = compare(final_accuracy(base_runs), final_accuracy(bn_runs))
    first = compare(epoch_accuracy(base_runs, 1), epoch_accuracy(bn_runs, 1))
    loss = compare(over_runs(base_runs, lambda h: h.test_loss[-1]), over_runs(bn_runs, lambda h: h.test_loss[-1]))
    impl = implementation_findings(bn_runs, torch_runs)
    setting = runs_setting(base_runs)
    tuned_at = tuned_findings(tuned.pilot, tuned.choice, tuned.runs)
    speed = ("" if step is None else f"; a training step takes {1000 * step.bn:.1f} ms with ours against "
             f"{1000 * step.torch_bn:.1f} ms with torch's (benchmarks/trainer.py)")
    claims = (
        Claim("higher accuracy with BN (LeNet, lr 0.9, 10 epochs)", PAPER_ACCURACY_CLAIM, REVIEW_ACCURACY_CLAIM,
              f"BN's advantage in final test accuracy {final.effect_text()}; after one epoch {first.effect_text()} "
              f"({setting})", (Test("accuracy-review", final),), "lenet_bn"),
        Claim("higher accuracy with BN than a tuned network without it (LeNet, 10 epochs)", PAPER_ACCURACY_CLAIM,
              REVIEW_ACCURACY_CLAIM, tuned_at.evidence, (Test("tuned-accuracy", tuned_at.final),), "lenet_bn"),
        Claim("our BN against torch.nn.BatchNorm", "not applicable", REVIEW_IMPL_CLAIM,
              f"final test accuracy, ours against torch's, {impl.accuracy.effect_text()}{speed}", (impl.test,),
              "lenet_bn"),
    )
    return ReviewFindings(final, first, loss, tuned_at, impl, step, claims, setting)
