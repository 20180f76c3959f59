"""The review's own runs: LeNet at the review's setting without and with BN, over the seeds.

Read by the motivation, LeNet + BN, paper-MNIST and conclusion chapters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bnreview.config import review_config
from bnreview.experiments.common import Plan, run_plan, seeded
from bnreview.train import History


def review_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """The review's LeNet without and with BN on all four layers (``config.review_config``), one config per seed."""
    return {"no BN": seeded(review_config(), seed_list), "BN": seeded(review_config(bn="all"), seed_list)}


def review_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The runs of :func:`review_plan`: ``{"no BN": [...], "BN": [...]}``, one run per seed."""
    return run_plan(review_plan(seed_list))


def baseline_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """The baseline chapter's runs: the review's LeNet without BN, one config per seed."""
    return {"LeNet": review_plan(seed_list)["no BN"]}


STEP_SECONDS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "trainer.json"


@dataclass(frozen=True)
class StepSeconds:
    """Seconds per training step of LeNet (batch 64, ``train()``), without BN and with ours, and where measured."""

    no_bn: float
    bn: float
    torch_bn: float  # with torch.nn.BatchNorm in the same trainer
    machine: str


def step_seconds(path: Path = STEP_SECONDS) -> StepSeconds | None:
    """The seconds per step an idle run of ``benchmarks/trainer.py --json`` measured (interleaved repeats, one
    process per variant, the same memory format), or None without the file (an installed package)."""
    if not path.exists():
        return None
    found = json.loads(path.read_text())
    m, seconds = found["machine"], found["seconds_per_step"]
    return StepSeconds(seconds["bnreview, no BN"], seconds["bnreview, our BN"], seconds["bnreview, torch BN"],
                       f"{m['cpu']} ({m['kind']}), torch {m['torch']}, {found['threads']} thread(s), {m['date'][:10]}")


def torch_bn_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """The review's LeNet + BN with torch.nn's BatchNorm instead of ours, over the seeds: paired with the review's BN runs."""
    return {"torch BN": seeded(review_config(bn="all", bn_impl="torch"), seed_list)}


def torch_bn_runs(seed_list: Iterable[int] | None = None) -> list[History]:
    """The runs of :func:`torch_bn_plan`, one per seed."""
    return run_plan(torch_bn_plan(seed_list))["torch BN"]


def baseline_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The runs of :func:`baseline_plan`: ``{"LeNet": [History per seed]}``."""
    return run_plan(baseline_plan(seed_list))
