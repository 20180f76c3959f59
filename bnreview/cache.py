"""A disk cache of training runs, so a configuration is trained once and then read back.

An entry's key hashes the full config, the data's identity and the source of the code that
decides the numbers (data loading, BatchNorm, LeNet, training), so an edit to any of them
retrains rather than serving stale results. The entry also holds that identity, and a run is
served only if it matches: an entry copied or renamed under another key is not another run.
Entries are written atomically (temporary file, then rename): an interrupted run or a crash
leaves no entry.

The cache never costs a result: a damaged or mismatched entry is reported and recomputed
(whether or not it can be removed), an unwritable cache is reported once and runs go
uncached, and a write that fails anyway is reported while the result is still returned.

Location: ``BNREVIEW_CACHE``, else ``.bnreview-cache/`` in the working directory. With
``BNREVIEW_RUN_LOG`` set to a file, every run asked for appends one JSON line to it (trained or
read, its seconds, when, and by which process): ``make book`` counts each chapter's runs with it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import torch

from bnreview import batchnorm, config as config_module, data, models, probes, train as train_module
from bnreview.config import TrainConfig, resolve_device
from bnreview.train import History, train

CACHE_ENV = "BNREVIEW_CACHE"
RUN_LOG_ENV = "BNREVIEW_RUN_LOG"
DEFAULT_DIR = Path(".bnreview-cache")
FORMAT = 2  # 2: entries hold the identity they were stored under, checked on load


def cache_dir() -> Path:
    """The run cache's folder: ``$BNREVIEW_CACHE``, else ``./.bnreview-cache``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_DIR)


def _source(module: ModuleType) -> bytes:
    """What ``module`` computes: its syntax tree without docstrings. Comments, docstrings and layout
    do not decide a run's numbers, so editing them keeps every cached run; any change to the code misses."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


@cache
def code_version(*extra: ModuleType) -> str:
    """Hash of the modules whose code decides a run's numbers, plus ``extra`` modules.

    A value derived from a run by other code (``experiments``' numbers) passes that code's
    module, so editing it misses rather than serving the old numbers.
    """
    digest = hashlib.sha256()
    for module in (data, batchnorm, models, config_module, probes, train_module, *extra):
        digest.update(_source(module))
    return digest.hexdigest()[:16]


def cpu_kind() -> str:
    """The instruction set PyTorch's CPU kernels use here (``AVX2``, ``AVX512``, ...): runs agree to the
    last digit only on the same kind, so it is part of every run's identity."""
    return torch.backends.cpu.get_cpu_capability()


def identity(config: TrainConfig, *extra: ModuleType) -> dict:
    """Everything a run's (or a value derived from it by ``extra`` modules') numbers depend on."""
    device = resolve_device(config.device).type
    return {
        "config": {**config.to_dict(), "device": device},
        "data": data.fingerprint(dataset=config.dataset),
        "code": code_version(*extra),
        "torch": torch.__version__.split("+")[0],
        "cpu": cpu_kind() if device == "cpu" else device,
        "format": FORMAT,
    }


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def cache_key(config: TrainConfig, *extra: ModuleType) -> str:
    """24 hex digits of the hash of :func:`identity`: the name a run (or a value derived from it) is stored under."""
    return _key(identity(config, *extra))


def _key(identity: dict) -> str:
    return hashlib.sha256(_canonical(identity).encode()).hexdigest()[:24]


def _path(identity: dict) -> Path:
    return cache_dir() / f"{_key(identity)}.pt"


def entry_path(config: TrainConfig) -> Path:
    """Where the run ``config`` describes is stored."""
    return _path(identity(config))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _discard(path: Path, problem: str) -> None:
    """Report a damaged entry and remove it if possible; one that can't be removed is left (and recomputed)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # a folder in its place, a read-only cache: the result is recomputed all the same
        problem += f"; could not remove it ({_reason(exc)})"
    warnings.warn(f"{problem}; recomputing", stacklevel=3)


def _packed(value):
    """``value`` (a History's ``to_dict``) with every flat list of floats as a float64 tensor and of ints as an
    int64 tensor. torch's weights-only unpickler reads a list one element at a time: a run's 50,000 step
    losses and its probes took about 240 ms to load as lists, 20 ms as tensors. Exact both ways (a Python
    float is a float64), so :func:`_unpacked` gives back the very same lists."""
    if isinstance(value, dict):
        return {key: _packed(item) for key, item in value.items()}
    if isinstance(value, list) and value:
        if all(type(item) is float for item in value):
            return torch.tensor(value, dtype=torch.float64)
        if all(type(item) is int for item in value):
            return torch.tensor(value, dtype=torch.int64)
    return value


def _unpacked(value):
    """What :func:`_packed` was given (entries stored before it, with plain lists, pass through unchanged)."""
    if isinstance(value, dict):
        return {key: _unpacked(item) for key, item in value.items()}
    return value.tolist() if isinstance(value, torch.Tensor) else value


def read_entry(path: Path) -> tuple[dict | None, History]:
    """The identity the entry at ``path`` was stored under, and its History with the weights. Raises if unreadable."""
    entry = torch.load(path, weights_only=True)
    return entry.get("identity"), History.from_dict(_unpacked(entry["history"]), entry["state_dict"])


def load_cached(config: TrainConfig) -> History | None:
    """The stored run for ``config``, or None.

    An entry that is unreadable, or holds another configuration than its key says, is
    reported, removed where possible, and treated as absent.
    """
    expected = identity(config)
    path = _path(expected)
    if not path.exists():
        return None
    try:
        stored, history = read_entry(path)
    except Exception as exc:  # truncated, garbled, a folder, or written by an incompatible version
        _discard(path, f"bnreview cache entry {path} is unreadable ({_reason(exc)})")
        return None
    if _canonical(stored) != _canonical(expected):
        _discard(path, f"bnreview cache entry {path} does not hold the run its name says (it holds "
                       f"{_canonical(stored)[:200]})")
        return None
    return history


_reported_unwritable: set[str] = set()


def writable(directory: Path | None = None) -> bool:
    """Whether runs can be stored in ``directory`` (the cache), said once per folder when they can't.

    Checked before a run trains, so a cache that can't be written costs a warning, not the run.
    """
    directory = cache_dir() if directory is None else directory
    reason = None
    if directory.exists() and not directory.is_dir():  # mkdir would only say "File exists"
        reason = "it is a file, not a folder"
    else:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=directory, prefix=".bnreview-probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = _reason(exc)
    if reason is not None:
        if str(directory) not in _reported_unwritable:
            _reported_unwritable.add(str(directory))
            warnings.warn(f"bnreview cache {directory} is not writable ({reason}); runs will not be cached",
                          stacklevel=2)
        return False
    _reported_unwritable.discard(str(directory))
    return True


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
    """Write ``history`` (and its weights) atomically under ``config``'s key, with the identity it is keyed on."""
    stored = identity(config)
    path = _path(stored)
    with atomic_write(path) as f:
        torch.save({"identity": stored, "history": _packed(history.to_dict()),
                    "state_dict": history.state_dict}, f)
    return path


def _store_or_warn(path: Path, write: Callable[[Path], object]) -> Path | None:
    """``write(path)``, or a warning that the value was not cached (it is returned all the same)."""
    try:
        write(path)
        return path
    except OSError as exc:  # disk full, read-only, a folder in the way: the result must not be lost
        warnings.warn(f"not cached: {_reason(exc)}", stacklevel=3)
        return None


@dataclass
class CachedRun:
    """A run and where it came from: ``hit`` (read from ``path``), or trained and stored at ``path``
    (None when it could not be, or was stopped)."""

    history: History
    hit: bool
    path: Path | None


def cached_run(config: TrainConfig, progress: bool = True, callback=None, stop=None, on_step=None) -> CachedRun:
    """:func:`cached_train`, saying whether the run was read from the cache and where it is stored."""
    started = time.time()
    history = load_cached(config)
    if history is not None:
        log_run(config, True, started)
        return CachedRun(history, hit=True, path=entry_path(config))
    can_store = writable()  # before training: an unwritable cache is said at once, not after the run
    history = train(config, progress=progress, callback=callback, stop=stop, on_step=on_step)
    path = None
    if can_store and not history.stopped:
        path = _store_or_warn(entry_path(config), lambda p: store(config, history))
    log_run(config, False, started)
    return CachedRun(history, hit=False, path=path)


def log_run(config: TrainConfig, hit: bool, started: float, worker: bool = False) -> None:
    """One line for ``config`` in the file ``$BNREVIEW_RUN_LOG`` names (nothing when it is unset).

    ``worker``: trained by a precompute worker (``bnreview.precompute``) and stored by this process.
    """
    target = os.environ.get(RUN_LOG_ENV)
    if not target:
        return
    line = {"hit": hit, "started": started, "seconds": time.time() - started, "pid": os.getpid(),
            "key": cache_key(config), "run": config.describe(), **({"worker": True} if worker else {})}
    with open(target, "a") as f:  # one short write per line: lines of concurrent writers do not interleave
        f.write(json.dumps(line) + "\n")


def cached_train(config: TrainConfig, progress: bool = True, callback=None, stop=None, on_step=None) -> History:
    """The stored run for ``config`` if there is one, else train it, store it and return it.

    A run ended with ``stop`` is returned but not stored: it is not the run the config describes.
    A cache that can't be written is reported and the run returned unstored.
    """
    return cached_run(config, progress=progress, callback=callback, stop=stop, on_step=on_step).history


def cached_json(path: Path, compute: Callable[[], dict]) -> dict:
    """``compute()``, stored as JSON at ``path`` and read back from there next time.

    ``path``'s name must carry the key of everything the value depends on (see ``cache_key``'s
    ``extra``). A damaged file is reported and recomputed; an unwritable cache costs a warning.
    """
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:  # garbled, truncated, a folder in its place
            _discard(path, f"bnreview cache file {path} is unreadable ({_reason(exc)})")
    result = compute()
    if writable(path.parent):

        def write(target: Path) -> None:
            with atomic_write(target, "w") as f:
                json.dump(result, f)

        _store_or_warn(path, write)
    return result


def notebook_key() -> str:
    """Identity of everything a chapter's outputs depend on beyond its own file.

    Sphinx re-renders (and so re-executes) only the notebooks whose files changed; ``make book``
    drops its saved environment when this key changes (any bnreview source, the data, the profile).
    """
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for source in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".js", ".css")
                         and "__pycache__" not in p.parts):
        digest.update(str(source.relative_to(package)).encode() + source.read_bytes())
    digest.update(data.fingerprint().encode())
    digest.update(str(config_module.is_quick()).encode())
    return digest.hexdigest()[:16]
