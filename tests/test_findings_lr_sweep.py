"""The learning-rate chapter's findings (bnreview.findings, section "Chapter: lr_sweep") on small synthetic runs."""

import math

import pytest

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.page import Page
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


def test_speed_sentence_counts_where_bn_is_clearly_sooner():
    text, n_bn, n = fd.speed_text(sweep(), NO, BN)
    assert (n_bn, n) == (2, 3)
    assert "at 2 of the 3 learning rates (0.1, 0.9)" in text and "the network without BN does at 0 (none)" in text
    assert "at the other 1 (3) the runs do not show which is sooner" in text


def test_findings_quote_the_one_usable_range_and_choose_on_validation():
    v = fd.lr_sweep_findings(sweep(), placement())
    assert v["usable_range"] == fd.usable_range_text(sweep(), NO, BN)
    assert v["usable_range"].startswith("BN widens the usable range of learning rates from 0.1 to 0.9 (1 grid step, x9")
    assert (v["nobn_largest"], v["bn_largest"]) == ("0.1", "0.9")
    assert (v["nobn_best_lr"], v["bn_best_lr"]) == (0.1, 0.9)  # by validation accuracy
    assert "lr 0.1 without BN, 0.9 with BN" in v["best_compare"] and "is above zero" in v["best_compare"]
    assert v["review_compare"].startswith("At the review's lr 0.9: final test accuracy: with BN 98.50%")
    assert "3 of 3 seeds with BN" not in v["top_text"] and "0 of 3 seeds with BN and 3 of 3 without" in v["top_text"]
    assert v["n_runs"] == 18 and v["n_seeds"] == 3 and v["n_train"] == "55,000" and v["lrs"] == "0.1, 0.9, 3"
    assert "55,000 images, 5,000 held out" in v["setting"]
    glued = Page(v).as_dict()
    assert "claims" not in glued and "effective" not in glued and all(
        isinstance(x, (str, int, float)) for x in glued.values())


def test_training_time_is_steps_to_97_times_benchmarked_seconds_per_step():
    step = ex.StepSeconds(no_bn=0.010, bn=0.012, torch_bn=0.011, machine="AMD EPYC (AVX2), torch 2.14.1, 1 thread(s), 2026-12-06")
    v = fd.lr_sweep_findings(sweep(), placement(), step)
    time = next(t for c in v["claims"] for t in c.tests if t.entry == "training-time")
    # 200 steps at 12 ms with BN against 300 at 10 ms without, per seed
    assert time.comparison.difference == pytest.approx(math.log(200 * 0.012 / (300 * 0.010)))
    assert time.comparison.paired and time.label == "steps to 97% x benchmarked seconds per step"


def test_the_benchmark_on_file_is_read_and_its_absence_is_none(tmp_path):
    assert ex.step_seconds(tmp_path / "none.json") is None
    on_file = ex.step_seconds()
    assert on_file is None or 0 < on_file.no_bn < 1 and 0 < on_file.bn < 1 and "torch" in on_file.machine


def test_claims_and_learned():
    v = fd.lr_sweep_findings(sweep(), placement())
    claims = {c.topic: c for c in v["claims"]}
    assert claims["larger learning rates"].verdict == "supported"  # at lr 0.9, BN's largest usable: +3 points
    assert claims["larger learning rates"].tests[0].label == "lr 0.9"
    faster = claims["faster training"]
    assert [t.entry for t in faster.tests] == ["fewer-steps", "training-time", "first-epoch"]
    assert faster.verdict == "supported" and faster.tests[1].why_not.startswith("no benchmark of seconds per step")
    assert faster.tests[0].comparison.difference == pytest.approx(math.log(200 / 300))  # each at its best rate
    assert claims["BN before the nonlinearity"].verdict == "supported"
    assert [t.label for t in claims["BN before the nonlinearity"].tests] == ["lr 0.1", "lr 0.9"]
    assert claims["larger weights, smaller steps"].verdict == "not tested"
    assert all(c.chapter == "lr_sweep" for c in v["claims"])
    learned = v["learned"].splitlines()
    assert len(learned) == 5 and all(line.startswith("- ") and line.endswith(".") for line in learned)
    assert fd.ledger_markdown(v["claims"]).count("\n") == 1 + sum(len(c.tests) for c in v["claims"])


def test_no_learning_rate_trains_and_a_single_seed():
    bad = {(NO, 0.1): [run(0.5, val=0.5)], (BN, 0.1): [run(0.6, val=0.6)]}
    v = fd.lr_sweep_findings(bad, placement(lrs=(0.1,)))
    assert v["usable_range"].startswith("BN leaves the usable range as it is: up to lr 0.1")
    assert v["usable_range"].endswith("1 seed each)")
    assert {c.topic: c.verdict for c in v["claims"]}["larger learning rates"] == "inconclusive"  # no interval
    diverged = {(NO, 0.1): [run(0.1, diverged=True, val=0.1)], (BN, 0.1): [run(0.1, diverged=True, val=0.1)]}
    v = fd.lr_sweep_findings(diverged, placement(lrs=(0.1,)))
    assert v["usable_range"].startswith("no learning rate of the grid is usable for either network")
    assert (v["nobn_largest"], v["bn_largest"]) == ("none of the grid", "none of the grid")
    assert {c.topic: c.verdict for c in v["claims"]}["larger learning rates"] == "not tested"
    assert "(1 seed)" in v["best_compare"] and "The review's lr 0.9 is not in this grid." == v["review_compare"]


def test_placement_per_learning_rate_is_limited_to_what_was_run():
    both = fd.placement_findings(placement())
    assert both["before_wins"] == [0.1, 0.9]
    assert both["overall"].startswith("With BN on all four layers, BN before tanh ends above BN after tanh at "
                                      "every learning rate run (0.1, 0.9; 3 seeds each)")
    assert len(both["per_lr"]) == 2 and both["per_lr"][0].startswith("At lr 0.1, 5 of the 5 settings are usable")
    assert "fc1 only: 97.50% before against 97.50% after, interval includes zero" in both["per_lr"][0]
    assert "the setting chosen on validation is all four (before tanh)" in both["per_lr"][0]
    tie = fd.placement_findings(placement(after_all=0.99))
    assert tie["before_wins"] == [] and "never show BN before tanh ending above" in tie["overall"]
    flipped = fd.placement_findings(placement(after_all=0.995, before_all=0.98))
    assert flipped["after_wins"] == [0.1, 0.9] and "all four: 98.10% before against 99.60% after, higher after tanh" \
        in flipped["per_lr"][1]
    table = both["table"]
    assert table.count("\n") == 1 + 10
    assert "| 0.1 | all four | before tanh | 99.10% ± 0.10 (3 seeds, 99.00 to 99.20) |" in table


def test_placement_mixed_over_learning_rates():
    grid = placement()
    grid.update({k[:2] + (3.0,): v for k, v in placement(after_all=0.99).items() if k[2] == 0.1})
    pl = fd.placement_findings(grid)
    assert pl["before_wins"] == [0.1, 0.9] and "at lr 0.1, 0.9 but not at 3" in pl["overall"]
    v = fd.lr_sweep_findings(sweep(), grid)
    # supported at 0.1 and 0.9, contradicted at 3 (equal: the interval excludes the 0.3 points that would matter)
    assert [fd.judge([t])[0].verdict for t in pl["tests"]] == ["supported", "supported", "contradicted"]
    assert {c.topic: c.verdict for c in v["claims"]}["BN before the nonlinearity"] == "inconclusive"


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


def test_effective_learning_rate_sentence():
    eff = fd.effective_lr_findings(sweep(), NO, BN, "conv2", (0.1, 0.9, 7.0))
    assert eff["norm_lrs"] == [0.1, 0.9] and eff["grows"]  # 7 is not in the sweep: left out
    assert eff[0.9]["growth_bn"].mean == pytest.approx(3.0) and eff[0.9]["growth_nobn"].mean == pytest.approx(1.5)
    assert eff[0.9]["effective"].mean == pytest.approx(0.9 / 36)
    assert eff["nominal_ratio"] == pytest.approx(9)
    assert eff["effective_ratio"] == pytest.approx((0.9 / 36) / (0.1 / 6.25))
    assert "a x9 range of nominal learning rates (0.1 to 0.9) ends as a x1.56 range of effective ones" in eff["summary"]
    assert ("at lr 0.1, conv2's weight norm grows x1.25 ± 0.00 (3 seeds, 1.25 to 1.25) with BN, more than "
            "the x1.10") in eff["text"]
    flat = {(NO, lr): seeds(lr=lr, final=0.98) for lr in (0.1, 0.9)} | {(BN, lr): seeds(lr=lr, final=0.98)
                                                                        for lr in (0.1, 0.9)}
    same = fd.effective_lr_findings(flat, NO, BN, "conv2", (0.1, 0.9))
    assert not same["grows"] and "does not take back the larger rate" in same["summary"]
    none = fd.effective_lr_findings(sweep(), NO, BN, "conv2", (7.0,))
    assert none["norm_lrs"] == [] and not none["grows"]
    assert none["text"] == "No learning rate of the sweep was compared."
