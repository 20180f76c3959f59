"""Chapter what_bn_does: noisy BN after Santurkar et al., the batch size, and Algorithm 2's population statistics.

Typed: :class:`WhatBnDoesFindings` (:class:`NoisyFindings` and :class:`BatchFindings`); the chapter's sentences are
written by hand around their fields. Inputs: ``{lr: {"no BN": runs, "BN": runs, "noisy BN": runs}}``, each from
``experiments.noisy_bn_configs(lr)``; the batch-size sweep (``experiments.batch_size_sweep()``: ``{("no BN" or
"BN", batch size): runs}``) and, for its BN runs, ``experiments.inference_accuracies`` (moving averages, Algorithm
2's population statistics, each test batch's own statistics).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.findings.core import (Comparison, Spread, compare, final_accuracy, over_runs, percentile_drift, spread,
                                    train_minutes, weight_growth)
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import seeds_label, sweep_setting, training_images
from bnreview.train import History

WB_NETWORKS = ("no BN", "BN", "noisy BN")  # experiments.noisy_bn_configs's keys
WB_LAYERS = ("conv1", "conv2", "conv3", "fc1")  # the layers with BN (models.BN_LAYERS)
WB_NORM_LAYER = "conv2"  # a layer whose output BN (and noisy BN) normalises: scale-invariant (Sec. 3.3)
PAPER_ICS = ("BN \"takes a step towards reducing internal covariate shift, and in doing so dramatically accelerates "
             "the training of deep neural nets\" (Sec. 1)")
REVIEW_ICS = "BN \"is believed to keep the distribution of the data stable throughout the training process\""
PAPER_INFERENCE = ("at inference, population statistics averaged over training mini-batches with the trained "
                   "network: E[x] = E_B[μ_B], Var[x] = m/(m-1) E_B[σ_B²] (Algorithm 2); \"Using moving averages "
                   "instead, we can track the accuracy of a model as it trains\" (Sec. 3.1)")
REVIEW_INFERENCE = "an exponential moving average of the batch statistics, \"μ_moving = t μ_moving + (1-t) μ\""


def unit_drift(histories: Sequence[History], layers: Sequence[str] = WB_LAYERS) -> Spread | None:
    """How much one unit's input moves from one probe to the next: per run, the mean absolute change of its 15th,
    50th and 85th percentiles between consecutive probes (``percentile_drift``'s ``mean_step``, from
    the first probe after step 0), averaged over ``layers``. Diverged runs are left out; None if all diverged."""
    kept = [h for h in histories if not h.diverged]
    if not kept:
        return None
    return over_runs(kept, lambda h: statistics.fmean(percentile_drift(h, layer, skip=1)["mean_step"]
                                                      for layer in layers))


def drift_groups(noisy: dict, layers: Sequence[str] = WB_LAYERS) -> dict:
    """``{lr: {layer: {network: [drift per seed]}}}`` for the figure (diverged runs left out)."""
    return {lr: {layer: {name: [percentile_drift(h, layer, skip=1)["mean_step"] for h in runs if not h.diverged]
                         for name, runs in by_name.items() if any(not h.diverged for h in runs)}
                 for layer in layers} for lr, by_name in noisy.items()}


# ---------------------------------------------------------------------------------------
# Noisy BN


@dataclass(frozen=True)
class NoisyRate:
    """The three networks (``WB_NETWORKS``) at one learning rate, over the seeds."""

    lr: float
    accuracy: dict[str, Spread]  # final test accuracy (%); a diverged seed counts with what it was left at
    diverged: dict[str, int]  # how many seeds diverged
    drift: dict[str, Spread | None]  # :func:`unit_drift` (None: every seed diverged)
    noisy_vs_bn: Comparison  # noisy BN (b) against plain BN (a), final test accuracy: the covariate-shift test
    growth: Comparison | None  # the norm layer's weight norm, end over start: noisy BN against plain BN (None: a
    # seed of either diverged)

    @property
    def n_seeds(self) -> int:
        """Seeds per network."""
        return min(s.n for s in self.accuracy.values())


@dataclass(frozen=True)
class NoisyFindings:
    """Noisy BN against plain BN and no BN at each learning rate. The argument is made at the largest rate
    (``hi``), where the network without BN fails; ``lo`` is the review's."""

    rates: dict[float, NoisyRate]
    drift_vs_bn: Comparison | None  # at ``hi``: the drift of noisy BN (b) against plain BN (a)
    drift_vs_nobn: Comparison | None  # noisy BN's drift at ``hi`` (b) against no BN's at ``lo`` (a), where it trains
    tests: tuple[Test, ...]  # covariate-shift, one per rate
    noise: float  # the noise's strength
    probe_every: int  # steps between probes
    layer: str  # the layer whose weight growth is compared (scale invariance)
    minutes: float  # training time of the noisy BN runs
    setting: str  # for figure titles
    setting_seed0: str
    drift_groups: dict  # :func:`drift_groups`, for the figure

    @property
    def lo(self) -> float:
        """The smallest learning rate (the review's)."""
        return min(self.rates)

    @property
    def hi(self) -> float:
        """The largest learning rate, where the argument is made."""
        return max(self.rates)

    @property
    def n_seeds(self) -> int:
        """Seeds per network and rate."""
        return min(r.n_seeds for r in self.rates.values())

    @property
    def nobn_fails(self) -> bool:
        """Every seed without BN diverges at ``hi``."""
        r = self.rates[self.hi]
        return r.diverged["no BN"] == r.accuracy["no BN"].n

    @property
    def noisy_survives(self) -> bool:
        """No seed of noisy BN diverges at ``hi``."""
        return self.rates[self.hi].diverged["noisy BN"] == 0

    @property
    def against_ics(self) -> bool:
        """At ``hi``, noisy BN survives where no BN fails, with its layers' inputs shown to move more than with
        plain BN and more than without BN at ``lo``: steady inputs are not what lets BN survive ``hi``."""
        return (self.nobn_fails and self.noisy_survives and self.drift_vs_bn is not None
                and self.drift_vs_bn.direction == "higher" and self.drift_vs_nobn is not None
                and self.drift_vs_nobn.direction == "higher")

    def where(self, direction: str) -> list[float]:
        """The rates where noisy BN's final accuracy against plain BN is ``"higher"``, ``"lower"`` or ``"not
        shown"`` (95% interval, uncorrected)."""
        return [lr for lr, r in sorted(self.rates.items()) if r.noisy_vs_bn.direction == direction]

    @property
    def weights_grow(self) -> bool:
        """Wherever both BN networks train, the norm layer's weights grow in every seed of both."""
        grown = [r.growth for r in self.rates.values() if r.growth is not None]
        return bool(grown) and all(g.a.lo > 1 and g.b.lo > 1 for g in grown)


def _noisy_rate(runs: dict[str, Sequence[History]], lr: float, layer: str) -> NoisyRate:
    """One learning rate's numbers (``runs``: ``{network: runs}``)."""
    _, bn, nz = WB_NETWORKS
    both_train = not any(h.diverged for h in (*runs[bn], *runs[nz]))
    return NoisyRate(
        lr=lr, accuracy={name: final_accuracy(runs[name]) for name in WB_NETWORKS},
        diverged={name: sum(h.diverged for h in runs[name]) for name in WB_NETWORKS},
        drift={name: unit_drift(runs[name]) for name in WB_NETWORKS},
        noisy_vs_bn=compare(final_accuracy(runs[bn]), final_accuracy(runs[nz])),
        growth=compare(weight_growth(runs[bn], layer), weight_growth(runs[nz], layer)) if both_train else None)


def noisy_findings(noisy: dict, layer: str = WB_NORM_LAYER) -> NoisyFindings:
    """Noisy BN against plain BN and no BN at each learning rate: accuracy, divergence, drift of the layers'
    inputs, and the weight growth of a layer before BN (scale invariance, Sec. 3.3)."""
    rates = {lr: _noisy_rate(noisy[lr], lr, layer) for lr in sorted(noisy)}
    lo, hi = min(rates), max(rates)
    d_nz, d_bn, d_no_lo = rates[hi].drift["noisy BN"], rates[hi].drift["BN"], rates[lo].drift["no BN"]
    first = noisy[lo]["noisy BN"][0]
    return NoisyFindings(
        rates=rates,
        drift_vs_bn=compare(d_bn, d_nz) if d_nz is not None and d_bn is not None else None,
        drift_vs_nobn=compare(d_no_lo, d_nz) if d_nz is not None and d_no_lo is not None else None,
        tests=tuple(Test("covariate-shift", r.noisy_vs_bn, label=f"lr {lr:g}") for lr, r in rates.items()),
        noise=first.config["bn_noise"], probe_every=first.config.get("probe_every", 0), layer=layer,
        minutes=train_minutes(h for g in noisy.values() for h in g["noisy BN"]),
        setting=sweep_setting(noisy[lo]), setting_seed0=sweep_setting({k: r[:1] for k, r in noisy[lo].items()}),
        drift_groups=drift_groups(noisy))


# ---------------------------------------------------------------------------------------
# The batch size, and Algorithm 2


@dataclass(frozen=True)
class BatchRow:
    """One batch size: its schedule, the test accuracy (%) without BN and of BN three ways, over the seeds."""

    batch: int
    steps: int  # SGD steps of the epoch
    lr: float
    nobn: Spread  # without BN
    ema: Spread  # BN in eval mode with its moving averages
    population: Spread  # BN in eval mode with Algorithm 2's population statistics (paired with ``ema``: same runs)
    train_mode: Spread  # BN in train mode, each test batch normalised with its own statistics
    gap_mean: Spread  # how far the moving means lie from Algorithm 2's, in population standard deviations
    gap_std: Spread  # how far the moving standard deviations lie from Algorithm 2's (relative)
    bn_vs_nobn: Comparison  # BN with moving averages (b) against no BN (a)
    alg2: Comparison  # Algorithm 2 (b) against the moving averages (a), paired: the population-statistics test

    @property
    def eval_minus_train(self) -> float:
        """Eval mode (moving averages) minus train mode, mean over the seeds, in points."""
        return self.ema.mean - self.train_mode.mean


def _batch_row(b: int, no_bn: Sequence[History], bn: Sequence[History], inference: Sequence[dict]) -> BatchRow:
    """One batch size's row (``inference``: one :func:`experiments.inference_accuracies` per BN run)."""
    runs = range(len(inference))  # one run evaluated two ways: paired
    ema = spread((100 * i["ema"] for i in inference), runs)
    pop = spread((100 * i["population"] for i in inference), runs)
    nobn = final_accuracy(no_bn)
    return BatchRow(batch=b, steps=bn[0].steps_per_epoch, lr=bn[0].config["lr"], nobn=nobn, ema=ema, population=pop,
                    train_mode=spread(100 * i["batch"] for i in inference),
                    gap_mean=spread(i["gap_mean"] for i in inference), gap_std=spread(i["gap_std"] for i in inference),
                    bn_vs_nobn=compare(nobn, spread(100 * i["ema"] for i in inference)),  # unpaired, as always
                    alg2=compare(ema, pop))


@dataclass(frozen=True)
class BatchFindings:
    """The batch-size sweep, one row per batch size (smallest first), and Algorithm 2 against the moving averages."""

    rows: tuple[BatchRow, ...]
    tests: tuple[Test, ...]  # population-statistics, one per batch size
    n_images: int  # the training images every run passes over once
    lr_at_64: float  # the learning rate is lr_at_64 x batch / 64
    n_runs: int
    minutes: float  # training time of every run of the sweep
    setting: str  # for figure titles

    @property
    def sizes(self) -> list[int]:
        """The batch sizes, smallest first."""
        return [r.batch for r in self.rows]

    def row(self, batch: int) -> BatchRow:
        """The row of one batch size."""
        return next(r for r in self.rows if r.batch == batch)

    def where(self, direction: str) -> list[int]:
        """The batch sizes where BN (moving averages) against no BN is ``"higher"``, ``"lower"`` or ``"not
        shown"`` (95% interval, uncorrected)."""
        return [r.batch for r in self.rows if r.bn_vs_nobn.direction == direction]

    def alg2_where(self, direction: str) -> list[int]:
        """The batch sizes where Algorithm 2 against the moving averages is ``"higher"``, ``"lower"`` or ``"not
        shown"`` (paired 95% interval, uncorrected)."""
        return [r.batch for r in self.rows if r.alg2.direction == direction]

    @property
    def n_seeds(self) -> int:
        """Seeds per batch size and network."""
        return min(min(r.nobn.n, r.ema.n) for r in self.rows)

    @property
    def alg2_differences(self) -> tuple[float, ...]:
        """Every BN run's Algorithm 2 minus moving averages, in points."""
        return tuple(d for r in self.rows for d in r.alg2.differences)

    @property
    def alg2_higher(self) -> int:
        """How many BN runs end with a higher test accuracy with Algorithm 2's statistics than with the moving
        averages."""
        return sum(d > 0 for d in self.alg2_differences)

    @property
    def alg2_mean(self) -> float:
        """Algorithm 2 minus moving averages, in points, the mean over every BN run."""
        return statistics.fmean(self.alg2_differences)

    def table(self) -> str:
        """A Markdown row per batch size: steps, lr, and the test accuracy without BN and of BN three ways (mean and
        the seeds' range), with BN's advantage over no BN."""
        rows = ["| batch | SGD steps | lr | no BN | BN, moving averages | BN, Algorithm 2 | BN, train mode | "
                "BN against no BN |", "|---:|---:|---:|---|---|---|---|---|"]
        rows += [f"| {r.batch} | {r.steps:,} | {r.lr:g} | {r.nobn.short()} | {r.ema.short()} | "
                 f"{r.population.short()} | {r.train_mode.short()} | {r.bn_vs_nobn.effect_text()} |" for r in self.rows]
        return "\n".join(rows)

    def population_table(self) -> str:
        """A Markdown row per batch size: Algorithm 2 against the moving averages (paired), and how far apart the two
        sets of statistics are."""
        rows = ["| batch | Algorithm 2 minus moving averages | gap of the means (std) | gap of the stds (relative) |",
                "|---:|---|---|---|"]
        rows += [f"| {r.batch} | {r.alg2.effect_text()} | {r.gap_mean.short(3, '')} | {r.gap_std.short(3, '')} |"
                 for r in self.rows]
        return "\n".join(rows)

    def accuracy_series(self) -> dict[str, tuple[list[int], list[list[float]]]]:
        """``{label: (batch sizes, [value per seed] per batch size)}`` for ``plots.batch_size_accuracy``."""
        return {label: (self.sizes, [list(getattr(r, key).values) for r in self.rows]) for label, key in (
            ("BN, eval mode (moving averages)", "ema"), ("BN, eval mode (Algorithm 2 statistics)", "population"),
            ("BN, train mode (each test batch's statistics)", "train_mode"), ("no BN", "nobn"))}

    def gap_series(self) -> dict[str, tuple[list[int], list[list[float]]]]:
        """The gaps between the two sets of statistics, for ``plots.against_batch_size``."""
        return {"|mean (moving avg.) - mean (Algorithm 2)| / std": (self.sizes, [list(r.gap_mean.values)
                                                                                for r in self.rows]),
                "|std (moving avg.) - std (Algorithm 2)| / std": (self.sizes, [list(r.gap_std.values)
                                                                              for r in self.rows])}


def batch_findings(by_batch: dict, inference: dict) -> BatchFindings:
    """The batch-size sweep (``{("no BN" or "BN", batch size): runs}``) and, per batch size, each BN run's
    accuracies three ways (``{batch size: [experiments.inference_accuracies(h) per BN run]}``)."""
    sizes = sorted(b for v, b in by_batch if v == "BN")
    rows = tuple(_batch_row(b, by_batch["no BN", b], by_batch["BN", b], inference[b]) for b in sizes)
    first = by_batch["BN", sizes[0]]
    n_images, lr_at_64 = training_images(first[0].config), first[0].config["lr"] * 64 / sizes[0]
    return BatchFindings(
        rows=rows, tests=tuple(Test("population-statistics", r.alg2, label=f"batch {r.batch}") for r in rows),
        n_images=n_images, lr_at_64=lr_at_64, n_runs=sum(map(len, by_batch.values())),
        minutes=train_minutes(h for r in by_batch.values() for h in r),
        setting=f"LeNet (tanh), plain SGD, lr {lr_at_64:g} x B/64, 1 epoch over {n_images:,} images, "
                f"{seeds_label(first)}")


# ---------------------------------------------------------------------------------------
# The chapter


@dataclass(frozen=True)
class WhatBnDoesFindings:
    """What the chapter "What does BN really do?" measures: noisy BN, the batch size and Algorithm 2."""

    noisy: NoisyFindings
    batch: BatchFindings
    claims: tuple[Claim, ...]


def what_bn_does_findings(noisy: dict, by_batch: dict, inference: dict) -> WhatBnDoesFindings:
    """The chapter's findings and its two claims.

    ``noisy``: ``{lr: experiments.run_grid(experiments.noisy_bn_configs(lr))}``; ``by_batch``:
    ``experiments.batch_size_sweep()``; ``inference``: ``{batch size: [experiments.inference_accuracies(h) for each BN
    run]}`` (``experiments.inference_by_batch(by_batch)``).
    """
    nz, bt = noisy_findings(noisy), batch_findings(by_batch, inference)
    hi = nz.rates[nz.hi]
    drift = (f"; at lr {nz.hi:g}, the drift of the layers' inputs, noisy BN minus plain BN: "
             f"{nz.drift_vs_bn.effect_text(2, '')}" if nz.drift_vs_bn is not None else "")
    claims = (
        Claim("BN works by reducing internal covariate shift", PAPER_ICS, REVIEW_ICS,
              "final test accuracy of noisy BN against plain BN: "
              + "; ".join(f"lr {lr:g} {r.noisy_vs_bn.effect_text()}" for lr, r in nz.rates.items()) + drift
              + f"; without BN, {hi.diverged['no BN']} of {hi.accuracy['no BN'].n} seeds diverge at lr {nz.hi:g} "
                f"(LeNet, one epoch)", nz.tests, "what_bn_does"),
        Claim("population statistics at inference (Algorithm 2)", PAPER_INFERENCE, REVIEW_INFERENCE,
              "test accuracy with Algorithm 2's statistics against the moving averages: "
              + "; ".join(f"batch {r.batch} {r.alg2.effect_text()}" for r in bt.rows)
              + f"; higher in {bt.alg2_higher} of {len(bt.alg2_differences)} runs", bt.tests, "what_bn_does"),
    )
    return WhatBnDoesFindings(nz, bt, claims)
