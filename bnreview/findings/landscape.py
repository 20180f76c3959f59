"""The loss landscape along the gradient with and without BN (Santurkar et al. 2018), in "What does BN really do?".

From ``experiments.landscape_runs()``: ``{(network, lr): [per seed: {"seed": s, "steps": [...], measure: [...]}]}``.
Per run, each measure is averaged over the run's probes; the two networks are compared on the log of that mean,
paired by seed (both train on the same batches). Typed: the chapter reads :class:`LandscapeFindings`' fields.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.findings.core import Comparison, Spread, compare, spread
from bnreview.findings.ledger import Claim, Test

WITHOUT, WITH = "without BN", "with BN"  # experiments.landscape's networks
SANTURKAR_CLAIM = ("\"it makes the optimization landscape significantly smoother. This smoothness induces a more "
                   "predictive and stable behavior of the gradients, allowing for faster training\" (Santurkar et al. "
                   "2018, abstract; not a claim of Ioffe and Szegedy)")


@dataclass(frozen=True)
class LandscapeFindings:
    """BN against no BN on each measure at each learning rate (logs of each run's mean over its probes)."""

    comparisons: dict[tuple[float, str], Comparison]  # (lr, measure) -> with BN (b) against without (a)
    claim: Claim
    n_seeds: int
    n_probes: int
    every: int  # steps between probes

    @property
    def lrs(self) -> tuple[float, ...]:
        """The learning rates measured, lowest first."""
        return tuple(sorted({lr for lr, _ in self.comparisons}))

    @property
    def claims(self) -> list[Claim]:
        """The ledger's rows."""
        return [self.claim]

    def ratio(self, lr: float, measure: str) -> str:
        """``"x0.12 (95% CI x0.10 to x0.15)"``: with BN's mean over without BN's (geometric over the seeds)."""
        c = self.comparisons[lr, measure]
        ci = c.interval
        text = f"x{math.exp(c.difference):.2g}"
        return text if ci is None else f"{text} (95% CI x{math.exp(ci[0]):.2g} to x{math.exp(ci[1]):.2g})"


def run_means(measured: Sequence[dict], measure: str) -> Spread:
    """Per run, the log of ``measure``'s mean over its probes (``inf`` when a probe blew up), named by its seed."""
    def value(run: dict) -> float:
        values = run[measure]
        if not values or not all(math.isfinite(v) for v in values):
            return math.inf
        return math.log(statistics.fmean(values))
    return spread((value(run) for run in measured), (run["seed"] for run in measured))


def landscape_findings(measured: dict[tuple[str, float], Sequence[dict]]) -> LandscapeFindings:
    """The two networks compared on each measure at each learning rate (paired by seed), and the ledger's claim."""
    lrs = sorted({lr for _, lr in measured})
    n = min(len(runs) for runs in measured.values())
    comparisons = {(lr, m): compare(run_means(measured[WITHOUT, lr], m), run_means(measured[WITH, lr], m))
                   for lr in lrs for m in ("loss_range", "gradient_change", "beta")}
    tests = (*(Test("landscape-loss", comparisons[lr, "loss_range"], label=f"lr {lr:g}") for lr in lrs),
             *(Test("landscape-gradient", comparisons[lr, "gradient_change"], label=f"lr {lr:g}") for lr in lrs))
    evidence = "; ".join(f"at lr {lr:g}, the loss's range along the gradient with BN is "
                         f"x{math.exp(comparisons[lr, 'loss_range'].difference):.2g} of without, the gradient's "
                         f"change x{math.exp(comparisons[lr, 'gradient_change'].difference):.2g}" for lr in lrs)
    claim = Claim("BN smooths the loss landscape (Santurkar et al. 2018)", SANTURKAR_CLAIM, "not discussed",
                  evidence, tests, "what_bn_does")
    steps = next(iter(measured.values()))[0]["steps"]
    return LandscapeFindings(comparisons, claim, n, len(steps), steps[0] if steps else 0)


def landscape_table(found: LandscapeFindings) -> str:
    """A row per measure and learning rate: BN's mean over no BN's with its 95% interval, and the protocol's verdict
    (the chapter's tests judged together)."""
    verdicts = {j.test.name: j.verdict for j in found.claim.judged}
    names = {"loss_range": ("range of the loss along the gradient", "landscape-loss"),
             "gradient_change": ("largest change of the gradient", "landscape-gradient"),
             "beta": ("effective beta-smoothness", None)}
    rows = ["| measure | lr | with BN / without (paired by seed) | verdict |", "|---|---:|---|---|"]
    for measure, (label, entry) in names.items():
        for lr in found.lrs:
            verdict = verdicts[f"{entry} (lr {lr:g})"] if entry else "no protocol entry: shown only"
            rows.append(f"| {label} | {lr:g} | {found.ratio(lr, measure)} | {verdict} |")
    return "\n".join(rows)
