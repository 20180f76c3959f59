"""Tuned baselines (lenet_bn on MNIST, fashion on Fashion-MNIST): BN against the network without it when each trains
at its own learning rate, chosen on the validation images by a first-seed pilot (``experiments.tuned_runs``).

Typed: :class:`TunedFindings`; the chapters' sentences are written by hand around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.findings.core import Comparison, Spread, compare, final_accuracy
from bnreview.data import DATASETS
from bnreview.findings.wording import seeds_label, training_images
from bnreview.train import History


@dataclass(frozen=True)
class TunedFindings:
    """Each network at the rate its pilot chose: the pilot's validation accuracies, the rates, and over the seeds BN's
    final test accuracy against the network's without BN, paired."""

    pilot: dict[str, dict[float, float]]  # network -> lr -> the first seed's final validation accuracy (%), nan: diverged
    rates: dict[str, float]  # network -> the learning rate chosen on validation
    finals: dict[str, Spread]  # network -> final test accuracy (%) at its rate
    final: Comparison  # BN at its rate against no BN at its rate, in points: the protocol's tuned-* test
    setting: str  # what both networks share (not the rate), for titles and the ledger

    @property
    def same_rate(self) -> bool:
        """Whether both networks chose the same rate (the tuned comparison then differs from the review's only in
        the rate and the held-out images)."""
        return self.rates["no BN"] == self.rates["BN"]

    @property
    def evidence(self) -> str:
        """The ledger row's evidence: the rates and BN's advantage with its interval."""
        return (f"each network at its rate chosen on validation (lr {self.rates['no BN']:g} without BN, "
                f"{self.rates['BN']:g} with): BN's advantage in final test accuracy {self.final.effect_text()} "
                f"({self.setting})")


def tuned_findings(pilot: dict[tuple[str, float], Sequence[History]], choice: dict[str, float],
                   runs: dict[str, Sequence[History]]) -> TunedFindings:
    """``pilot``: ``{(network, lr): [History]}``; ``choice``: ``{network: lr}``; ``runs``: ``{"no BN": runs, "BN":
    runs}`` at those rates, one per seed (``experiments.tuned_runs()``)."""
    finals = {name: final_accuracy(hs) for name, hs in runs.items()}
    scores = {n: {lr: float("nan") if hs[0].diverged else 100 * hs[0].final_val_acc
                  for (m, lr), hs in pilot.items() if m == n} for n in choice}
    c = runs["BN"][0].config
    setting = (f"{DATASETS[c.get('dataset', 'mnist')].display}, LeNet (tanh), plain SGD, batch {c['batch_size']}, "
               f"{c['epochs']} epochs over {training_images(c):,} images ({c.get('val_size', 0):,} held out), "
               f"{seeds_label(runs['BN'])}")
    return TunedFindings(scores, dict(choice), finals, compare(finals["no BN"], finals["BN"]), setting)
