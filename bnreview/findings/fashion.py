"""Chapter "Is MNIST too easy?": the review's experiment on Fashion-MNIST, and d2l's published LeNet as a check.

On MNIST both networks end near 99%, which leaves little room for any difference in final
accuracy. Fashion-MNIST has the same format, size and number of classes and is much harder: if
BN's advantage in accuracy shows there and not on MNIST, the review's "no advantage" was about
the data, not about the depth of the network.

Typed: :class:`FashionFindings` holds the comparisons; the chapter's sentences are written by hand around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.data import DATASETS
from bnreview.findings.core import (Comparison, Spread, compare, epoch_accuracy, final_accuracy, largest_usable_lr,
                                    over_runs, train_minutes)
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.tuned import TunedFindings, tuned_findings
from bnreview.findings.wording import lenet_setting, listing, runs_setting, sweep_setting
from bnreview.train import History

CLASSES = DATASETS["fashion-mnist"].classes
PAPER_CLAIM = "\"Batch Normalization helps the network train faster and achieve higher accuracy\" (Figure 1(a))"
REVIEW_CLAIM = "BN's advantages \"were not noticed when using the LeNet model\", \"probably\" because it is shallow"


def network_labels(results: dict[tuple[str, float], Sequence[History]]) -> tuple[str, str]:
    """The sweep's labels of the network without BN and of the one with BN, read from the runs' configs."""
    without = next(v for (v, _), hs in results.items() if not hs[0].config["bn"])
    with_ = next(v for (v, _), hs in results.items() if hs[0].config["bn"])
    return without, with_


def per_class(no_bn: Sequence[History], bn: Sequence[History]) -> dict[str, Comparison]:
    """``{class name: BN against no BN}`` on each class's final test accuracy (in %)."""
    return {name: compare(over_runs(no_bn, lambda h, k=k: 100 * h.per_class_acc[k]),
                          over_runs(bn, lambda h, k=k: 100 * h.per_class_acc[k]))
            for k, name in enumerate(CLASSES)}


@dataclass(frozen=True)
class FashionFindings:
    """What the Fashion-MNIST chapter measures. Every comparison is BN's side against the side without BN, in points
    of test accuracy, paired over the seeds."""

    final: Comparison  # final test accuracy at the review's settings (lr 0.9, 10 epochs)
    epoch1: Comparison  # after the first epoch of the same runs
    mnist: Comparison  # the same comparison on MNIST (the lenet_bn chapter's runs)
    classes: dict[str, Comparison]  # per class, the final test accuracy
    by_lr: dict[float, Comparison]  # the one-epoch sweep: final accuracy at each rate
    diverged: dict[float, int]  # at each rate of the sweep, the seeds without BN that diverged
    usable: tuple[float | None, float | None]  # the largest usable rate without BN and with BN (None: none)
    d2l: dict[str, Spread]  # our LeNet at d2l's two settings ("no BN", "BN"), final test accuracy (%)
    d2l_lrs: dict[str, float]  # d2l's learning rate of each setting
    d2l_published: dict[str, float]  # d2l's published accuracy of each setting (%)
    d2l_gap: Comparison  # BN's advantage at d2l's settings, in our runs
    claim: Claim
    tuned: TunedFindings  # the same comparison with each network at its own rate, chosen on validation
    tuned_claim: Claim
    n_seeds: int
    n_runs: int
    minutes: float  # training time of every run of the chapter
    setting: str  # the review's settings, for figure titles
    sweep_setting: str
    d2l_setting: str

    @property
    def claims(self) -> list[Claim]:
        """The chapter's rows of the ledger."""
        return [self.claim, self.tuned_claim]

    @property
    def ahead(self) -> list[str]:
        """The classes on which BN is ahead (95% interval above zero), largest advantage first."""
        return [n for n, c in sorted(self.classes.items(), key=lambda kv: -kv[1].difference) if c.direction == "higher"]

    @property
    def behind(self) -> list[str]:
        """The classes on which BN is behind (95% interval below zero), largest deficit first."""
        return [n for n, c in sorted(self.classes.items(), key=lambda kv: kv[1].difference) if c.direction == "lower"]

    @property
    def lrs(self) -> str:
        """The sweep's rates, ``"0.1, 0.9, 3"``."""
        return listing(sorted(self.by_lr))

    @property
    def d2l_published_gap(self) -> float:
        """BN's advantage d2l publishes, in points."""
        return self.d2l_published["BN"] - self.d2l_published["no BN"]


def fashion_findings(review: dict[str, Sequence[History]], sweep: dict[tuple[str, float], Sequence[History]],
                     d2l: dict[str, Sequence[History]], d2l_published: dict[str, float],
                     mnist_review: dict[str, Sequence[History]], tuned) -> FashionFindings:
    """The chapter's findings: ``review`` and ``mnist_review`` are ``{"no BN": runs, "BN": runs}`` at the review's
    settings, ``sweep`` the learning-rate runs ``{(network, lr): runs}``, ``d2l`` the runs at d2l's settings
    ``{"no BN": runs, "BN": runs}`` with d2l's published accuracies (fractions), ``tuned`` the tuned baselines on
    Fashion-MNIST (``experiments.tuned_runs(FASHION)``: pilot, choice, runs)."""
    no_bn, bn = review["no BN"], review["BN"]
    final = compare(final_accuracy(no_bn), final_accuracy(bn))
    mnist = compare(final_accuracy(mnist_review["no BN"]), final_accuracy(mnist_review["BN"]))
    without, with_ = network_labels(sweep)
    lrs = sorted({lr for _, lr in sweep})
    everything = [h for hs in (*review.values(), *sweep.values(), *d2l.values(), *tuned.pilot.values(),
                               *tuned.runs.values()) for h in hs]
    claim = Claim(
        topic="higher accuracy with BN on a harder task (Fashion-MNIST, LeNet, lr 0.9, 10 epochs)",
        paper=PAPER_CLAIM, review=REVIEW_CLAIM,
        evidence=f"BN's advantage {final.effect_text()} ({runs_setting(bn)}); on MNIST at the same settings "
                 f"{mnist.effect_text()}",
        tests=(Test("harder-task", final),), chapter="fashion")
    tuned_at = tuned_findings(tuned.pilot, tuned.choice, tuned.runs)
    tuned_claim = Claim("higher accuracy with BN than a tuned network without it, on Fashion-MNIST", PAPER_CLAIM,
                        REVIEW_CLAIM, tuned_at.evidence, (Test("tuned-harder-task", tuned_at.final),), "fashion")
    return FashionFindings(
        final=final, epoch1=compare(epoch_accuracy(no_bn, 1), epoch_accuracy(bn, 1)), mnist=mnist,
        classes=per_class(no_bn, bn),
        by_lr={lr: compare(final_accuracy(sweep[(without, lr)]), final_accuracy(sweep[(with_, lr)])) for lr in lrs},
        diverged={lr: sum(h.diverged for h in sweep[(without, lr)]) for lr in lrs},
        usable=(largest_usable_lr(sweep, without), largest_usable_lr(sweep, with_)),
        d2l={name: final_accuracy(hs) for name, hs in d2l.items()},
        d2l_lrs={name: hs[0].config["lr"] for name, hs in d2l.items()},
        d2l_published={name: 100 * acc for name, acc in d2l_published.items()},
        d2l_gap=compare(final_accuracy(d2l["no BN"]), final_accuracy(d2l["BN"])),
        claim=claim, tuned=tuned_at, tuned_claim=tuned_claim, n_seeds=len(bn), n_runs=len(everything), minutes=train_minutes(everything),
        setting=f"{DATASETS['fashion-mnist'].display}, {lenet_setting(bn)}",
        sweep_setting=f"{DATASETS['fashion-mnist'].display}, {sweep_setting(sweep)}",
        d2l_setting=f"{DATASETS['fashion-mnist'].display}, LeNet (sigmoid), plain SGD, "
                    f"{runs_setting(next(iter(d2l.values())))}")
