"""Chapter "Retrain LeNet in your browser": what the book's own runs say at the rate the page suggests trying.

The page's settings (its subset, the replay's length and tolerances) are :mod:`bnreview.browser`'s, quoted by the
chapter directly; the one result it quotes, the book's PyTorch runs at ``TRY_LR``, is the learning-rate chapter's
sweep at that rate, compared over the seeds here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.findings.core import Comparison, compare, final_accuracy
from bnreview.findings.fashion import network_labels
from bnreview.findings.wording import sweep_setting
from bnreview.train import History

TRY_LR = 3.0  # the rate the chapter suggests trying with and without BN (the placement chapter's rate)


@dataclass(frozen=True)
class BrowserFindings:
    """The book's runs at ``lr``: BN against no BN, test accuracy (%) after the sweep's one epoch, paired by seed."""

    lr: float
    after_epoch: Comparison
    diverged: int  # seeds without BN that diverged
    n_seeds: int
    setting: str


def browser_findings(lr_runs: dict[tuple[str, float], Sequence[History]]) -> BrowserFindings:
    """The book's runs at ``TRY_LR`` (``lr_runs``: the sweep at that rate, ``{(network, lr): runs}``)."""
    without, with_ = network_labels(lr_runs)
    no_bn, bn = lr_runs[(without, TRY_LR)], lr_runs[(with_, TRY_LR)]
    return BrowserFindings(TRY_LR, compare(final_accuracy(no_bn), final_accuracy(bn)),
                           sum(h.diverged for h in no_bn), len(no_bn), sweep_setting(lr_runs))
