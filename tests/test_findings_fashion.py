"""Findings of the Fashion-MNIST chapter on small synthetic runs: every sentence follows the runs it is given."""

import pytest

from bnreview import findings as fd
from bnreview.train import History
from test_findings_tuned import tuned


def run(seed: int, final: float, bn: bool, epoch1: float | None = None, lr: float = 0.9, classes=None,
        diverged: bool = False, epochs: int = 10, batch: int = 64) -> History:
    accs = ([epoch1 if epoch1 is not None else final - 0.02] + [final] * (epochs - 1)) if epochs > 1 else [final]
    return History(config={"lr": lr, "batch_size": batch, "epochs": epochs, "seed": seed, "bn": ["conv1"] if bn else [],
                           "dataset": "fashion-mnist", "val_size": 0},
                   test_acc=accs, per_class_acc=list(classes or [final] * 10), epoch_seconds=[6.0] * epochs,
                   diverged=diverged, steps_per_epoch=938)


def pair(no_bn: list[float], bn: list[float], **kwargs) -> dict[str, list[History]]:
    return {"no BN": [run(s, a, False, **kwargs) for s, a in enumerate(no_bn)],
            "BN": [run(s, a, True, **kwargs) for s, a in enumerate(bn)]}


def sweep(rates: dict[float, tuple[list[float], list[float]]]) -> dict:
    out = {}
    for lr, (no_bn, bn) in rates.items():
        out[("no BN", lr)] = [run(s, a, False, lr=lr, epochs=1, diverged=a < 0.2) for s, a in enumerate(no_bn)]
        out[("BN (all four layers)", lr)] = [run(s, a, True, lr=lr, epochs=1) for s, a in enumerate(bn)]
    return out


SWEEP = sweep({0.1: ([0.70, 0.71, 0.72], [0.82, 0.83, 0.84]), 3.0: ([0.10, 0.10, 0.10], [0.81, 0.82, 0.83])})
D2L = pair([0.80, 0.81, 0.82], [0.86, 0.87, 0.88], epochs=10, batch=256)
PUBLISHED = {"no BN": 0.779, "BN": 0.858}


MNIST = pair([0.987, 0.988, 0.990], [0.986, 0.989, 0.991])
TUNED = tuned([0.900, 0.905, 0.910], [0.912, 0.915, 0.921])


def test_a_gap_on_fashion_and_none_on_mnist_is_supported():
    f = fd.fashion_findings(pair([0.89, 0.895, 0.90], [0.91, 0.915, 0.92]), SWEEP, D2L, PUBLISHED, MNIST, TUNED)
    assert f.final.direction == "higher" and not f.mnist.shown
    assert f.claim.verdict == "supported" and f.claims == [f.claim, f.tuned_claim]
    assert f.tuned_claim.verdict == "supported" and f.tuned.rates == {"no BN": 0.1, "BN": 0.9}
    assert f.tuned_claim.tests[0].entry == "tuned-harder-task" and f.tuned_claim.chapter == "fashion"
    assert f.final.effect_text().startswith("+2.00 points (95% CI +")
    assert f.n_seeds == 3 and f.n_runs == 3 * 2 + 12 + 6 + 4 + 6


def test_no_gap_on_fashion_is_inconclusive_and_bn_behind_is_contradicted():
    level = fd.fashion_findings(pair([0.89, 0.90, 0.91], [0.893, 0.899, 0.913]), SWEEP, D2L, PUBLISHED, MNIST, TUNED)
    assert level.claim.verdict == "inconclusive" and not level.final.shown
    behind = fd.fashion_findings(pair([0.91, 0.915, 0.92], [0.89, 0.895, 0.90]), SWEEP, D2L, PUBLISHED, MNIST, TUNED)
    assert behind.claim.verdict == "contradicted" and behind.final.direction == "lower"


def test_per_class_names_the_classes_bn_helps_and_hurts():
    helped = [0.8] * 10
    helped_bn = list(helped)
    helped_bn[6] = 0.9  # Shirt
    helped_bn[0] = 0.7  # T-shirt/top
    no_bn = [run(s, 0.9, False, classes=[c + 0.001 * s for c in helped]) for s in range(3)]
    bn = [run(s, 0.9, True, classes=[c + 0.001 * s for c in helped_bn]) for s in range(3)]
    f = fd.fashion_findings({"no BN": no_bn, "BN": bn}, SWEEP, D2L, PUBLISHED, MNIST, TUNED)
    assert f.ahead == ["Shirt"] and f.behind == [fd.CLASSES[0]]
    assert f.classes["Shirt"].difference == pytest.approx(10.0)


def test_usable_range_follows_the_protocol_and_counts_diverged_seeds():
    f = fd.fashion_findings(pair([0.89] * 3, [0.91] * 3), SWEEP, D2L, PUBLISHED, pair([0.99] * 3, [0.99] * 3), TUNED)
    assert f.usable == (0.1, 3.0) and f.diverged == {0.1: 0, 3.0: 3} and f.lrs == "0.1, 3"
    assert f.by_lr[3.0].direction == "higher"


def test_d2l_check_compares_our_seeds_with_the_published_runs():
    f = fd.fashion_findings(pair([0.89] * 3, [0.91] * 3), SWEEP, D2L, PUBLISHED, MNIST, TUNED)
    assert f.d2l["no BN"].mean == pytest.approx(81.0) and f.d2l_published["no BN"] == pytest.approx(77.9)
    assert f.d2l_published_gap == pytest.approx(7.9) and f.d2l_gap.direction == "higher"
    assert f.d2l_lrs == {"no BN": 0.9, "BN": 0.9}
