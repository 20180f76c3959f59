"""MNIST (or Fashion-MNIST) as two in-memory tensors, and mini-batches sliced from them.

LeNet-5 takes 32x32 inputs, so the 28x28 digits are zero-padded once at load time
(the review keeps this input size). Holding the whole set as one tensor and slicing
batches from it removes the per-sample PIL transforms that dominate a CPU epoch
with the usual ``DataLoader`` pipeline.

Where the data lives, in order: the ``root`` argument, the ``BNREVIEW_DATA``
environment variable, ``./data``. Each root holds the standard torchvision layout
``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (``FashionMNIST/raw/`` for
Fashion-MNIST, same file names). Looking never writes; only a download (online, into the
first root) does, and a failed one leaves no folders behind.

Every function takes ``dataset="mnist"`` or ``"fashion-mnist"`` (:data:`DATASETS`); each set
is normalised with its own training set's mean and std.

Every file is checked against the official MD5 of its data set (:data:`OFFICIAL_MD5`) once per
process, remembered by size and modification time. A file that differs is refused. To train on
your own IDX files on purpose, set ``BNREVIEW_UNOFFICIAL_DATA=1``: the run then says once that its
data is not the official one, and the book's build (which clears the variable) still refuses it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

@dataclass(frozen=True)
class Dataset:
    """Where a data set lives (torchvision's folder and class), its name in text, its class names,
    and where its official files are published."""

    folder: str  # torchvision's folder under the root, holding raw/
    torchvision_class: str  # the torchvision.datasets class that reads and downloads it
    display: str
    classes: tuple[str, ...]
    source: str


DATASETS = {
    "mnist": Dataset("MNIST", "MNIST", "MNIST", tuple(str(d) for d in range(10)),
                     "https://ossci-datasets.s3.amazonaws.com/mnist/ (torchvision's mirror of yann.lecun.com/exdb/mnist)"),
    "fashion-mnist": Dataset("FashionMNIST", "FashionMNIST", "Fashion-MNIST",
                             ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
                             "https://github.com/zalandoresearch/fashion-mnist (data/fashion)"),
}

# MD5 of each unpacked IDX file as published; the .gz files torchvision downloads unpack to these
# (torchvision checks the .gz files' MD5s, which are listed in its MNIST.resources).
OFFICIAL_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
UNOFFICIAL_ENV = "BNREVIEW_UNOFFICIAL_DATA"
TRAIN_SIZE = 60_000  # training images in either set

ENV_VAR = "BNREVIEW_DATA"
DEFAULT_ROOT = Path("data")
SPLITS = {True: "train", False: "t10k"}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
IMAGE_SIDE = 28

_loaded: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
_raw: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
_fingerprints: dict[str, str] = {}
_md5s: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> MD5: each file is hashed once
_said_unofficial: set[tuple[str, str]] = set()


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the places we look, and could not be downloaded."""


class CorruptDataError(ValueError):
    """A data file exists but is truncated or is not an IDX file of the right kind."""


class UnofficialDataError(CorruptDataError):
    """A data file is a well-formed IDX file but not the official one (its MD5 differs)."""


def dataset_info(dataset: str) -> Dataset:
    """What :data:`DATASETS` holds for ``dataset``, or a ValueError naming the accepted names."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; accepted: {', '.join(map(repr, DATASETS))}")
    return DATASETS[dataset]


def candidate_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """The places searched for ``MNIST/raw`` (or ``FashionMNIST/raw``), in order of precedence."""
    if root is not None:
        return [Path(root)]
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]))
    roots.append(DEFAULT_ROOT)
    return roots


def _raw_files(split: str) -> tuple[str, str]:
    return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"


def _has_split(raw_dir: Path, split: str) -> bool:
    return all((raw_dir / f).is_file() or (raw_dir / f"{f}.gz").is_file() for f in _raw_files(split))


def _torchvision_class(dataset: str):
    import torchvision.datasets

    return getattr(torchvision.datasets, dataset_info(dataset).torchvision_class)


def _one_line(exc: BaseException) -> str:
    """An exception and the ones it was raised from, as one line: torchvision's download errors
    span several lines and put the reason after the first."""
    parts = []
    while exc is not None and len(parts) < 5:
        text = " ".join(str(exc).split())
        parts.append(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        exc = exc.__cause__ or exc.__context__
    return "; caused by ".join(parts)


def _download(root: Path, dataset: str) -> None:
    """Let torchvision download ``dataset`` into ``root``; if that fails, remove the folders it made."""
    info = dataset_info(dataset)
    raw = (root / info.folder / "raw").absolute()
    made = [p for p in (raw, *raw.parents) if not p.exists()]  # what the download will create, deepest first
    try:
        for train in SPLITS:
            _torchvision_class(dataset)(str(root), train=train, download=True)
    except BaseException:
        for folder in made:  # deepest first; never a folder that was there before, nor a non-empty one
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def find_root(root: str | os.PathLike | None = None, download: bool = True, dataset: str = "mnist") -> Path:
    """Return the first root whose ``MNIST/raw`` (``FashionMNIST/raw``) holds both splits.

    Where none does and ``download`` is true, let torchvision download the set into the first
    candidate (works online only; a failed download leaves no folders behind). Otherwise raise
    :class:`DataNotFoundError` naming every place searched, why the download failed, and how to fix it.
    """
    info = dataset_info(dataset)
    roots = candidate_roots(root)
    for candidate in roots:
        raw_dir = candidate / info.folder / "raw"
        if all(_has_split(raw_dir, split) for split in SPLITS.values()):
            return candidate
    download_error = None
    if download:
        try:
            _download(roots[0], dataset)
            return roots[0]
        except Exception as exc:  # offline, or the mirrors are down
            download_error = exc
    searched = "\n".join(f"  - {(r / info.folder / 'raw').resolve()}" for r in roots)
    reason = f"\nDownloading it failed too: {_one_line(download_error)}" if download_error else ""
    raise DataNotFoundError(
        f"{info.display} not found. Looked for the IDX files (train-images-idx3-ubyte, ... , optionally .gz) in:\n"
        f"{searched}{reason}\n"
        f"Fix: pass root=..., or set {ENV_VAR}=/path/to/dir containing {info.folder}/raw, "
        f"or put the files in ./data/{info.folder}/raw (online, torchvision downloads them there)."
    )


def _check_idx(path: Path, magic: int, gz: bool, display: str) -> int:
    """Validate an IDX file of the data set ``display`` names: its header and length; return the number of items."""
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            header = f.read(16 if magic == IMAGE_MAGIC else 8)
            body = len(f.read()) if gz else path.stat().st_size - len(header)
    except (OSError, EOFError) as exc:
        raise CorruptDataError(f"{path}: cannot be read ({exc}); replace it with the original {display} file") from exc
    if magic == IMAGE_MAGIC:
        if len(header) < 16:
            raise CorruptDataError(f"{path}: truncated header ({len(header)} of 16 bytes); replace it with the original {display} file")
        found, n, rows, cols = struct.unpack(">IIII", header)
        shape_ok = (rows, cols) == (IMAGE_SIDE, IMAGE_SIDE)
        expected = n * rows * cols
    else:
        if len(header) < 8:
            raise CorruptDataError(f"{path}: truncated header ({len(header)} of 8 bytes); replace it with the original {display} file")
        found, n = struct.unpack(">II", header)
        shape_ok, expected = True, n
    if found != magic:
        raise CorruptDataError(f"{path}: magic number {found}, expected {magic}: not a {display} IDX file of this kind")
    if not shape_ok:
        raise CorruptDataError(f"{path}: images are {rows}x{cols}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    if body != expected:
        raise CorruptDataError(
            f"{path}: holds {body} data bytes, its header promises {expected} ({n} items): "
            f"the file is truncated or corrupt; replace it with the original {display} file"
        )
    return n


def _prepare_split(raw_dir: Path, split: str, display: str) -> None:
    """Validate both files of a split; unpack .gz-only files the way torchvision's download does."""
    counts = []
    for name, magic in zip(_raw_files(split), (IMAGE_MAGIC, LABEL_MAGIC)):
        path = raw_dir / name
        if path.is_file():
            counts.append(_check_idx(path, magic, gz=False, display=display))
            continue
        gz_path = raw_dir / f"{name}.gz"
        counts.append(_check_idx(gz_path, magic, gz=True, display=display))
        if not os.access(raw_dir, os.W_OK):
            raise DataNotFoundError(
                f"{gz_path} is compressed and {raw_dir} is read-only, so it cannot be unpacked; "
                f"unpack it there (gunzip -k) or copy the folder somewhere writable and point {ENV_VAR} at it"
            )
        tmp = path.with_name(f".{name}.tmp{os.getpid()}")
        with gzip.open(gz_path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, path)
    if counts[0] != counts[1]:
        raise CorruptDataError(f"{raw_dir}: {split} has {counts[0]} images but {counts[1]} labels")


def md5(path: Path) -> str:
    """The MD5 of a file, computed once per process for each size and modification time it has."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _md5s:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        _md5s[key] = digest.hexdigest()
    return _md5s[key]


def allow_unofficial() -> bool:
    """Whether ``BNREVIEW_UNOFFICIAL_DATA`` asks to train on files that are not the official ones."""
    return os.environ.get(UNOFFICIAL_ENV, "").strip().lower() in ("1", "true", "yes")


def check_official(raw_dir: Path, dataset: str) -> None:
    """Refuse any of the four unpacked files in ``raw_dir`` whose MD5 is not the official one.

    With ``BNREVIEW_UNOFFICIAL_DATA=1`` the files are used anyway, and a warning says so once per folder.
    """
    info = dataset_info(dataset)
    altered = [(name, found, expected) for name, expected in OFFICIAL_MD5[dataset].items()
               if (found := md5(raw_dir / name)) != expected]
    if not altered:
        return
    name, found, expected = altered[0]
    others = f" (and {len(altered) - 1} more)" if len(altered) > 1 else ""
    if not allow_unofficial():
        raise UnofficialDataError(
            f"{raw_dir / name}{others}: MD5 {found}, the official {info.display} file's is {expected}. "
            f"Replace it with the real file (delete the folder and run online to download it, or get it from "
            f"{info.source}); to train on your own files on purpose, set {UNOFFICIAL_ENV}=1 (the book's build refuses them)")
    if (dataset, str(raw_dir)) not in _said_unofficial:
        _said_unofficial.add((dataset, str(raw_dir)))
        warnings.warn(f"{UNOFFICIAL_ENV}=1: training on {info.display} files that are not the official ones "
                      f"({', '.join(n for n, _, _ in altered)} in {raw_dir} differ)", stacklevel=3)


def load_raw(root: str | os.PathLike | None = None, train: bool = True,
             dataset: str = "mnist") -> tuple[torch.Tensor, torch.Tensor]:
    """The original images: uint8 ``[N, 28, 28]`` and int64 labels ``[N]``, read by torchvision."""
    info = dataset_info(dataset)
    found = find_root(root, dataset=dataset).resolve()
    key = (dataset, str(found), train)
    if key not in _raw:
        raw_dir = found / info.folder / "raw"
        for split in SPLITS.values():  # torchvision wants both splits unpacked before it reads either
            _prepare_split(raw_dir, split, info.display)
        check_official(raw_dir, dataset)
        images = _torchvision_class(dataset)(str(found), train=train, download=False)
        labels = images.targets.long()
        if labels.numel() and (labels.min() < 0 or labels.max() > 9):
            raise CorruptDataError(f"{found}/{info.folder}/raw: labels outside 0..9 in the {SPLITS[train]} split")
        _raw[key] = (images.data, labels)
    return _raw[key]


def train_stats(root: str | os.PathLike | None = None, dataset: str = "mnist") -> tuple[float, float]:
    """Mean and std of the training pixels in [0, 1]: the constants of the input normalisation."""
    pixels = load_raw(root, train=True, dataset=dataset)[0].float().div_(255)
    return pixels.mean().item(), pixels.std().item()


def load_mnist(
    root: str | os.PathLike | None = None, train: bool = True, size: int = 32, dataset: str = "mnist"
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST (or ``dataset="fashion-mnist"``) as ``(images, labels)``: float32 ``[N, 1, size, size]`` and int64 ``[N]``.

    ``size=32`` zero-pads the 28x28 images (LeNet's input); ``size=28`` keeps them.
    Pixels are scaled to [0, 1], padded with background (0), then normalised with the
    training set's mean and std. Loaded once per process, then served from memory.
    """
    if size not in (28, 32):
        raise ValueError(f"size must be 28 or 32, got {size!r}")
    found = str(find_root(root, dataset=dataset).resolve())
    key = (dataset, found, train, size)
    if key not in _loaded:
        images, labels = load_raw(found, train, dataset)
        mean, std = train_stats(found, dataset)
        pad = (size - IMAGE_SIDE) // 2
        images = torch.nn.functional.pad(images.float().div_(255), (pad, pad, pad, pad))
        images = images.sub_(mean).div_(std).unsqueeze(1).contiguous()
        _loaded[key] = (images, labels)
    return _loaded[key]


def fingerprint(root: str | os.PathLike | None = None, dataset: str = "mnist") -> str:
    """A short hash of both splits' pixels and labels: the data's identity in cache keys (computed once per root)."""
    found = str(find_root(root, dataset=dataset).resolve())
    key = f"{dataset}:{found}"
    if key not in _fingerprints:
        digest = hashlib.sha256()
        for train in SPLITS:
            for tensor in load_raw(found, train, dataset):
                digest.update(tensor.numpy().tobytes())
        _fingerprints[key] = digest.hexdigest()[:16]
    return _fingerprints[key]


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
    """Yield ``(x, y)`` mini-batches: a shuffled pass when ``generator`` is given, in order otherwise.

    Each batch is one index into the in-memory tensors; the last, smaller batch is kept
    unless it would hold a single example (BN cannot normalise a batch of one).
    """
    n = len(labels)
    order = torch.randperm(n, generator=generator) if generator is not None else None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if stop - start < 2 and generator is not None:
            break
        if order is None:
            yield images[start:stop], labels[start:stop]
        else:
            index = order[start:stop]
            yield images[index], labels[index]
