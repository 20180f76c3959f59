"""The chapter "What does BN really do?" (bnreview.findings, section "Chapter: what_bn_does") on synthetic runs."""

import math

from bnreview import findings as fd
from bnreview.page import Page
from bnreview.train import History

LAYERS = fd.WB_LAYERS


def lenet(final=0.97, lr=0.9, seed=0, diverged=False, wobble=0.1, growth=2.0, noise=0.0, batch=64, n_train=None,
          steps=859):
    """A one-epoch LeNet run: one unit per layer whose percentiles swing by ``wobble`` between probes, and each
    layer's weight norm growing from 1 to ``growth``."""
    n = 1 if diverged else 5
    mids = [wobble * (i % 2) for i in range(n)]
    probes = {layer: {"unit_p15": [m - 1 for m in mids], "unit_p50": mids, "unit_p85": [m + 1 for m in mids],
                      "weight_norm": [1.0 + (growth - 1.0) * i / max(n - 1, 1) for i in range(n)]} for layer in LAYERS}
    config = {"lr": lr, "batch_size": batch, "seed": seed, "n_train": n_train, "val_size": 0 if n_train else 5000,
              "bn_noise": noise, "probe_every": 50}
    return History(config=config, test_acc=[0.1 if diverged else final], diverged=diverged, steps_per_epoch=steps,
                   epoch_seconds=[10.0], probe_steps=[50 * i for i in range(n)], probes=probes)


def seeds(n=3, **kw):
    return [lenet(seed=s, **kw) for s in range(n)]


def noisy(noisy_hi=0.955, noisy_diverges=False, n=3):
    """lr 0.9: all train (noisy BN a little lower); lr 3: no BN diverges, noisy BN trails BN, and drifts most."""
    return {
        0.9: {"no BN": seeds(n, final=0.972, wobble=0.3), "BN": seeds(n, final=0.978, wobble=0.1, growth=3.0),
              "noisy BN": seeds(n, final=0.967, wobble=0.8, growth=3.0, noise=1.0)},
        3.0: {"no BN": seeds(n, lr=3.0, diverged=True), "BN": seeds(n, lr=3.0, final=0.972, wobble=0.15, growth=5.0),
              "noisy BN": seeds(n, lr=3.0, final=noisy_hi, wobble=0.9, growth=5.1, noise=1.0,
                                diverged=noisy_diverges)},
    }


def test_drift_leaves_diverged_runs_out():
    assert fd.unit_drift(seeds(final=0.97, wobble=0.5)).mean == 0.5
    assert fd.unit_drift(seeds(diverged=True)) is None
    mixed = [lenet(wobble=0.5), lenet(diverged=True)]
    assert fd.unit_drift(mixed).n == 1


def test_noisy_bn_argues_against_covariate_shift_but_trails_plain_bn():
    nz = fd.noisy_findings(noisy())
    assert nz["lo"] == 0.9 and nz["hi"] == 3.0 and nz["trails"] == [0.9, 3.0]
    assert nz["mechanism"].startswith("So at lr 3 the inputs of the noisy network's layers move more than with plain BN")
    assert "below plain BN at lr 0.9, 3." in nz["cost"]
    assert ("holds here only in part: the noise is not free, though the tolerance of the large learning rate "
            "survives it. These runs cannot tell") in nz["cost"]
    # noisy BN ends lower at both rates: the covariate-shift test's claim (noise costs accuracy) holds at each
    assert [fd.judge([t])[0].verdict for t in nz["tests"]] == ["supported", "supported"]
    assert [t.label for t in nz["tests"]] == ["lr 0.9", "lr 3"]
    assert nz["reading"].startswith("So the noisy-BN result argues against covariate shift")
    assert "without BN at lr 3 every seed diverged, so there is no drift to measure" in nz["drift"]
    assert "3 of 3 seeds diverged" in nz["per_lr"]
    assert nz["headline"].startswith("At lr 3, where LeNet without BN diverges (3 of 3 seeds), noisy BN ends at 95.50%")
    assert "grow over the epoch in every seed of both BN networks" in nz["scale"] and "does not exclude zero" in nz["scale"]
    assert set(nz["groups"][3.0]["conv1"]) == {"BN", "noisy BN"}  # all of no BN diverged: no bars


def test_noisy_bn_level_with_plain_bn_is_not_supported_covariate_shift():
    nz = fd.noisy_findings(noisy(noisy_hi=0.972))
    assert nz["trails"] == [0.9]
    assert [fd.judge([t])[0].verdict for t in nz["tests"]] == ["supported", "contradicted"]  # level at lr 3
    both = noisy(noisy_hi=0.972)
    both[0.9]["noisy BN"] = seeds(final=0.978, wobble=0.8, growth=3.0, noise=1.0)
    nz = fd.noisy_findings(both)
    assert nz["trails"] == [] and "not distinguishable from plain BN at lr 0.9, 3" in nz["cost"]
    assert fd.summary([j.verdict for j in fd.judge(nz["tests"])]) == "contradicted"


def test_noisy_bn_that_diverges_supports_covariate_shift():
    nz = fd.noisy_findings(noisy(noisy_diverges=True))
    assert fd.summary([j.verdict for j in fd.judge(nz["tests"])]) == "supported"  # diverged: 10% against 97.2%
    assert nz["mechanism"] == ("These runs do not show noisy BN surviving lr 3 with more drift than the network "
                               "without BN: noisy BN diverges in some seed at lr 3; its drift is not shown larger "
                               "than plain BN's at lr 3; its drift is not shown larger than that of the network "
                               "without BN at lr 0.9.")  # all its seeds diverged: no drift to compare
    assert nz["reading"] == "So these runs do not separate the two explanations."


def test_a_single_seed_still_gives_sentences():
    nz = fd.noisy_findings(noisy(n=1))
    assert "(1 seed)" in nz["per_lr"]
    assert [j.verdict for j in fd.judge(nz["tests"])] == ["inconclusive", "inconclusive"]  # no interval


def batch_sweep(sizes=(2, 64, 256), n=3):
    by_batch, inference = {}, {}
    for b in sizes:
        steps = math.ceil(20_000 / b)
        small, large = b == sizes[0], b == sizes[-1]
        by_batch["no BN", b] = [lenet(final=0.15 if large else 0.955, lr=0.3 * b / 64, batch=b, n_train=20_000,
                                      steps=steps, seed=s) for s in range(n)]
        by_batch["BN", b] = [lenet(final=0.6 if small else 0.97, lr=0.3 * b / 64, batch=b, n_train=20_000,
                                   steps=steps, seed=s) for s in range(n)]
        inference[b] = [{"ema": (0.6 if small else 0.97) + 0.001 * s, "population": (0.6 if small else 0.975) + 0.001 * s,
                         "batch": (0.35 if small else 0.969) + 0.001 * s, "gap_mean": 0.04, "gap_std": 0.05}
                        for s in range(n)]
    return by_batch, inference


def test_batch_findings_state_the_steps_of_every_batch_size():
    bt = fd.batch_findings(*batch_sweep())
    assert "batch 2: 10,000 steps at lr 0.009375; batch 64: 313 steps at lr 0.3; batch 256: 79 steps at lr 1.2" \
        in bt["confound"]
    assert "not of the batch size alone" in bt["confound"]
    assert bt["ahead"] == [64, 256] and bt["behind"] == [2]
    assert "below the network without BN at batch 2" in bt["versus"]
    assert "+25.00 at batch 2" in bt["train_mode"]
    assert "(10,000 at batch 2, 79 at batch 256" in bt["headline"]
    assert bt["table"].count("\n") == 4


def test_population_findings_count_and_criterion():
    by_batch, inference = batch_sweep()
    pop = fd.population_findings(inference)
    assert pop["better"] == [64, 256] and pop["worse"] == []
    assert "higher test accuracy than the moving averages in 6 of 9 BN runs" in pop["text"]
    assert "not distinguishable (the interval includes zero) at batch 2" in pop["text"]
    assert [t.comparison.paired for t in pop["tests"]] == [True] * 3  # the same runs evaluated two ways
    # non-inferiority with a 0.1-point margin: equal at batch 2 and +0.5 at 64 and 256 all pass it
    assert [j.verdict for j in fd.judge(pop["tests"])] == ["supported"] * 3
    one = {2: [{"ema": 0.9, "population": 0.89, "batch": 0.8, "gap_mean": 0.1, "gap_std": 0.1}]}
    p1 = fd.population_findings(one)
    assert p1["worse"] == [] and "not distinguishable" in p1["headline"]
    assert fd.judge(p1["tests"])[0].verdict == "inconclusive"
    worse = {8: [{"ema": 0.9 + 0.01 * s, "population": 0.897 + 0.01 * s - 0.0001 * s, "batch": 0.8, "gap_mean": 0.1,
                  "gap_std": 0.1} for s in range(3)]}
    assert fd.judge(fd.population_findings(worse)["tests"])[0].verdict == "contradicted"  # 0.3 points lower


def test_the_chapter_findings():
    by_batch, inference = batch_sweep()
    v = fd.what_bn_does_findings(noisy(), by_batch, inference)
    for key in ("headline_noisy", "headline_batch", "headline_population", "learned"):
        assert isinstance(v[key], str) and v[key]
    assert [c.verdict for c in v["claims"]] == ["supported", "supported"]
    assert v["batch_lr_64"] == "0.3" and v["batch_setting"].endswith("seeds 0, 1, 2")
    assert v["noisy_setting"].endswith("seeds 0, 1, 2") and v["noisy_setting_seed0"].endswith("seed 0")
    assert set(v["batch_series"]) >= {"no BN"} and len(v["batch_series"]["no BN"][1]) == 3
    assert all(isinstance(x, (str, int, float)) for x in Page(v).as_dict().values())
    assert v["learned"].count("\n- ") == 5
