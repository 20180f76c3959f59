"""What the build hands the in-browser trainer (bnreview.browser), checked without a browser.

The browser side (the page reproduces these numbers) is tests/test_browser_train.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bnreview import browser, findings
from bnreview.config import TrainConfig, data_split
from bnreview.train import History

ROOT = Path(__file__).resolve().parents[1]
TFJS = ROOT / "book" / "static" / "tfjs"


@pytest.fixture(autouse=True)
def small(monkeypatch):
    """The tiny data set holds 512 training and 200 test images: a page of 300 and 100, 3 reference steps."""
    monkeypatch.setattr(browser, "BROWSER_TRAIN", 300)
    monkeypatch.setattr(browser, "BROWSER_TEST", 100)
    monkeypatch.setattr(browser, "REFERENCE_STEPS", 3)


def normalised(images: torch.Tensor) -> torch.Tensor:
    """The page's inputs from its bytes: the pixel table, then zero padding in pixel space (table[0])."""
    table = browser.pixel_table()
    inner = table[images.long()]
    return F.pad(inner, (2, 2, 2, 2), value=table[0].item()).unsqueeze(1)


def test_the_pages_bytes_give_the_books_inputs_bit_for_bit():
    arrays = browser.subset_arrays()
    images, labels = data_split(browser.reference_config(), "train")
    assert arrays["train_images"].dtype == torch.uint8 and arrays["train_images"].shape == (300, 28, 28)
    assert torch.equal(normalised(arrays["train_images"]), images)
    assert torch.equal(arrays["train_labels"], labels)
    test_images, test_labels = data_split(browser.reference_config(), "test")
    index = browser.evaluation_sample()
    assert len(index) == 100 and bool((index[1:] > index[:-1]).all())
    assert torch.equal(normalised(arrays["test_images"]), test_images[index])
    assert torch.equal(arrays["test_labels"], test_labels[index])


def test_the_pages_first_n_images_are_the_books_n_image_subset():
    arrays = browser.subset_arrays()
    images, _ = data_split(TrainConfig(lr=0.1, n_train=120), "train")
    assert torch.equal(normalised(arrays["train_images"][:120]), images)


def test_to_bytes_refuses_inputs_the_table_cannot_give():
    images, _ = data_split(browser.reference_config(), "train")
    with pytest.raises(ValueError, match="pixel table"):
        browser.to_bytes(images[:4] + 1e-3, browser.pixel_table())


def test_the_exported_start_and_order_replay_train_exactly():
    """PyTorch, from the exported weights and batch order, gives train()'s step losses bit for bit:
    the export describes the run the book's own loop makes."""
    run = browser.reference_run("all")
    config = TrainConfig.from_dict(run["config"])
    model = config.build_model()
    state = {name: browser.decode(value) for name, value in run["initial"].items()}
    model.load_state_dict(state, strict=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    images, labels = data_split(config, "train")
    torch.set_num_threads(2)
    losses = []
    for step in range(browser.REFERENCE_STEPS):
        index = torch.tensor(run["order"][step * config.batch_size:(step + 1) * config.batch_size])
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses == run["step_loss"]
    assert len(run["order"]) == browser.REFERENCE_STEPS * config.batch_size
    assert set(run["final_running"]) == {f"bn.{layer}.{stat}" for layer in run["bn_layers"]
                                         for stat in ("running_mean", "running_var")}


def test_encode_round_trips_float32():
    x = torch.randn(3, 4, 5)
    value = browser.encode(x)
    assert value["shape"] == [3, 4, 5] and torch.equal(browser.decode(value), x)


def test_bn_check_is_our_batchnorm_on_the_networks_own_input():
    checks = browser.bn_check()
    assert set(checks) == set(browser.BN_CHECK_LAYERS)
    conv = {k: browser.decode(v) for k, v in checks["conv2"].items()}
    assert conv["x"].shape == (browser.BN_CHECK_BATCH, 16, 10, 10)
    mu, var = conv["x"].mean((0, 2, 3)), conv["x"].var((0, 2, 3), unbiased=False)
    expected = (conv["x"] - mu.view(1, -1, 1, 1)) / (var.view(1, -1, 1, 1) + 1e-5).sqrt()
    expected = expected * conv["gamma"].view(1, -1, 1, 1) + conv["beta"].view(1, -1, 1, 1)
    torch.testing.assert_close(conv["y_train"], expected, rtol=1e-5, atol=1e-5)
    m = conv["x"].numel() // 16
    torch.testing.assert_close(conv["running_var"], 0.9 + 0.1 * var * m / (m - 1))


def test_export_writes_everything_once_and_skips_when_nothing_changed(tmp_path, monkeypatch):
    paths = browser.export(tmp_path)
    assert sorted(p.name for p in paths) == sorted([browser.SUBSET_FILE, browser.MANIFEST_FILE, browser.REFERENCE_FILE])
    settings = json.loads((tmp_path / browser.MANIFEST_FILE).read_text())
    blob = gzip.decompress((tmp_path / browser.SUBSET_FILE).read_bytes())
    sizes = {name: torch.Size(shape).numel() for name, shape in settings["layout"]}
    assert sum(sizes.values()) == len(blob)
    assert settings["bn_layers"] == ["conv1", "conv2", "conv3", "fc1"] and settings["bn_momentum"] == 0.1
    assert settings["input_side"] == 32 and len(settings["pixel_table"]) == 256
    reference = json.loads((tmp_path / browser.REFERENCE_FILE).read_text())
    assert reference["steps"] == 3 and reference["without_bn"]["bn_layers"] == []
    assert len(reference["with_bn"]["step_loss"]) == 3
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind

    def fail(*args):
        raise AssertionError("exported again although nothing changed")

    monkeypatch.setattr(browser, "subset_arrays", fail)
    browser.export(tmp_path)  # same key: skipped
    (tmp_path / browser.REFERENCE_FILE).unlink()
    with pytest.raises(AssertionError, match="exported again"):
        browser.export(tmp_path)  # a file is missing: written again


def test_the_panel_offers_every_choice_and_says_what_it_would_show_without_javascript():
    html = browser.panel_html()
    for layer in ("conv1", "conv2", "conv3", "fc1"):
        assert f'name="bn" value="{layer}"' in html
    for position in ("before", "after"):
        assert f'name="position" value="{position}"' in html
    assert re.search(r'name="lr" min="-3" max="1"', html)
    assert all(f'value="{n}"' in html for n in browser.BROWSER_SIZES)
    assert all(f'<option value="{e}"' in html for e in browser.EPOCH_CHOICES)
    fallback = re.search(r'<p class="bnt-fallback">(.*?)</p>', html).group(1)
    assert "JavaScript" in fallback and "notebook" in fallback
    assert re.search(r'<div class="bnt-panel" hidden>', html)  # shown by bnpanel.js only


def test_the_panel_opens_at_the_default_first_click():
    html = browser.panel_html()
    slider = re.search(r'name="lr" min="-3" max="1" step="0.01" value="([^"]+)"', html).group(1)
    assert browser.slider_lr(slider) == browser.DEFAULT_LR  # the rate shown and trained, not a neighbour of it
    assert re.findall(r'<option value="(\d+)" selected>', html) == [str(browser.DEFAULT_EPOCHS), str(browser.DEFAULT_IMAGES)]
    assert re.search(rf'name="seed" [^>]*value="{browser.DEFAULT_SEED}"', html)
    assert browser.DEFAULT_IMAGES in browser.BROWSER_SIZES and browser.DEFAULT_EPOCHS in browser.EPOCH_CHOICES
    assert browser.LR_RANGE[0] <= browser.DEFAULT_LR < browser.REFERENCE_LR
    assert f'data-gap-note="{browser.GAP_NOTE:g}"' in html and '<p class="bnt-note" hidden></p>' in html


def test_the_slider_offers_the_rates_the_chapter_names():
    """Every value on the slider's grid is a rate the page trains with; the review's 0.9 is not on it."""
    assert browser.nearest_slider_lr(browser.DEFAULT_LR) == browser.DEFAULT_LR
    assert browser.nearest_slider_lr(findings.TRY_LR) == findings.TRY_LR
    assert browser.nearest_slider_lr(browser.REFERENCE_LR) == 0.89
    assert browser.slider_lr("-0.05") == 0.89 and browser.slider_lr("0.48") == 3.0


def test_the_vendored_tensorflow_js_files_are_the_pinned_ones():
    sums = (TFJS / "SHA256SUMS").read_text().split("\n")
    files = dict(reversed(line.split("  ")) for line in sums if line)
    assert set(files) == {"tf.min.js", "tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"}
    for name, digest in files.items():
        assert hashlib.sha256((TFJS / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (TFJS / "LICENSE").read_text()
    version = re.search(r'VERSION = "([^"]+)"', (ROOT / "book" / "vendor_tfjs.py").read_text()).group(1)
    for name in ("tf.min.js", "tf-backend-wasm.min.js"):
        assert f'"{version}"'.encode() in (TFJS / name).read_bytes(), name


def history(bn: bool, acc: float, diverged: bool = False, lr: float = 3.0) -> History:
    config = TrainConfig(lr=lr, epochs=1, bn="all" if bn else (), val_size=64)
    return History(config=config.to_dict(), test_acc=[acc], step_loss=[1.0], steps_per_epoch=1, diverged=diverged)


def test_browser_findings_compare_the_books_runs_at_the_rate_to_try():
    runs = {("no BN", 3.0): [history(False, 0.11, True) for _ in range(3)],
            ("BN", 3.0): [history(True, a) for a in (0.95, 0.96, 0.97)]}
    f = findings.browser_findings(runs)
    assert f.lr == 3.0 and f.diverged == 3 and f.n_seeds == 3
    assert f.after_epoch.direction == "higher" and f.after_epoch.b.mean == pytest.approx(96.0)
