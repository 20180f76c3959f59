"""The depth chapter's findings on synthetic runs: BN's advantage per depth, its trend, the censored steps."""

import math

import pytest

from bnreview import findings as fd
from bnreview.train import History

WITHOUT, WITH = "without BN", "with BN"
SEEDS = range(10)


def run(seed: int, acc: float, reach: int | None, steps: int = 10_000, val: float | None = None,
        **config) -> History:
    """A run of ``steps`` steps ending at ``acc`` (a fraction), first at 90% at step ``reach`` (None: never)."""
    evals = list(range(0, steps + 1, 250))
    eval_acc = [0.95 if reach is not None and s >= reach else 0.5 for s in evals]
    return History(config={"seed": seed, "lr": 0.1, **config}, test_acc=[acc], val_acc=[acc if val is None else val],
                   step_loss=[1.0] * steps, eval_steps=evals, eval_acc=eval_acc)


def runs_with(advantage: dict[int, float], reach_without: dict[int, int | None]):
    """Both networks at each depth over ten seeds: BN ahead by ``advantage[depth]`` points (plus a little noise per
    seed), reaching 90% at step 1,000; the network without BN at ``reach_without[depth]``."""
    out = {}
    for depth, gain in advantage.items():
        out[depth, WITHOUT] = [run(s, 0.95, reach_without[depth], hidden_layers=depth, bn=[]) for s in SEEDS]
        out[depth, WITH] = [run(s, 0.95 + (gain + 0.05 * (s % 3 - 1)) / 100, 1000, hidden_layers=depth, bn=["fc1"])
                            for s in SEEDS]
    return out


def pilot_for(runs):
    return {(d, lr, name): [run(0, 0.9, 1000, val=0.9 + lr / 100, lr=lr, hidden_layers=d, bn=[] if name == WITHOUT
                                else ["fc1"])] for (d, name) in runs for lr in (0.1, 1.0)}


def test_an_advantage_growing_with_depth_is_measured_per_depth_and_as_a_trend():
    runs = runs_with({2: 0.0, 4: 0.5, 8: 1.0, 16: 1.5}, {2: 1000, 4: 2000, 8: 4000, 16: None})
    choice = {key: 1.0 for key in runs}
    f = fd.depth_findings(pilot_for(runs), choice, runs)
    assert f.depths == (2, 4, 8, 16) and f.n_seeds == 10
    assert f.n_runs == 16 + 80 - 8  # seed 0's runs (lr 0.1) are the pilot's runs at lr 0.1: counted once
    assert f.row(8).accuracy.difference == pytest.approx(1.0, abs=0.01) and f.row(8).accuracy.paired
    assert f.slopes.difference == pytest.approx(0.5)  # half a point per doubling, every seed
    # the 16-layer network without BN never reaches 90%: counted at its length, 10,000 steps
    assert f.row(16).steps_ratio == pytest.approx(1000 / 10_000)
    assert f.row(2).steps_ratio == pytest.approx(1.0)
    assert f.pilot[8, WITH] == {0.1: pytest.approx(90.1), 1.0: pytest.approx(91.0)}
    judged = {j.test.name: j.verdict for j in fd.judge(f.claim.tests)}
    assert judged["depth-trend"] == "supported"
    assert judged["depth-accuracy (16 layers)"] == "supported"
    # no advantage at 2 layers, measured tightly: it rules out the smallest effect that matters (0.3 points)
    assert judged["depth-accuracy (2 layers)"] == "contradicted"
    assert judged["depth-steps (16 layers)"] == "supported"
    assert f.claims == [f.claim] and f.claim.chapter == "depth"
    table = fd.depth_table(f)
    assert table.count("\n") == 5 and "| 16 | 1 / 1 | 95.00% / 96.49% | +1.49 (95% CI +1.46 to +1.53; paired t, 10 seeds) |" in table
    assert "| x0.10 (95% CI x0.10 to x0.10) |" in table and table.endswith("supported, supported |")
    with pytest.raises(ValueError, match="no depth 32; the runs have 2, 4, 8, 16"):
        f.row(32)


def test_no_growth_with_depth_is_not_called_support():
    runs = runs_with({2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0}, {d: 1000 for d in (2, 4, 8, 16)})
    f = fd.depth_findings(pilot_for(runs), {key: 0.1 for key in runs}, runs)
    assert abs(f.slopes.difference) < 1e-9
    judged = {j.test.name: j.verdict for j in fd.judge(f.claim.tests)}
    assert judged["depth-trend"] != "supported"


def test_a_run_that_never_reaches_the_target_counts_at_its_length():
    spread = fd.censored_log_steps([run(0, 0.5, None, steps=4000), run(1, 0.95, 500)])
    assert spread.values == pytest.approx((math.log(4000), math.log(500))) and spread.seeds == (0, 1)


def test_the_convolutional_family_is_judged_under_its_own_entries():
    runs = {key: [run(h.config["seed"], h.final_test_acc, 1000 if key[1] == WITH else 2000, steps=3_000,
                      **{k: v for k, v in h.config.items() if k != "seed"}) for h in hs]
            for key, hs in runs_with({2: 0.0, 4: 0.5, 8: 1.0, 16: 1.5}, {d: None for d in (2, 4, 8, 16)}).items()}
    f = fd.depth_findings(pilot_for(runs), {key: 1.0 for key in runs}, runs, "convnet")
    assert f.claim.topic == "BN's advantage grows with depth in a convolutional stack"
    assert {t.entry for t in f.claim.tests} == {"conv-depth-accuracy", "conv-depth-trend", "conv-depth-steps"}
    assert f.row(16).steps_ratio == pytest.approx(0.5) and "convolutions" in f.claim.evidence
    table = fd.depth_table(f)
    assert table.startswith("| convolutions |") and table.endswith("supported, supported |")
    with pytest.raises(ValueError, match="unknown family 'cnn'; accepted: 'mlp', 'convnet'"):
        fd.depth_findings(pilot_for(runs), {}, runs, "cnn")


def test_every_family_the_experiments_run_has_its_ledger_row():
    from bnreview import experiments as ex
    assert tuple(fd.DEPTH_FAMILIES) == ex.FAMILIES
