"""The loss landscape along the gradient, after Santurkar et al. (2018): the sweep's runs replayed with a probe.

At a training step, from the weights ``W`` before the update and the gradient ``g`` of that step's batch, the
probe visits the points ``W - eta g`` for ``eta`` from 1/2 to 4 times the learning rate (the paper's
"[1/2, 4] x step size") and measures, on the same batch, the loss there and how far the gradient there lies
from ``g``. Per probe it keeps three numbers: the range of the loss along the line (the paper's "variation
in loss"), the largest distance between the gradients (its "gradient predictiveness"), and the largest such
distance over the distance moved (its "effective beta-smoothness").

A replay trains the run again with :func:`bnreview.train.train`'s ``inspect`` hook: the same config gives the
same run (checked against the cached run's losses), and what the probe measures is cached beside that run.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from bnreview.config import is_quick
from bnreview.experiments.common import Plan, cached_numbers, grid_plan, run_plan, seeds, sweep_config
from bnreview.models import BN_LAYERS
from bnreview.train import History, train

LANDSCAPE_LRS = (0.1, 0.9)  # a lower rate and the review's
LANDSCAPE_EVERY = 50  # steps between probes (5 in the quick profile)
MULTIPLES = tuple(0.5 * k for k in range(1, 9))  # eta / lr: 0.5, 1, ..., 4
NETWORKS = {"without BN": (), "with BN": BN_LAYERS}
MEASURES = ("loss_range", "gradient_change", "beta")


def landscape_plan() -> Plan:
    """``{(network, lr): [sweep run per seed]}``: the runs the probe replays (the sweep's own configs)."""
    return grid_plan({(name, lr): sweep_config(lr, bn=bn) for name, bn in NETWORKS.items() for lr in LANDSCAPE_LRS},
                     seeds())


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def probe_line(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
               multiples=MULTIPLES) -> dict[str, float]:
    """The landscape along ``-g`` from the model's weights (gradients in ``.grad``, the batch ``x, y``).

    Leaves the weights, their gradients and the buffers (BN's running statistics) as it found them.
    """
    params = [p for p in model.parameters() if p.grad is not None]
    weights = [p.detach().clone() for p in params]
    grads = [p.grad.detach().clone() for p in params]
    buffers = [b.detach().clone() for b in model.buffers()]
    g = _flat(grads)
    losses, changes, betas = [], [], []
    for m in multiples:
        eta = m * lr
        with torch.no_grad():
            for p, w, d in zip(params, weights, grads):
                p.copy_(w - eta * d)
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        change = torch.linalg.vector_norm(_flat(p.grad for p in params) - g).item()
        losses.append(loss.item())
        changes.append(change)
        betas.append(change / (eta * torch.linalg.vector_norm(g).item()))
    with torch.no_grad():
        for p, w, d in zip(params, weights, grads):
            p.copy_(w)
            p.grad = d
        for b, kept in zip(model.buffers(), buffers):
            b.copy_(kept)
    finite = all(math.isfinite(v) for v in losses + changes)
    return {"loss_range": max(losses) - min(losses) if finite else math.inf,
            "gradient_change": max(changes) if finite else math.inf, "beta": max(betas) if finite else math.inf}


def measure_run(history: History, every: int | None = None) -> dict:
    """Replay ``history``'s run, probing every ``every`` steps: ``{"seed": s, "steps": [...], measure: [...] per probe}``."""
    every = every or (5 if is_quick() else LANDSCAPE_EVERY)
    config = history.train_config()
    found: dict = {"seed": config.seed, "steps": [], **{m: [] for m in MEASURES}}

    def inspect(step, model, x, y):
        if step % every == 0:
            found["steps"].append(step)
            for name, value in probe_line(model, x, y, config.lr).items():
                found[name].append(value)

    replay = train(config, progress=False, inspect=inspect)
    if replay.step_loss != history.step_loss:
        raise RuntimeError(f"the replay of {config.describe()} did not retrace the cached run: its landscape would "
                           "describe another run")
    return found


def landscape(history: History) -> dict:
    """:func:`measure_run` of a run, computed once and cached beside it."""
    return cached_numbers(history, "landscape", lambda: measure_run(history), sys.modules[__name__])


def landscape_runs() -> dict[tuple[str, float], list[dict]]:
    """``{(network, lr): [the landscape of each seed's run]}`` (the runs from the cache, the probes replayed)."""
    return {key: [landscape(h) for h in histories] for key, histories in run_plan(landscape_plan()).items()}
