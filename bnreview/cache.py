"""A disk cache of training runs, so a configuration is trained once and then read back.

An entry's key hashes the full config, the data's identity and the source of the code that
decides the numbers (data loading, BatchNorm, LeNet, training), so an edit to any of them
retrains rather than serving stale results. Entries are written atomically (temporary file,
then rename): an interrupted run or a crash leaves no entry, and a corrupt one is reported
and recomputed.

Location: ``BNREVIEW_CACHE``, else ``.bnreview-cache/`` in the working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import fields
from functools import cache
from pathlib import Path

import torch

from bnreview import batchnorm, data, models, train as train_module
from bnreview.train import History, TrainConfig, resolve_device, train

CACHE_ENV = "BNREVIEW_CACHE"
DEFAULT_DIR = Path(".bnreview-cache")
FORMAT = 1


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_DIR)


@cache
def code_version() -> str:
    """Hash of the modules whose code decides a run's numbers."""
    digest = hashlib.sha256()
    for module in (data, batchnorm, models, train_module):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_key(config: TrainConfig) -> str:
    identity = {
        "config": {**config.to_dict(), "device": resolve_device(config.device).type},
        "data": data.fingerprint(),
        "code": code_version(),
        "torch": torch.__version__.split("+")[0],
        "format": FORMAT,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def entry_path(config: TrainConfig) -> Path:
    return cache_dir() / f"{cache_key(config)}.pt"


def load_cached(config: TrainConfig) -> History | None:
    """The stored run for ``config``, or None. A corrupt entry is reported, removed, and treated as absent."""
    path = entry_path(config)
    if not path.exists():
        return None
    try:
        entry = torch.load(path, weights_only=True)
        return History.from_dict(entry["history"], entry["state_dict"])
    except Exception as exc:  # truncated, garbled, or written by an incompatible version
        warnings.warn(f"bnreview cache entry {path} is unreadable ({type(exc).__name__}: {exc}); retraining", stacklevel=2)
        path.unlink(missing_ok=True)
        return None


@contextmanager
def atomic_write(path: Path, mode: str = "wb"):
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` in one step.

    A crash, a KeyboardInterrupt or a failed write leaves neither a partial ``path`` nor the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(config: TrainConfig, history: History) -> Path:
    """Write ``history`` (and its weights) atomically under ``config``'s key."""
    path = entry_path(config)
    with atomic_write(path) as f:
        torch.save({"history": history.to_dict(), "state_dict": history.state_dict}, f)
    return path


def config_of(history: History) -> TrainConfig:
    """The :class:`TrainConfig` a run was made with (fields a newer bnreview dropped are ignored)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in history.config.items() if k in known}
    return TrainConfig(**{**values, "bn": tuple(values.get("bn", ()))})


def cached_train(config: TrainConfig, progress: bool = True, callback=None, stop=None, on_step=None) -> History:
    """The stored run for ``config`` if there is one, else train it, store it and return it.

    A run ended with ``stop`` is returned but not stored: it is not the run the config describes.
    """
    history = load_cached(config)
    if history is not None:
        return history
    history = train(config, progress=progress, callback=callback, stop=stop, on_step=on_step)
    if not history.stopped:
        store(config, history)
    return history


def notebook_key() -> str:
    """Identity of everything a chapter's outputs depend on beyond its code cells.

    jupyter-cache keys notebooks on their code cells alone; ``make book`` drops its
    jupyter-cache when this key changes (any bnreview source, the data, the profile).
    """
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(data.fingerprint().encode())
    digest.update(str(train_module.is_quick()).encode())
    return digest.hexdigest()[:16]
