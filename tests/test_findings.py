"""The findings layer on small synthetic runs: every criterion, and its edge cases."""

import math

import pytest

from bnreview import criteria
from bnreview import findings as fd
from bnreview.train import History


def run(final: float, diverged: bool = False, val: float | None = None, seconds=(1.0,), accs=None) -> History:
    accs = list(accs) if accs is not None else [final]
    return History(config={}, test_acc=accs, diverged=diverged, epoch_seconds=list(seconds),
                   val_acc=[] if val is None else [val])


# --- spreads and comparisons


def test_spread_of_three_seeds():
    s = fd.spread([98.0, 99.0, 98.5])
    assert (s.n, s.mean, s.lo, s.hi) == (3, 98.5, 98.0, 99.0)
    assert s.std == pytest.approx(0.5)
    assert s.text() == "98.50% ± 0.50 (3 seeds, 98.00 to 99.00)"


def test_spread_of_a_single_seed_has_no_std_and_says_so():
    s = fd.spread([97.25])
    assert s.std == 0.0 and s.text() == "97.25% (1 seed)"


def test_spread_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one value"):
        fd.spread([])


def test_final_accuracy_is_in_percent_and_counts_diverged_runs():
    s = fd.final_accuracy([run(0.99), run(0.10, diverged=True)])
    assert s.values == (99.0, 10.0)


def test_comparison_shows_a_difference_when_its_95_interval_excludes_zero():
    shown = fd.compare([98.6, 98.7, 98.8], [98.9, 99.0, 99.1])  # unpaired: plain values name no runs
    assert not shown.paired and shown.effect.test.startswith("Welch")
    assert shown.shown and shown.direction == "higher" and shown.difference == pytest.approx(0.3)
    assert shown.effect.low > 0 and "is above zero" in shown.text("without BN", "with BN")
    assert "(95% CI +0.07 to +0.53; Welch t, 3 and 3 runs)" in shown.text("a", "b")
    overlap = fd.compare([98.6, 98.7, 98.9], [98.8, 99.0, 98.7])
    assert not overlap.shown and overlap.direction == "not shown"
    assert "does not exclude zero" in overlap.text("a", "b")
    lower = fd.compare([99.0, 99.1, 99.05], [98.0, 98.1, 98.02])
    assert lower.shown and lower.direction == "lower" and "is below zero" in lower.text("a", "b")


def test_the_same_seeds_on_both_sides_are_compared_as_pairs():
    # a small consistent shift hidden in a large spread between seeds: paired finds it, unpaired does not
    a, b = [97.0, 98.0, 99.0, 97.5], [97.1, 98.12, 99.09, 97.6]
    paired = fd.compare(fd.spread(a, [0, 1, 2, 3]), fd.spread(b, [0, 1, 2, 3]))
    unpaired = fd.compare(a, b)
    assert paired.paired and paired.shown and paired.effect.test == "paired t"
    assert not unpaired.paired and not unpaired.shown
    assert "paired t, 4 seeds" in paired.interval_text()
    assert not fd.compare(fd.spread(a, [0, 1, 2, 3]), fd.spread(b, [1, 2, 3, 4])).paired  # other seeds


def test_one_seed_a_side_or_a_run_that_never_got_there_gives_no_interval():
    single = fd.compare([98.0], [98.5])
    assert single.effect is None and not single.shown and single.direction == "not shown"
    assert "(no interval: one run a side)" in single.text("a", "b")
    never = fd.compare([1.0, 2.0], [1.5, math.inf])
    assert never.effect is None and "(no interval: a run never got there)" in never.interval_text()


def test_spreads_over_runs_name_each_run_by_its_seed():
    runs = [History(config={"seed": s}, test_acc=[0.9 + s / 100]) for s in (2, 0)]
    assert fd.final_accuracy(runs).seeds == (2, 0) and fd.seeds_of(runs) == (2, 0)
    assert fd.final_accuracy([run(0.9)]).seeds is None  # a config without a seed pairs nothing
    with pytest.raises(ValueError, match="2 values but 1 seeds"):
        fd.spread([1, 2], [0])


# --- learning rates


def sweep(**rows):
    """{(variant, lr): runs} from keyword rows like nobn_0p9=[...]"""
    return {(name.split("_")[0], float(name.split("_")[1].replace("p", "."))): runs for name, runs in rows.items()}


def test_trains_needs_every_seed_at_the_accuracy_and_none_diverged():
    assert fd.trains([run(0.98), run(0.975)])
    assert not fd.trains([run(0.98), run(0.96)])
    assert not fd.trains([run(0.98), run(0.98, diverged=True)])  # diverged fails whatever its accuracy
    assert not fd.trains([])


def test_largest_trainable_lr_is_the_explorers_bar():
    results = sweep(nobn_0p1=[run(0.98)] * 3, nobn_0p9=[run(0.98)] * 3, nobn_3=[run(0.1, True)] * 3,
                    bn_0p1=[run(0.98)] * 3, bn_0p9=[run(0.99)] * 3, bn_3=[run(0.98)] * 3)
    assert fd.largest_trainable_lr(results, "nobn") == 0.9
    assert fd.largest_trainable_lr(results, "bn") == 3.0


def test_usable_rates_follow_the_protocol_no_divergence_and_within_a_point_of_the_best():
    by_lr = {0.01: [run(0.90)] * 3, 0.1: [run(0.975)] * 3, 0.9: [run(0.98)] * 3,
             3.0: [run(0.99), run(0.99), run(0.2, diverged=True)]}
    assert fd.usable_lrs(by_lr) == [0.1, 0.9]  # 0.01 is 8 points below the best; 3.0 has a diverged seed
    assert fd.usable_lrs({0.1: [run(0.5, diverged=True)]}) == []


def test_the_largest_usable_rate_of_each_network():
    results = sweep(nobn_0p1=[run(0.98)] * 3, nobn_0p9=[run(0.975)] * 3, nobn_3=[run(0.1, True)] * 3,
                    bn_0p1=[run(0.98)] * 3, bn_0p9=[run(0.99)] * 3, bn_3=[run(0.985)] * 3)
    assert fd.largest_usable_lr(results, "nobn") == 0.9 and fd.largest_usable_lr(results, "bn") == 3.0
    none = sweep(nobn_0p1=[run(0.5, diverged=True)], bn_0p1=[run(0.96, diverged=True)])
    assert fd.largest_usable_lr(none, "nobn") is None and fd.largest_usable_lr(none, "bn") is None
    one = sweep(nobn_0p1=[run(0.5, diverged=True)], bn_0p1=[run(0.98)])
    assert fd.largest_usable_lr(one, "nobn") is None and fd.largest_usable_lr(one, "bn") == 0.1


def test_one_diverged_seed_fails_the_learning_rate():
    results = sweep(bn_0p9=[run(0.99), run(0.99), run(0.2, diverged=True)], bn_0p3=[run(0.98)] * 3)
    assert fd.largest_trainable_lr(results, "bn") == 0.3


def test_best_is_chosen_on_validation_never_on_test():
    results = {0.1: [run(0.99, val=0.95)], 0.5: [run(0.90, val=0.97)]}
    assert fd.best_by_validation(results) == 0.5  # the test set would have picked 0.1


def test_each_group_of_a_pilot_keeps_its_own_best_setting_in_the_pilots_order():
    pilot = {("no BN", 0.1): [run(0.99, val=0.95)], ("no BN", 0.9): [run(0.90, val=0.97)],
             ("BN", 0.1): [run(0.99, val=0.98)], ("BN", 0.9): [run(0.99, diverged=True, val=0.99)]}
    assert list(criteria.best_per_group(pilot).items()) == [("no BN", 0.9), ("BN", 0.1)]


def test_best_ties_go_to_the_first_and_diverged_counts_as_zero():
    results = {"a": [run(0.9, val=0.97)], "b": [run(0.9, val=0.97)], "c": [run(0.9, diverged=True, val=0.99)]}
    assert fd.best_by_validation(results) == "a"
    assert fd.best_by_validation(results, ["b", "a"]) == "b"


def test_best_refuses_runs_without_validation():
    with pytest.raises(ValueError, match="choosing on the test set is not allowed"):
        fd.best_by_validation({"a": [run(0.9)]})
    with pytest.raises(ValueError, match="nothing to choose from"):
        fd.best_by_validation({})


# --- time


def test_seconds_per_epoch_is_the_median_of_the_runs_means():
    runs = [run(0.9, seconds=(4.0, 6.0)), run(0.9, seconds=(5.0, 5.0)), run(0.9, seconds=(50.0, 50.0))]
    assert fd.seconds_per_epoch(runs) == 5.0  # the slowed run does not count
    assert math.isnan(fd.seconds_per_epoch([]))
    assert fd.train_minutes(runs) == pytest.approx(120 / 60)


# --- the ledger


def seeded(values, seeds=(0, 1, 2, 3, 4)):
    return fd.spread(values, seeds)


def test_a_test_names_a_protocol_entry_and_a_comparison_or_why_not():
    with pytest.raises(ValueError, match="no protocol entry 'nope'"):
        fd.Test("nope", why_not="x")
    with pytest.raises(ValueError, match="no comparison and no reason why not"):
        fd.Test("accuracy-review")


def test_the_ledger_judges_by_the_protocol_rules_with_holm_across_its_tests():
    up = fd.compare(seeded([98.6, 98.7, 98.8, 98.65, 98.75]), seeded([99.6, 99.7, 99.8, 99.62, 99.71]))
    flat = fd.compare(seeded([98.6, 98.7, 98.8, 98.65, 98.75]), seeded([98.7, 98.6, 98.8, 98.7, 98.65]))
    claims = [fd.Claim("higher accuracy", "p", "r", "e", (fd.Test("accuracy-review", up),), "lenet_bn"),
              fd.Claim("harder task", "p", "r", "e", (fd.Test("harder-task", flat),), "fashion"),
              fd.Claim("time", "p", "r", "e", (fd.Test("training-time", why_not="no benchmark yet"),), "lenet_bn")]
    rows = fd.ledger_rows(claims)
    assert [j.verdict for j in rows] == ["supported", "contradicted", "not tested"]
    assert rows[0].effect.level > 0.95  # drawn at its Holm level across the two tests with intervals
    assert [c.verdict for c in claims] == ["supported", "contradicted", "not tested"]
    table = fd.ledger_markdown(claims)
    assert table.splitlines()[0] == "| claim | verdict | effect, corrected interval | chapter |"
    assert "| BN gives higher final accuracy at the review's settings | **supported** | +0.99 points (9" in table
    assert "| **not tested** | no benchmark yet | {doc}`lenet_bn` |" in table
    assert fd.verdict_counts(claims) == "1 supported, 1 contradicted, 1 not tested"
    assert ":::{dropdown} higher accuracy\n**The paper:** p" in fd.evidence_markdown(claims)


def test_one_seed_is_inconclusive_and_a_claims_tests_summarise():
    single = fd.compare(fd.spread([98.0], [0]), fd.spread([99.0], [0]))
    assert fd.judge([fd.Test("accuracy-review", single)])[0].verdict == "inconclusive"
    assert fd.summary(["supported", "supported", "not tested"]) == "supported"
    assert fd.summary(["supported", "contradicted"]) == "inconclusive"
    assert fd.summary(["not tested"]) == "not tested"


# --- the conclusion


def every_entry(effects: dict[str, float] | None = None) -> list:
    """One claim per protocol entry, in the protocol's order: the entries in ``effects`` measured with that shift of
    five paired seeds, every other entry not tested."""
    from bnreview import protocol

    base = [98.6, 98.7, 98.8, 98.65, 98.75]
    claims = []
    for e in protocol.ENTRIES:
        shift = (effects or {}).get(e.id)
        test = (fd.Test(e.id, fd.compare(seeded(base), seeded([b + shift for b in base[:4]] + [base[4] + 1.1 * shift])))
                if shift is not None else fd.Test(e.id, why_not="not in this test"))
        claims.append(fd.Claim(e.topic, "p", "r", "e", (test,), e.chapter))
    return claims


def test_the_conclusion_answers_each_question_from_its_test_in_the_ledger():
    f = fd.conclusion_findings(every_entry({"larger-learning-rates": 1.0, "fewer-steps": -0.5}))
    assert len(f.judged) == 32 and f.verdict_counts == "2 supported, 30 not tested" and f.seeds == 5
    table = f.answers_table()
    assert ("| Does BN allow larger learning rates? | \"not noticed\" | **supported**: +1.02 points (9" in table
            and "; LeNet, one epoch at the largest rate usable with BN ({doc}`lr_sweep`) |" in table)
    assert "| **not tested**: not in this test; LeNet on Fashion-MNIST ({doc}`fashion`) |" in table
    assert all(len(f.answer(q).split()) <= 30 for q in fd.QUESTIONS)
    assert f.test("fewer-steps").verdict == "supported" and f.count("supported") == 2
    assert f.ledger.count("\n") == 33  # header, rule, 32 tests


def test_the_conclusion_refuses_an_untested_entry_and_a_question_without_one_test():
    claims = every_entry()
    with pytest.raises(ValueError, match="protocol entries no claim of the ledger tests: harder-task"):
        fd.conclusion_findings([c for c in claims if c.tests[0].entry != "harder-task"])
    twice = fd.Claim("t", "p", "r", "e", (fd.Test("harder-task", why_not="x", label="lr 3"),), "fashion")
    with pytest.raises(ValueError, match="'harder-task' has 2 tests in the ledger; a question needs one"):
        fd.conclusion_findings([*claims, twice])


def test_a_log_effect_reads_as_a_factor():
    faster = fd.compare(seeded([6.0, 6.1, 6.2, 6.05, 6.15]), seeded([5.3, 5.41, 5.5, 5.36, 5.44]))
    judged = fd.judge([fd.Test("fewer-steps", faster)])[0]
    assert judged.effect_text().startswith("x0.5 steps (95% CI x0.")


def test_prose_declares_the_verdicts_it_was_written_for_and_a_full_build_fails_when_they_change(monkeypatch):
    higher = fd.compare(seeded([98.0, 98.1, 98.2, 98.1, 98.0]), seeded([99.0, 99.2, 99.1, 99.3, 99.0]))
    claims = [fd.Claim("t", "p", "r", "e", (fd.Test("accuracy-review", higher),), "lenet_bn")]
    fd.written_for(claims, {"accuracy-review": "supported"}, "BN ends higher")  # as written: nothing happens
    with pytest.raises(ValueError, match="the paragraph 'BN ends higher' was written for accuracy-review "
                                         "inconclusive; the runs say supported: rewrite it"):
        fd.written_for(claims, {"accuracy-review": "inconclusive"}, "BN ends higher")
    two = [*claims, fd.Claim("u", "p", "r", "e", (fd.Test("first-epoch", higher),), "lenet_bn")]
    with pytest.raises(ValueError, match="written for accuracy-review inconclusive; the runs say supported; and for "
                                         "first-epoch contradicted; the runs say supported: rewrite it"):
        fd.written_for(two, {"accuracy-review": "inconclusive", "first-epoch": "contradicted"}, "p")  # both named
    with pytest.raises(ValueError, match="verdict 'true' for 'accuracy-review' is not one; accepted: supported"):
        fd.written_for(claims, {"accuracy-review": "true"}, "p")
    with pytest.raises(ValueError, match="names test 'first-epoch'; the claims hold: accuracy-review"):
        fd.written_for(claims, {"first-epoch": "supported"}, "p")
    # worded for either verdict (it glues the verdict in): holds for each it names, and names them all when it fails
    fd.written_for(claims, {"accuracy-review": ("supported", "inconclusive")}, "BN ends ahead, by so much")
    with pytest.raises(ValueError, match="written for accuracy-review contradicted or inconclusive; the runs say "
                                         "supported: rewrite it"):
        fd.written_for(claims, {"accuracy-review": ("contradicted", "inconclusive")}, "p")
    with pytest.raises(ValueError, match="verdict 'maybe' for 'accuracy-review' is not one"):
        fd.written_for(claims, {"accuracy-review": ("supported", "maybe")}, "p")
    with pytest.raises(ValueError, match="no verdict given for 'accuracy-review'; accepted: supported"):
        fd.written_for(claims, {"accuracy-review": ()}, "p")
    monkeypatch.setenv("BNREVIEW_QUICK", "1")  # tiny runs decide nothing: nothing is checked
    fd.written_for(claims, {"accuracy-review": "inconclusive"}, "BN ends higher")


def test_where_something_holds_over_a_grid_of_rates():
    assert fd.at_rates([0.1, 3.0]) == "lr 0.1, 3" and fd.at_rates([]) == "no rate"
    assert fd.per_network(0.9, 0.9) == "0.9 for both networks" and fd.per_network(None, None).startswith("none")
    assert fd.per_network(0.3, 0.9) == "0.3 without BN and 0.9 with BN"


def test_seeds_read_as_a_range_when_they_run_on():
    runs = [History(config={"seed": s}) for s in (2, 0, 1, 3, 0)]
    assert fd.seeds_label(runs) == "seeds 0 to 3"
    assert fd.seeds_label(runs[:2]) == "seeds 0, 2" and fd.seeds_label(runs[1:2]) == "seed 0"
    assert fd.seeds_label([History(config={"seed": s}) for s in (0, 1, 5)]) == "seeds 0, 1, 5"
    assert fd.seeds_label(runs, distinct=False) == "seeds 2, 0, 1, 3, 0"
    assert fd.seeds_label(sorted(runs[:4], key=lambda h: h.config["seed"]), distinct=False) == "seeds 0 to 3"


def test_verdict_of_gives_the_verdict_a_paragraph_glues_in():
    higher = fd.compare(seeded([98.0, 98.1, 98.2, 98.1, 98.0]), seeded([99.0, 99.2, 99.1, 99.3, 99.0]))
    claims = [fd.Claim("t", "p", "r", "e", (fd.Test("accuracy-review", higher),), "lenet_bn")]
    assert fd.verdict_of(claims, "accuracy-review") == "supported"
    with pytest.raises(ValueError, match="no test 'first-epoch' among these claims; they hold: accuracy-review"):
        fd.verdict_of(claims, "first-epoch")
    judged = fd.judged_of(claims, "accuracy-review")  # the test with its corrected effect, for a glued interval
    assert judged.verdict == "supported" and judged.effect_text().startswith("+1.04 points (95% CI")


def test_a_network_near_chance_is_below_the_bar_and_one_that_trained_is_not():
    assert fd.at_chance(seeded([10.3, 11.4, 9.8, 10.1, 10.0])) and not fd.at_chance(seeded([96.0, 97.1, 95.5, 96.2, 96.4]))
