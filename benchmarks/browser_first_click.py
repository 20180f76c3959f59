"""What a first click on the in-browser trainer (chapters/in_browser) shows, over seeds.

    python benchmarks/browser_first_click.py [--html _build/quick/_build/html] [--lr 0.9] [--images 2000]
                                             [--epochs 2] [--seeds 0-4] [--backend auto]

Serves the built book (``make quick-book`` builds it), opens the chapter in headless Debian Chromium (as
the browser tests do) and trains, for each seed, LeNet with BN on all four layers (before tanh) beside
LeNet without BN, exactly as the Train button does. Prints, per seed, each network's test accuracy as
the book reports it (evaluation mode: BN with its running averages, Algorithm 2), the BN network's
accuracy with batch statistics (BN in training mode on the test batches), and the session's wall time
(loading excluded: a warm-up session comes first). ``--lr``, ``--images`` and ``--epochs`` take
comma-separated lists: every combination is run. Always exits 0.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' Chromium settings

from bookbrowser import chromium, serving  # noqa: E402

PAGE = "chapters/in_browser.html"
LAYERS = ["conv1", "conv2", "conv3", "fc1"]

TRAIN = """
const [options, done] = [arguments[0], arguments[arguments.length - 1]];
const started = performance.now();
window.bnTrainer.train(options, () => {}, () => false).then(
  (s) => done({wall: (performance.now() - started) / 1000, backend: s.backend,
               runs: s.runs.map((r) => ({label: r.label, acc: r.acc[r.acc.length - 1], diverged: r.diverged,
                                         batchAcc: r.batchAcc ? r.batchAcc[r.batchAcc.length - 1] : null}))}),
  (e) => done({error: String(e.stack || e)}));
"""


def session(driver, lr: float, images: int, epochs: int, seed: int, backend: str) -> dict:
    options = {"lr": lr, "bnLayers": LAYERS, "position": "before", "epochs": epochs, "images": images,
               "seed": seed, "backend": backend}
    result = driver.execute_async_script(TRAIN, options)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def numbers(text: str, kind=float) -> list:
    """Comma-separated values; for integers, "0-9" stands for 0 to 9."""
    values = []
    for part in filter(None, text.split(",")):
        if kind is int and "-" in part[1:]:
            low, high = part.split("-")
            values += range(int(low), int(high) + 1)
        else:
            values.append(kind(part))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "quick" / "_build" / "html")
    parser.add_argument("--lr", default="0.9")
    parser.add_argument("--images", default="2000")
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    if not (args.html / PAGE).is_file():
        sys.exit(f"{args.html / PAGE} is missing: run `make quick-book` first")
    seeds = numbers(args.seeds, int)
    with serving(args.html) as base, tempfile.TemporaryDirectory() as profile:
        driver = chromium(Path(profile))
        driver.set_script_timeout(1800)
        try:
            driver.get(base + PAGE)
            session(driver, 0.1, 1000, 1, 0, args.backend)  # warm-up: loads the engine and the images
            print(f"{'lr':>5} {'images':>6} {'epochs':>6} {'seed':>4}  {'BN eval':>7}  {'BN batch':>8}  {'no BN':>6}  "
                  f"{'BN-noBN':>7}  {'wall s':>6}  backend", flush=True)
            for lr, images, epochs in itertools.product(numbers(args.lr), numbers(args.images, int),
                                                        numbers(args.epochs, int)):
                rows = []
                for seed in seeds:
                    r = session(driver, lr, images, epochs, seed, args.backend)
                    bn, base_run = r["runs"]
                    if bn["batchAcc"] is None:  # a trainer from before the evaluation with batch statistics
                        bn["batchAcc"] = float("nan")
                    rows.append((bn["acc"], bn["batchAcc"], base_run["acc"], r["wall"]))
                    flags = "".join(f" ({x['label']} diverged at step {x['diverged']})" for x in r["runs"] if x["diverged"])
                    print(f"{lr:5g} {images:6} {epochs:6} {seed:4}  {100 * bn['acc']:6.1f}%  {100 * bn['batchAcc']:7.1f}%  "
                          f"{100 * base_run['acc']:5.1f}%  {100 * (bn['acc'] - base_run['acc']):+6.1f}   {r['wall']:6.1f}  "
                          f"{r['backend']}{flags}", flush=True)
                mean = [statistics.mean(c) for c in zip(*rows)]
                ahead = sum(a >= b for a, _, b, _ in rows)
                print(f"{lr:5g} {images:6} {epochs:6} mean  {100 * mean[0]:6.1f}%  {100 * mean[1]:7.1f}%  "
                      f"{100 * mean[2]:5.1f}%  {100 * (mean[0] - mean[2]):+6.1f}   {mean[3]:6.1f}  "
                      f"BN (eval) >= no BN for {ahead} of {len(rows)} seeds", flush=True)
        finally:
            driver.quit()


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"({time.time() - start:.0f} s)")
