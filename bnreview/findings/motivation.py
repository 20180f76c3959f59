"""Chapter motivation: saturation of tanh and sigmoid units against the spread of their inputs, and the inputs to
LeNet's nonlinearities over training.

From the probes (every 50 steps, on 256 test images) of the review's runs, ``review_config(seed=s)`` and
``review_config(bn="all", seed=s)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bnreview.findings.core import Spread, compare, over_runs, spread
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import runs_setting, seeds_label, seeds_text
from bnreview.train import History

SAT_SLOPE_FRACTION = 0.1  # saturated: slope below this fraction of its maximum (the rule of probes.saturated)
MOT_SCALES = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30)  # std of a unit's input
MOT_QUOTED_SCALES = (1, 3, 10)  # the scales the prose quotes (each in MOT_SCALES)
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


def _layer_numbers(runs: Sequence[History], layer: str) -> dict[str, Spread]:
    return {"start": over_runs(runs, lambda h: input_spread(h, layer, 0)),
            "end": over_runs(runs, lambda h: input_spread(h, layer, -1)),
            "factor": over_runs(runs, lambda h: input_spread(h, layer, -1) / input_spread(h, layer, 0)),
            "saturated": over_runs(runs, lambda h: 100 * h.probes[layer]["saturated"][-1])}


def motivation_table(base: dict, bn: dict) -> str:
    """Per layer, without and with BN: the inputs' spread at the start and the end, its growth, the saturated units."""
    rows = ["| layer | network | spread at the start | spread at the end | end / start | saturated at the end |",
            "|---|---|---|---|---|---|"]
    for layer in base:
        for name, numbers in (("no BN", base[layer]), ("BN", bn[layer])):
            rows.append(f"| {layer} | {name} | {numbers['start'].text(2, '')} | {numbers['end'].text(2, '')} | "
                        f"{numbers['factor'].text(1, 'x')} | {numbers['saturated'].text(1)} |")
    return "\n".join(rows)


def _saturation_values(scales: Sequence[float], quoted: Sequence[float]) -> dict:
    """The saturation thresholds, the saturation table over ``scales`` and its numbers at the ``quoted`` scales."""
    table = saturation_table(scales)
    v: dict = {"thr_tanh": saturation_threshold("tanh"), "thr_sigmoid": saturation_threshold("sigmoid"),
               "sat_fraction": SAT_SLOPE_FRACTION, "sat_samples": f"{MOT_SAMPLES:,}", "sat_seed": MOT_SEED,
               "sat_table": table}
    for name in table:
        for s in quoted:
            i = list(scales).index(s)
            v[f"sat_{name}_{s:g}"] = 100 * table[name]["saturated"][i]
            v[f"slope_{name}_{s:g}"] = table[name]["mean_slope"][i]
    return v


def _range(values: dict[str, float], digits: int = 2) -> str:
    """``"0.52 (conv1) to 3.10 (fc1)"``: the smallest and largest of per-layer values."""
    lo, hi = min(values, key=values.get), max(values, key=values.get)
    return f"{values[lo]:.{digits}f} ({lo}) to {values[hi]:.{digits}f} ({hi})"


def _moves(base: dict, numbers: dict) -> dict[str, Spread]:
    """Per layer, each run's change of the spread from initialisation to the end, in units of the network
    WITHOUT BN's mean spread at initialisation: one denominator for both networks (their spreads at
    initialisation differ by construction, BN's near 2, no BN's well below)."""
    return {layer: spread(((e - s) / base[layer]["start"].mean for s, e in zip(n["start"].values, n["end"].values)),
                          n["start"].seeds) for layer, n in numbers.items()}


def _most_saturated(numbers: dict) -> str:
    return max(numbers, key=lambda layer: numbers[layer]["saturated"].mean)


def _where(found: list, layers: Sequence[str]) -> str:
    return "in every layer" if len(found) == len(layers) else f"in {', '.join(found)} only" if found else \
        "in no layer"


def _steadier_layers(base: dict, bn: dict, layers: Sequence[str]) -> tuple[bool, list, list]:
    """Whether BN holds every layer's input spread within ``MOT_STILL`` of its start; the layers whose spread
    changes less with BN (in the no-BN unit of :func:`_moves`, by its 95% interval); and those with fewer
    saturated units with BN."""
    still = all(abs(bn[layer]["factor"].mean - 1) <= MOT_STILL for layer in layers)
    moves_base, moves_bn = _moves(base, base), _moves(base, bn)
    slower = [layer for layer in layers
              if compare(over_abs(moves_base[layer]), over_abs(moves_bn[layer])).direction == "lower"]
    less_sat = [layer for layer in layers
                if compare(base[layer]["saturated"], bn[layer]["saturated"]).direction == "lower"]
    return still, slower, less_sat


def over_abs(s: Spread) -> Spread:
    """The absolute values of a spread's values, named by the same seeds."""
    return spread((abs(v) for v in s.values), s.seeds)


def _drift_values(base: dict, bn: dict, layers: Sequence[str], over: str, setting: str) -> dict:
    """How the layers' inputs drift without and with BN, the headline, and the counts the claims rest on."""
    top_base, top_bn = _most_saturated(base), _most_saturated(bn)
    still, slower, less_sat = _steadier_layers(base, bn, layers)
    top_compare = compare(base[top_bn]["saturated"], bn[top_bn]["saturated"]).text(
        "without BN", "with BN", f"{top_bn}'s saturated units at the end", 1)
    v: dict = {}
    end = {name: {layer: n[layer]["end"].mean for layer in layers} for name, n in (("base", base), ("bn", bn))}
    moved = {name: {layer: m.mean for layer, m in _moves(base, n).items()} for name, n in (("base", base), ("bn", bn))}
    unit = "in units of each layer's spread at initialisation without BN, the same unit for both networks"
    v["drift_base"] = (f"Without BN, the 15-85th percentile spread of the layers' inputs to tanh ends at "
                       f"{_range(end['base'])} ({over}), a change of {_range(moved['base'], 1)} {unit}; at the end "
                       f"{base[top_base]['saturated'].mean:.1f}% of {top_base}'s units are saturated, the most of "
                       f"any layer")
    stays = f"stays within {100 * MOT_STILL:g}% of its start" if still else "does not stay put either"
    v["drift_bn"] = (f"With BN before each tanh, the spread {stays}: it ends at {_range(end['bn'])}, a change of "
                     f"{_range(moved['bn'], 1)} in the same unit; "
                     f"conv1's goes from "
                     f"{bn['conv1']['start'].mean:.2f} to {bn['conv1']['end'].mean:.2f} (without BN from "
                     f"{base['conv1']['start'].mean:.2f} to {base['conv1']['end'].mean:.2f}). The most saturated "
                     f"layer with BN is {top_bn}; {top_compare}")
    head = f"Measured on LeNet at the review's settings ({setting}), BN "
    if still:
        head += "holds the layers' inputs still"
    elif slower:
        head += f"slows the drift of the layers' inputs {_where(slower, layers)} but does not hold them still"
    else:
        head += "does not hold the layers' inputs still"
    v["headline"] = head + (
        f": the 15-85th percentile spread of the layers' inputs to tanh changes by {_range(moved['bn'], 1)} with "
        f"BN and by {_range(moved['base'], 1)} without, both in units of the layer's spread at initialisation "
        f"without BN ({over}); fewer units end saturated with BN "
        f"{_where(less_sat, layers)} (the most saturated layer: {top_bn} at {bn[top_bn]['saturated'].mean:.1f}% "
        f"with BN, {top_base} at {base[top_base]['saturated'].mean:.1f}% without)")
    v.update(still=int(still), n_slower=len(slower), n_less_saturated=len(less_sat), n_layers=len(layers),
             top_saturated_bn=top_bn, top_saturated_base=top_base)
    return v


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


def motivation_findings(base_runs: Sequence[History], bn_runs: Sequence[History], layers: Sequence[str] = MOT_LAYERS,
                        scales: Sequence[float] = MOT_SCALES, quoted: Sequence[float] = MOT_QUOTED_SCALES) -> dict:
    """Every value and sentence of the motivation chapter, its claims, "What we learned" and a "headline" (what
    the probes measured, for the conclusion). ``base_runs``/``bn_runs``: the review's runs without and with BN
    on all four layers (one per seed, the same seeds)."""
    from bnreview.probes import PROBE_BATCH

    v = _saturation_values(scales, quoted)
    h = base_runs[0]
    c = h.config
    seeds = seeds_label(base_runs, distinct=False)
    v.update(probe_steps=h.probe_steps[-1], probe_every=c.get("probe_every", 0), n_seeds=len(base_runs),
             probe_images=PROBE_BATCH,
             seeds=seeds,
             setting=runs_setting(base_runs))
    base = {layer: _layer_numbers(base_runs, layer) for layer in layers}
    bn = {layer: _layer_numbers(bn_runs, layer) for layer in layers}
    v["layers"] = {"no BN": base, "BN": bn}
    v["table"] = motivation_table(base, bn)
    for name, numbers in (("base", base), ("bn", bn)):
        for layer in layers:
            for what in ("start", "end", "saturated"):
                v[f"{name}_{layer}_{what}"] = numbers[layer][what].mean
    n = seeds_text(len(base_runs))
    over = f"means over {seeds}" if len(base_runs) > 1 else seeds
    v.update(_drift_values(base, bn, layers, over, v["setting"]))
    top_bn = v["top_saturated_bn"]
    less_sat = _steadier_layers(base, bn, layers)[2]
    top_base = v["top_saturated_base"]
    v["claims"] = [
        Claim("BN fixes the distribution of layer inputs", PAPER_ICS_CLAIM, REVIEW_ICS_CLAIM, v["headline"],
              (distribution_test(base_runs, bn_runs, layers),), "motivation"),
        Claim("BN keeps units out of saturation", PAPER_SATURATION_CLAIM, REVIEW_SATURATION_CLAIM,
              "saturated units at the end, most saturated layer with BN: "
              + compare(base[top_bn]["saturated"], bn[top_bn]["saturated"]).text("without BN", "with BN", top_bn, 1)
              + f"; fewer units saturated with BN {_where(less_sat, layers)} ({n})",
              (Test("saturation", compare(base[top_base]["saturated"], bn[top_base]["saturated"]),
                    label=top_base),), "motivation"),
    ]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"A unit counts as saturated where its slope is below {100 * SAT_SLOPE_FRACTION:g}% of its maximum: "
        f"|z| > {v['thr_tanh']:.2f} for tanh, |z| > {v['thr_sigmoid']:.2f} for the logistic sigmoid",
        f"With inputs drawn from N(0, s^2), {v['sat_tanh_1']:.0f}% of tanh units are saturated at s = 1 and "
        f"{v['sat_tanh_10']:.0f}% at s = 10 (mean slope {v['slope_tanh_1']:.2f} and {v['slope_tanh_10']:.2f} of "
        f"its maximum)",
        v["headline"]))
    return v
