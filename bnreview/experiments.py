"""The experiments beyond the review: the paper's claims put to the test.

Three chapters use this module: does BN allow larger learning rates (and where must it go),
the paper's own MNIST experiment (Sec. 4.1, Figure 1), and what BN really does (noisy BN
after Santurkar et al. 2018, batch size, Algorithm 2's population statistics).

Every run goes through :func:`bnreview.cache.cached_train`, over several seeds; results come
back as ``{key: [History, ...]}`` (one History per seed) and are summarised into plain rows
(``list[dict]``) that the chapters glue and tabulate. The quick profile
(``BNREVIEW_QUICK=1``) shrinks every grid, seed list and run; the full settings are the
module's constants.

Numbers computed after training (accuracy with batch statistics, Algorithm 2's population
statistics) are cached next to the runs, under the run's cache key.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace

import torch

from bnreview.cache import cache_dir, cache_key, cached_json, cached_train
from bnreview.data import batches
from bnreview.models import BN_LAYERS
from bnreview.config import SEEDS, TrainConfig, data_split, for_profile, is_quick, pick, seeds
from bnreview.train import History

# Training images held out to choose settings on (a best learning rate, the MLP's lr and initial
# scale): the test set is only ever used to report the chosen setting.
VAL_SIZE = 5_000

# Chapter "Does BN allow larger learning rates?"
LRS = (0.01, 0.03, 0.1, 0.3, 0.9, 3.0, 9.0)
QUICK_LRS = (0.1, 0.9, 9.0)
SWEEP_EVAL_EVERY = 100  # steps between test evaluations (for "steps to 97%")
PLACEMENT_LRS = (3.0,)  # where BN goes, 3 seeds each (other rates: the explorer's seed-0 grid)
PLACEMENTS = {  # label -> BN layers
    "no BN": (),
    "convs only": ("conv1", "conv2", "conv3"),
    "fc1 only": ("fc1",),
    "all four": BN_LAYERS,
}

# Chapter "The paper's MNIST experiment"
MLP_STEPS = 50_000
MLP_BATCH = 60
MLP_LR = 0.5
MLP_INIT_STD = 0.05
MLP_EVAL_EVERY = 500
MLP_PROBE_EVERY = 250
QUICK_MLP_STEPS = 600
MLP_PILOT_STEPS = 3_000  # the short runs that choose the learning rate
MLP_PILOT_LRS = (0.1, 0.5, 2.0)
MLP_PILOT_STDS = (0.01, 0.05)

# Regularisation (paper Sec. 3.4): a training set small enough to overfit
REG_N_TRAIN = 2_000
REG_EPOCHS = 15
REG_LR = 0.3  # a rate at which both networks train on the subset (lr 0.9 makes the last epoch's accuracy erratic)
REG_DROPOUT = 0.5
REG_VARIANTS = {  # label -> (BN layers, dropout)
    "neither": ((), 0.0),
    "dropout": ((), REG_DROPOUT),
    "BN": (BN_LAYERS, 0.0),
    "BN + dropout": (BN_LAYERS, REG_DROPOUT),
}

# Chapter "What does BN really do?"
NOISE = 1.0
NOISY_LRS = (0.9, 3.0)  # the review's learning rate, and one at which LeNet without BN diverges
BATCH_SIZES = (8, 16, 32, 64, 128, 256)
QUICK_BATCH_SIZES = (8, 64, 256)
BATCH_N_TRAIN = 20_000
BATCH_LR_AT_64 = 0.3  # lr = BATCH_LR_AT_64 * batch_size / 64 (linear scaling)


def run_seeds(config: TrainConfig, seed_list: Iterable[int] | None = None, progress: bool = False) -> list[History]:
    """``config`` trained once per seed (from the cache where it can be)."""
    seed_list = seeds() if seed_list is None else seed_list
    return [cached_train(replace(config, seed=s), progress=progress) for s in seed_list]


def run_grid(configs: dict[Hashable, TrainConfig], seed_list: Iterable[int] | None = None,
             progress: bool = False) -> dict[Hashable, list[History]]:
    """Every config of ``{key: config}`` over the seeds: ``{key: [History per seed]}``."""
    seed_list = tuple(seeds() if seed_list is None else seed_list)
    return {key: run_seeds(config, seed_list, progress) for key, config in configs.items()}


def review_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The review's LeNet without and with BN on all four layers (``config.review_config``), one run per seed:
    ``{"no BN": [...], "BN": [...]}``. Read by the motivation, LeNet + BN, paper-MNIST and conclusion chapters."""
    from bnreview.config import review_config

    return {"no BN": run_seeds(review_config(), seed_list), "BN": run_seeds(review_config(bn="all"), seed_list)}


def train_seconds(grid: dict[Hashable, list[History]] | list[History]) -> float:
    """Training time of a set of runs (the sum of their epochs' seconds, evaluation excluded)."""
    runs = [h for hs in grid.values() for h in hs] if isinstance(grid, dict) else grid
    return float(sum(sum(h.epoch_seconds) for h in runs))


# ---------------------------------------------------------------------------------------
# Summaries


def final_accuracies(histories: list[History]) -> list[float]:
    """Final test accuracy of each run; a diverged run counts with what it was left at."""
    return [h.final_test_acc for h in histories]


def summary(histories: list[History], accuracies: Sequence[float] = (0.97, 0.98)) -> dict:
    """Mean, min and max of the final test accuracy over seeds, diverged runs, and steps to each accuracy.

    ``steps_to[acc]`` lists each seed's first step at that test accuracy (None: never);
    ``steps_to_mean[acc]`` averages the seeds that got there (NaN if none did).
    """
    finals = final_accuracies(histories)
    steps_to = {acc: [h.steps_to(acc) for h in histories] for acc in accuracies}
    return {
        "n": len(histories),
        "finals": finals,
        "mean": sum(finals) / len(finals),
        "min": min(finals),
        "max": max(finals),
        "diverged": sum(h.diverged for h in histories),
        "diverged_runs": [h.diverged for h in histories],
        "steps_to": steps_to,
        "steps_to_mean": {acc: _mean([s for s in v if s is not None]) for acc, v in steps_to.items()},
        "reached": {acc: sum(s is not None for s in v) for acc, v in steps_to.items()},
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def markdown_table(rows: list[dict], columns: dict[str, str | Callable]) -> str:
    """A Markdown table of ``rows``: ``columns`` maps each header to a row key or a function of the row."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    lines = []
    for row in rows:
        cells = [str(get(row) if callable(get) else row[get]) for get in columns.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Chapter: does BN allow larger learning rates?


def sweep_config(lr: float, bn=(), **changes) -> TrainConfig:
    """One run of the learning-rate sweep: LeNet, batch 64, one epoch over the 55,000 training images
    left after holding out ``VAL_SIZE`` for validation, test accuracy every 100 steps, layer
    statistics (and weight norms) every 50 steps. Quick profile: 2,000 images, one epoch (32 steps),
    test accuracy every 8 steps."""
    config = TrainConfig(**{"lr": lr, "bn": bn, "epochs": 1, "batch_size": 64, "eval_every": SWEEP_EVAL_EVERY,
                            "probe_every": 50, "val_size": VAL_SIZE, **changes})
    quick = for_profile(config)
    return replace(quick, eval_every=8) if is_quick() else quick


def lr_sweep(lrs: Sequence[float] | None = None, variants: dict[str, tuple] | None = None,
             seed_list: Iterable[int] | None = None, **changes) -> dict[tuple[str, float], list[History]]:
    """``{(variant, lr): [History per seed]}`` for every learning rate and BN placement.

    Defaults: the learning rates ``LRS`` (``QUICK_LRS`` in the quick profile), no BN and BN on
    all four layers, ``SEEDS``.
    """
    lrs = pick(LRS, QUICK_LRS) if lrs is None else lrs
    variants = {"no BN": (), "BN (all four layers)": BN_LAYERS} if variants is None else variants
    configs = {(name, lr): sweep_config(lr, bn, **changes) for name, bn in variants.items() for lr in lrs}
    return run_grid(configs, seed_list)


def sweep_rows(results: dict[tuple[str, float], list[History]], accuracies=(0.97, 0.98)) -> list[dict]:
    """One row per (variant, lr): the :func:`summary` plus ``variant`` and ``lr``."""
    return [{"variant": variant, "lr": lr, **summary(hs, accuracies)} for (variant, lr), hs in results.items()]


def placement_configs(lr: float, placements: dict[str, tuple] | None = None,
                      positions: Sequence[str] = ("before", "after")) -> dict[tuple[str, str], TrainConfig]:
    """``{(placement, position): sweep config}``: BN on each placement, before and after tanh (no BN once)."""
    placements = PLACEMENTS if placements is None else placements
    configs = {}
    for name, layers in placements.items():
        for position in positions if layers else ("-",):
            configs[(name, position)] = sweep_config(lr, layers, **({"bn_position": position} if layers else {}))
    return configs


def placement_grid(lrs: Sequence[float] | None = None, seed_list: Iterable[int] | None = None
                   ) -> dict[tuple[str, str, float], list[History]]:
    """``{(placement, position, lr): [History per seed]}``: every placement before and after tanh at each of
    ``PLACEMENT_LRS`` (in the quick profile, the last one only)."""
    lrs = pick(PLACEMENT_LRS, PLACEMENT_LRS[-1:]) if lrs is None else lrs
    configs = {(name, position, lr): config for lr in lrs for (name, position), config in placement_configs(lr).items()}
    return run_grid(configs, seed_list)


# ---------------------------------------------------------------------------------------
# Regularisation: does BN let dropout go? (paper Sec. 3.4 and 4.2.1)


def regularisation_config(bn=(), dropout: float = 0.0, **changes) -> TrainConfig:
    """The review's LeNet (tanh, plain SGD, batch 64) at lr ``REG_LR`` on a fixed ``REG_N_TRAIN``-image
    subset for ``REG_EPOCHS`` epochs, long enough to fit it (nearly) completely, with BN on all four
    layers or none and dropout or none. Quick profile: 500 images, 3 epochs."""
    config = TrainConfig(**{"lr": REG_LR, "bn": bn, "dropout": dropout, "batch_size": 64, "epochs": REG_EPOCHS,
                            "n_train": REG_N_TRAIN, **changes})
    return for_profile(config, quick_n_train=500, quick_epochs=3)


def regularisation_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """``{variant: [History per seed]}`` for the four variants of ``REG_VARIANTS``."""
    return run_grid({name: regularisation_config(bn, p) for name, (bn, p) in REG_VARIANTS.items()}, seed_list)


def training_accuracy(history: History) -> float:
    """Accuracy of the run's final network on its own training images, in eval mode (no dropout, BN with its
    moving averages): the other side of the train-test gap. Cached beside the run."""
    def compute():
        images, labels = data_split(history.train_config(), "train")
        return {"train": eval_accuracy(model_from(history), images, labels)}

    return _cached_numbers(history, "fit", compute)["train"]


# ---------------------------------------------------------------------------------------
# Chapter: the paper's MNIST experiment


def paper_mlp_config(bn=(), quick_steps: int = QUICK_MLP_STEPS, **changes) -> TrainConfig:
    """Sec. 4.1: 28x28 input, 3 hidden layers of 100 sigmoid units, weights ~ N(0, 0.05^2), batch 60,
    50,000 steps of plain SGD at lr 0.5; test accuracy every 500 steps, the layers' inputs every 250.
    Quick profile: 2,000 images, 600 steps."""
    config = TrainConfig(**{"lr": MLP_LR, "model": "mlp", "activation": "sigmoid", "bn": bn,
                            "batch_size": MLP_BATCH, "steps": MLP_STEPS, "init_std": MLP_INIT_STD,
                            "eval_every": MLP_EVAL_EVERY, "probe_every": MLP_PROBE_EVERY, **changes})
    quick = for_profile(config, quick_steps=quick_steps)
    return replace(quick, eval_every=50, probe_every=25 if quick.probe_every else 0) if is_quick() else quick


def mlp_pilot_config(lr: float, init_std: float, bn=(), **changes) -> TrainConfig:
    """A short run of the paper's MLP (3,000 steps) to choose lr and the initial scale on ``VAL_SIZE``
    held-out training images (never on the test set). Quick profile: 200 steps."""
    return paper_mlp_config(bn, quick_steps=200, lr=lr, init_std=init_std, steps=MLP_PILOT_STEPS, probe_every=0,
                            val_size=VAL_SIZE, **changes)


def percentile_drift(history: History, layer: str, unit: bool = True, skip: int = 0) -> dict[str, float]:
    """How much a layer's input to its nonlinearity moves during training, from the probes.

    For the 15th, 50th and 85th percentiles (of one unit, or of the whole layer with
    ``unit=False``): ``range`` is max - min over the probes after the first ``skip``,
    ``step`` the mean absolute change between consecutive probes; ``mean_range`` and
    ``mean_step`` average them over the three percentiles.
    """
    prefix = "unit_p" if unit else "p"
    out = {}
    for p in (15, 50, 85):
        values = history.probes[layer][f"{prefix}{p}"][skip:]
        out[f"range_p{p}"] = max(values) - min(values)
        out[f"step_p{p}"] = _mean([abs(b - a) for a, b in zip(values, values[1:])])
    out["mean_range"] = _mean([out[f"range_p{p}"] for p in (15, 50, 85)])
    out["mean_step"] = _mean([out[f"step_p{p}"] for p in (15, 50, 85)])
    return out


def paper_mnist_runs() -> tuple[dict, dict, dict, dict]:
    """Every run of the paper-MNIST chapter: ``(pilot, runs, check, choice)``.

    ``pilot``: ``{(init_std, lr, "none"|"all"): [seed 0]}``, 3,000 steps each, holding out
    ``VAL_SIZE`` images; ``choice``: the learning rate (and runner-up) chosen on those validation
    images by :func:`bnreview.findings.pilot_choice`; ``runs``: both networks at the chosen lr over
    the seeds; ``check``: seed 0 of both at the runner-up lr.
    """
    from bnreview.findings import pilot_choice

    pilot = run_grid({(std, lr, bn): mlp_pilot_config(lr, std, bn) for std in MLP_PILOT_STDS
                      for lr in MLP_PILOT_LRS for bn in ("none", "all")}, seed_list=[0])
    choice = pilot_choice(pilot, MLP_INIT_STD)
    runs = {name: run_seeds(paper_mlp_config(bn, lr=choice["lr"])) for name, bn in NETWORKS.items()}
    check = {name: run_seeds(paper_mlp_config(bn, lr=choice["runner_up"]), seeds()[:1]) for name, bn in NETWORKS.items()}
    return pilot, runs, check, choice


NETWORKS = {"without BN": "none", "with BN": "all"}  # the paper's two MLPs: no BN, BN on every hidden layer


# ---------------------------------------------------------------------------------------
# Chapter: what does BN really do?


def noisy_bn_configs(lr: float, strength: float = NOISE) -> dict[str, TrainConfig]:
    """No BN, BN on all four layers, and BN with :class:`~bnreview.models.BNNoise` after each BN layer."""
    return {
        "no BN": sweep_config(lr),
        "BN": sweep_config(lr, BN_LAYERS),
        "noisy BN": sweep_config(lr, BN_LAYERS, bn_noise=strength),
    }


def noisy_runs(lrs: Sequence[float] = NOISY_LRS) -> dict[float, dict[str, list[History]]]:
    """``{lr: {"no BN" | "BN" | "noisy BN": [History per seed]}}`` at each of ``NOISY_LRS``."""
    return {lr: run_grid(noisy_bn_configs(lr)) for lr in lrs}


def batch_lr(batch_size: int, lr_at_64: float = BATCH_LR_AT_64) -> float:
    """The learning rate used at ``batch_size``: linear scaling from ``lr_at_64`` at batch 64."""
    return lr_at_64 * batch_size / 64


def batch_size_config(batch_size: int, bn=BN_LAYERS, **changes) -> TrainConfig:
    """LeNet with batch ``batch_size`` and lr ``batch_lr(batch_size)``: one epoch over a fixed 20,000-image
    subset, so every batch size sees the same examples. Quick profile: 2,000 images."""
    config = TrainConfig(**{"lr": batch_lr(batch_size), "bn": bn, "batch_size": batch_size, "epochs": 1,
                            "n_train": BATCH_N_TRAIN, **changes})
    return for_profile(config)


def batch_size_sweep(batch_sizes: Sequence[int] | None = None, variants: dict[str, tuple] | None = None,
                     seed_list: Iterable[int] | None = None) -> dict[tuple[str, int], list[History]]:
    """``{(variant, batch size): [History per seed]}``, BN on all four layers and no BN by default."""
    batch_sizes = pick(BATCH_SIZES, QUICK_BATCH_SIZES) if batch_sizes is None else batch_sizes
    variants = {"no BN": (), "BN": BN_LAYERS} if variants is None else variants
    return run_grid({(name, b): batch_size_config(b, bn) for name, bn in variants.items() for b in batch_sizes},
                    seed_list)


def model_from(history: History, device: str = "cpu") -> torch.nn.Module:
    """A fresh network built from the run's config, holding the run's final weights and BN statistics."""
    model = history.train_config().build_model()
    model.load_state_dict(history.state_dict)
    return model.to(device).eval()


def _bn_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    return list(model.bn.values()) if hasattr(model, "bn") else []


def _test_set(history: History):
    return data_split(history.train_config(), "test")


@torch.no_grad()
def eval_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Test accuracy in eval mode: BN uses the statistics stored in its buffers (Algorithm 2's map)."""
    model.eval()
    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in batches(images, labels, 1000))
    return correct / len(labels)


@torch.no_grad()
def batch_stats_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                         seed: int = 0) -> float:
    """Test accuracy when BN normalises each test mini-batch of ``batch_size`` with that batch's own
    statistics, as during training ("train mode"). BN's buffers are left as they were; noise
    layers stay off. The test set is cut into shuffled batches (seeded); a last batch of one is left out."""
    model.eval()
    bns = _bn_modules(model)
    saved = [copy.deepcopy(bn.state_dict()) for bn in bns]
    for bn in bns:
        bn.train()
    correct = seen = 0
    try:
        for x, y in batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed)):
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    finally:
        for bn, state in zip(bns, saved):
            bn.load_state_dict(state)
        model.eval()
    return correct / seen


@torch.no_grad()
def population_statistics(model: torch.nn.Module, images: torch.Tensor, batch_size: int, seed: int = 0,
                          max_batches: int | None = None) -> torch.nn.Module:
    """Algorithm 2, steps 8-10, exactly: a copy of ``model`` whose BN layers hold the population statistics.

    With the trained weights frozen, the training images are passed in mini-batches of
    ``batch_size`` through the network in training mode (each BN layer normalised with its
    batch's statistics, as during training), and every BN layer averages over all those
    batches: ``E[x] = E_B[mu_B]`` and ``Var[x] = m/(m-1) E_B[sigma_B^2]``. That is what
    ``momentum=None`` (a cumulative average) does from freshly reset buffers. One shuffled pass.
    """
    model = copy.deepcopy(model).eval()
    bns = _bn_modules(model)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    labels = torch.zeros(len(images), dtype=torch.long)
    for i, (x, _) in enumerate(batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed))):
        if max_batches is not None and i >= max_batches:
            break
        model(x)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()


def _cached_numbers(history: History, name: str, compute: Callable[[], dict]) -> dict:
    """``compute()`` once per run and per version of this module: stored as JSON beside the run.

    The key adds this module's source to the run's (``compute`` is code here), so an edit to
    how a number is derived misses instead of serving the old number.
    """
    key = cache_key(history.train_config(), sys.modules[__name__])
    return cached_json(cache_dir() / f"{key}.{name}.json", compute)


def inference_accuracies(history: History) -> dict[str, float]:
    """Test accuracy of a BN run three ways, and how far apart its two kinds of statistics are (cached beside the run):

    - ``ema``: eval mode with the moving averages kept during training (momentum 0.1, PyTorch's default);
    - ``population``: eval mode with Algorithm 2's population statistics, computed after
      training over one pass of the run's training images in batches of its batch size;
    - ``batch``: each test batch (of the training batch size) normalised with its own statistics;
    - ``gap_mean``/``gap_std`` (and per layer, ``gap_mean_<layer>``, ``gap_std_<layer>``): the mean
      over channels of |moving average - population value| / population std, for the mean and the std.
    """
    def compute():
        config = history.train_config()
        model = model_from(history)
        images, labels = _test_set(history)
        train_images, _ = data_split(config, "train")
        population = population_statistics(model, train_images, config.batch_size)
        result = {
            "ema": eval_accuracy(model, images, labels),
            "population": eval_accuracy(population, images, labels),
            "batch": batch_stats_accuracy(model, images, labels, config.batch_size),
        }
        for layer in model.bn:
            ema, pop = model.bn[layer], population.bn[layer]
            pop_std = pop.running_var.sqrt()
            result[f"gap_mean_{layer}"] = ((ema.running_mean - pop.running_mean).abs() / pop_std).mean().item()
            result[f"gap_std_{layer}"] = ((ema.running_var.sqrt() - pop_std).abs() / pop_std).mean().item()
        result["gap_mean"] = _mean([result[f"gap_mean_{layer}"] for layer in model.bn])
        result["gap_std"] = _mean([result[f"gap_std_{layer}"] for layer in model.bn])
        return result

    return _cached_numbers(history, "inference", compute)
