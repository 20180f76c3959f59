"""The verdict statistics on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from bnreview import stats
from bnreview.stats import Effect, family, holm, paired, unpaired, verdict

# ten values of mean 0 and standard deviation 1 (sample std, ddof=1), fixed
BASE = np.array([-1.5, -1.1, -0.7, -0.4, -0.1, 0.1, 0.4, 0.7, 1.1, 1.5])
BASE = (BASE - BASE.mean()) / BASE.std(ddof=1)


def test_a_shift_of_one_standard_deviation_at_ten_runs_is_supported():
    effect = unpaired(BASE, BASE + 1.0)
    assert effect.estimate == pytest.approx(1.0) and effect.low > 0 and effect.p < 0.05
    assert verdict(effect, direction=+1, smallest=0.3) == "supported"
    assert verdict(effect, direction=-1, smallest=0.3) == "contradicted"


def test_identical_samples_are_inconclusive_not_supported():
    effect = unpaired(BASE, BASE)
    assert effect.estimate == 0 and effect.low < 0 < effect.high
    assert verdict(effect, direction=+1, smallest=0.3) == "inconclusive"


def test_a_paired_design_finds_a_small_consistent_shift_an_unpaired_one_misses():
    seeds = np.random.default_rng(0).normal(97.0, 1.0, size=10)  # large between-seed spread
    shifted = seeds + 0.3 + np.random.default_rng(1).normal(0, 0.05, size=10)
    assert verdict(paired(seeds, shifted), +1, smallest=0.1) == "supported"
    assert verdict(unpaired(seeds, shifted), +1, smallest=0.1) == "inconclusive"


def test_holm_changes_a_borderline_verdict():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 10)
    b = a + 0.5 + rng.normal(0, 0.8, 10)  # alone: p about 0.03
    alone = paired(a, b)
    assert 0.02 < alone.p < 0.04 and verdict(alone, +1, 0.1) == "supported"
    null = (a, a + np.random.default_rng(4).normal(0, 1, 10), True)  # p about 0.5: the borderline one is tested first
    corrected = family([(a, b, True), null, null])[0]
    assert corrected.p == pytest.approx(3 * alone.p) and corrected.level == pytest.approx(1 - 0.05 / 3)
    assert corrected.low < alone.low and verdict(corrected, +1, 0.1) != "supported"


def test_holm_adjusted_p_values_are_monotone_and_levels_step_down():
    adjusted, levels = holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert levels == pytest.approx([1 - 0.05 / 4, 1 - 0.05 / 2, 1 - 0.05 / 3, 1 - 0.05 / 1])


@pytest.mark.parametrize("seed", range(200))
def test_no_rule_says_supported_when_the_interval_crosses_zero(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    a, b = rng.normal(0, 1, n), rng.normal(rng.normal(0, 0.5), rng.uniform(0.1, 2), n)
    for effect in (paired(a, b), unpaired(a, b), *family([(a, b, True), (b, a, False)])):
        for direction in (+1, -1):
            if effect.low <= 0 <= effect.high:
                assert verdict(effect, direction, smallest=float(rng.uniform(0.01, 1))) != "supported"


def test_the_permutation_p_value_of_complete_separation_is_exact():
    """Three runs each, every one of b above every one of a: 2 / C(6, 3) = 0.1, not significant."""
    effect = unpaired([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert effect.p == pytest.approx(0.1) and verdict(effect, +1, 0.5) == "inconclusive"


def test_bad_input_is_refused_with_one_line():
    with pytest.raises(ValueError, match="at least 2 runs, got 1 and 3"):
        unpaired([1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="as many runs on each side, got 2 and 3"):
        paired([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="direction must be"):
        verdict(paired([1, 2, 3], [2, 3, 5]), 0, 0.1)
    with pytest.raises(ValueError, match="outside its interval"):
        Effect(5.0, 0.0, 1.0, 0.5, 3, True, "paired t")


def test_effect_text():
    assert Effect(0.5, 0.21, 0.79, 0.01, 10, True, "paired t").text(" pt") == "+0.50 pt (95% CI +0.21 pt to +0.79 pt)"
    assert stats.VERDICTS[:3] == ("supported", "contradicted", "inconclusive")


def test_non_inferiority_and_equivalence_against_their_margins():
    small_loss = Effect(-0.1, -0.25, 0.05, 0.2, 10, True, "paired t")  # b at most 0.25 below a
    assert verdict(small_loss, +1, 0.5, kind="non-inferiority") == "supported"
    assert verdict(small_loss, +1, 0.2, kind="non-inferiority") == "inconclusive"
    assert verdict(Effect(-1.0, -1.3, -0.7, 0.001, 10, True, "paired t"), +1, 0.5, kind="non-inferiority") == "contradicted"
    agree = Effect(0.01, -0.03, 0.05, 0.5, 10, True, "paired t")
    assert verdict(agree, +1, 0.1, kind="equivalence") == "supported"
    assert verdict(agree, +1, 0.04, kind="equivalence") == "inconclusive"
    assert verdict(Effect(0.5, 0.3, 0.7, 0.001, 10, True, "paired t"), +1, 0.1, kind="equivalence") == "contradicted"
    with pytest.raises(ValueError, match="kind='better' is invalid"):
        verdict(agree, +1, 0.1, kind="better")
