"""Findings of the Fashion-MNIST chapter on small synthetic runs: every sentence follows the runs it is given."""

import pytest

from bnreview import findings as fd
from bnreview.train import History


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


def test_a_clear_gap_on_fashion_and_none_on_mnist_says_it_was_the_data():
    v = fd.fashion_findings(pair([0.89, 0.895, 0.90], [0.91, 0.915, 0.92]), SWEEP, D2L, PUBLISHED,
                            pair([0.987, 0.988, 0.990], [0.986, 0.989, 0.991]))
    assert "about the data" in v["headline"] and v["final_clear"] == 1
    assert v["claims"][0].verdict == "supported"
    assert "+2.00 points" in v["final_compare"] and "is above zero" in v["final_compare"]
    assert "does not exclude zero" in v["mnist_compare"]


def test_no_gap_on_fashion_says_the_data_alone_does_not_explain_it():
    v = fd.fashion_findings(pair([0.89, 0.90, 0.91], [0.893, 0.899, 0.913]), SWEEP, D2L, PUBLISHED,
                            pair([0.987, 0.988, 0.990], [0.986, 0.989, 0.991]))
    assert "does not explain" in v["headline"] and "about the data" not in v["headline"]
    assert v["claims"][0].verdict == "inconclusive" and v["final_clear"] == 0


def test_bn_behind_on_fashion_is_said_as_such():
    v = fd.fashion_findings(pair([0.91, 0.915, 0.92], [0.89, 0.895, 0.90]), SWEEP, D2L, PUBLISHED,
                            pair([0.987, 0.988, 0.990], [0.986, 0.989, 0.991]))
    assert "BN ends below" in v["headline"] and v["claims"][0].verdict == "contradicted"


def test_per_class_names_the_classes_bn_helps_and_hurts():
    helped = [0.8] * 10
    helped_bn = list(helped)
    helped_bn[6] = 0.9  # Shirt
    helped_bn[0] = 0.7  # T-shirt/top
    no_bn = [run(s, 0.9, False, classes=[c + 0.001 * s for c in helped]) for s in range(3)]
    bn = [run(s, 0.9, True, classes=[c + 0.001 * s for c in helped_bn]) for s in range(3)]
    text = fd.per_class_text(fd.per_class(no_bn, bn))
    assert text.startswith("BN is ahead on 1 of 10 classes (Shirt (+10.0))")
    assert f"behind on 1 ({fd.CLASSES[0]} (-10.0))" in text and "the other 8" in text


def test_usable_range_follows_the_protocol_and_counts_diverged_seeds():
    v = fd.fashion_findings(pair([0.89] * 3, [0.91] * 3), SWEEP, D2L, PUBLISHED, pair([0.99] * 3, [0.99] * 3))
    assert v["usable_range"].startswith("BN widens the usable range of learning rates from 0.1 to 3")
    assert "at lr 3, " in v["lr_compare"] and "3 of 3 seeds without BN diverged" in v["lr_compare"]


@pytest.mark.parametrize("ours, relation", [([0.77, 0.78, 0.79], "lies within the range of our seeds"),
                                            ([0.82, 0.83, 0.84], "5.1 points above")])
def test_d2l_agreement_is_stated_against_the_range_of_our_seeds(ours, relation):
    texts = fd.d2l_texts(pair(ours, [0.86, 0.86, 0.86], epochs=10, batch=256), PUBLISHED)
    assert relation in texts["no BN"] and "d2l's 77.9%" in texts["no BN"]


def test_d2l_sign_follows_our_runs():
    assert "agree with it in sign" in fd.d2l_sign_text(D2L, PUBLISHED)
    flipped = pair([0.86, 0.87, 0.88], [0.80, 0.81, 0.82], epochs=10, batch=256)
    assert "do not show its sign" in fd.d2l_sign_text(flipped, PUBLISHED)
