"""The findings layer on small synthetic runs: every criterion, and its edge cases."""

import math

import pytest

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


def test_comparison_is_clear_only_without_overlap():
    clear = fd.compare([98.6, 98.7, 98.8], [98.9, 99.0, 99.1])
    assert clear.clear and clear.direction == "higher" and clear.difference == pytest.approx(0.3)
    assert "is clear" in clear.text("without BN", "with BN")
    touching = fd.compare([98.6, 98.7, 98.9], [98.9, 99.0, 99.1])  # a tie at the edge is an overlap
    assert not touching.clear and touching.direction == "within the spread of the seeds"
    assert "within the spread of the seeds" in touching.text("a", "b")
    lower = fd.compare([99.0, 99.1], [98.0, 98.1])
    assert lower.clear and lower.direction == "lower"


def test_comparison_of_single_seeds_is_clear_when_they_differ():
    assert fd.compare([98.0], [98.5]).clear
    assert not fd.compare([98.0], [98.0]).clear


# --- learning rates


def sweep(**rows):
    """{(variant, lr): runs} from keyword rows like nobn_0p9=[...]"""
    return {(name.split("_")[0], float(name.split("_")[1].replace("p", "."))): runs for name, runs in rows.items()}


def test_trains_needs_every_seed_at_the_accuracy_and_none_diverged():
    assert fd.trains([run(0.98), run(0.975)])
    assert not fd.trains([run(0.98), run(0.96)])
    assert not fd.trains([run(0.98), run(0.98, diverged=True)])  # diverged fails whatever its accuracy
    assert not fd.trains([])


def test_largest_trainable_lr_and_the_sentence():
    results = sweep(nobn_0p1=[run(0.98)] * 3, nobn_0p9=[run(0.98)] * 3, nobn_3=[run(0.1, True)] * 3,
                    bn_0p1=[run(0.98)] * 3, bn_0p9=[run(0.99)] * 3, bn_3=[run(0.98)] * 3)
    assert fd.largest_trainable_lr(results, "nobn") == 0.9
    assert fd.largest_trainable_lr(results, "bn") == 3.0
    text = fd.usable_range_text(results, "nobn", "bn")
    assert text.startswith("BN widens the usable range of learning rates from 0.9 to 3 (1 grid step, x3.33;")
    assert "3 seeds each" in text


def test_no_learning_rate_passes():
    results = sweep(nobn_0p1=[run(0.5)], bn_0p1=[run(0.96)])
    assert fd.largest_trainable_lr(results, "nobn") is None
    assert fd.usable_range_text(results, "nobn", "bn").startswith("no learning rate of the grid trains either")
    assert "1 seed each" in fd.usable_range_text(results, "nobn", "bn")


def test_only_one_network_trains_and_equal_ranges():
    one = sweep(nobn_0p1=[run(0.5)], bn_0p1=[run(0.98)])
    assert fd.usable_range_text(one, "nobn", "bn").startswith("only the network with BN trains")
    same = sweep(nobn_0p1=[run(0.98)], bn_0p1=[run(0.98)])
    assert fd.usable_range_text(same, "nobn", "bn").startswith("BN leaves the usable range as it is: up to lr 0.1")


def test_one_diverged_seed_fails_the_learning_rate():
    results = sweep(bn_0p9=[run(0.99), run(0.99), run(0.2, diverged=True)], bn_0p3=[run(0.98)] * 3)
    assert fd.largest_trainable_lr(results, "bn") == 0.3


def test_best_is_chosen_on_validation_never_on_test():
    results = {0.1: [run(0.99, val=0.95)], 0.5: [run(0.90, val=0.97)]}
    assert fd.best_by_validation(results) == 0.5  # the test set would have picked 0.1


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


def test_ledger_rows_and_verdicts():
    claims = [fd.Claim("larger lr", "5x and 30x", "not noticed", "0.9 -> 3", fd.verdict(True), "lr_sweep"),
              fd.Claim("regularises", "reduces the need for dropout", "says so", "no | gap", fd.verdict(None))]
    table = fd.ledger_markdown(claims)
    assert "| larger lr | 5x and 30x | not noticed | 0.9 -> 3 ({doc}`lr_sweep`) | **supported** |" in table
    assert "no \\| gap" in table and "**not tested**" in table
    assert fd.verdict(False) == "not supported" and fd.verdict(True, mixed=True) == "mixed"
    with pytest.raises(ValueError, match="verdict='maybe'"):
        fd.Claim("x", "", "", "", "maybe")


# --- the conclusion


def chapter(headline="h", claims=(), **extra):
    return {"headline": headline, "claims": list(claims), **extra}


def conclusion_inputs(final_clear=0, lr_verdict="supported", speed_verdict="supported"):
    claim = lambda topic, v: fd.Claim(topic, "p", "r", "e", v, "lr_sweep")  # noqa: E731
    return {
        "motivation": chapter("drift slowed", [claim("distribution", "mixed")]),
        "lenet_bn": chapter(claims=[claim("accuracy", "not supported")], accuracy_verdict="no separation",
                            final_compare="98.7 against 98.9", epoch1_compare="97 against 98", time_text="1.2x",
                            impl_text="same", final_clear=final_clear),
        "lr_sweep": chapter(claims=[claim("larger learning rates", lr_verdict), claim("faster training", speed_verdict)],
                            speed="BN first", usable_range="from 0.9 to 3", effective={"summary": "norms grow"}),
        "paper_mnist": chapter("mlp"),
        "what_bn_does": chapter(headline_noisy="noisy", headline_batch="batch", headline_population="pop"),
        "regularisation": chapter("reg"),
        "fashion": chapter("it was the data", [claim("harder task", "supported")]),
    }


def test_conclusion_collects_every_chapter_and_the_ledger():
    v = fd.conclusion_findings(conclusion_inputs())
    assert v["n_claims"] == 5 and v["verdict_counts"] == "3 supported, 1 not supported, 1 mixed"
    assert "| Does BN allow larger learning rates? | \"not noticed\" | from 0.9 to 3 ({doc}`lr_sweep`) |" in v["table"]
    assert "- noisy ({doc}`what_bn_does`)" in v["found"] and "- norms grow ({doc}`lr_sweep`)" in v["found"]
    assert v["ledger"].count("\n") == 6  # header, rule, five claims
    assert "- it was the data ({doc}`fashion`)" in v["found"] and v["answer"].endswith(". it was the data.")
    assert v["answer"].startswith("The review's \"not noticed\" holds for what it measured")
    assert "the range of usable learning rates and the speed of training" in v["answer"]


def test_conclusion_answer_follows_the_verdicts():
    v = fd.conclusion_findings(conclusion_inputs(final_clear=1, lr_verdict="not supported",
                                                 speed_verdict="not supported"))
    assert v["answer"].startswith("Even the review's own measure")
    assert "our runs do not show the paper's advantage either" in v["answer"]
    only_lr = fd.conclusion_findings(conclusion_inputs(speed_verdict="not supported"))["answer"]
    assert "are about the range of usable learning rates, and there" in only_lr
