"""The exact sign test of paired differences against a threshold: a verdict that needs no normal distribution.

A Student-t interval trusts the spread of the pairs it has. With few pairs of a figure that varies widely from run
to run, two pairs can agree to the millisecond by chance, and the interval is then as narrow as their agreement:
the build compared with itself is called slower. The sign test asks only how many pairs lie beyond the threshold.
If the true difference were the threshold or better, each pair would lie beyond it with probability at most one
half, so ``k`` or more of ``n`` pairs beyond it has probability at most ``P(Binomial(n, 1/2) >= k)``: the test's
*p-value*. No sample of fewer than ``fewest_pairs(alpha)`` pairs can reach a p-value of ``alpha``, whatever it
shows.

Nothing here imports Robot Framework.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from keywords.checks import number
from keywords.reporting.figures import field_figures, rounded

Side = Literal["above", "below"]


def binomial_tail(n: int, k: int) -> float:
    """``P(Binomial(n, 1/2) >= k)``, exactly (1.0 for ``k <= 0``, 0.0 for ``k > n``)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def fewest_pairs(alpha: float) -> int:
    """The fewest pairs whose strongest outcome (every pair beyond the threshold) has a p-value <= ``alpha``."""
    alpha = number("alpha", alpha, low=1e-12, high=0.5)
    return math.ceil(math.log2(1 / alpha) - 1e-12)


@dataclass(frozen=True)
class SignTest:
    """How many paired differences lie beyond a threshold, and how likely that many is by chance.

    Attributes:
        pairs: Differences counted (pairs with both values).
        beyond: Differences beyond the threshold on the tested side (``> threshold`` above, ``< -threshold``
            below).
        threshold: The threshold, in the differences' unit.
        side: ``above`` (the candidate is worse, for a lower-is-better figure) or ``below``.
        p_value: ``P(Binomial(pairs, 1/2) >= beyond)``: the chance of this many if the true difference were the
            threshold (or less far out).
        alpha: The p-value the test must reach.
        fewest_pairs: The fewest pairs that can reach ``alpha`` at all.
    """

    pairs: int
    beyond: int
    threshold: float
    side: Side
    p_value: float
    alpha: float
    fewest_pairs: int

    @property
    def significant(self) -> bool:
        """More pairs beyond the threshold than chance allows at ``alpha``."""
        return self.p_value <= self.alpha

    @property
    def too_few_pairs(self) -> bool:
        """Fewer pairs than any outcome would need to be significant."""
        return self.pairs < self.fewest_pairs

    def line(self) -> str:
        """``9 of 10 pairs above +10 ms, p 0.011 (needs <= 0.0018)``."""
        sign = "+" if self.side == "above" else "-"
        return (
            f"{self.beyond} of {self.pairs} pairs {self.side} {sign}{self.threshold:g}, p {self.p_value:.2g} "
            f"(needs <= {self.alpha:.2g}; at least {self.fewest_pairs} pairs can reach it)"
        )

    def figures(self) -> dict[str, Any]:
        """Snapshot form (camelCase)."""
        return {
            **field_figures(self, "pairs", "beyond", "threshold", "side", "fewest_pairs"),
            "pValue": rounded(self.p_value, 6),
            "alpha": rounded(self.alpha, 6),
            "significant": self.significant,
        }


def sign_test(differences: Sequence[float], *, threshold: float, side: Side, alpha: float) -> SignTest:
    """The exact one-sided sign test of ``differences`` beyond ``threshold`` on ``side`` at level ``alpha``."""
    threshold = number("threshold", threshold, low=0.0)
    alpha = number("alpha", alpha, low=1e-12, high=0.5)
    if side == "above":
        beyond = sum(1 for d in differences if d > threshold)
    else:
        beyond = sum(1 for d in differences if d < -threshold)
    n = len(differences)
    return SignTest(n, beyond, threshold, side, binomial_tail(n, beyond), alpha, fewest_pairs(alpha))
