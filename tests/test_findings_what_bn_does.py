"""The chapter "What does BN really do?" (bnreview.findings, section "Chapter: what_bn_does") on synthetic runs."""

import math

from bnreview import findings as fd
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
    assert isinstance(nz, fd.NoisyFindings)
    assert nz.lo == 0.9 and nz.hi == 3.0 and nz.where("lower") == [0.9, 3.0] and nz.n_seeds == 3
    assert nz.nobn_fails and nz.noisy_survives and nz.against_ics  # more drift than plain BN and than no BN at lr 0.9
    assert nz.drift_vs_bn.direction == "higher" and nz.drift_vs_nobn.direction == "higher"
    # noisy BN ends lower at both rates: the covariate-shift test's claim (noise costs accuracy) holds at each
    assert [fd.judge([t])[0].verdict for t in nz.tests] == ["supported", "supported"]
    assert [t.label for t in nz.tests] == ["lr 0.9", "lr 3"]
    hi = nz.rates[3.0]
    assert hi.drift["no BN"] is None  # every seed without BN diverged: no drift to measure
    assert hi.diverged == {"no BN": 3, "BN": 0, "noisy BN": 0}
    assert round(hi.accuracy["noisy BN"].mean, 2) == 95.5 and round(hi.noisy_vs_bn.difference, 2) == -1.7
    # the weights before BN grow in every seed of both networks; at lr 0.9 by the same factor, not shown apart
    assert nz.weights_grow and nz.rates[0.9].growth.difference == 0 and not nz.rates[0.9].growth.shown
    assert set(nz.drift_groups[3.0]["conv1"]) == {"BN", "noisy BN"}  # all of no BN diverged: no bars
    assert nz.noise == 1.0 and nz.probe_every == 50 and nz.layer == fd.WB_NORM_LAYER
    assert nz.setting.endswith("seeds 0 to 2") and nz.setting_seed0.endswith("seed 0")


def test_noisy_bn_level_with_plain_bn_is_not_supported_covariate_shift():
    nz = fd.noisy_findings(noisy(noisy_hi=0.972))
    assert nz.where("lower") == [0.9] and nz.where("not shown") == [3.0]
    assert [fd.judge([t])[0].verdict for t in nz.tests] == ["supported", "contradicted"]  # level at lr 3
    both = noisy(noisy_hi=0.972)
    both[0.9]["noisy BN"] = seeds(final=0.978, wobble=0.8, growth=3.0, noise=1.0)
    nz = fd.noisy_findings(both)
    assert nz.where("lower") == [] and nz.where("not shown") == [0.9, 3.0]
    assert fd.summary([j.verdict for j in fd.judge(nz.tests)]) == "contradicted"
    both[3.0]["BN"] = seeds(lr=3.0, final=0.972, wobble=0.15, growth=0.9)  # plain BN's weights shrink at lr 3
    assert not fd.noisy_findings(both).weights_grow


def test_noisy_bn_that_diverges_supports_covariate_shift():
    nz = fd.noisy_findings(noisy(noisy_diverges=True))
    assert fd.summary([j.verdict for j in fd.judge(nz.tests)]) == "supported"  # diverged: 10% against 97.2%
    # noisy BN diverges at lr 3, so its drift there is not measured: nothing to argue against covariate shift
    assert nz.nobn_fails and not nz.noisy_survives and not nz.against_ics
    assert nz.drift_vs_bn is None and nz.drift_vs_nobn is None
    assert nz.rates[3.0].growth is None and nz.rates[0.9].growth is not None  # compared only where both BNs train


def test_a_single_seed_still_gives_findings():
    nz = fd.noisy_findings(noisy(n=1))
    assert nz.n_seeds == 1 and nz.rates[0.9].accuracy["BN"].short() == "97.80%"
    assert [j.verdict for j in fd.judge(nz.tests)] == ["inconclusive", "inconclusive"]  # no interval
    assert "no interval: one run a side" in nz.rates[0.9].noisy_vs_bn.effect_text()
    assert not nz.against_ics  # no interval shows the drift larger


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
    assert isinstance(bt, fd.BatchFindings) and bt.sizes == [2, 64, 256] and bt.n_seeds == 3
    assert [(r.batch, r.steps, r.lr) for r in bt.rows] == [(2, 10_000, 0.009375), (64, 313, 0.3), (256, 79, 1.2)]
    assert bt.n_images == 20_000 and bt.lr_at_64 == 0.3 and bt.n_runs == 18
    assert bt.setting == "LeNet (tanh), plain SGD, lr 0.3 x B/64, 1 epoch over 20,000 images, seeds 0 to 2"
    assert bt.where("higher") == [64, 256] and bt.where("lower") == [2]
    assert round(bt.row(2).eval_minus_train, 2) == 25.0  # train mode at batch 2: each test batch's own statistics
    assert not bt.row(2).bn_vs_nobn.paired  # BN against no BN: unpaired, as the table has always said
    table = bt.table()
    assert table.count("\n") == 4 and "| 2 | 10,000 | 0.009375 |" in table and "±" not in table
    series = bt.accuracy_series()
    assert set(series) >= {"no BN"} and len(series["no BN"][1]) == 3 and series["no BN"][0] == [2, 64, 256]
    assert list(bt.gap_series().values())[0][1][0] == [0.04] * 3


def test_population_findings_count_and_criterion():
    by_batch, inference = batch_sweep()
    bt = fd.batch_findings(by_batch, inference)
    assert bt.alg2_where("higher") == [64, 256] and bt.alg2_where("lower") == []
    assert bt.alg2_higher == 6 and len(bt.alg2_differences) == 9 and round(bt.alg2_mean, 3) == 0.333
    assert bt.alg2_where("not shown") == [2]
    assert [t.comparison.paired for t in bt.tests] == [True] * 3  # the same runs evaluated two ways
    assert [t.label for t in bt.tests] == ["batch 2", "batch 64", "batch 256"]
    # non-inferiority with a 0.1-point margin: equal at batch 2 and +0.5 at 64 and 256 all pass it
    assert [j.verdict for j in fd.judge(bt.tests)] == ["supported"] * 3
    assert bt.population_table().count("\n") == 4
    one = {2: [{"ema": 0.9, "population": 0.89, "batch": 0.8, "gap_mean": 0.1, "gap_std": 0.1}]}
    b1 = fd.batch_findings({("no BN", 2): [lenet(batch=2)], ("BN", 2): [lenet(batch=2)]}, one)
    assert b1.alg2_where("lower") == [] and b1.alg2_where("not shown") == [2]
    assert fd.judge(b1.tests)[0].verdict == "inconclusive"
    worse = {8: [{"ema": 0.9 + 0.01 * s, "population": 0.897 + 0.01 * s - 0.0001 * s, "batch": 0.8, "gap_mean": 0.1,
                  "gap_std": 0.1} for s in range(3)]}
    b3 = fd.batch_findings({("no BN", 8): seeds(batch=8), ("BN", 8): seeds(batch=8)}, worse)
    assert fd.judge(b3.tests)[0].verdict == "contradicted"  # 0.3 points lower


def test_the_chapter_findings():
    by_batch, inference = batch_sweep()
    f = fd.what_bn_does_findings(noisy(), by_batch, inference)
    assert isinstance(f, fd.WhatBnDoesFindings)
    assert [c.verdict for c in f.claims] == ["supported", "supported"]
    assert [c.chapter for c in f.claims] == ["what_bn_does"] * 2
    assert f.claims[0].tests == f.noisy.tests and f.claims[1].tests == f.batch.tests
    assert all(len(c.evidence.split()) < 120 and "seeds," not in c.evidence for c in f.claims)
    assert "3 of 3 seeds diverge at lr 3" in f.claims[0].evidence
    assert "higher in 6 of 9 runs" in f.claims[1].evidence
