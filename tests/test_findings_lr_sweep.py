"""The learning-rate chapter's findings (bnreview.findings, section "Chapter: lr_sweep") on small synthetic runs."""

import math

import pytest

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.train import History

NO, BN = fd.LR_NO_BN, fd.LR_BN


def run(final: float, lr: float = 0.1, diverged: bool = False, val: float | None = None, reach97: int | None = None,
        norms=(2.0, 2.0), seed: int = 0) -> History:
    """A one-epoch run: final test accuracy, validation accuracy, the step it first reached 97% (None: never),
    conv2's weight norm at each probe."""
    steps = [0, 100, 200, 300]
    accs = [0.1] + [0.97 if reach97 is not None and s >= reach97 else 0.5 for s in steps[1:]]
    return History(config={"lr": lr, "batch_size": 64, "seed": seed, "val_size": 5000, "n_train": None,
                           "eval_every": 100},
                   test_acc=[final], val_acc=[final if val is None else val], diverged=diverged,
                   epoch_seconds=[1.0], steps_per_epoch=300, eval_steps=steps, eval_acc=accs,
                   probe_steps=list(range(len(norms))), probes={"conv2": {"weight_norm": list(norms)}})


def seeds(n=3, **kw):
    return [run(seed=s, **kw) for s in range(n)]


def sweep():
    """No BN is usable up to 0.1 (0.9 ends 2 points below its best, 3 diverges); BN up to 0.9 (3 ends 3.5 points
    below); BN reaches 97% sooner at 0.1 and 0.9."""
    return {
        (NO, 0.1): seeds(lr=0.1, final=0.975, val=0.975, reach97=300, norms=(2.0, 2.2)),
        (NO, 0.9): seeds(lr=0.9, final=0.955, val=0.955, norms=(2.0, 3.0)),
        (NO, 3.0): seeds(lr=3.0, final=0.1, diverged=True, norms=(2.0, math.inf)),
        (BN, 0.1): seeds(lr=0.1, final=0.98, val=0.98, reach97=100, norms=(2.0, 2.5)),
        (BN, 0.9): seeds(lr=0.9, final=0.985, val=0.99, reach97=200, norms=(2.0, 6.0)),
        (BN, 3.0): seeds(lr=3.0, final=0.95, val=0.95, norms=(2.0, 9.0)),
    }


def placement(after_all=0.98, before_all=0.99, lrs=(0.1, 0.9)):
    grid = {}
    for lr in lrs:
        grid["no BN", "-", lr] = seeds(final=0.96, val=0.96)
        grid["all four", "before", lr] = [run(final=before_all + 0.001 * s, val=before_all, seed=s) for s in range(3)]
        grid["all four", "after", lr] = [run(final=after_all + 0.001 * s, val=after_all, seed=s) for s in range(3)]
        grid["fc1 only", "before", lr] = seeds(final=0.975, val=0.975)
        grid["fc1 only", "after", lr] = seeds(final=0.975, val=0.975)
    return grid


def test_steps_and_sooner_follow_the_clear_difference_criterion():
    assert fd.steps_to_accuracy([run(0.98, reach97=200), run(0.9)], 0.97) == [200.0, math.inf]
    fast, slow = seeds(final=0.98, reach97=100), seeds(final=0.98, reach97=300)
    assert fd.reaches_sooner(slow, fast, 0.97) and not fd.reaches_sooner(fast, slow, 0.97)
    overlap = [run(0.98, reach97=100), run(0.98, reach97=300)]
    assert not fd.reaches_sooner(slow, overlap, 0.97)  # one seed ties the slowest: an overlap, not sooner
    assert not fd.reaches_sooner(seeds(final=0.5), seeds(final=0.5), 0.97)  # neither gets there
    assert fd.reaches_sooner(seeds(final=0.5), fast, 0.97)  # getting there where the other never does
    assert not fd.reaches_sooner([], fast, 0.97)


def test_speed_counts_where_bn_is_clearly_sooner():
    speed = fd.speed_counts(sweep(), NO, BN)
    assert (speed.bn, speed.no_bn, speed.neither, speed.n, speed.one_seed) == ([0.1, 0.9], [], [3.0], 3, False)


def test_findings_quote_the_one_usable_range_and_choose_on_validation():
    f = fd.lr_sweep_findings(sweep(), placement())
    assert f.usable == (0.1, 0.9) and f.best_lrs == (0.1, 0.9)  # chosen by validation accuracy
    assert f.best.direction == "higher" and f.review.b.mean == pytest.approx(98.5)
    assert f.top_diverged == {"no BN": 3, "BN": 0}
    assert f.n_runs == 18 and f.n_seeds == 3 and f.lrs == [0.1, 0.9, 3.0]
    assert "55,000 images, 5,000 held out" in f.setting and "| no BN | 3 | 10.00% (10.00 to 10.00) |" in f.table


def test_training_time_is_steps_to_97_times_benchmarked_seconds_per_step():
    step = ex.StepSeconds(no_bn=0.010, bn=0.012, torch_bn=0.011, machine="AMD EPYC (AVX2), torch 2.14.1, 1 thread(s), 2026-12-06")
    f = fd.lr_sweep_findings(sweep(), placement(), step)
    time = next(t for c in f.claims for t in c.tests if t.entry == "training-time")
    # 200 steps at 12 ms with BN against 300 at 10 ms without, per seed
    assert time.comparison.difference == pytest.approx(math.log(200 * 0.012 / (300 * 0.010)))
    assert time.comparison.paired and time.label == "steps to 97% x benchmarked seconds per step"


def test_the_benchmark_on_file_is_read_and_its_absence_is_none(tmp_path):
    assert ex.step_seconds(tmp_path / "none.json") is None
    on_file = ex.step_seconds()
    assert on_file is None or 0 < on_file.no_bn < 1 and 0 < on_file.bn < 1 and "torch" in on_file.machine


def test_claims():
    f = fd.lr_sweep_findings(sweep(), placement())
    claims = {c.topic: c for c in f.claims}
    assert claims["larger learning rates"].verdict == "supported"  # at lr 0.9, BN's largest usable: +3 points
    assert claims["larger learning rates"].tests[0].label == "lr 0.9"
    faster = claims["faster training"]
    assert [t.entry for t in faster.tests] == ["fewer-steps", "training-time", "first-epoch"]
    assert faster.verdict == "supported" and faster.tests[1].why_not.startswith("no benchmark of seconds per step")
    assert faster.tests[0].comparison.difference == pytest.approx(math.log(200 / 300))  # each at its best rate
    assert claims["BN before the nonlinearity"].verdict == "supported"
    assert [t.label for t in claims["BN before the nonlinearity"].tests] == ["lr 0.1", "lr 0.9"]
    assert claims["larger weights, smaller steps"].verdict == "not tested"
    assert all(c.chapter == "lr_sweep" for c in f.claims) and f.scale is claims["larger weights, smaller steps"].tests[0]
    assert fd.ledger_markdown(f.claims).count("\n") == 1 + sum(len(c.tests) for c in f.claims)


def test_no_learning_rate_trains_and_a_single_seed():
    bad = {(NO, 0.1): [run(0.5, val=0.5)], (BN, 0.1): [run(0.6, val=0.6)]}
    f = fd.lr_sweep_findings(bad, placement(lrs=(0.1,)))
    assert f.usable == (0.1, 0.1) and f.n_seeds == 1 and f.review is None
    assert {c.topic: c.verdict for c in f.claims}["larger learning rates"] == "inconclusive"  # no interval
    assert f.best.effect_text().endswith("(no interval: one run a side)")
    diverged = {(NO, 0.1): [run(0.1, diverged=True, val=0.1)], (BN, 0.1): [run(0.1, diverged=True, val=0.1)]}
    f = fd.lr_sweep_findings(diverged, placement(lrs=(0.1,)))
    assert f.usable == (None, None) and fd.lr_label(None) == "none of the grid"
    assert {c.topic: c.verdict for c in f.claims}["larger learning rates"] == "not tested"


def test_placement_per_learning_rate_is_limited_to_what_was_run():
    both = fd.placement_findings(placement())
    assert both.wins("all four", "higher") == [0.1, 0.9] and both.wins("all four", "lower") == []
    assert not both.before_vs_after["fc1 only", 0.1].shown
    assert both.chosen == {0.1: ("all four", "before"), 0.9: ("all four", "before")}
    assert both.chosen_text() == "lr 0.1: all four (before tanh); lr 0.9: all four (before tanh)"
    tie = fd.placement_findings(placement(after_all=0.99))
    assert tie.wins("all four", "higher") == []
    flipped = fd.placement_findings(placement(after_all=0.995, before_all=0.98))
    assert flipped.wins("all four", "lower") == [0.1, 0.9]
    assert flipped.before_vs_after["all four", 0.9].a.mean == pytest.approx(99.6)
    assert both.table.count("\n") == 1 + 10
    assert "| 0.1 | all four | before tanh | 99.10% (99.00 to 99.20) |" in both.table


def test_placement_mixed_over_learning_rates():
    grid = placement()
    grid.update({k[:2] + (3.0,): v for k, v in placement(after_all=0.99).items() if k[2] == 0.1})
    pl = fd.placement_findings(grid)
    assert pl.wins("all four", "higher") == [0.1, 0.9]
    f = fd.lr_sweep_findings(sweep(), grid)
    # supported at 0.1 and 0.9, contradicted at 3 (equal: the interval excludes the 0.3 points that would matter)
    assert [fd.judge([t])[0].verdict for t in pl.tests] == ["supported", "supported", "contradicted"]
    assert {c.topic: c.verdict for c in f.claims}["BN before the nonlinearity"] == "inconclusive"


def test_weight_growth_and_effective_learning_rate():
    runs = [run(0.98, lr=0.9, norms=(2.0, 4.0)), run(0.98, lr=0.9, norms=(2.0, math.nan, 6.0))]
    assert fd.weight_growth(runs, "conv2").values == (2.0, 3.0)
    assert fd.effective_lr(runs, "conv2").values == pytest.approx((0.9 / 16, 0.9 / 36))
    diverged = run(0.1, lr=3.0, diverged=True, norms=(2.0, 5.0, math.inf))
    assert fd.weight_norms(diverged, "conv2") == (2.0, 5.0)  # the last finite probe


def test_weight_scale_compares_the_last_hundred_steps_update_sizes_with_the_first_hundred():
    def scaled(seed: int, shrink: float) -> History:
        sizes = [0.02] * 100 + [0.01] * 300 + [0.02 * shrink * (1 + 0.01 * seed)] * 100
        return History(config={"seed": seed, "lr": 0.9}, update_size={"conv2": sizes, "conv1": [0.5] * 500})
    test = fd.weight_scale_test([scaled(s, 0.5) for s in range(10)])
    assert test.label == "lr 0.9" and test.comparison.paired
    assert test.comparison.difference == pytest.approx(math.log(0.5) + 0.045, abs=0.003)  # log of the ratio
    assert fd.judge([test])[0].verdict == "supported"  # shrinks by half: well past the 10% that matters
    assert fd.judge([fd.weight_scale_test([scaled(s, 1.0) for s in range(10)])])[0].verdict != "supported"
    short = fd.weight_scale_test([History(config={"seed": 0}, update_size={"conv2": [0.1] * 150})])
    assert short.comparison is None and "do not record 200 steps' update sizes of conv2" in short.why_not
    assert fd.weight_scale_test([History(config={"seed": 0})]).comparison is None  # runs that recorded none


def test_effective_learning_rate():
    eff = fd.effective_lr_findings(sweep(), NO, BN, "conv2", (0.1, 0.9, 7.0))
    assert sorted(eff.rows) == [0.1, 0.9] and eff.grows  # 7 is not in the sweep: left out
    row = eff.rows[0.9]
    assert row.growth_bn.mean == pytest.approx(3.0) and row.growth_nobn.mean == pytest.approx(1.5)
    assert row.effective.mean == pytest.approx(0.9 / 36) and row.effective_fraction == pytest.approx(1 / 9)
    assert eff.ratios == pytest.approx((9, (0.9 / 36) / (0.1 / 6.25)))
    assert "| 0.1 | x1.25 (1.25 to 1.25) | x1.10 (1.10 to 1.10) |" in eff.table()
    flat = {(NO, lr): seeds(lr=lr, final=0.98) for lr in (0.1, 0.9)} | {(BN, lr): seeds(lr=lr, final=0.98)
                                                                        for lr in (0.1, 0.9)}
    assert not fd.effective_lr_findings(flat, NO, BN, "conv2", (0.1, 0.9)).grows
    none = fd.effective_lr_findings(sweep(), NO, BN, "conv2", (7.0,))
    assert none.rows == {} and not none.grows and none.ratios is None
