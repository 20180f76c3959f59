"""The review's own runs: LeNet at the review's setting without and with BN, over the seeds.

Read by the motivation, LeNet + BN, paper-MNIST and conclusion chapters.
"""

from __future__ import annotations

from collections.abc import Iterable

from bnreview.config import review_config
from bnreview.experiments.common import run_seeds
from bnreview.train import History


def review_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The review's LeNet without and with BN on all four layers (``config.review_config``), one run per seed:
    ``{"no BN": [...], "BN": [...]}``."""
    return {"no BN": run_seeds(review_config(), seed_list), "BN": run_seeds(review_config(bn="all"), seed_list)}
