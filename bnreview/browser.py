"""What the static book's in-browser trainer needs from PyTorch: a fixed MNIST subset and reference runs.

The HTML book trains LeNet in the reader's browser with TensorFlow.js (``book/static/bntrain.js``,
a mirror of :mod:`bnreview.models` and :mod:`bnreview.batchnorm` in tfjs ops). The build calls
:func:`export` (from ``book/bnreview_book.py``), which writes into the book's ``_static/bn-browser/``:

* ``mnist-subset.bin``: gzip of uint8 pixels (28x28) and labels: the first ``BROWSER_TRAIN`` images
  of the fixed reduced training set (``config.data_split`` with ``n_train``; so the page's first
  1,000 or 2,000 images are exactly the book's ``n_train=1000``/``2000`` subsets, in the same order)
  and a fixed sample of ``BROWSER_TEST`` test images;
* ``mnist-subset.json``: that file's layout, the 256 normalised pixel values ``data.load_mnist``
  gives (so the page's inputs are the book's, bit for bit), and the settings the page mirrors;
* ``reference.json`` (loaded only to check the page): PyTorch's start, batch order and first
  ``REFERENCE_STEPS`` step losses of ``train()`` for LeNet with BN on all four layers and without
  BN, and one BN layer's output and running statistics on a fixed batch.

:func:`panel_html` is the panel's markup; its choices come from the same constants the page reads, and what it
shows before the reader changes anything (``DEFAULT_LR``, ``DEFAULT_IMAGES``, ``DEFAULT_EPOCHS``) from this module.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
import sys
from pathlib import Path

import torch

from bnreview import batchnorm
from bnreview.cache import atomic_write, code_version
from bnreview.config import TrainConfig, data_split
from bnreview.data import IMAGE_SIDE, fingerprint, load_raw, train_stats
from bnreview.models import BN_LAYERS, BN_POSITIONS
from bnreview.train import DIVERGENCE_LOSS, DIVERGENCE_WINDOW, train

BROWSER_TRAIN = 5000  # training images the page can use (it offers the first 1,000, 2,000 or all 5,000)
BROWSER_SIZES = (1000, 2000, 5000)
BROWSER_TEST = 1000  # test images the page evaluates on, a fixed sample of the 10,000
TEST_SAMPLE_SEED = 7
LR_RANGE = (1e-3, 10.0)  # the learning-rate slider's ends (log scale), here and in the notebook's panel (widgets)
EPOCH_CHOICES = (1, 2, 3, 4, 5)
# The panel's first click: LeNet with BN on all four layers (before tanh) beside LeNet without BN. At this rate
# both train, and after these 64 steps BN is ahead, as in the book's runs (benchmarks/browser_first_click.py
# --lr 0.1 --seeds 0-9: 87.9% against 73.2% on average, ahead for every seed, about 10 s a click in headless Chromium).
# At the review's rate (REFERENCE_LR), after as many steps, BN tested with its running averages (which trail
# its fast-moving weights) ended behind for 4 of seeds 0-4.
DEFAULT_LR = 0.1
DEFAULT_IMAGES = 2000
DEFAULT_EPOCHS = 2
DEFAULT_SEED = 0
GAP_NOTE = 5.0  # points: where BN's test accuracy is further below its batch-statistics accuracy, the panel says why
REFERENCE_STEPS = 50
REFERENCE_LR = 0.9  # the review's learning rate
REFERENCE_SEED = 0
LOSS_RTOL = 1e-3  # the browser test: each of the page's step losses within this relative difference of PyTorch's
BN_ATOL = 1e-5  # ... and the BN layers' outputs and running statistics within this absolute difference
BN_CHECK_LAYERS = ("conv2", "fc1")  # one BatchNorm2d, one BatchNorm1d
BN_CHECK_BATCH = 16
ATTRIBUTION = ("MNIST: Yann LeCun, Corinna Cortes and Christopher J. C. Burges, "
               "http://yann.lecun.com/exdb/mnist/ (licensed CC BY-SA 3.0)")
SUBSET_FILE, MANIFEST_FILE, REFERENCE_FILE = "mnist-subset.bin", "mnist-subset.json", "reference.json"
KEY_FILE = "export-key"


def reference_config(bn: str = "all") -> TrainConfig:
    """The run the page must reproduce: the review's LeNet at lr 0.9 on the page's images, ``REFERENCE_STEPS`` steps."""
    return TrainConfig(lr=REFERENCE_LR, bn=bn, n_train=BROWSER_TRAIN, steps=REFERENCE_STEPS, seed=REFERENCE_SEED)


def evaluation_sample() -> torch.Tensor:
    """Indices (sorted) of the test images the page evaluates on."""
    generator = torch.Generator().manual_seed(TEST_SAMPLE_SEED)
    return torch.randperm(len(load_raw(train=False)[1]), generator=generator)[:BROWSER_TEST].sort().values


def pixel_table() -> torch.Tensor:
    """float32 value of each pixel byte 0..255 after ``data.load_mnist``'s scaling and normalisation (0: the padding)."""
    mean, std = train_stats()
    return torch.arange(256, dtype=torch.uint8).float().div_(255).sub_(mean).div_(std)


def to_bytes(images: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The pixel bytes ``[N, 28, 28]`` of normalised LeNet inputs ``[N, 1, 32, 32]``, checked to map back exactly.

    Going back from the book's own inputs (rather than re-reading the files) proves that the page,
    which maps bytes through ``table``, sees the very numbers the book's runs see.
    """
    pad = (images.shape[-1] - IMAGE_SIDE) // 2
    inner = images[:, 0, pad:pad + IMAGE_SIDE, pad:pad + IMAGE_SIDE].contiguous()
    index = torch.searchsorted(table, inner).clamp_(max=255)
    if not (torch.equal(table[index], inner) and bool((images[..., :pad] == table[0]).all())):
        raise ValueError("the page's pixel table does not reproduce data.load_mnist's inputs exactly")
    return index.to(torch.uint8)


def subset_arrays(table: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """uint8 images ``[N, 28, 28]`` and labels of the page's training images (in the book's subset order) and test
    sample; ``table``: :func:`pixel_table` (computed here if not given)."""
    table = pixel_table() if table is None else table
    train_images, train_labels = data_split(reference_config(), "train")
    test_images, test_labels = data_split(reference_config(), "test")
    test_index = evaluation_sample()
    return {
        "train_images": to_bytes(train_images, table), "train_labels": train_labels,
        "test_images": to_bytes(test_images[test_index], table), "test_labels": test_labels[test_index],
    }


def encode(tensor: torch.Tensor) -> dict:
    """A float tensor as JSON: its shape and its float32 bytes (little-endian) in base64."""
    data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
    return {"shape": list(tensor.shape), "float32": base64.b64encode(data).decode("ascii")}


def decode(value: dict) -> torch.Tensor:
    """The tensor :func:`encode` wrote."""
    import numpy as np

    array = np.frombuffer(base64.b64decode(value["float32"]), dtype="<f4").copy()
    return torch.from_numpy(array).reshape(value["shape"])


def initial_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The weights ``train(config)`` starts from (it seeds torch, then builds the model, as here)."""
    torch.manual_seed(config.seed)
    return {k: v for k, v in config.build_model().state_dict().items() if v.is_floating_point()}


def batch_order(config: TrainConfig) -> list[int]:
    """Indices, into the page's training images, of the first epoch's batches in ``train(config)``."""
    n = min(config.n_train, BROWSER_TRAIN)
    return torch.randperm(n, generator=torch.Generator().manual_seed(config.seed)).tolist()


def reference_run(bn: str) -> dict:
    """PyTorch's start, batch order and step losses for ``reference_config(bn)``, trained by ``train()``."""
    config = reference_config(bn)
    history = train(config, progress=False)
    order = batch_order(config)[: REFERENCE_STEPS * config.batch_size]
    return {
        "config": config.to_dict(),
        "bn_layers": list(config.bn),
        "initial": {name: encode(value) for name, value in initial_state(config).items()},
        "order": order,
        "step_loss": history.step_loss,
        "final_running": {k: encode(v) for k, v in history.state_dict.items() if "running" in k},
    }


def bn_check() -> dict:
    """One BN layer of each kind on a fixed batch: input, gamma, beta, training output, updated running
    statistics and the evaluation output with them (our :mod:`bnreview.batchnorm`)."""
    config = reference_config("all")
    torch.manual_seed(config.seed)
    model = config.build_model()
    images, _ = data_split(config, "train")
    inputs: dict[str, torch.Tensor] = {}
    hooks = [model.bn[layer].register_forward_hook(lambda m, args, out, layer=layer: inputs.setdefault(layer, args[0]))
             for layer in BN_CHECK_LAYERS]
    with torch.no_grad():
        model(images[:BN_CHECK_BATCH])
    for hook in hooks:
        hook.remove()
    generator = torch.Generator().manual_seed(REFERENCE_SEED)
    checks = {}
    for layer in BN_CHECK_LAYERS:
        x = inputs[layer]
        bn = (batchnorm.BatchNorm2d if x.dim() == 4 else batchnorm.BatchNorm1d)(x.shape[1])
        with torch.no_grad():
            bn.weight.copy_(0.5 + torch.rand(x.shape[1], generator=generator))
            bn.bias.copy_(torch.randn(x.shape[1], generator=generator))
            y_train = bn.train()(x)
            y_eval = bn.eval()(x)
        checks[layer] = {
            "x": encode(x), "gamma": encode(bn.weight), "beta": encode(bn.bias), "y_train": encode(y_train),
            "running_mean": encode(bn.running_mean), "running_var": encode(bn.running_var), "y_eval": encode(y_eval),
        }
    return checks


def manifest(arrays: dict[str, torch.Tensor], table: torch.Tensor) -> dict:
    """The layout of ``mnist-subset.bin``, the pixel ``table`` and the settings the page mirrors."""
    bn, config = batchnorm.BatchNorm2d(1), reference_config()
    return {
        "layout": [[name, list(arrays[name].shape)] for name in arrays],
        "side": IMAGE_SIDE, "input_side": config.input_size,
        "pixel_table": table.tolist(),
        "batch_size": config.batch_size,
        "bn_eps": bn.eps, "bn_momentum": bn.momentum,
        "divergence_loss": DIVERGENCE_LOSS, "divergence_window": DIVERGENCE_WINDOW,
        "bn_layers": list(BN_LAYERS), "bn_positions": list(BN_POSITIONS),
        "sizes": list(BROWSER_SIZES), "epochs": list(EPOCH_CHOICES), "lr_range": list(LR_RANGE),
        "attribution": ATTRIBUTION,
    }


def _write_if_changed(path: Path, content: bytes) -> None:
    if not (path.is_file() and path.read_bytes() == content):
        with atomic_write(path) as f:
            f.write(content)
        path.chmod(0o644)  # served to anyone: mkstemp's files are private


def export_key() -> str:
    """What the exported files depend on: the code that trains (this module's included) and the data."""
    return f"{code_version(sys.modules[__name__])}-{fingerprint()}"


def export(out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write the page's data and the PyTorch reference into ``out_dir``, atomically.

    Skipped when ``out_dir`` already holds them for the same :func:`export_key` (unless ``force``):
    the reference trains two runs of 50 steps, about ten seconds a build otherwise.
    """
    out = Path(out_dir)
    paths = [out / name for name in (SUBSET_FILE, MANIFEST_FILE, REFERENCE_FILE)]
    stamp, key = out / KEY_FILE, export_key()
    if not force and stamp.is_file() and stamp.read_text(encoding="utf8") == key and all(p.is_file() for p in paths):
        return paths
    table = pixel_table()
    arrays = subset_arrays(table)
    blob = b"".join(arrays[name].to(torch.uint8).numpy().tobytes() for name in arrays)
    files = {
        # mtime=0: the same data give the same bytes, so a rebuild leaves the file alone
        SUBSET_FILE: gzip.compress(blob, compresslevel=9, mtime=0),
        MANIFEST_FILE: json.dumps(manifest(arrays, table)).encode(),
        REFERENCE_FILE: json.dumps({
            "steps": REFERENCE_STEPS, "with_bn": reference_run("all"), "without_bn": reference_run("none"),
            "bn_check": bn_check(),
        }).encode(),
    }
    for name, content in files.items():
        _write_if_changed(out / name, content)
    _write_if_changed(stamp, key.encode())
    return paths


LR_SLIDER_STEP = 0.01  # the slider is log10(lr) in these steps; the page rounds the rate it gives to two digits


def _lr_slider_value(lr: float) -> str:
    """The slider's value for ``lr``: log10(lr) on the slider's grid (a browser snaps any other value to it)."""
    return f"{round(math.log10(lr) / LR_SLIDER_STEP) * LR_SLIDER_STEP:.2f}".rstrip("0").rstrip(".")


def slider_lr(value: str) -> float:
    """The learning rate the page trains with for a slider ``value`` (bnpanel.js's ``lrOf``)."""
    return float(f"{10 ** float(value):.2g}")


def nearest_slider_lr(lr: float) -> float:
    """The rate the slider gives nearest ``lr`` (0.89 for the review's 0.9)."""
    return slider_lr(_lr_slider_value(lr))


def panel_html() -> str:
    """The in-browser trainer's markup: controls, status, charts, and what the page says without JavaScript."""
    layers = "".join(
        f'<label><input type="checkbox" name="bn" value="{name}" checked> {name}</label> ' for name in BN_LAYERS
    )
    positions = "".join(
        f'<label><input type="radio" name="position" value="{p}"{" checked" if p == "before" else ""}> {p}</label> '
        for p in BN_POSITIONS
    )
    sizes = "".join(f'<option value="{n}"{" selected" if n == DEFAULT_IMAGES else ""}>{n:,}</option>' for n in BROWSER_SIZES)
    epochs = "".join(f'<option value="{e}"{" selected" if e == DEFAULT_EPOCHS else ""}>{e}</option>' for e in EPOCH_CHOICES)
    low, high = (_lr_slider_value(v) for v in LR_RANGE)
    fallback = html.escape(
        "This panel trains LeNet with and without batch normalisation in your browser, with TensorFlow.js, on "
        f"up to {BROWSER_TRAIN:,} MNIST images, and draws the loss of every step and the test accuracy of every "
        "epoch as it goes. It needs JavaScript and the HTML book. In a running notebook, the retraining panel of "
        "the LeNet + BN chapter (or of the explorer) trains the book's own PyTorch network in the kernel instead."
    )
    return f"""<div class="bn-browser-train" data-state="static" data-gap-note="{GAP_NOTE:g}">
<p class="bnt-fallback">{fallback}</p>
<div class="bnt-panel" hidden>
<div class="bnt-controls">
<label>learning rate <input type="range" name="lr" min="{low}" max="{high}" step="{LR_SLIDER_STEP:g}" value="{_lr_slider_value(DEFAULT_LR)}">
<output name="lr-value"></output></label>
<span>BN on {layers}</span>
<span>BN {positions} tanh</span>
<label>epochs <select name="epochs">{epochs}</select></label>
<label>training images <select name="images">{sizes}</select></label>
<label>seed <input type="number" name="seed" min="0" max="9999" step="1" value="{DEFAULT_SEED}"></label>
<label>engine <select name="backend"><option value="auto" selected>fastest available</option>
<option value="wasm">WASM</option><option value="webgl">WebGL</option><option value="cpu">CPU (plain JS)</option></select></label>
<button type="button" name="train">Train</button> <button type="button" name="stop" disabled>Stop</button>
</div>
<p class="bnt-where"></p>
<p class="bnt-status" aria-live="polite"></p>
<p class="bnt-note" hidden></p>
<div class="bnt-charts"></div>
<p class="bnt-verify"><button type="button" name="verify">Check against PyTorch</button> <span></span></p>
<p class="bnt-attribution">{html.escape(ATTRIBUTION)}</p>
</div>
</div>"""


def panel():
    """The panel as a notebook output (IPython ``HTML``): live in the built book, its description in a notebook."""
    from IPython.display import HTML

    return HTML(panel_html())
