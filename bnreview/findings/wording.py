"""How the chapters write counts, learning rates, seeds and the setting of a set of runs: one wording each."""

from __future__ import annotations

from collections.abc import Sequence

from bnreview.data import TRAIN_SIZE
from bnreview.train import History


def plural(n: int, word: str) -> str:
    """``"1 seed"``, ``"3 seeds"``: a count and its word, plural unless the count is 1."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def seeds_text(n: int) -> str:
    """``"1 seed"`` or ``"3 seeds"``."""
    return plural(n, "seed")


def listing(lrs: Sequence[float]) -> str:
    """``"0.1, 0.9, 9"``: learning rates (or other numbers) as a list, ``"none"`` when there are none."""
    return ", ".join(f"{lr:g}" for lr in lrs) if lrs else "none"


def lr_label(lr: float | None) -> str:
    """A learning rate of a grid, or ``"none of the grid"`` for None."""
    return "none of the grid" if lr is None else f"{lr:g}"


def per_network(no_bn: float | None, bn: float | None) -> str:
    """``"0.9 for both networks"`` or ``"0.3 without BN and 0.9 with BN"``: a learning rate each network got (from
    :func:`lr_label`)."""
    if no_bn == bn:
        return f"{lr_label(bn)} for both networks"
    return f"{lr_label(no_bn)} without BN and {lr_label(bn)} with BN"


def at_rates(lrs: Sequence[float]) -> str:
    """``"lr 0.1, 3"``, or ``"no rate"`` when there are none: where something holds, over a grid of learning rates."""
    return f"lr {listing(lrs)}" if lrs else "no rate"


def seeds_label(histories: Sequence[History], distinct: bool = True) -> str:
    """``"seed 0"``, ``"seeds 0, 4"`` or ``"seeds 0 to 9"``: the seeds of exactly the runs given, sorted and each
    once (``distinct=False``: each run's seed, in the runs' order); three or more that count up by one read as a
    range."""
    if distinct:
        seeds = sorted({h.config.get("seed", 0) for h in histories})
    else:
        seeds = [h.config.get("seed", 0) for h in histories]
    if len(seeds) >= 3 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seeds {seeds[0]} to {seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def training_images(config: dict) -> int:
    """How many training images a run's config trains on (``n_train``, or the 60,000 less those held out)."""
    return config.get("n_train") or TRAIN_SIZE - config.get("val_size", 0)


# ---------------------------------------------------------------------------------------
# The setting of a set of runs, in words (for titles and prose)


def epochs_setting(config: dict) -> str:
    """``"lr 0.9, batch 64, 10 epochs"``: the schedule of a run that trains for whole epochs."""
    return f"lr {config['lr']:g}, batch {config['batch_size']}, {config['epochs']} epochs"


def runs_setting(runs: Sequence[History]) -> str:
    """The setting a set of runs (one per seed) shares, in words: lr, batch, epochs, images, seeds."""
    c = runs[0].config
    return f"{epochs_setting(c)}, {training_images(c):,} images, {seeds_label(runs, distinct=False)}"


def lenet_setting(histories: Sequence[History]) -> str:
    """The setting of the review's LeNet runs given (for titles)."""
    return f"LeNet (tanh), plain SGD {epochs_setting(histories[0].config)}, {seeds_label(histories)}"


def sweep_setting(results: dict) -> str:
    """The setting the sweep's runs share, in words (for titles)."""
    h = next(iter(results.values()))[0]
    c = h.config
    return (f"LeNet (tanh), plain SGD, batch {c['batch_size']}, {plural(h.steps_per_epoch, 'step')} (1 epoch over "
            f"{training_images(c):,} images, {c.get('val_size', 0):,} held out), "
            f"{seeds_label([r for runs in results.values() for r in runs])}")


def mlp_setting(histories: Sequence[History]) -> str:
    """The setting of the paper's MLP runs given, in words (for titles), with exactly their seeds."""
    c = histories[0].config
    return (f"3x100 sigmoid MLP, plain SGD lr {c['lr']:g}, batch {c['batch_size']}, {c['steps']:,} steps, "
            f"{training_images(c):,} training images, init N(0, {c['init_std']:g}²), {seeds_label(histories)}")


def regularisation_setting(runs: dict[str, Sequence[History]]) -> str:
    """The setting the runs share, in words, read from their configs (true in either profile)."""
    first = next(iter(runs.values()))
    c = first[0].config
    p = max(h.config.get("dropout", 0.0) for hs in runs.values() for h in hs)
    lrs = ", ".join(f"{name} {hs[0].config['lr']:g}" for name, hs in runs.items())
    return (f"LeNet (tanh), plain SGD at the rate chosen on validation for each ({lrs}), batch {c['batch_size']}, "
            f"{c['epochs']} epochs over a fixed subset of {c['n_train']:,} training images, dropout {p:g} on the "
            f"inputs of fc1 and fc2, {seeds_label(first, distinct=False)}")
