"""The chapter registry: each chapter's runs and the findings it states, computed one way for the chapter and the
conclusion.

A chapter calls its entry (``ch = book.fashion()``), shows ``ch.findings`` and draws ``ch.runs``; the conclusion
asks every entry for its claims (:func:`claims`) instead of repeating each chapter's inputs. The runs come from the
cache (:mod:`bnreview.experiments`), the findings are pure functions of them (:mod:`bnreview.findings`); this module
sits above both. :mod:`bnreview.runs` lists the same chapters' runs without training anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnreview import experiments as ex
from bnreview import findings as fd


@dataclass(frozen=True)
class Chapter:
    """A chapter's run sets, by the names its figures use, and its findings (a typed findings, or a dict until its
    chapter is converted)."""

    runs: dict[str, Any]
    findings: Any

    @property
    def claims(self) -> list[fd.Claim]:
        """The chapter's rows of the ledger."""
        return fd.claims_of(self.findings)


def baseline() -> Chapter:
    """LeNet without BN at the review's settings, over the seeds (the figures show seed 0)."""
    runs = ex.baseline_runs()["LeNet"]
    return Chapter({"LeNet": runs}, fd.baseline_findings(runs[0], runs))


def motivation() -> Chapter:
    """The review's two networks: how each layer's input distribution moves, and saturation."""
    review = ex.review_runs()
    return Chapter({"review": review}, fd.motivation_findings(review["no BN"], review["BN"]))


def lenet_bn() -> Chapter:
    """The review's experiment: LeNet with and without BN, each also at its own rate, and our BN against torch's."""
    review, torch_bn, tuned = ex.review_runs(), ex.torch_bn_runs(), ex.tuned_runs()
    return Chapter({"review": review, "torch": torch_bn, "tuned": tuned},
                   fd.review_findings(review["no BN"], review["BN"], torch_bn, tuned, ex.step_seconds()))


def lr_sweep() -> Chapter:
    """The learning-rate sweep, BN's placement grid, and the benchmarked seconds per step."""
    sweep, placement = ex.lr_sweep_runs(), ex.placement_grid()
    return Chapter({"sweep": sweep, "placement": placement},
                   fd.lr_sweep_findings(sweep, placement, ex.step_seconds()))


def paper_mnist() -> Chapter:
    """The paper's MNIST network (its pilot, the chosen runs, the runner-up check) beside LeNet's runs."""
    mlp, review = ex.paper_mnist_runs(), ex.review_runs()
    lenet = {"LeNet, no BN": review["no BN"], "LeNet + BN": review["BN"]}
    return Chapter({"mlp": mlp, "lenet": lenet},
                   fd.paper_mnist_findings(mlp.pilot, mlp.runs, mlp.check, lenet, own=mlp.own, init=mlp.init))


def what_bn_does() -> Chapter:
    """Noisy BN (shift added back), and Algorithm 2 against the moving averages over batch sizes."""
    noisy, by_batch = ex.noisy_runs(), ex.batch_size_sweep()
    return Chapter({"noisy": noisy, "by_batch": by_batch},
                   fd.what_bn_does_findings(noisy, by_batch, ex.inference_by_batch(by_batch)))


def landscape() -> Chapter:
    """The loss landscape along the gradient (Santurkar et al.), the sweep's runs replayed."""
    runs = ex.landscape_runs()
    return Chapter({"landscape": runs}, fd.landscape_findings(runs))


def regularisation() -> Chapter:
    """The four variants (neither, dropout, BN, both) on a small training set, the L2 grid and the decay schedules."""
    runs, (l2_pilot, l2_chosen, l2_runs), decay = ex.regularisation_runs(), ex.l2_runs(), ex.decay_runs()
    return Chapter({"variants": runs, "l2": l2_runs, "decay": decay},
                   fd.regularisation_findings(runs, ex.training_accuracy, fd.l2_findings(l2_pilot, l2_chosen, l2_runs),
                                              fd.decay_findings(decay)))


def fashion() -> Chapter:
    """The review's experiment on Fashion-MNIST, each network also at its own rate, its learning rates, and d2l's
    published LeNet."""
    review, sweep, d2l, tuned = ex.fashion_review_runs(), ex.fashion_lr_runs(), ex.d2l_runs(), ex.tuned_runs(ex.FASHION)
    return Chapter({"review": review, "sweep": sweep, "d2l": d2l, "tuned": tuned},
                   fd.fashion_findings(review, sweep, d2l, ex.D2L_PUBLISHED, ex.review_runs(), tuned))


@dataclass(frozen=True)
class DepthChapter:
    """The depth chapter's two families, each a :class:`bnreview.findings.DepthFindings`."""

    mlp: fd.DepthFindings
    conv: fd.DepthFindings

    @property
    def claims(self) -> list[fd.Claim]:
        """The chapter's rows of the ledger: the MLPs', then the convolutional networks'."""
        return [self.mlp.claim, self.conv.claim]


def depth() -> Chapter:
    """Sigmoid MLPs and tanh convolutional networks of growing depth, with and without BN, each at its own rate."""
    mlp, conv = ex.depth_runs("mlp"), ex.depth_runs("convnet")
    return Chapter({"mlp": mlp, "convnet": conv},
                   DepthChapter(fd.depth_findings(mlp.pilot, mlp.choice, mlp.runs, "mlp"),
                                fd.depth_findings(conv.pilot, conv.choice, conv.runs, "convnet")))


# The chapters whose claims the ledger judges, in the book's order ("landscape" is a section of what_bn_does).
LEDGER: dict[str, Callable[[], Chapter]] = {
    "baseline": baseline, "motivation": motivation, "lenet_bn": lenet_bn, "lr_sweep": lr_sweep,
    "paper_mnist": paper_mnist, "what_bn_does": what_bn_does, "regularisation": regularisation, "fashion": fashion,
    "depth": depth, "landscape": landscape,
}


def claims() -> list[fd.Claim]:
    """Every claim the ledger judges, chapter by chapter in the book's order."""
    return [c for chapter in LEDGER.values() for c in chapter().claims]
