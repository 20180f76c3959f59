"""Chapter "Is LeNet too shallow?": two families of networks of 2 to 16 layers, without BN and with BN before every
nonlinearity, each network at its own learning rate (chosen on held-out images); BN's advantage against depth.

The families (:data:`DEPTH_FAMILIES`): sigmoid MLPs (the paper's network made deeper) and plain tanh convolutional
stacks in LeNet's style (:class:`bnreview.models.ConvNet`). The review explains BN's missing advantage by LeNet's
depth. If that is right, BN's advantage in final accuracy should grow with depth (the protocol's ``depth-trend``,
``conv-depth-trend``), and show at every depth or at least at the deeper ones (``depth-accuracy``, ``depth-steps``,
``conv-depth-accuracy``, ``conv-depth-steps``). Findings are typed: the chapter reads the fields of :class:`DepthFindings`, one per
family, and writes its own sentences around them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from bnreview.findings.core import Comparison, Spread, compare, final_accuracy, seeds_of, spread, train_minutes
from bnreview.findings.ledger import Claim, Test
from bnreview.train import History

WITHOUT, WITH = "without BN", "with BN"  # experiments.NETWORKS' names
DEPTH_TARGET = 0.90  # the accuracy whose steps depth-steps counts (experiments.DEPTH_ACCURACY)
CHANCE_BAR = 20.0  # % test accuracy: a ten-class network below it has not trained (chance is 10%)


@dataclass(frozen=True)
class Family:
    """A family of networks of growing depth in the ledger: its row and its three protocol entries."""

    topic: str  # its ledger row
    accuracy: str  # its protocol ids: BN's advantage in final accuracy per depth,
    trend: str  # that advantage's slope over log2(depth),
    steps: str  # and steps to 90% per depth
    networks: str  # its evidence, before the depths
    layers: str  # what its depth counts


DEPTH_FAMILIES = {
    "mlp": Family("BN's advantage grows with depth (is LeNet too shallow?)", "depth-accuracy", "depth-trend",
                  "depth-steps", "sigmoid MLPs of", "hidden layers"),
    "convnet": Family("BN's advantage grows with depth in a convolutional stack", "conv-depth-accuracy",
                      "conv-depth-trend", "conv-depth-steps", "plain tanh convolutional networks in LeNet's style of",
                      "convolutions"),
}


def at_chance(accuracy: Spread) -> bool:
    """Whether a network's final test accuracy over the seeds (%) is near chance: its mean below :data:`CHANCE_BAR`."""
    return accuracy.mean < CHANCE_BAR


@dataclass(frozen=True)
class DepthRow:
    """One depth: each network's chosen rate, and BN against no BN (paired by seed) on the two measures."""

    depth: int
    lr_without: float
    lr_with: float
    accuracy: Comparison  # final test accuracy (%), with BN (b) against without (a)
    log_steps: Comparison  # log(steps to 90%), a run that never gets there counted at its length

    @property
    def steps_ratio(self) -> float:
        """BN's steps to 90% over the network without BN's (geometric means): below 1, BN is faster."""
        return math.exp(self.log_steps.difference)


@dataclass(frozen=True)
class DepthFindings:
    """What the depth chapter found: a row per depth, the trend over depth, the pilot's curves, the ledger's claim."""

    family: Family
    rows: tuple[DepthRow, ...]
    slopes: Comparison  # each seed's slope of BN's advantage (points) over log2(depth), against 0
    pilot: dict[tuple[int, str], dict[float, float]]  # (depth, network) -> lr -> validation accuracy (%), seed 0
    claim: Claim
    n_seeds: int
    n_runs: int
    minutes: float

    @property
    def claims(self) -> list[Claim]:
        """The chapter's rows of the ledger."""
        return [self.claim]

    @property
    def depths(self) -> tuple[int, ...]:
        """The depths run, shallowest first."""
        return tuple(row.depth for row in self.rows)

    def row(self, depth: int) -> DepthRow:
        """The row of ``depth``, or a ValueError naming the depths there are."""
        for row in self.rows:
            if row.depth == depth:
                return row
        raise ValueError(f"no depth {depth}; the runs have {', '.join(map(str, self.depths))}")


def censored_log_steps(histories: Sequence[History], accuracy: float = DEPTH_TARGET) -> Spread:
    """``log`` of each run's steps to ``accuracy``, a run that never got there counted at its length (the protocol's
    depth-steps: this understates the faster network's advantage, never overstates it)."""
    def steps(h: History) -> float:
        reached = h.steps_to(accuracy)
        return float(reached if reached is not None else len(h.step_loss))
    return spread((math.log(steps(h)) for h in histories), seeds_of(histories))


def advantage_slopes(runs: dict[tuple[int, str], Sequence[History]]) -> Spread:
    """Per seed, the least-squares slope (``scipy.stats.linregress``) of BN's advantage in final test accuracy
    (points) over log2(depth); only seeds run at every depth by both networks count."""
    depths = sorted({d for d, _ in runs})
    by_seed = {}
    for depth in depths:
        for name in (WITHOUT, WITH):
            for h in runs[depth, name]:
                by_seed.setdefault(h.config["seed"], {})[depth, name] = 100 * h.final_test_acc
    seeds = sorted(s for s, acc in by_seed.items() if len(acc) == 2 * len(depths))
    x = [math.log2(d) for d in depths]
    slopes = [scipy_stats.linregress(x, [by_seed[s][d, WITH] - by_seed[s][d, WITHOUT] for d in depths]).slope
              for s in seeds]
    return spread(slopes, seeds)


def depth_findings(pilot: dict[tuple[int, float, str], Sequence[History]], choice: dict[tuple[int, str], float],
                   runs: dict[tuple[int, str], Sequence[History]], family: str = "mlp") -> DepthFindings:
    """A family's findings from ``experiments.depth_runs(family)``: its pilot, the rates chosen and the runs."""
    if family not in DEPTH_FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {', '.join(map(repr, DEPTH_FAMILIES))}")
    fam = DEPTH_FAMILIES[family]
    depths = sorted({d for d, _ in runs})
    rows = tuple(DepthRow(d, choice[d, WITHOUT], choice[d, WITH],
                          compare(final_accuracy(runs[d, WITHOUT]), final_accuracy(runs[d, WITH])),
                          compare(censored_log_steps(runs[d, WITHOUT]), censored_log_steps(runs[d, WITH])))
                 for d in depths)
    slopes = advantage_slopes(runs) if len(depths) >= 2 else spread([math.nan])
    trend = compare(spread([0.0] * slopes.n, slopes.seeds), slopes)  # one-sample: each seed's slope against 0
    curves: dict[tuple[int, str], dict[float, float]] = {}
    for (depth, lr, name), hs in sorted(pilot.items()):
        curves.setdefault((depth, name), {})[lr] = 0.0 if hs[0].diverged else 100 * hs[0].final_val_acc
    tests = (*(Test(fam.accuracy, r.accuracy, label=f"{r.depth} layers") for r in rows),
             Test(fam.trend, trend),
             *(Test(fam.steps, r.log_steps, label=f"{r.depth} layers") for r in rows))
    # seed 0's runs at the chosen rates are the pilot's (one config, loaded twice): count each config once
    everything = {json.dumps(h.config, sort_keys=True): h for hs in (*pilot.values(), *runs.values()) for h in hs}
    claim = Claim(
        topic=fam.topic,
        paper="not claimed (the paper's networks are Inception and a 3-layer MLP)",
        review="BN's advantages \"were not noticed\" on LeNet, \"probably\" because it is shallow",
        evidence=f"{fam.networks} " + ", ".join(map(str, depths)) + f" {fam.layers}, each network at its own rate "
                 "chosen on held-out images; per depth, BN's advantage in final test accuracy: "
                 + "; ".join(f"{r.depth} layers {r.accuracy.difference:+.2f} points" for r in rows),
        tests=tests, chapter="depth")
    n_seeds = min(len(hs) for hs in runs.values())
    return DepthFindings(fam, rows, trend, curves, claim, n_seeds, len(everything), train_minutes(everything.values()))


def depth_table(found: DepthFindings) -> str:
    """A row per depth: each network's chosen rate and final test accuracy, BN's advantage and its steps ratio
    with their 95% intervals (paired by seed), and the two tests' verdicts judged within the chapter."""
    verdicts = {j.test.name: j.verdict for j in found.claim.judged}
    rows = [f"| {found.family.layers} | lr without / with BN | final test accuracy without / with BN | BN's advantage "
            "(points) | steps to 90%, with / without BN | verdicts (accuracy, steps) |", "|---:|---|---|---|---|---|"]
    for r in found.rows:
        steps = r.log_steps.interval
        ratio = (f"x{r.steps_ratio:.2f}" + ("" if steps is None else
                                            f" (95% CI x{math.exp(steps[0]):.2f} to x{math.exp(steps[1]):.2f})"))
        label = f"{r.depth} layers"
        rows.append(f"| {r.depth} | {r.lr_without:g} / {r.lr_with:g} | {r.accuracy.a.mean:.2f}% / "
                    f"{r.accuracy.b.mean:.2f}% | {r.accuracy.interval_text().replace(' points', '')} | {ratio} | "
                    f"{verdicts[f'{found.family.accuracy} ({label})']}, {verdicts[f'{found.family.steps} ({label})']} |")
    return "\n".join(rows)
