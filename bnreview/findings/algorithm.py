"""Chapter algorithm: our BatchNorm against torch.nn.BatchNorm on random data (``batchnorm.compare_with_torch``).

Typed: :class:`AlgorithmFindings`. The chapter's statement of Algorithms 1 and 2 and its errata of the review are
hand-written; this module measures the one number they rest on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALG_SHAPES = ((64, 84), (64, 6, 28, 28), (64, 120, 1, 1), (2, 3, 5, 5), (8, 4, 16))
ALG_TOLERANCE = 1e-5  # "the same" up to float32 rounding


@dataclass(frozen=True)
class AlgorithmFindings:
    """The largest difference between our BN and torch's over random batches of ``shapes``, in any output, gradient
    or running statistic (relative to the largest value above 1), and the tolerance it is held to."""

    largest: float
    shapes: tuple[tuple[int, ...], ...]
    tolerance: float

    @property
    def same(self) -> bool:
        """The two agree within ``tolerance``: float32 rounding."""
        return self.largest < self.tolerance

    @property
    def claims(self) -> list:
        """The chapter tests no claim of the ledger."""
        return []


def algorithm_findings(shapes: Sequence[tuple[int, ...]] = ALG_SHAPES,
                       tolerance: float = ALG_TOLERANCE) -> AlgorithmFindings:
    """Our BN against torch.nn.BatchNorm on random batches of each shape (outputs, gradients, running statistics)."""
    from bnreview.batchnorm import compare_with_torch

    return AlgorithmFindings(max(max(compare_with_torch(shape).values()) for shape in shapes), tuple(shapes),
                             tolerance)
