"""Layer probes: what each layer feeds its nonlinearity while a network trains (the paper's Figure 1(b, c)).

:func:`probe` runs a fixed batch through the network in training mode and returns, per layer,
the mean, std and 15/50/85th percentiles of the input to the nonlinearity (and of one fixed
unit), the share of saturated units (:func:`saturated`) and the norm of the layer's weights.
:func:`bnreview.train.train` records them every ``probe_every`` steps into ``History.probes``, and, in
runs that probe, every step's update size relative to each layer's weights (:func:`record_updates`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from bnreview.train import History

PERCENTILES = (15, 50, 85)  # the paper's Figure 1(b, c)
PROBE_BATCH = 256


def percentiles(z: torch.Tensor, ps=PERCENTILES) -> list[float]:
    """The ``ps`` percentiles of ``z``'s values, interpolated linearly between order statistics as
    :func:`torch.quantile` does, found by one selection (``np.partition``, linear time) instead of a sort."""
    values = z.detach().flatten().float().cpu().numpy()
    last = values.size - 1
    ranks = [p / 100 * last for p in ps]  # fractional positions in the sorted values
    below = [int(r) for r in ranks]
    chosen = np.partition(values, sorted(set(below) | {min(b + 1, last) for b in below}))
    return [float(chosen[b] + (chosen[min(b + 1, last)] - chosen[b]) * (r - b)) for r, b in zip(ranks, below)]


def saturated(z: torch.Tensor, activation: str) -> torch.Tensor:
    """Where the nonlinearity's slope at ``z`` is below a tenth of its maximum: gradients barely pass."""
    if activation == "tanh":
        return 1 - torch.tanh(z) ** 2 < 0.1
    if activation == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1 - s) < 0.025
    return z <= 0  # relu


@torch.no_grad()
def probe(model: torch.nn.Module, x: torch.Tensor, activation: str) -> dict[str, dict[str, float]]:
    """Statistics of every layer's input to its nonlinearity on the batch ``x``, as the training network sees it.

    The network runs in training mode (BN uses the batch's statistics, as during a step) and
    its running statistics are restored afterwards, so probing does not change the run.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    record = {}
    model(x, record)
    for name, b in model.named_buffers():
        b.copy_(buffers[name])
    model.train(was_training)
    stats = {}
    for layer, z in record.items():
        unit = z.flatten(1)[:, 0]  # one fixed unit: the paper follows "a typical sigmoid"
        stats[layer] = {
            "mean": z.mean().item(), "std": z.std().item(),
            **{f"p{p}": v for p, v in zip(PERCENTILES, percentiles(z))},
            **{f"unit_p{p}": v for p, v in zip(PERCENTILES, percentiles(unit))},
            "saturated": saturated(z, activation).float().mean().item(),
            # ||W|| of the layer feeding this nonlinearity: with BN after it, W's scale does not change
            # the output, and the gradient shrinks as 1/||W|| (Sec. 3.3), so its growth lowers the
            # effective step lr / ||W||^2.
            "weight_norm": getattr(model, layer).weight.norm().item(),
        }
    return stats


def record_probe(history: History, step: int, stats: dict) -> None:
    """Append one probe's ``stats`` (from :func:`probe`) at ``step`` to ``history.probes``."""
    history.probe_steps.append(step)
    for layer, values in stats.items():
        for name, value in values.items():
            history.probes.setdefault(layer, {}).setdefault(name, []).append(value)


def record_updates(history: History, before: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> None:
    """Append each layer's update ``||W - W_before|| / ||W_before||`` (``before``: its weights before the step) to
    ``history.update_size``."""
    for layer, old in before.items():
        size = torch.linalg.vector_norm(weights[layer].detach() - old) / torch.linalg.vector_norm(old)
        history.update_size.setdefault(layer, []).append(size.item())
