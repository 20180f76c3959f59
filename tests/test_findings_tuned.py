"""Tuned baselines on small synthetic runs: each network at the rate its pilot chose on validation, BN against the
network without it, paired by seed, and the plans that train them."""

import math

import pytest

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.train import History


def run(seed: int, test: float, bn: bool, lr: float, val: float | None = None, diverged: bool = False) -> History:
    return History(config={"lr": lr, "batch_size": 64, "epochs": 10, "seed": seed, "bn": ["conv1"] if bn else [],
                           "val_size": 5000}, test_acc=[test], val_acc=[test if val is None else val],
                   per_class_acc=[test] * 10, epoch_seconds=[1.0], diverged=diverged, steps_per_epoch=860)


def tuned(no_bn: list[float], bn: list[float], pilot_val=None) -> ex.TunedRuns:
    """A pilot at 0.1 and 0.9 (no BN best at 0.1 unless ``pilot_val`` says otherwise; BN at 0.9, the 0.9 run without
    BN diverged) and the comparison's runs at those rates."""
    val = pilot_val or {("no BN", 0.1): 0.98, ("no BN", 0.9): 0.11, ("BN", 0.1): 0.97, ("BN", 0.9): 0.985}
    pilot = {key: [run(0, v, key[0] == "BN", key[1], diverged=v < 0.2)] for key, v in val.items()}
    choice = ex.tuned_choice(pilot)
    runs = {name: [run(s, a, name == "BN", choice[name]) for s, a in enumerate(accs)]
            for name, accs in (("no BN", no_bn), ("BN", bn))}
    return ex.TunedRuns(pilot, choice, runs)


def test_each_network_keeps_its_best_rate_on_validation_and_a_diverged_pilot_shows_as_nan():
    t = tuned([0.980, 0.981, 0.982], [0.985, 0.986, 0.987])
    assert t.choice == {"no BN": 0.1, "BN": 0.9}
    f = fd.tuned_findings(t.pilot, t.choice, t.runs)
    assert f.rates == {"no BN": 0.1, "BN": 0.9} and not f.same_rate
    assert f.pilot["no BN"][0.1] == pytest.approx(98.0) and math.isnan(f.pilot["no BN"][0.9])
    assert f.finals["BN"].mean == pytest.approx(98.6) and f.final.paired
    assert f.final.difference == pytest.approx(0.5) and f.final.shown
    assert f.setting == ("MNIST, LeNet (tanh), plain SGD, batch 64, 10 epochs over 55,000 images (5,000 held out), "
                         "seeds 0 to 2")  # no rate: each network has its own
    assert f.evidence.startswith("each network at its rate chosen on validation (lr 0.1 without BN, 0.9 with): BN's "
                                 "advantage in final test accuracy +0.50 points (95% CI")


def verdict(t: ex.TunedRuns) -> str:
    """The ledger's verdict on the lenet_bn chapter's tuned row, for these runs."""
    return fd.Claim("topic", "paper", "review", "evidence", (fd.Test("tuned-accuracy", fd.tuned_findings(
        t.pilot, t.choice, t.runs).final),), "lenet_bn").verdict


@pytest.mark.parametrize("bn, verdict_word", [([0.984, 0.978, 0.983], "inconclusive"),  # noisy: the interval is wide
                                         ([0.9801, 0.9809, 0.9822], "contradicted"),  # rules out 0.3 points
                                         ([0.975, 0.976, 0.977], "contradicted")])
def test_no_gain_over_the_tuned_network_is_never_supported(bn, verdict_word):
    assert verdict(tuned([0.980, 0.981, 0.982], bn)) == verdict_word


def test_the_plans_train_the_pilot_on_one_seed_then_each_network_at_its_rate_with_images_held_out():
    pilot = ex.tuned_pilot_plan(ex.FASHION)
    assert {key for key in pilot} == {(n, lr) for n in ex.TUNED_NETWORKS for lr in ex.TUNED_LRS}
    assert all(len(configs) == 1 and configs[0].seed == 0 for configs in pilot.values())
    config = pilot["BN", 0.3][0]
    assert config.dataset == "fashion-mnist" and config.val_size == ex.val_size() > 0 and config.epochs == 10
    assert config.bn == ex.TUNED_NETWORKS["BN"] and config.probe_every == 0 and config.batch_size == 64
    plan = ex.tuned_plan(ex.FASHION, {"no BN": 0.1, "BN": 0.9})
    assert [c.seed for c in plan["BN"]] == list(ex.seeds()) and plan["no BN"][0].lr == 0.1
    assert plan["BN"][0] == ex.tuned_config(ex.FASHION, ex.TUNED_NETWORKS["BN"], 0.9)  # seed 0 is the pilot's run
    assert pilot["BN", 0.9][0] == plan["BN"][0]
