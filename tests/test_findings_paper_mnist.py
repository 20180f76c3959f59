"""The paper-MNIST chapter's findings (bnreview.findings, section "Chapter: paper_mnist") on small synthetic runs."""

import pytest

from bnreview import findings as fd
from bnreview.page import Page
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
    assert "(chosen)" in fd.pilot_table(p, choice).splitlines()[6]  # std 0.05, lr 0.5
    text = fd.pilot_text(p, choice)
    assert "does best at lr 0.5 (96.00%), then at lr 2 (95.00%)" in text
    assert "a ranking, without an interval" in text and "validation picks the same σ = 0.05" in text


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


def test_validation_may_prefer_another_scale_and_the_text_says_so():
    p = pilot([[0.5, 0.6, 0.99], [0.88, 0.96, 0.95]], [[0.9] * 3, [0.9] * 3])
    choice = fd.pilot_choice(p, 0.05)
    assert choice["overall"] == (0.01, 2.0)
    assert "would pick σ = 0.01 (lr 2, 99.00%)" in fd.pilot_text(p, choice)


def test_scale_text_says_whether_bn_depends_less_on_lr_and_scale():
    text, less = fd.pilot_scale_text(pilot([[0.11, 0.5, 0.93], [0.88, 0.95, 0.95]], [[0.94, 0.95, 0.96], [0.95] * 3]))
    assert less and "from 11.00% (σ = 0.01, lr 0.1) to 95.00%" in text and "depends less" in text
    text, less = fd.pilot_scale_text(pilot([[0.9] * 3] * 2, [[0.5, 0.9, 0.9], [0.9] * 3]))
    assert not less and "does not make the outcome depend less" in text


def test_accuracy_at_a_step_takes_the_last_evaluation_before_it():
    h = mlp(reach97=300)
    assert fd.accuracy_at([h], 299).values == (50.0,)
    assert fd.accuracy_at([h], 300).values == (97.0,)


def test_steps_to_text_with_spread_and_missing_seeds():
    runs = [mlp(reach97=200, seed=0), mlp(reach97=400, seed=1), mlp(seed=2)]
    assert fd.steps_to_text(runs, 0.97) == "at step 300 ± 141 (2 seeds, 200 to 400); 1 of 3 seeds never get there"
    assert fd.steps_to_text([mlp()], 0.97) == "never within the run"
    assert fd.steps_to_text([mlp(), mlp(seed=1)], 0.97) == "never within the run (no seed gets there)"


def test_figure_1a_bn_faster_and_higher():
    runs = {"without BN": [mlp(final=0.971 + 0.001 * s, reach97=600, seed=s) for s in range(3)],
            "with BN": [mlp(final=0.981 + 0.001 * s, reach97=200, reach98=800, seed=s) for s in range(3)]}
    f = fd.figure_1a_findings(runs)
    assert f["faster"] and f["higher"]
    assert f["shape"].startswith("As in the paper's Figure 1(a), BN trains faster and ends higher here.")
    assert "is above zero" in f["final"] and "test accuracy at step 20 (2% of training)" in f["early"]
    assert "BN reaches 97% in fewer steps (the paired interval of the ratio of steps lies below 1)" in f["reach"]


def test_figure_1a_half_and_none():
    same = [mlp(final=0.97, reach97=300, seed=s) for s in range(2)]
    higher = [mlp(final=0.98, reach97=300, seed=s) for s in range(2)]
    half = fd.figure_1a_findings({"without BN": same, "with BN": higher})
    assert not half["faster"] and half["higher"] and "one half holds here: BN ends higher" in half["shape"]
    none = fd.figure_1a_findings({"without BN": same, "with BN": same})
    assert "the runs show neither that BN trains faster nor that it ends higher" in none["shape"]
    never = fd.figure_1a_findings({"without BN": [mlp(final=0.9)], "with BN": [mlp(final=0.95)]})
    assert never["reach"].endswith("neither network reaches 97% within the run.")


def test_steadiness_band_widths_and_verdicts():
    calm = [mlp(band=(2.07, 2.5, 3.0), wobble=0.1, seed=s) for s in range(3)]
    wild = [mlp(band=(0.2, 3.0, 6.0), wobble=1.0, seed=s) for s in range(3)]
    s = fd.steadiness(wild, calm, "fc3")
    assert s["steadier"] and s["verdict"].startswith("BN keeps this unit's input steadier")
    assert "With BN it is 2.07 ± 0.00 (3 seeds, 2.07 to 2.07) wide at step 0" in s["text"]
    assert "a normal distribution's band would be 2.07 wide, ±1.04" in s["text"]
    assert s["late_step"] == 50  # the first probe at or after 2% of 1,000 steps
    assert fd.steadiness(calm, wild, "fc3")["verdict"].startswith("BN does not keep this unit's input steadier")
    assert "the runs do not show BN changing" in fd.steadiness(calm, calm, "fc3")["verdict"]


def test_titles_name_exactly_the_seeds_shown():
    runs = [mlp(seed=s) for s in range(3)]
    assert fd.mlp_setting(runs).endswith("init N(0, 0.05²), seeds 0, 1, 2")
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


def test_the_chapter_findings_claims_and_learned():
    v = fd.paper_mnist_findings(*chapter())
    assert v["lr"] == "2" and v["runner_up"] == "0.5" and v["mlp_params"] == "99,710"
    assert "BN does not keep this unit's input steadier" in v["drift_verdict"]
    assert "BN keeps this unit's input steadier" in v["check_verdict"]
    assert v["lr_dependence"].startswith("So whether BN visibly steadies the last hidden layer depends on the learning "
                                         "rate (steadier at lr 0.5 only)")
    assert "BN keeps this unit's input steadier" in v["lenet_verdict"]
    # mlp-higher is not tested (no runs at BN's own rate given), mlp-faster is (200 against 600 steps to 95%); with
    # BN the median swings 0.8 every other probe against 0.2 without: "steadier" is contradicted; no init grid
    assert [c.verdict for c in v["claims"]] == ["supported", "contradicted", "not tested"]
    assert [(t.entry, t.comparison is not None) for t in v["claims"][0].tests] == [("mlp-higher", False),
                                                                                  ("mlp-faster", True)]
    assert v["headline"].startswith("On the paper's own MNIST network (lr 2, chosen on validation; 3 seeds, 1,000 steps)")
    assert v["learned"].count("\n- ") == 7
    assert v["setting_seed0"].endswith("seed 0") and v["setting"].endswith("seeds 0, 1, 2")
    assert all(isinstance(x, (str, int, float)) for x in Page(v).as_dict().values())


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
    v = fd.paper_mnist_findings(p, runs, check, lenet, own=own, init=init_grid())
    higher, init = v["claims"][0].tests[0], v["claims"][2].tests[0]
    assert higher.comparison.difference == pytest.approx(1.4) and higher.comparison.paired
    assert v["own_text"].startswith("final test accuracy: with BN at its own rate (lr 2) 98.60%")
    assert init.comparison.a.values == pytest.approx((3.0, 2.0, 4.0)) and init.comparison.paired
    assert v["init_verdict"] == "with BN the outcome depends less on the initial scale"
    assert "σ 0.01, 0.05, 0.5, each network at its own chosen rate. The range" in v["init_text"] and v["claims"][2].verdict == "supported"
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
    v = fd.paper_mnist_findings(*chapter(runner_up_steadier=False))
    assert v["lr_dependence"].startswith("At both learning rates the answer is the same")


def test_a_one_seed_check_cannot_say_whether_the_answer_depends_on_the_learning_rate():
    p, runs, check, lenet = chapter()
    check = {name: runs_[:1] for name, runs_ in check.items()}
    v = fd.paper_mnist_findings(p, runs, check, lenet)
    assert v["lr_dependence"] == ("The check at lr 0.5 has no interval (seed 0), so these runs cannot say whether "
                                  "the answer depends on the learning rate.")
