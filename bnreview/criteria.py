"""How the book chooses a setting on held-out images, and whether runs "train": the criteria shared by
:mod:`bnreview.experiments` (which plans the runs a pilot's choice decides) and :mod:`bnreview.findings`
(which reports them). Below both, importing neither, so that neither imports the other.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Sequence

from bnreview.train import History

TRAINS_ACCURACY = 0.97  # the explorer's column "trains": every run at this test accuracy or more, none diverged


def trains(histories: Sequence[History], accuracy: float = TRAINS_ACCURACY) -> bool:
    """Every run ended at ``accuracy`` or more (final test accuracy) and none diverged; False for no runs."""
    return bool(histories) and all(not h.diverged and h.final_test_acc >= accuracy for h in histories)


def largest_trainable_lr(results: dict[tuple[str, float], Sequence[History]], variant: str,
                         accuracy: float = TRAINS_ACCURACY) -> float | None:
    """The largest learning rate of ``{(variant, lr): runs}`` at which ``variant`` trains (None: at none)."""
    good = [lr for (v, lr), runs in results.items() if v == variant and trains(runs, accuracy)]
    return max(good) if good else None


def best_by_validation(results: dict[Hashable, Sequence[History]], keys: Iterable[Hashable] | None = None
                       ) -> Hashable:
    """The key whose runs have the highest mean final validation accuracy (diverged runs count as 0).

    Ties go to the first key in ``keys`` order. Raises ValueError if a run held nothing out:
    a choice must never fall back on the test set.
    """
    keys = list(results if keys is None else keys)
    if not keys:
        raise ValueError("nothing to choose from: no settings given")

    def score(key) -> float:
        runs = results[key]
        if not runs or any(not h.val_acc for h in runs):
            raise ValueError(f"runs of {key!r} held out no validation images; choosing on the test set is not allowed")
        return statistics.fmean(0.0 if h.diverged else h.final_val_acc for h in runs)

    return max(keys, key=score)


def best_per_group(pilot: dict[tuple[Hashable, Hashable], Sequence[History]]) -> dict[Hashable, Hashable]:
    """``{group: setting}`` from a pilot keyed ``(group, setting)`` (a network and its learning rate, say): for each
    group, in the pilot's order, the setting :func:`best_by_validation` chooses among its own runs."""
    groups = dict.fromkeys(group for group, _ in pilot)
    return {group: best_by_validation({setting: runs for (g, setting), runs in pilot.items() if g == group})
            for group in groups}


def pilot_choice(pilot: dict, std: float) -> dict:
    """The learning rate of the paper's MLP, chosen on validation (:func:`best_by_validation`): the best of the
    pilot's for the network WITHOUT BN at initial scale ``std``; the runner-up (second best on validation); the best
    with BN; and the best (std, lr) without BN over every scale of the pilot."""
    lrs = sorted({lr for s, lr, _ in pilot if s == std})
    if not lrs:
        raise ValueError(f"the pilot holds no run at init_std {std:g}")
    nobn = {lr: pilot[std, lr, "none"] for lr in lrs}
    best = best_by_validation(nobn)
    rest = {lr: runs for lr, runs in nobn.items() if lr != best}
    return {"std": std, "lr": best, "runner_up": best_by_validation(rest) if rest else None,
            "bn_lr": best_by_validation({lr: pilot[std, lr, "all"] for lr in lrs}),
            "overall": best_by_validation({(s, lr): r for (s, lr, bn), r in sorted(pilot.items()) if bn == "none"})}
