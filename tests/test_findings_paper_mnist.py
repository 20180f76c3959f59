"""The paper-MNIST chapter's findings (bnreview.findings, section "Chapter: paper_mnist") on small synthetic runs."""

import pytest

from bnreview import findings as fd
from bnreview.train import History

STEPS = 1000


def mlp(final=0.97, val=None, lr=0.5, std=0.05, seed=0, steps=STEPS, reach97=None, reach98=None, band=(2.0, 2.5, 3.0),
        wobble=0.5, layer="fc3", epochs=None, diverged=False):
    """A run with test accuracy every 100 steps (0.5 until ``reach97``, then 0.97, 0.98 from ``reach98``), and one
    unit's percentiles every 50 steps: the band is ``band[0]`` wide at step 0, ``band[1]`` at step 50 and ``band[2]``
    at the end; the median swings by ``wobble`` every other probe."""
    eval_steps = list(range(0, steps + 1, 100))
    accs = [0.98 if reach98 is not None and s >= reach98 else 0.97 if reach97 is not None and s >= reach97 else 0.5
            for s in eval_steps]
    accs[-1] = max(accs[-1], final) if reach97 is not None else accs[-1]
    probe_steps = list(range(0, steps + 1, 50))
    widths = [band[0], band[1]] + [band[1]] * (len(probe_steps) - 3) + [band[2]]
    mids = [wobble * (i % 2) for i in range(len(probe_steps))]
    config = {"lr": lr, "batch_size": 60, "steps": steps, "init_std": std, "n_train": None, "val_size": 0,
              "seed": seed, "eval_every": 100, "probe_every": 50, "epochs": epochs or 10}
    return History(config=config, test_acc=[final], val_acc=[] if val is None else [val], eval_steps=eval_steps,
                   eval_acc=accs, step_loss=[1.0] * steps, epoch_seconds=[60.0], diverged=diverged,
                   probe_steps=probe_steps,
                   probes={layer: {"unit_p15": [m - w / 2 for m, w in zip(mids, widths)], "unit_p50": mids,
                                   "unit_p85": [m + w / 2 for m, w in zip(mids, widths)]}})


def pilot(vals_none, vals_bn, stds=(0.01, 0.05), lrs=(0.1, 0.5, 2.0)):
    """{(std, lr, bn): [one run]} with the given validation accuracies, indexed [std][lr]."""
    out = {}
    for i, s in enumerate(stds):
        for j, lr in enumerate(lrs):
            for bn, vals in (("none", vals_none), ("all", vals_bn)):
                h = mlp(val=vals[i][j], lr=lr, std=s, steps=300)
                h.config["val_size"] = 5000
                out[s, lr, bn] = [h]
    return out


def test_the_choice_is_made_on_validation_never_on_test():
    p = pilot([[0.1, 0.5, 0.93], [0.88, 0.96, 0.95]], [[0.94, 0.95, 0.96], [0.95, 0.96, 0.97]])
    p[0.05, 2.0, "none"][0].test_acc = [0.99]  # the best on test must not matter
    choice = fd.pilot_choice(p, 0.05)
    assert choice["lr"] == 0.5 and choice["runner_up"] == 2.0 and choice["bn_lr"] == 2.0
    assert choice["overall"] == (0.05, 0.5)
    values = fd.pilot_accuracies(p)
    assert values[0.05, 0.5, "none"] == pytest.approx(96.0) and values[0.05, 2.0, "none"] == pytest.approx(95.0)
    table = fd.pilot_table(values, 0.05, 0.5).splitlines()
    assert table[6] == "| N(0, 0.05²) | 0.5 | 96.00% (chosen) | 96.00% |"  # std 0.05, lr 0.5
    assert sum("(chosen)" in row for row in table) == 1


def test_a_tie_goes_to_the_first_learning_rate_and_the_runner_up_is_the_other():
    p = pilot([[0.9, 0.9, 0.9], [0.95, 0.95, 0.9]], [[0.9] * 3, [0.9] * 3])
    choice = fd.pilot_choice(p, 0.05)
    assert (choice["lr"], choice["runner_up"]) == (0.1, 0.5)


def test_a_pilot_without_validation_images_is_refused():
    p = pilot([[0.9] * 3] * 2, [[0.9] * 3] * 2)
    p[0.05, 0.5, "none"][0].val_acc = []
    with pytest.raises(ValueError, match="choosing on the test set is not allowed"):
        fd.pilot_choice(p, 0.05)
    with pytest.raises(ValueError, match="no run at init_std"):
        fd.pilot_choice(p, 0.3)


def test_validation_may_prefer_another_scale():
    p = pilot([[0.5, 0.6, 0.99], [0.88, 0.96, 0.95]], [[0.9] * 3, [0.9] * 3])
    assert fd.pilot_choice(p, 0.05)["overall"] == (0.01, 2.0)


def test_the_pilot_range_says_whether_bn_depends_less_on_lr_and_scale():
    values = fd.pilot_accuracies(pilot([[0.11, 0.5, 0.93], [0.88, 0.95, 0.95]], [[0.94, 0.95, 0.96], [0.95] * 3]))
    assert fd.pilot_range(values, "none") == pytest.approx((11.0, 95.0))
    assert fd.pilot_range(values, "all") == pytest.approx((94.0, 96.0))
    _, runs, check, lenet = chapter()
    wide_bn = pilot([[0.9] * 3, [0.9, 0.9, 0.95]], [[0.5, 0.9, 0.9], [0.9] * 3])
    assert fd.paper_mnist_findings(wide_bn, runs, check, lenet).pilot_depends_less is False
    assert fd.paper_mnist_findings(*chapter()).pilot_depends_less is True


def test_accuracy_at_a_step_takes_the_last_evaluation_before_it():
    h = mlp(reach97=300)
    assert fd.accuracy_at([h], 299).values == (50.0,)
    assert fd.accuracy_at([h], 300).values == (97.0,)


def test_reach_with_spread_and_missing_seeds():
    runs = [mlp(reach97=200, seed=0), mlp(reach97=400, seed=1), mlp(seed=2)]
    reach = fd.Reach(tuple(fd.steps_to_accuracy(runs, 0.97)))
    assert reach.missing == 1 and reach.reached.values == (200.0, 400.0)
    assert reach.short() == "300 (200 to 400); 1 of 3 never"
    assert fd.Reach((1500.0,)).short() == "1,500"
    assert fd.Reach((float("inf"),) * 2).short() == "never" and fd.Reach((float("inf"),) * 2).reached is None


def test_figure_1a_bn_faster_and_higher():
    runs = {"without BN": [mlp(final=0.971 + 0.001 * s, reach97=600, seed=s) for s in range(3)],
            "with BN": [mlp(final=0.981 + 0.001 * s, reach97=200, reach98=800, seed=s) for s in range(3)]}
    f = fd.figure_1a_findings(runs)
    assert f.faster and not f.slower and f.higher and not f.neither_reaches
    assert f.final.direction == "higher" and f.final.paired
    assert sorted(f.early) == [20, 100]  # 2% and 10% of 1,000 steps
    without, with_ = f.reach[0.98]
    assert without.reached is None and with_.reached.values == (800.0,) * 3
    assert "| 97% | 600 (600 to 600) | 200 (200 to 200) |" in f.reach_table().splitlines()
    assert "| 98% | never | 800 (800 to 800) |" in f.reach_table().splitlines()


def test_figure_1a_half_and_none():
    same = [mlp(final=0.97, reach97=300, seed=s) for s in range(2)]
    higher = [mlp(final=0.98, reach97=300, seed=s) for s in range(2)]
    half = fd.figure_1a_findings({"without BN": same, "with BN": higher})
    assert not half.faster and not half.slower and half.higher
    none = fd.figure_1a_findings({"without BN": same, "with BN": same})
    assert not (none.faster or none.higher or none.neither_reaches)
    never = fd.figure_1a_findings({"without BN": [mlp(final=0.9)], "with BN": [mlp(final=0.95)]})
    assert never.neither_reaches and not never.faster and not never.slower


def test_steadiness_band_widths_and_verdicts():
    calm = [mlp(band=(2.07, 2.5, 3.0), wobble=0.1, seed=s) for s in range(3)]
    wild = [mlp(band=(0.2, 3.0, 6.0), wobble=1.0, seed=s) for s in range(3)]
    s = fd.steadiness(wild, calm, "fc3")
    assert s.steadier and s.drift.direction == "lower"
    assert s.width_bn[0].values == pytest.approx((2.07,) * 3) and s.width_nobn[1].mean == pytest.approx(3.0)
    assert s.width_nobn[2].mean == pytest.approx(6.0)
    assert f"{fd.PM_NORMAL_BAND:.2f}" == "2.07"
    assert s.late_step == 50 and s.first_step == 50  # the first probe at or after 2% of 1,000 steps
    assert "| with BN | 2.07 (2.07 to 2.07) | 2.50 (2.50 to 2.50) | 3.00 (3.00 to 3.00) |" in s.table()
    assert fd.steadiness(calm, wild, "fc3").drift.direction == "higher"
    assert not fd.steadiness(calm, wild, "fc3").steadier
    assert fd.steadiness(calm, calm, "fc3").drift.direction == "not shown"


def test_titles_name_exactly_the_seeds_shown():
    runs = [mlp(seed=s) for s in range(3)]
    assert fd.mlp_setting(runs).endswith("init N(0, 0.05²), seeds 0 to 2")
    assert fd.mlp_setting(runs[:1]).endswith("seed 0")
    assert "60,000 training images" in fd.mlp_setting(runs)


def chapter(runner_up_steadier=True):
    p = pilot([[0.1, 0.5, 0.93], [0.88, 0.95, 0.96]], [[0.94, 0.95, 0.96], [0.95, 0.96, 0.97]])
    runs = {"without BN": [mlp(final=0.971 + 0.001 * s, lr=2.0, reach97=600, seed=s, wobble=0.2) for s in range(3)],
            "with BN": [mlp(final=0.981 + 0.001 * s, lr=2.0, reach97=200, seed=s, wobble=0.8) for s in range(3)]}
    calm, wild = (0.1, 1.0) if runner_up_steadier else (1.0, 0.1)
    check = {"without BN": [mlp(final=0.97, lr=0.5, wobble=wild * (1 + 0.01 * s), seed=s) for s in range(3)],
             "with BN": [mlp(final=0.98, lr=0.5, wobble=calm * (1 + 0.02 * s), seed=s) for s in range(3)]}
    lenet = {"LeNet, no BN": [mlp(layer="fc1", wobble=1.0, seed=s, steps=2000) for s in range(3)],
             "LeNet + BN": [mlp(layer="fc1", wobble=0.1, seed=s, steps=2000) for s in range(3)]}
    for runs_ in lenet.values():
        for h in runs_:
            h.config["steps"] = None
    return p, runs, check, lenet


def test_the_chapter_findings_and_claims():
    f = fd.paper_mnist_findings(*chapter())
    assert isinstance(f, fd.PaperMnistFindings)
    assert (f.lr, f.runner_up, f.bn_lr, f.std) == (2.0, 0.5, 2.0, 0.05) and f.mlp_params == 99_710
    assert f.pilot_depends_less and f.pilot_seeds == "seed 0" and f.val_size == 5000 and f.pilot_steps == 300
    assert not f.main.steadier and f.check.steadier and f.lenet.steadier
    assert f.lr_dependent is True  # steadier at the runner-up only
    assert f.fig1a.faster and f.fig1a.higher
    # mlp-higher is not tested (no runs at BN's own rate given), mlp-faster is (200 against 600 steps to 95%); with
    # BN the median swings 0.8 every other probe against 0.2 without: "steadier" is contradicted; no init grid
    assert [c.verdict for c in f.claims] == ["supported", "contradicted", "not tested"]
    assert [(t.entry, t.comparison is not None) for t in f.claims[0].tests] == [("mlp-higher", False),
                                                                               ("mlp-faster", True)]
    assert f.own is None and f.init is None and f.init_stds == () and f.init_steps == 0
    assert f.judged("mlp-faster").verdict == "supported" and f.judged("mlp-steadier").verdict == "contradicted"
    assert f.claim("mlp-faster") is f.claims[0] and f.median is f.claims[1].tests[0].comparison
    assert f.claims[0].evidence.startswith("final test accuracy at lr 2, BN against no BN: +1.00 points (95% CI")
    assert "at lr 0.5 (seeds 0 to 2)" in f.claims[1].evidence
    assert f.claims[2].evidence.startswith("over the pilot's grid (seed 0), validation accuracy spans 10.00 to 96.00%")
    assert all(len(c.evidence.split()) <= 40 for c in f.claims)
    assert f.setting_seed0.endswith("seed 0") and f.setting.endswith("seeds 0 to 2")
    assert f.median_from == 100 and f.steps == 1000 and f.n_seeds == 3 and f.check_seeds == "seeds 0 to 2"


def init_grid(ranges_none=(3.0, 2.0, 4.0), ranges_bn=(0.5, 0.2, 0.4)):
    """{(std, network): [run per seed]}: per seed, validation accuracy 95% at σ 0.05 and 95% - range at σ 0.5."""
    grid = {}
    for name, ranges in (("without BN", ranges_none), ("with BN", ranges_bn)):
        for std in (0.01, 0.05, 0.5):
            grid[std, name] = [mlp(val=0.95 - (r / 100 if std == 0.5 else 0), std=std, seed=s, steps=300)
                               for s, r in enumerate(ranges)]
    return grid


def test_bn_at_its_own_rate_and_the_initial_scale_are_tested_over_the_seeds():
    p, runs, check, lenet = chapter()
    own = [mlp(final=0.985 + 0.001 * s, lr=2.0, seed=s) for s in range(3)]
    f = fd.paper_mnist_findings(p, runs, check, lenet, own=own, init=init_grid())
    higher, init = f.claims[0].tests[0], f.claims[2].tests[0]
    assert higher.comparison.difference == pytest.approx(1.4) and higher.comparison.paired and f.own is higher.comparison
    assert higher.label == "lr 2 without BN, 2 with"
    assert init.comparison.a.values == pytest.approx((3.0, 2.0, 4.0)) and init.comparison.paired
    assert f.init is init.comparison and f.init.direction == "lower"
    assert f.init_stds == (0.01, 0.05, 0.5) and f.init_steps == 300 and f.claims[2].verdict == "supported"
    assert "with BN at its own rate: +1.40 points" in f.claims[0].evidence
    assert f.claims[2].evidence.startswith("range of validation accuracy over the initial scales, per seed")
    assert fd.scale_ranges(init_grid(), "with BN").values == pytest.approx((0.5, 0.2, 0.4))


def test_the_median_movement_is_in_units_of_the_spread_as_a_log():
    calm = mlp(wobble=0.1, band=(2.0, 2.0, 2.0))
    probes_from = next(i for i, s in enumerate(calm.probe_steps) if s >= 100)  # 10% of 1,000 steps
    moves = len(calm.probe_steps) - probes_from - 1
    assert fd.median_movement(calm, "fc3") == pytest.approx(__import__("math").log(0.1 * moves / 2.0))


def test_the_chapter_findings_refuse_runs_at_a_learning_rate_validation_did_not_choose():
    p, runs, check, lenet = chapter()
    for h in runs["without BN"]:
        h.config["lr"] = 0.1
    with pytest.raises(ValueError, match="validation chose lr 2"):
        fd.paper_mnist_findings(p, runs, check, lenet)


def test_the_same_answer_at_both_learning_rates():
    assert fd.paper_mnist_findings(*chapter(runner_up_steadier=False)).lr_dependent is False


def test_a_one_seed_check_cannot_say_whether_the_answer_depends_on_the_learning_rate():
    p, runs, check, lenet = chapter()
    check = {name: runs_[:1] for name, runs_ in check.items()}
    f = fd.paper_mnist_findings(p, runs, check, lenet)
    assert f.lr_dependent is None and f.check.drift.effect is None and f.check_seeds == "seed 0"
    assert "at lr 0.5 (seed 0)" in f.claims[1].evidence and "no interval: one run a side" in f.claims[1].evidence
