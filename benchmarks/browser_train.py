"""Seconds per epoch of the in-browser trainer (chapters/in_browser), per TensorFlow.js backend.

    python benchmarks/browser_train.py [--html _build/quick/_build/html] [--backends wasm,webgl,cpu]
                                       [--repeats 2] [--slow-sizes 2000]

Serves the built book (``make quick-book`` builds it), opens the chapter in headless Debian
Chromium (as the browser tests do: ``--disable-gpu``, so WebGL is Chromium's software renderer),
and trains, for each backend, one epoch of LeNet with BN on all four layers (lr 0.9) side by side
with the baseline without BN, exactly as the Train button does, on 2,000 and 5,000 images. A
warm-up epoch on 1,000 images comes first (loading TensorFlow.js, compiling WebAssembly). It prints
each network's training time per epoch (SGD steps only, the test evaluation excluded, as the
book's ``epoch_seconds``), the whole session's wall time, the longest the page went without
running a timer (how long a click could wait: the trainer yields after every step), and PASS or MISS against the issue's
targets for the fastest backend: one epoch of the network with BN in at most 5 s on 2,000 images
and 12 s on 5,000. Slow backends run only ``--slow-sizes``. Also prints the page weight: what the
page loads with it, and what the first click fetches. Always exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' Chromium settings

from bookbrowser import chromium, serving  # noqa: E402

PAGE = "chapters/in_browser.html"
TARGETS = {2000: 5.0, 5000: 12.0}  # seconds per epoch, the network with BN, fastest backend
FAST_BACKENDS = ("wasm",)
WITH_PAGE = ("_static/bntrain.js", "_static/bnpanel.js", "_static/bntrain.css")
FIRST_CLICK = ("_static/tfjs/tf.min.js", "_static/tfjs/tf-backend-wasm.min.js", "_static/tfjs/tfjs-backend-wasm-simd.wasm",
               "_static/bn-browser/mnist-subset.json", "_static/bn-browser/mnist-subset.bin")

TRAIN = """
const [options, done] = [arguments[0], arguments[arguments.length - 1]];
const started = performance.now();
let [last, lag] = [performance.now(), 0];  // the longest the page went without running a 10 ms timer
const timer = setInterval(() => { const now = performance.now(); lag = Math.max(lag, now - last); last = now; }, 10);
window.bnTrainer.train(options, () => {}, () => false).then(
  (s) => { clearInterval(timer); done({wall: (performance.now() - started) / 1000, backend: s.backend, lag: lag / 1000,
               runs: s.runs.map((r) => ({label: r.label, seconds: r.epochSeconds[0], acc: r.acc[r.acc.length - 1]}))}); },
  (e) => done({error: String(e.stack || e)}));
"""


def epoch(driver, backend: str, images: int) -> dict:
    options = {"lr": 0.9, "bnLayers": ["conv1", "conv2", "conv3", "fc1"], "position": "before", "epochs": 1,
               "images": images, "seed": 0, "backend": backend}
    result = driver.execute_async_script(TRAIN, options)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def kilobytes(html: Path, paths) -> float:
    return sum((html / p).stat().st_size for p in paths) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "quick" / "_build" / "html")
    parser.add_argument("--backends", default="wasm,webgl,cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--slow-sizes", default="2000", help="sizes for backends other than WASM (comma-separated)")
    args = parser.parse_args()
    if not (args.html / PAGE).is_file():
        sys.exit(f"{args.html / PAGE} is missing: run `make quick-book` first")
    slow_sizes = [int(n) for n in args.slow_sizes.split(",") if n]
    with serving(args.html) as base, tempfile.TemporaryDirectory() as profile:
        driver = chromium(Path(profile))
        driver.set_script_timeout(600)
        try:
            driver.get(base + PAGE)
            print(f"{'backend':8} {'images':>6}  {'BN s/epoch':>10}  {'no BN s/epoch':>13}  {'session s':>9}  {'max lag s':>9}  "
                  "test acc (BN, no BN)")
            for backend in args.backends.split(","):
                try:
                    epoch(driver, backend, 1000)  # warm-up: loads the engine, compiles its kernels
                except RuntimeError as error:
                    print(f"{backend:8} unavailable: {str(error).splitlines()[0]}")
                    continue
                for images in (TARGETS if backend in FAST_BACKENDS else slow_sizes):
                    runs = [epoch(driver, backend, images) for _ in range(args.repeats)]
                    bn = statistics.median(r["runs"][0]["seconds"] for r in runs)
                    base_s = statistics.median(r["runs"][1]["seconds"] for r in runs)
                    wall = statistics.median(r["wall"] for r in runs)
                    lag = max(r["lag"] for r in runs)
                    acc = ", ".join(f"{100 * x['acc']:.1f}%" for x in runs[0]["runs"])
                    verdict = ""
                    if backend in FAST_BACKENDS:
                        verdict = f"  target <= {TARGETS[images]:g} s: {'PASS' if bn <= TARGETS[images] else 'MISS'}"
                    print(f"{runs[0]['backend']:8} {images:6,}  {bn:10.2f}  {base_s:13.2f}  {wall:9.2f}  {lag:9.2f}  {acc}{verdict}",
                          flush=True)
        finally:
            driver.quit()
    print(f"page weight: {kilobytes(args.html, WITH_PAGE):.0f} KB with the page (scripts and style), "
          f"{kilobytes(args.html, FIRST_CLICK):.0f} KB more on the first click (TensorFlow.js, its WASM "
          "backend and the images; a browser without WebAssembly SIMD fetches the plain .wasm instead)")


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"({time.time() - start:.0f} s)")
