"""Chapter paper_mnist: the paper's own MNIST experiment (Sec. 4.1, Figure 1), re-run.

Typed: :class:`PaperMnistFindings` (with :class:`Figure1a`, :class:`Steadiness` and :class:`Reach`); the chapter's
sentences are written by hand around them.

Inputs: the pilot that chooses the MLP's learning rate on held-out validation images
(``{(init_std, lr, bn): [History]}``, bn "none" or "all", from ``experiments.mlp_pilot_config``); the runs at the
chosen lr (``{"without BN": runs, "with BN": runs}``, from ``experiments.paper_mlp_config``); the check at the
runner-up lr (same keys, seed 0); and the review's LeNet runs (``{"LeNet, no BN": runs, "LeNet + BN": runs}``,
from ``config.review_config``). The choice itself is :func:`bnreview.findings.core.pilot_choice`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bnreview.criteria import pilot_choice
from bnreview.findings.core import (Comparison, Spread, compare, final_accuracy, log_steps, over_runs,
                                    percentile_drift, reaches_sooner, spread, steps_to_accuracy, train_minutes)
from bnreview.findings.ledger import Claim, Judged, Test
from bnreview.findings.wording import lenet_setting, lr_label, mlp_setting, seeds_label, training_images
from bnreview.train import History

PM_LAYER = "fc3"  # the paper's "last hidden layer"
PM_LENET_LAYER = "fc1"  # LeNet's first fully connected layer
PM_LATE = 0.02  # the drift is measured from this fraction of training on (after the first fast move)
PM_MEDIAN_FROM = 0.1  # the protocol's "mlp-steadier": the median's movement from this fraction of training (step 5,000)
PM_EARLY = (0.02, 0.10)  # fractions of training at which the test accuracy is compared
PM_NORMAL_BAND = 2 * statistics.NormalDist().inv_cdf(0.85)  # the 15th-85th percentile band of N(0, 1): 2.07 wide
PM_NETWORKS = ("without BN", "with BN")
MLP_FASTER_ACCURACY = 0.95  # the protocol's "mlp-faster": steps to this test accuracy
PM_REACH = (MLP_FASTER_ACCURACY, 0.97, 0.98)  # test accuracies whose first step the chapter reports
PM_LENETS = ("LeNet, no BN", "LeNet + BN")
PAPER_MNIST_ACCURACY = ("\"Batch Normalization helps the network train faster and achieve higher accuracy\" "
                        "(Figure 1(a))")
PAPER_MNIST_STABLE = ("\"the distributions in the batch-normalized network are much more stable as training "
                      "progresses, which aids the training\" (Sec. 4.1, Figure 1(b, c))")
PAPER_MNIST_INIT = ("\"Batch Normalization allows us to use much higher learning rates and be less careful about "
                    "initialization\" (abstract)")
REVIEW_MNIST = "not tested (the review trains LeNet only)"


def _val(runs: Sequence[History]) -> float:
    """Mean final validation accuracy (%) of the runs."""
    return 100 * statistics.fmean(h.final_val_acc for h in runs)


def pilot_accuracies(pilot: dict) -> dict[tuple[float, float, str], float]:
    """``{(init_std, lr, bn): mean final validation accuracy (%)}`` of the pilot (the test set is not looked at)."""
    return {key: _val(runs) for key, runs in pilot.items()}


def pilot_table(values: dict[tuple[float, float, str], float], std: float, lr: float) -> str:
    """The pilot's validation accuracies (:func:`pilot_accuracies`) as a Markdown table, the setting chosen for the
    network without BN marked."""
    rows = ["| initial weights | lr | validation accuracy, no BN | with BN |", "|---|---:|---|---|"]
    for s, r in sorted({(s, r) for s, r, _ in values}):
        mark = " (chosen)" if (s, r) == (std, lr) else ""
        rows.append(f"| N(0, {s:g}²) | {r:g} | {values[s, r, 'none']:.2f}%{mark} | {values[s, r, 'all']:.2f}% |")
    return "\n".join(rows)


def pilot_range(values: dict[tuple[float, float, str], float], bn: str) -> tuple[float, float]:
    """One network's (bn "none" or "all") lowest and highest validation accuracy (%) over the pilot's grid
    (:func:`pilot_accuracies`)."""
    by_setting = [v for (_, _, b), v in values.items() if b == bn]
    return min(by_setting), max(by_setting)


def accuracy_at(histories: Sequence[History], step: int) -> Spread:
    """Test accuracy (%) at the last evaluation at or before ``step``, over the runs."""
    return over_runs(histories, lambda h: 100 * [a for s, a in zip(h.eval_steps, h.eval_acc) if s <= step][-1])


@dataclass(frozen=True)
class Reach:
    """Each run's first SGD step at one test accuracy (``math.inf``: never within the run)."""

    steps: tuple[float, ...]

    @property
    def reached(self) -> Spread | None:
        """The steps of the runs that got there (None: none did)."""
        finite = [s for s in self.steps if math.isfinite(s)]
        return spread(finite) if finite else None

    @property
    def missing(self) -> int:
        """How many runs never got there."""
        return sum(not math.isfinite(s) for s in self.steps)

    def short(self) -> str:
        """``"5,667 (5,000 to 6,000)"`` (mean and range of the runs that got there), for a table that states the
        seeds once; ``"never"`` when none did; ``"...; 1 of 3 never"`` when some did not."""
        r = self.reached
        if r is None:
            return "never"
        text = f"{r.mean:,.0f}" if r.n == 1 else f"{r.mean:,.0f} ({r.lo:,.0f} to {r.hi:,.0f})"
        return text + (f"; {self.missing} of {len(self.steps)} never" if self.missing else "")


@dataclass(frozen=True)
class Figure1a:
    """Figure 1(a) re-run: BN against no BN (paired over the seeds) in test accuracy (%) early in training and at the
    end, and each network's first step at each accuracy of ``PM_REACH``."""

    early: dict[int, Comparison]  # step (PM_EARLY of training) -> test accuracy at that step
    final: Comparison  # final test accuracy
    reach: dict[float, tuple[Reach, Reach]]  # accuracy -> (without BN, with BN)
    faster: bool  # BN reaches 97% in fewer steps (reaches_sooner)
    slower: bool  # the network without BN reaches 97% in fewer steps
    steps: int  # the runs' length

    @property
    def higher(self) -> bool:
        """BN ends higher (95% interval above zero)."""
        return self.final.direction == "higher"

    @property
    def neither_reaches(self) -> bool:
        """Neither network reaches 97% within the run."""
        return all(r.reached is None for r in self.reach[0.97])

    def reach_table(self) -> str:
        """Markdown: per accuracy, the step at which each network first reaches it (:meth:`Reach.short`)."""
        rows = ["| test accuracy | first step, without BN | with BN |", "|---|---|---|"]
        rows += [f"| {100 * acc:g}% | {a.short()} | {b.short()} |" for acc, (a, b) in self.reach.items()]
        return "\n".join(rows)


def figure_1a_findings(runs: dict) -> Figure1a:
    """Figure 1(a) re-run from ``{"without BN": runs, "with BN": runs}``: test accuracy early in training, at the end,
    and the first step at each accuracy of ``PM_REACH``, with BN against without."""
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    total = nobn[0].config["steps"]
    early = {int(total * f): compare(accuracy_at(nobn, int(total * f)), accuracy_at(bn, int(total * f)))
             for f in PM_EARLY}
    reach = {a: (Reach(tuple(steps_to_accuracy(nobn, a))), Reach(tuple(steps_to_accuracy(bn, a)))) for a in PM_REACH}
    return Figure1a(early, compare(final_accuracy(nobn), final_accuracy(bn)), reach,
                    reaches_sooner(nobn, bn, 0.97), reaches_sooner(bn, nobn, 0.97), total)


def band_width(history: History, layer: str, index: int) -> float:
    """Width of one unit's 15th-85th percentile band at probe ``index``."""
    p = history.probes[layer]
    return p["unit_p85"][index] - p["unit_p15"][index]


def _late_index(history: History, fraction: float) -> int:
    total = history.config.get("steps") or len(history.step_loss)
    return next((i for i, s in enumerate(history.probe_steps) if s >= fraction * total), len(history.probe_steps) - 1)


def drift_late(histories: Sequence[History], layer: str, fraction: float = PM_LATE) -> Spread:
    """How far one unit's input moves from ``fraction`` of training on: per run, the range (max - min) of each of
    its 15th, 50th and 85th percentiles over the probes, averaged over the three (:func:`percentile_drift`)."""
    return over_runs(histories, lambda h: percentile_drift(h, layer, skip=_late_index(h, fraction))["mean_range"])


@dataclass(frozen=True)
class Steadiness:
    """How much unit 0 of one layer moves its input, without and with BN, over the seeds: its 15th-85th band's width
    at step 0, at the first probe after it and at the end, and the range it sweeps from ``late_step`` on."""

    layer: str
    first_step: int  # the first probe after step 0
    late_step: int  # the drift is measured from this probe on
    width_nobn: tuple[Spread, Spread, Spread]  # the band's width at step 0, first_step and the end
    width_bn: tuple[Spread, Spread, Spread]
    drift: Comparison  # with BN against without: the range each percentile sweeps (mean of the three)

    @property
    def steadier(self) -> bool:
        """With BN the input sweeps a smaller range (95% interval below zero)."""
        return self.drift.direction == "lower"

    def table(self) -> str:
        """Markdown: per network, the band's widths and the range swept, each over the seeds (``Spread.short``)."""
        rows = [f"| | band at step 0 | at step {self.first_step:,} | at the end | range swept from step "
                f"{self.late_step:,} |", "|---|---|---|---|---|"]
        for name, widths, drift in (("without BN", self.width_nobn, self.drift.a),
                                    ("with BN", self.width_bn, self.drift.b)):
            rows.append("| " + " | ".join([name, *(w.short(2, "") for w in widths), drift.short(2, "")]) + " |")
        return "\n".join(rows)


def steadiness(nobn: Sequence[History], bn: Sequence[History], layer: str, fraction: float = PM_LATE) -> Steadiness:
    """Does BN keep one unit's input steadier? Band widths at step 0, at the first probe after it and at the end;
    the drift from ``fraction`` of training on, compared (lower with BN, by its 95% interval: steadier)."""
    first, late = nobn[0].probe_steps[1], nobn[0].probe_steps[_late_index(nobn[0], fraction)]
    widths = [tuple(over_runs(runs, lambda h, i=i: band_width(h, layer, i)) for i in (0, 1, -1)) for runs in (nobn, bn)]
    return Steadiness(layer, first, late, widths[0], widths[1],
                      compare(drift_late(nobn, layer, fraction), drift_late(bn, layer, fraction)))


def median_movement(history: History, layer: str, fraction: float = PM_MEDIAN_FROM) -> float:
    """The protocol's "mlp-steadier" measure of one unit's input: the total movement of its median between
    consecutive probes from ``fraction`` of training on, in units of its mean 15th-85th percentile spread over
    those probes, as a natural log (one unit of it is a factor e)."""
    p, start = history.probes[layer], _late_index(history, fraction)
    median = p["unit_p50"][start:]
    width = statistics.fmean(p["unit_p85"][i] - p["unit_p15"][i] for i in range(start, len(p["unit_p50"])))
    moved = sum(abs(b - a) for a, b in zip(median, median[1:]))
    return math.log(moved / width) if moved > 0 and width > 0 else math.nan


def median_steadier(nobn: Sequence[History], bn: Sequence[History], layer: str = PM_LAYER) -> Test:
    """The "mlp-steadier" test: the median's movement (:func:`median_movement`) with BN against without, paired."""
    move = {name: over_runs(runs, lambda h: median_movement(h, layer)) for name, runs in (("nobn", nobn), ("bn", bn))}
    return Test("mlp-steadier", compare(move["nobn"], move["bn"]), label=f"{layer}, unit 0")


def scale_ranges(init: dict, network: str) -> Spread:
    """Per seed, the range (max - min, points) of ``network``'s final validation accuracy over the initial scales
    of ``init`` (``{(init_std, network): [History per seed]}``); a diverged run counts as 0%."""
    stds = sorted({s for s, name in init if name == network})
    by_seed: dict[int, list[float]] = {}
    for std in stds:
        for h in init[std, network]:
            by_seed.setdefault(h.config.get("seed", 0), []).append(0.0 if h.diverged else 100 * h.final_val_acc)
    seeds = sorted(seed for seed, values in by_seed.items() if len(values) == len(stds))
    return spread((max(by_seed[s]) - min(by_seed[s]) for s in seeds), seeds)


def initialisation_test(init: dict | None) -> Test:
    """Is BN less sensitive to the initial scale? Per seed, each network's range of validation accuracy over the
    scales (:func:`scale_ranges`), compared paired: the protocol's "careful-initialisation"."""
    if not init:
        return Test("careful-initialisation", why_not="no initialisation grid given")
    return Test("careful-initialisation", compare(*(scale_ranges(init, name) for name in PM_NETWORKS)))


@dataclass(frozen=True)
class PaperMnistFindings:
    """What the paper-MNIST chapter measures. Every comparison is the side with BN against the side without, paired
    over the seeds; the runs train both networks at ``lr``, chosen on validation for the network without BN."""

    lr: float
    runner_up: float | None  # the second best rate on validation (the check's)
    bn_lr: float  # the best rate of the network with BN in the pilot (the "own" runs')
    std: float  # the runs' initial scale
    overall: tuple[float, float]  # the (init_std, lr) validation picks for the network without BN over every scale
    pilot: dict[tuple[float, float, str], float]  # pilot_accuracies
    pilot_steps: int
    pilot_seeds: str  # "seed 0"
    val_size: int  # validation images held out of the training set
    fig1a: Figure1a
    own: Comparison | None  # BN at bn_lr against no BN at lr: final test accuracy (%); None: no such runs
    main: Steadiness  # fc3's unit 0 at lr
    check: Steadiness  # the same at the runner-up rate
    lenet: Steadiness  # LeNet's fc1, unit 0
    median: Comparison  # the protocol's "mlp-steadier" measure (log), BN against no BN
    median_from: int  # the step it is measured from
    init: Comparison | None  # per seed, the range of validation accuracy over the initial scales (points)
    init_stds: tuple[float, ...]
    init_steps: int
    claims: tuple[Claim, ...]
    n_seeds: int
    seeds: str  # "seeds 0 to 2"
    check_seeds: str
    steps: int
    eval_every: int
    probe_every: int
    n_train: int
    mlp_params: int
    mlp_bn_params: int
    mlp_minutes: float  # training time of the runs at lr and the pilot
    check_minutes: float
    setting: str  # for figure titles
    setting_seed0: str
    check_setting: str
    lenet_setting: str
    lenet_setting_seed0: str

    def pilot_table(self) -> str:
        """The pilot as a Markdown table of validation accuracies, the chosen setting marked."""
        return pilot_table(self.pilot, self.std, self.lr)

    def pilot_range(self, bn: str) -> tuple[float, float]:
        """One network's (bn "none" or "all") lowest and highest validation accuracy (%) over the pilot's grid
        (:func:`pilot_range`)."""
        return pilot_range(self.pilot, bn)

    @property
    def pilot_depends_less(self) -> bool:
        """Over the pilot's grid, the validation accuracy with BN spans a narrower range than without."""
        (lo_n, hi_n), (lo_b, hi_b) = self.pilot_range("none"), self.pilot_range("all")
        return hi_b - lo_b < hi_n - lo_n

    @property
    def lr_dependent(self) -> bool | None:
        """Whether the answer to "steadier with BN?" differs between lr and the runner-up (None: the check has no
        interval, so the runs cannot say)."""
        if self.check.drift.effect is None:
            return None
        return self.main.steadier != self.check.steadier

    def claim(self, entry: str) -> Claim:
        """The chapter's claim that holds the test of a protocol entry."""
        return next(c for c in self.claims if any(t.entry == entry for t in c.tests))

    def judged(self, entry: str) -> Judged:
        """The chapter's test of a protocol entry, its claim judged alone (Holm over the claim's own tests)."""
        return next(j for j in self.claim(entry).judged if j.test.entry == entry)


def _claims(f1: Figure1a, own: Comparison | None, tests: dict[str, Test], main: Steadiness, check: Steadiness,
            pilot_text: str, lr: float, runner_up: str, check_seeds: str) -> tuple[Claim, ...]:
    """The chapter's three rows of the ledger, their evidence built from the comparisons' effects."""
    accuracy = f"final test accuracy at lr {lr:g}, BN against no BN: {f1.final.effect_text()}"
    if own is not None:
        accuracy += f"; with BN at its own rate: {own.effect_text()}"
    init = tests["careful-initialisation"].comparison
    return (
        Claim("BN trains the paper's MNIST network faster and to a higher accuracy", PAPER_MNIST_ACCURACY,
              REVIEW_MNIST, accuracy, (tests["mlp-higher"], tests["mlp-faster"]), "paper_mnist"),
        Claim("BN steadies the input of the last hidden layer's sigmoid", PAPER_MNIST_STABLE, REVIEW_MNIST,
              f"range swept by the input of {PM_LAYER}'s unit 0 from step {main.late_step:,}, BN against no BN: "
              f"{main.drift.effect_text(2, '')} at lr {lr:g}; {check.drift.effect_text(2, '')} at lr {runner_up} "
              f"({check_seeds})", (tests["mlp-steadier"],), "paper_mnist"),
        Claim("less careful about initialisation", PAPER_MNIST_INIT, "not tested",
              pilot_text if init is None else f"range of validation accuracy over the initial scales, per seed, BN "
                                              f"against no BN: {init.effect_text()}",
              (tests["careful-initialisation"],), "paper_mnist"),
    )


def _tests(nobn: Sequence[History], bn: Sequence[History], own: Sequence[History], init: dict | None,
           choice: dict) -> dict[str, Test]:
    """The protocol's four measurements, by entry: BN at its own rate ("mlp-higher"), the steps to 95% ("mlp-faster"),
    the median's movement ("mlp-steadier") and the initial scales ("careful-initialisation")."""
    higher = (Test("mlp-higher", compare(final_accuracy(nobn), final_accuracy(own)),
                   label=f"lr {choice['lr']:g} without BN, {choice['bn_lr']:g} with") if own else
              Test("mlp-higher", why_not="no runs of the network with BN at its own chosen rate given"))
    faster = Test("mlp-faster", compare(log_steps(nobn, MLP_FASTER_ACCURACY), log_steps(bn, MLP_FASTER_ACCURACY)),
                  label=f"{100 * MLP_FASTER_ACCURACY:g}%, lr {choice['lr']:g}")
    return {"mlp-higher": higher, "mlp-faster": faster, "mlp-steadier": median_steadier(nobn, bn),
            "careful-initialisation": initialisation_test(init)}


def _settings(pilot: dict, runs: dict, check: dict, lenet: dict) -> dict:
    """The keyword fields that read the runs' settings: sizes, schedules, seeds, titles and training times."""
    from bnreview.models import PaperMLP, count_parameters

    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    c, first = nobn[0].config, next(iter(pilot.values()))[0]
    return dict(
        pilot_steps=len(first.step_loss), pilot_seeds=seeds_label([h for r in pilot.values() for h in r]),
        val_size=first.config.get("val_size", 0), n_seeds=min(len(nobn), len(bn)), seeds=seeds_label(nobn),
        check_seeds=seeds_label(check[PM_NETWORKS[0]]), steps=c["steps"], eval_every=c["eval_every"],
        probe_every=c["probe_every"], n_train=training_images(c), mlp_params=count_parameters(PaperMLP()),
        mlp_bn_params=count_parameters(PaperMLP(bn="all")),
        mlp_minutes=train_minutes([*nobn, *bn, *(h for r in pilot.values() for h in r)]),
        check_minutes=train_minutes(h for r in check.values() for h in r),
        setting=mlp_setting(nobn), setting_seed0=mlp_setting(nobn[:1]), check_setting=mlp_setting(check[PM_NETWORKS[0]]),
        lenet_setting=lenet_setting(lenet[PM_LENETS[0]]), lenet_setting_seed0=lenet_setting(lenet[PM_LENETS[0]][:1]))


def paper_mnist_findings(pilot: dict, runs: dict, check: dict, lenet: dict, own: Sequence[History] = (),
                         init: dict | None = None) -> PaperMnistFindings:
    """The paper-MNIST chapter's findings and its three claims.

    ``pilot``: ``{(init_std, lr, bn): [History]}`` (``experiments.mlp_pilot_config`` over ``MLP_PILOT_STDS`` x
    ``MLP_PILOT_LRS`` x bn "none"/"all", seed 0); ``runs``: ``{"without BN": runs, "with BN": runs}`` at the lr
    :func:`pilot_choice` chose (``experiments.paper_mlp_config``, every seed); ``check``: the same two at the
    runner-up lr (seed 0); ``lenet``: ``{"LeNet, no BN": runs, "LeNet + BN": runs}`` (``config.review_config``);
    ``own``: the network with BN at its own chosen rate, every seed; ``init``: ``{(init_std, network): runs}``
    (``experiments.chosen_plan``'s initialisation grid). Without ``own`` or ``init`` their tests say why not.
    """
    c = runs[PM_NETWORKS[0]][0].config
    choice = pilot_choice(pilot, c["init_std"])
    if choice["lr"] != c["lr"]:
        raise ValueError(f"the runs are at lr {c['lr']:g}, but validation chose lr {choice['lr']:g}")
    nobn, bn = runs[PM_NETWORKS[0]], runs[PM_NETWORKS[1]]
    values = pilot_accuracies(pilot)
    f1 = figure_1a_findings(runs)
    main = steadiness(nobn, bn, PM_LAYER)
    ru = steadiness(check[PM_NETWORKS[0]], check[PM_NETWORKS[1]], PM_LAYER)
    tests = _tests(nobn, bn, own, init, choice)
    own_cmp = tests["mlp-higher"].comparison
    (lo_n, hi_n), (lo_b, hi_b) = pilot_range(values, "none"), pilot_range(values, "all")
    pilot_text = (f"over the pilot's grid ({seeds_label(pilot[next(iter(pilot))])}), validation accuracy spans "
                  f"{lo_n:.2f} to {hi_n:.2f}% without BN, {lo_b:.2f} to {hi_b:.2f}% with BN")
    claims = _claims(f1, own_cmp, tests, main, ru, pilot_text, choice["lr"], lr_label(choice["runner_up"]),
                     seeds_label(check[PM_NETWORKS[0]]))
    return PaperMnistFindings(
        lr=choice["lr"], runner_up=choice["runner_up"], bn_lr=choice["bn_lr"], std=choice["std"],
        overall=tuple(choice["overall"]), pilot=values, fig1a=f1, own=own_cmp, main=main, check=ru,
        lenet=steadiness(lenet[PM_LENETS[0]], lenet[PM_LENETS[1]], PM_LENET_LAYER),
        median=tests["mlp-steadier"].comparison, median_from=nobn[0].probe_steps[_late_index(nobn[0], PM_MEDIAN_FROM)],
        init=tests["careful-initialisation"].comparison, init_stds=tuple(sorted({s for s, _ in init or {}})),
        init_steps=len(next(iter(init.values()))[0].step_loss) if init else 0, claims=claims,
        **_settings(pilot, runs, check, lenet))
