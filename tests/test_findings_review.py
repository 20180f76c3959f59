"""Findings of the chapters motivation, algorithm, baseline, lenet_bn and regularisation on small synthetic runs."""

import math

import pytest
import torch

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.probes import saturated
from bnreview.train import History
from test_findings_tuned import tuned

LAYERS = fd.MOT_LAYERS
SCALES = (1, 3, 10)  # the scales the prose quotes, and no more (fast)


# --- motivation


@pytest.mark.parametrize("activation, expected", [("tanh", 1.818), ("sigmoid", 3.637)])
def test_saturation_threshold_is_where_train_saturated_switches(activation, expected):
    t = fd.saturation_threshold(activation)
    assert t == pytest.approx(expected, abs=1e-3)
    below, above = saturated(torch.tensor([t - 1e-3, -(t - 1e-3)]), activation), saturated(
        torch.tensor([t + 1e-3, -(t + 1e-3)]), activation)
    assert not below.any() and above.all()


def test_saturation_threshold_refuses_other_activations():
    with pytest.raises(ValueError, match="'tanh', 'sigmoid'"):
        fd.saturation_threshold("relu")


def test_saturation_table_grows_with_the_scale():
    table = fd.saturation_table((0.1, 1, 10), n=10_000)
    for name in ("tanh", "sigmoid"):
        sat, slope = table[name]["saturated"], table[name]["mean_slope"]
        assert sat[0] == 0 and sat[0] < sat[1] < sat[2] and slope[0] > slope[1] > slope[2]
    assert table["tanh"]["saturated"][1] > table["sigmoid"]["saturated"][1]  # the sigmoid is a stretched tanh


def probed(seed: int, spreads: dict[str, tuple[float, float]], sat: dict[str, float]) -> History:
    """A run whose layers' 15-85th percentile spread goes from start to end, with a share saturated at the end."""
    probes = {layer: {"p15": [-a / 2, -b / 2], "p85": [a / 2, b / 2], "p50": [0.0, 0.0],
                      "saturated": [0.0, sat[layer]]} for layer, (a, b) in spreads.items()}
    return History(config={"lr": 0.9, "batch_size": 64, "epochs": 10, "seed": seed, "probe_every": 50},
                   probe_steps=[0, 50], probes=probes)


def motivation_runs(n=3, bn_factor=2.0, bn_sat=0.3):
    base = [probed(s, {layer: (0.5, 5.0 + 0.1 * s) for layer in LAYERS}, {layer: 0.7 for layer in LAYERS})
            for s in range(n)]
    bn = [probed(s, {layer: (1.0, bn_factor + 0.01 * s) for layer in LAYERS},
                 {layer: bn_sat + (0.1 if layer == "conv2" else 0) for layer in LAYERS}) for s in range(n)]
    return base, bn


def test_motivation_bn_slows_the_drift_but_does_not_hold_it_still():
    f = fd.motivation_findings(*motivation_runs(), scales=SCALES)
    assert f.thresholds["sigmoid"] == pytest.approx(3.64, abs=0.01) and f.thresholds["tanh"] == pytest.approx(1.82, abs=0.01)
    assert f.most_saturated("BN") == "conv2" and not f.still and f.slower == list(LAYERS)
    assert f.layers["BN"]["conv2"].saturated.mean == pytest.approx(40.0) and f.less_saturated == list(LAYERS)
    # the runs end at step 50, before the protocol's step 100: the distributions are not tested; the saturation
    # is, in conv1, the layer most saturated without BN (the first of the tie): 30% with BN against 70% without
    assert [c.verdict for c in f.claims] == ["not tested", "supported"]
    assert f.claims[1].tests[0].label == "conv1"
    assert f.at("tanh", 10)[0] > f.at("tanh", 1)[0] and "| conv2 | BN | 1.00 (1.00 to 1.00) |" in f.table()
    assert f.range_text("no BN", "end") == "5.10 (conv1) to 5.10 (conv1)"  # every layer alike
    assert f.range_text("BN", "moved", 1) == "2.0 (conv1) to 2.0 (conv1)"  # (2.01 - 1) / 0.5, in no-BN units


def test_motivation_when_bn_holds_the_inputs_still():
    assert fd.motivation_findings(*motivation_runs(bn_factor=1.05), scales=SCALES).still


def test_motivation_when_bn_does_not_slow_anything():
    base, bn = motivation_runs(bn_factor=20.0, bn_sat=0.8)
    f = fd.motivation_findings(base, bn, scales=SCALES)
    assert f.slower == [] and f.less_saturated == []
    assert [c.verdict for c in f.claims] == ["not tested", "contradicted"]  # 80% saturated with BN, 70% without


def test_layer_distributions_measure_the_change_from_step_100_in_the_no_bn_spread():
    def three(seed, start, at_100, end):
        probes = {layer: {"p15": [-start / 2, -at_100 / 2, -end / 2], "p85": [start / 2, at_100 / 2, end / 2]}
                  for layer in LAYERS}
        return History(config={"seed": seed}, probe_steps=[0, 100, 200], probes=probes)

    base = [three(s, 0.5, 1.0, 3.0 + 0.1 * s) for s in range(4)]  # moves 2.0-2.3 spreads of 1.0
    bn = [three(s, 1.0, 1.0, 1.1 + 0.01 * s) for s in range(4)]
    test = fd.distribution_test(base, bn, LAYERS)
    assert test.entry == "layer-distributions" and test.comparison.paired
    assert test.comparison.a.values == pytest.approx((2.0, 2.1, 2.2, 2.3))
    assert test.comparison.b.values == pytest.approx((0.1, 0.11, 0.12, 0.13))
    assert fd.judge([test])[0].verdict == "supported"


def test_motivation_with_a_single_seed():
    f = fd.motivation_findings(*motivation_runs(n=1), scales=SCALES)
    assert f.n_seeds == 1 and "seed 0" in f.setting and "| conv1 | no BN | 0.50 |" in f.table()


# --- algorithm


def test_algorithm_findings_match_torch():
    f = fd.algorithm_findings(shapes=((8, 3), (4, 2, 3, 3)))
    assert f.same and f.largest < fd.ALG_TOLERANCE and f.shapes == ((8, 3), (4, 2, 3, 3)) and f.claims == []
    assert not fd.AlgorithmFindings(1e-3, ((8, 3),), fd.ALG_TOLERANCE).same


# --- baseline and lenet_bn


def trained(final, seed=0, first=None, seconds=1.0, loss=0.05, per_class=None, steps=(0.3, 0.2), impl="ours",
            bn=()):
    accs = [final if first is None else first, final]
    return History(config={"lr": 0.9, "batch_size": 64, "epochs": 2, "n_train": None, "seed": seed, "bn": list(bn),
                           "bn_impl": impl},
                   test_acc=accs, test_loss=[loss, loss], train_loss=[0.2, 0.1], epoch_seconds=[seconds, seconds],
                   step_loss=list(steps), per_class_acc=per_class or [0.99] * 9 + [0.97], steps_per_epoch=1)


def test_baseline_findings_anchor_and_hardest_digits():
    runs = [trained(0.988, 0, per_class=[0.99] * 9 + [0.97]), trained(0.9865, 1, per_class=[0.95] + [0.99] * 9),
            trained(0.987, 2)]
    f = fd.baseline_findings(runs[0], runs)
    assert f.shown is runs[0] and f.digits_by_accuracy[0] == 9 and f.finals.mean == pytest.approx(98.7167, abs=1e-3)
    assert f.errors.lo == pytest.approx(1.2) and f.errors.hi == pytest.approx(1.35)
    assert f.hardest == {0: 9, 1: 0, 2: 9}
    assert f.claim.tests[0].comparison.paired  # each seed against the review's 98%: a one-sample t
    assert f.claim.verdict == "supported" and f.claims == [f.claim]  # 98.8, 98.65, 98.7: above 98


def test_baseline_on_both_sides_of_the_review_98_is_inconclusive():
    runs = [trained(0.9905, 0), trained(0.97, 1)]
    assert fd.baseline_findings(runs[0], runs).claim.verdict == "inconclusive"


TUNED = tuned([0.980, 0.981, 0.982], [0.984, 0.985, 0.986])


def review_runs(base_final=(0.987, 0.986, 0.9875), bn_final=(0.9903, 0.9894, 0.9908), bn_first=0.98, base_first=0.97,
                base_sec=(10, 11, 12), bn_sec=(13, 14, 15)):
    base = [trained(f, s, first=base_first, seconds=t) for s, (f, t) in enumerate(zip(base_final, base_sec))]
    bn = [trained(f, s, first=bn_first, seconds=t, bn=LAYERS) for s, (f, t) in enumerate(zip(bn_final, bn_sec))]
    return base, bn


def torch_twins(bn, shift=0.0, seconds=None, **changes):
    """torch.nn.BatchNorm's run of each of ``bn``'s seeds: the same accuracies (plus ``shift``) unless told."""
    return [trained(h.final_test_acc + shift, h.config["seed"], first=h.test_acc[0], impl="torch", bn=LAYERS,
                    seconds=h.epoch_seconds[0] if seconds is None else seconds, **changes) for h in bn]


def test_review_findings_comparisons_claims_and_benchmarked_time():
    base, bn = review_runs()
    step = ex.StepSeconds(0.010, 0.013, 0.012, "here")
    f = fd.review_findings(base, bn, torch_twins(bn, steps=(0.3, 0.2000001)), TUNED, step)
    assert f.final.direction == "higher" and f.final.difference == pytest.approx(0.3333, abs=1e-3)
    assert f.final.effect_text().startswith("+0.33 points (95% CI +0.32 to +0.35)")
    assert f.impl.accuracy.difference == pytest.approx(0.0) and f.impl.same_epochs == 2
    assert f.impl.loss_diff == pytest.approx(1e-7, abs=1e-9) and f.impl.test.comparison.paired
    assert f.step is step and "13.0 ms with ours against 12.0 ms with torch's" in f.claims[2].evidence
    # identical accuracies over 3 seeds: equivalence within 0.1 points is supported; BN 0.4 points above the tuned
    # network without it on every seed: supported
    assert [c.verdict for c in f.claims] == ["supported", "supported", "supported"]
    assert f.tuned.rates == {"no BN": 0.1, "BN": 0.9} and f.claims[1].tests[0].comparison is f.tuned.final


def test_review_findings_overlapping_seeds_and_only_early_gain_is_mixed():
    base, bn = review_runs(bn_final=(0.986, 0.9885, 0.987), base_sec=(10, 14, 12), bn_sec=(13, 11, 15))
    f = fd.review_findings(base, bn, torch_twins(bn, seconds=20.0), TUNED)
    assert not f.final.shown and f.epoch1.shown and f.step is None
    assert f.claims[0].verdict == "inconclusive"  # higher after one epoch only: the claim is the final accuracy


def test_review_findings_single_seed_and_missing_seed():
    base, bn = review_runs(base_final=(0.987,), bn_final=(0.987,), base_sec=(10,), bn_sec=(10,))
    f = fd.review_findings(base, bn, torch_twins(bn, seconds=10.5), TUNED)
    assert f.final.effect_text() == "+0.00 points (no interval: one run a side)"
    assert f.claims[0].verdict == "inconclusive" and f.claims[2].verdict == "inconclusive"
    with pytest.raises(ValueError, match="the same seeds"):
        fd.review_findings(base, bn, [trained(0.987, 5, impl="torch")], TUNED)


# --- regularisation


def reg_run(test, seed, bn=(), dropout=0.0):
    return History(config={"lr": 0.9 if bn else 0.3, "val_size": 5000, "batch_size": 64, "epochs": 15, "n_train": 2000, "seed": seed, "bn": list(bn),
                           "dropout": dropout}, test_acc=[test * 0.9, test])


def reg_runs(tests: dict[str, tuple[float, ...]]):
    setting = {"neither": ((), 0.0), "dropout": ((), 0.5), "BN": (LAYERS, 0.0), "BN + dropout": (LAYERS, 0.5)}
    return {name: [reg_run(t, s, *setting[name]) for s, t in enumerate(tests[name])] for name in setting}


TRAIN = {"neither": 1.0, "dropout": 0.99, "BN": 1.0, "BN + dropout": 0.995}


def fit(h):
    return TRAIN["BN" if h.config["bn"] else "neither"] - (0.005 if h.config["dropout"] else 0)


def test_regularisation_bn_narrows_the_gap_and_lets_dropout_go():
    runs = reg_runs({"neither": (0.95, 0.951, 0.952), "dropout": (0.96, 0.961, 0.962),
                     "BN": (0.965, 0.967, 0.966), "BN + dropout": (0.964, 0.966, 0.968)})
    f = fd.regularisation_findings(runs, fit)
    assert f.gap["neither"].values == pytest.approx((5.0, 4.9, 4.8))
    assert f.gap_bn.direction == "lower" and f.bn_vs_dropout.direction == "higher" and not f.both_vs_bn.shown
    # the gap 1.4 to 1.6 points narrower; BN alone within 0.5 points of BN + dropout by its interval: non-inferior
    assert [c.verdict for c in f.claims] == ["supported", "supported"]
    assert f.claims[1].tests[0].comparison.paired and f.val_size == 5000 and f.n_train == 2000
    assert "fixed subset of 2,000 training images, dropout 0.5" in f.setting and f.n_seeds == 3
    assert "chosen on validation for each (neither 0.3, dropout 0.3, BN 0.9, BN + dropout 0.9)" in f.setting
    assert f.lrs == {"neither": 0.3, "dropout": 0.3, "BN": 0.9, "BN + dropout": 0.9} and f.dropout == 0.5
    assert "| BN + dropout |" in f.table()
    assert f.drops["BN"] == 0  # every run rises from epoch 1 to 2


def test_largest_epoch_drop():
    h = History(config={}, test_acc=[0.9, 0.95, 0.7, 0.96])
    assert fd.largest_epoch_drop([h]) == pytest.approx(25.0)
    assert fd.largest_epoch_drop([History(config={}, test_acc=[0.9])]) == 0.0


def test_regularisation_dropout_still_helps_with_bn():
    runs = reg_runs({"neither": (0.95, 0.951, 0.952), "dropout": (0.97, 0.971, 0.972),
                     "BN": (0.95, 0.952, 0.953), "BN + dropout": (0.975, 0.976, 0.977)})
    f = fd.regularisation_findings(runs, fit)
    assert not f.gap_bn.shown and f.bn_vs_dropout.direction == "lower" and f.both_vs_bn.direction == "higher"
    assert f.claims[1].verdict == "contradicted"  # dropping dropout costs more than the 0.5 points that matter


def test_regularisation_single_seed_and_missing_variant():
    runs = reg_runs({"neither": (0.95,), "dropout": (0.96,), "BN": (0.96,), "BN + dropout": (0.96,)})
    f = fd.regularisation_findings(runs, fit)
    assert f.n_seeds == 1 and "(1 seed: mean, range)" in f.table() and not f.bn_vs_dropout.shown
    del runs["dropout"]
    with pytest.raises(ValueError, match="dropout"):
        fd.regularisation_findings(runs, fit)


def test_l2_compares_the_gain_from_the_chosen_weight_decay_between_the_networks():
    pilot = {(n, wd): [History(config={"seed": 0}, val_acc=[acc])] for n, wd, acc in (
        ("neither", 0.0, 0.90), ("neither", 1e-4, 0.95), ("BN", 0.0, 0.96), ("BN", 1e-4, 0.95))}
    accs = {("neither", "none"): (0.90, 0.91, 0.92), ("neither", "chosen"): (0.93, 0.945, 0.95),
            ("BN", "none"): (0.95, 0.955, 0.96), ("BN", "chosen"): (0.95, 0.955, 0.96)}
    runs = {key: [reg_run(t, s) for s, t in enumerate(ts)] for key, ts in accs.items()}
    f = fd.l2_findings(pilot, {"neither": 1e-4, "BN": 0.0}, runs)
    assert f.pilot == {"neither": {0.0: 90.0, 1e-4: 95.0}, "BN": {0.0: 96.0, 1e-4: 95.0}}
    assert f.gains["neither"].values == pytest.approx((3.0, 3.5, 3.0)) and f.gains["BN"].values == (0.0, 0.0, 0.0)
    assert f.less.paired and f.less.difference == pytest.approx(-19 / 6)
    assert f.claim.tests[0].entry == "less-l2" and f.claim.verdict == "supported"  # BN gains about 3 points less


def test_decay_compares_the_faster_schedule_with_the_base_one_per_network():
    def decayed(t, seed, factor, bn=()):
        return History(config={"seed": seed, "bn": list(bn), "lr_decay": factor}, test_acc=[t])

    accs = {("neither", "base"): (0.95, 0.96, 0.97), ("neither", "6x faster"): (0.93, 0.94, 0.95),
            ("BN", "base"): (0.95, 0.96, 0.97), ("BN", "6x faster"): (0.951, 0.962, 0.971)}
    factor = {"base": 0.9, "6x faster": 0.9 ** 6}
    f = fd.decay_findings({key: [decayed(t, s, factor[key[1]]) for s, t in enumerate(ts)] for key, ts in accs.items()})
    assert f.factors == factor and f.final["BN", "base"].mean == pytest.approx(96.0)
    assert f.faster["neither"].direction == "lower" and f.faster["BN"].difference == pytest.approx(0.1333, abs=1e-3)
    assert f.claim.tests[0].entry == "faster-decay" and f.claim.verdict == "supported"  # no worse by 0.5 points


def test_train_test_gap_needs_one_training_accuracy_per_run():
    with pytest.raises(ValueError):
        fd.train_test_gaps([reg_run(0.9, 0)], [1.0, 1.0])
    assert math.isclose(fd.train_test_gaps([reg_run(0.9, 0)], [1.0]).mean, 10.0)
