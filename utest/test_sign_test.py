"""The exact sign test behind the first-output benchmark's verdicts."""

import math

import pytest

from keywords.errors import HarnessConfigError
from keywords.measure.sign_test import binomial_tail, fewest_pairs, sign_test


def test_the_binomial_tail_is_exact():
    assert binomial_tail(10, 10) == 1 / 1024
    assert binomial_tail(10, 9) == 11 / 1024
    assert binomial_tail(4, 0) == 1.0 and binomial_tail(4, 5) == 0.0
    assert binomial_tail(7, 4) == pytest.approx(0.5)


@pytest.mark.parametrize(("alpha", "pairs"), [(0.25, 2), (0.05, 5), (0.05 / 28, 10), (0.001, 10), (0.0009, 11)])
def test_the_fewest_pairs_are_those_whose_strongest_outcome_reaches_alpha(alpha, pairs):
    assert fewest_pairs(alpha) == pairs
    assert 0.5**pairs <= alpha < 0.5 ** (pairs - 1)


def test_pairs_beyond_the_threshold_are_counted_on_the_tested_side_only():
    diffs = [12.0, 11.0, 10.0, 9.0, -12.0, -30.0]
    above = sign_test(diffs, threshold=10.0, side="above", alpha=0.05)
    below = sign_test(diffs, threshold=10.0, side="below", alpha=0.05)
    assert (above.pairs, above.beyond, below.beyond) == (6, 2, 2)
    assert above.p_value == pytest.approx(binomial_tail(6, 2)) and not above.significant
    assert above.fewest_pairs == 5 and not above.too_few_pairs


def test_every_pair_beyond_the_threshold_is_significant_only_with_enough_pairs():
    alpha = 0.05 / 28
    assert not sign_test([57.0, 57.3], threshold=10.0, side="above", alpha=alpha).significant
    enough = sign_test([57.0] * 10, threshold=10.0, side="above", alpha=alpha)
    assert enough.significant and math.isclose(enough.p_value, 1 / 1024)
    assert "10 of 10 pairs above +10" in enough.line()
    assert enough.figures()["fewestPairs"] == 10 and enough.figures()["significant"] is True


def test_a_bad_level_is_refused():
    with pytest.raises(HarnessConfigError, match="alpha"):
        sign_test([1.0], threshold=0.0, side="above", alpha=0.9)
