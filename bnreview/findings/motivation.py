"""Chapter motivation: saturation of tanh and sigmoid units against the spread of their inputs, and the inputs to
LeNet's nonlinearities over training.

From the probes (every 50 steps, on 256 test images) of the review's runs, ``review_config(seed=s)`` and
``review_config(bn="all", seed=s)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.findings.core import Comparison, Spread, compare, over_runs, spread
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import runs_setting
from bnreview.train import History

SAT_SLOPE_FRACTION = 0.1  # saturated: slope below this fraction of its maximum (the rule of probes.saturated)
MOT_SCALES = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30)  # std of a unit's input
MOT_SAMPLES, MOT_SEED = 100_000, 0
MOT_LAYERS = ("conv1", "conv2", "conv3", "fc1")
MOT_STILL = 0.1  # a spread that ends within 10% of where it started counts as held still
PAPER_ICS_CLAIM = ("\"By fixing the distribution of the layer inputs x as the training progresses, we expect to "
                   "improve the training speed\" (Sec. 2); BN takes \"a step towards reducing internal covariate "
                   "shift\" (Sec. 1)")
REVIEW_ICS_CLAIM = ("BN scales \"each mini-batch of data before input into the hidden layers, which is believed to "
                    "keep the distribution of the data stable throughout the training process\"")
PAPER_SATURATION_CLAIM = ("\"if, however, we could ensure that the distribution of nonlinearity inputs remains more "
                          "stable as the network trains, then the optimizer would be less likely to get stuck in the "
                          "saturated regime\" (Sec. 1)")
REVIEW_SATURATION_CLAIM = ("\"The larger the value the more likely it is that the sigmoid's value is gonna be larger "
                           "and that it's derivative is gonna tend to zero\"")


def saturation_threshold(activation: str, fraction: float = SAT_SLOPE_FRACTION) -> float:
    """The |z| beyond which a unit is saturated (:func:`bnreview.probes.saturated`: slope below ``fraction`` of
    its maximum). tanh: 1 - tanh(z)^2 = fraction. Sigmoid (maximum slope 1/4): s(1 - s) = fraction/4, so
    s = (1 + sqrt(1 - fraction))/2 and z = log(s/(1 - s))."""
    if activation == "tanh":
        return math.atanh(math.sqrt(1 - fraction))
    if activation == "sigmoid":
        s = (1 + math.sqrt(1 - fraction)) / 2
        return math.log(s / (1 - s))
    raise ValueError(f"activation={activation!r} is invalid; accepted: 'tanh', 'sigmoid'")


def saturation_table(scales: Sequence[float] = MOT_SCALES, n: int = MOT_SAMPLES, seed: int = MOT_SEED) -> dict:
    """Inputs z ~ N(0, s^2) for each scale s (``n`` seeded draws): ``{activation: {"scale", "saturated",
    "mean_slope"}}``, the share of saturated units (probes.saturated's rule) and the mean slope over its maximum."""
    import torch

    from bnreview.probes import saturated

    z0 = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    slopes = {"tanh": lambda z: 1 - torch.tanh(z) ** 2,
              "sigmoid": lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)) / 0.25}
    return {name: {"scale": [float(s) for s in scales],
                   "saturated": [saturated(z0 * s, name).float().mean().item() for s in scales],
                   "mean_slope": [slope(z0 * s).mean().item() for s in scales]}
            for name, slope in slopes.items()}


def input_spread(history: History, layer: str, at: int) -> float:
    """The 15-85th percentile spread of ``layer``'s input to its nonlinearity at probe ``at`` (0: initialisation)."""
    return history.probes[layer]["p85"][at] - history.probes[layer]["p15"][at]


@dataclass(frozen=True)
class LayerNumbers:
    """One layer of one network over the seeds: its input spread at the start and the end, their ratio, and the
    share of saturated units at the end (%)."""

    start: Spread
    end: Spread
    factor: Spread
    saturated: Spread


def layer_numbers(runs: Sequence[History], layer: str) -> LayerNumbers:
    """:class:`LayerNumbers` of ``layer`` over ``runs`` (one per seed)."""
    return LayerNumbers(over_runs(runs, lambda h: input_spread(h, layer, 0)),
                        over_runs(runs, lambda h: input_spread(h, layer, -1)),
                        over_runs(runs, lambda h: input_spread(h, layer, -1) / input_spread(h, layer, 0)),
                        over_runs(runs, lambda h: 100 * h.probes[layer]["saturated"][-1]))


def motivation_table(layers: dict[str, dict[str, LayerNumbers]]) -> str:
    """Per layer, without and with BN: the inputs' spread at the start and the end, its growth, the saturated units;
    each the mean and the seeds' range."""
    rows = ["| layer | network | spread at the start | spread at the end | end / start | saturated at the end |",
            "|---|---|---|---|---|---|"]
    for layer in layers["no BN"]:
        for name in ("no BN", "BN"):
            n = layers[name][layer]
            rows.append(f"| {layer} | {name} | {n.start.short(2, '')} | {n.end.short(2, '')} | "
                        f"{n.factor.short(1, 'x')} | {n.saturated.short(1)} |")
    return "\n".join(rows)


def moves(base: dict[str, LayerNumbers], numbers: dict[str, LayerNumbers]) -> dict[str, Spread]:
    """Per layer, each run's change of the spread from initialisation to the end, in units of the network
    WITHOUT BN's mean spread at initialisation (``base``): one denominator for both networks (their spreads at
    initialisation differ by construction, BN's near 2, no BN's well below)."""
    return {layer: spread(((e - s) / base[layer].start.mean for s, e in zip(n.start.values, n.end.values)),
                          n.start.seeds) for layer, n in numbers.items()}


def over_abs(s: Spread) -> Spread:
    """The absolute values of a spread's values, named by the same seeds."""
    return spread((abs(v) for v in s.values), s.seeds)


DISTRIBUTION_FROM = 100  # step: the protocol's "layer-distributions" measures the spread's change from here


def _probe_at(history: History, step: int) -> int:
    return next(i for i, s in enumerate(history.probe_steps) if s >= step)


def distribution_test(base_runs: Sequence[History], bn_runs: Sequence[History], layers: Sequence[str]) -> Test:
    """The protocol's "layer-distributions": in the layer whose input spread moves most without BN, each run's
    change of that spread from step ``DISTRIBUTION_FROM`` to the end, in units of the network without BN's mean
    spread at that step (one denominator for both), with BN against without."""
    if any(h.probe_steps[-1] <= DISTRIBUTION_FROM for h in (*base_runs, *bn_runs)):
        return Test("layer-distributions", why_not=f"the runs end before step {DISTRIBUTION_FROM}")

    def change(h: History, layer: str) -> float:
        return abs(input_spread(h, layer, -1) - input_spread(h, layer, _probe_at(h, DISTRIBUTION_FROM)))

    def denominator(layer: str) -> float:
        return statistics.fmean(input_spread(h, layer, _probe_at(h, DISTRIBUTION_FROM)) for h in base_runs)

    layer = max(layers, key=lambda l: statistics.fmean(change(h, l) for h in base_runs) / denominator(l))
    d = denominator(layer)
    return Test("layer-distributions", compare(over_runs(base_runs, lambda h: change(h, layer) / d),
                                               over_runs(bn_runs, lambda h: change(h, layer) / d)), label=layer)


@dataclass(frozen=True)
class MotivationFindings:
    """The motivation chapter: saturation of isolated units against the spread of their inputs, and the inputs to
    LeNet's nonlinearities over training, without and with BN, over the seeds."""

    thresholds: dict[str, float]  # activation -> |z| beyond which a unit is saturated
    curves: dict  # saturation_table(): {activation: {"scale", "saturated", "mean_slope"}}
    layers: dict[str, dict[str, LayerNumbers]]  # "no BN", "BN" -> layer -> numbers
    moved: dict[str, dict[str, Spread]]  # "no BN", "BN" -> layer -> change of spread, in no-BN units
    claims: tuple[Claim, ...]
    probe_every: int
    probe_images: int
    n_seeds: int
    setting: str

    def at(self, activation: str, scale: float) -> tuple[float, float]:
        """At inputs N(0, scale^2): the share of saturated units (%) and the mean slope over its maximum."""
        curve = self.curves[activation]
        i = curve["scale"].index(scale)
        return 100 * curve["saturated"][i], curve["mean_slope"][i]

    def most_saturated(self, network: str) -> str:
        """The layer of ``network`` ("no BN" or "BN") with the most saturated units at the end."""
        return max(self.layers[network], key=lambda layer: self.layers[network][layer].saturated.mean)

    def saturation(self, layer: str) -> Comparison:
        """Saturated units at the end (%) in ``layer``, BN against no BN, paired."""
        return compare(self.layers["no BN"][layer].saturated, self.layers["BN"][layer].saturated)

    @property
    def still(self) -> bool:
        """BN holds every layer's input spread within ``MOT_STILL`` of its start."""
        return all(abs(n.factor.mean - 1) <= MOT_STILL for n in self.layers["BN"].values())

    @property
    def slower(self) -> list[str]:
        """The layers whose spread changes less with BN (in the no-BN unit, by its 95% interval)."""
        return [layer for layer in self.layers["BN"] if compare(over_abs(self.moved["no BN"][layer]),
                                                                over_abs(self.moved["BN"][layer])).direction == "lower"]

    @property
    def less_saturated(self) -> list[str]:
        """The layers with fewer saturated units at the end with BN (by the 95% interval)."""
        return [layer for layer in self.layers["BN"] if self.saturation(layer).direction == "lower"]

    def table(self) -> str:
        """Per layer and network, the spreads, their ratio and the saturated units (Markdown)."""
        return motivation_table(self.layers)

    def range_text(self, network: str, what: str, digits: int = 2) -> str:
        """``"4.48 (conv1) to 10.65 (conv2)"``: the smallest and largest mean over the layers of the spread at the
        ``"end"``, or of the change ``"moved"`` (in no-BN units), for ``network``."""
        values = ({layer: n.end.mean for layer, n in self.layers[network].items()} if what == "end" else
                  {layer: m.mean for layer, m in self.moved[network].items()})
        lo, hi = min(values, key=values.get), max(values, key=values.get)
        return f"{values[lo]:.{digits}f} ({lo}) to {values[hi]:.{digits}f} ({hi})"


def motivation_findings(base_runs: Sequence[History], bn_runs: Sequence[History], layers: Sequence[str] = MOT_LAYERS,
                        scales: Sequence[float] = MOT_SCALES) -> MotivationFindings:
    """The motivation chapter. ``base_runs``/``bn_runs``: the review's runs without and with BN on all four layers
    (one per seed, the same seeds)."""
    from bnreview.probes import PROBE_BATCH

    numbers = {"no BN": {layer: layer_numbers(base_runs, layer) for layer in layers},
               "BN": {layer: layer_numbers(bn_runs, layer) for layer in layers}}
    base = numbers["no BN"]
    top_base = max(layers, key=lambda layer: base[layer].saturated.mean)
    sat = compare(base[top_base].saturated, numbers["BN"][top_base].saturated)
    distribution = distribution_test(base_runs, bn_runs, layers)
    claims = (
        Claim("BN fixes the distribution of layer inputs", PAPER_ICS_CLAIM, REVIEW_ICS_CLAIM,
              f"the change of the input spread of {distribution.label or 'the layer that moves most'} from step "
              f"{DISTRIBUTION_FROM} to the end, in units of its spread without BN: "
              + (distribution.comparison.effect_text(2, "") if distribution.comparison else distribution.why_not),
              (distribution,), "motivation"),
        Claim("BN keeps units out of saturation", PAPER_SATURATION_CLAIM, REVIEW_SATURATION_CLAIM,
              f"saturated units at the end in {top_base}, the most saturated layer without BN: {sat.effect_text()}",
              (Test("saturation", sat, label=top_base),), "motivation"),
    )
    return MotivationFindings(
        {"tanh": saturation_threshold("tanh"), "sigmoid": saturation_threshold("sigmoid")}, saturation_table(scales),
        numbers, {name: moves(base, n) for name, n in numbers.items()}, claims,
        base_runs[0].config.get("probe_every", 0), PROBE_BATCH, len(base_runs), runs_setting(base_runs))
