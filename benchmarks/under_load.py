"""Training speed under load: libgomp's default (spinning) wait policy against passive waiting.

    python benchmarks/under_load.py [--steps 300] [--repeats 1] [--competitor busy|train]
                                    [--policy NAME=VALUE ...]

Times a fixed number of LeNet training steps (batch 64, BN on all four layers, lr 0.1, seed 0,
on ``TRAIN_THREADS`` CPU threads, through :func:`bnreview.train.train`; the epoch's training
time, evaluation excluded) in a fresh subprocess for each measurement, because libgomp reads
its wait policy once, when torch loads. Four (or more) settings:

* idle, with libgomp's default policy (no ``OMP_WAIT_POLICY``/``GOMP_SPINCOUNT``);
* idle, with the shared-machine policy (``bnreview.SHARED_MACHINE_POLICY``: passive), or each ``--policy`` given;
* the same two while a competing process keeps one CPU busy: a busy-looping Python process
  (``--competitor busy``), or another training run with the same policy (``--competitor train``,
  the case of two notebooks or a notebook and ``python -m bnreview`` training at once).

Prints each time, the loaded/idle ratio of each policy and each policy's idle time relative to
the default, and checks that every run's step losses are identical (the policy changes
timing, never the numbers). Uses the real MNIST (``BNREVIEW_DATA``). Timings on a shared
machine are indicative. Exits 1 if the losses differ, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
DEFAULT = "default"


def parse_policy(text: str) -> dict[str, str]:
    """'default' -> {} (libgomp's own), 'OMP_WAIT_POLICY=PASSIVE,GOMP_SPINCOUNT=0' -> that environment."""
    if text == DEFAULT:
        return {}
    env = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or name not in OPENMP_VARS:
            raise SystemExit(f"--policy {text!r}: expected NAME=VALUE with NAME in {', '.join(OPENMP_VARS)}, "
                             f"or {DEFAULT!r}")
        env[name] = value
    return env


def policy_name(env: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in env.items()) or DEFAULT


def child(steps: int, policy: dict[str, str], forever: bool) -> None:
    """One measurement (or, with ``forever``, a competing run that trains until killed)."""
    import bnreview  # noqa: F401  (sets bnreview's OpenMP defaults, which the policy under test replaces)

    for name in OPENMP_VARS:  # before torch loads libgomp, which reads them once
        os.environ.pop(name, None)
    os.environ.update(policy)
    from bnreview.config import TrainConfig
    from bnreview.train import train

    config = TrainConfig(lr=0.1, bn="all", epochs=1, batch_size=64, n_train=steps * 64, seed=0, device="cpu")
    while True:
        history = train(config, progress=False)
        if not forever:
            break
    assert len(history.step_loss) == steps, (len(history.step_loss), steps)
    print(json.dumps({"seconds": history.epoch_seconds[0], "step_loss": history.step_loss}))


def spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def competitor(kind: str, policy: dict[str, str], steps: int) -> subprocess.Popen:
    if kind == "busy":
        return spawn(["-c", "while True: pass"])
    return spawn([__file__, "--child", "--forever", "--steps", str(steps), "--policy", policy_name(policy)])


def measure(steps: int, policy: dict[str, str], load: str | None) -> dict:
    other = competitor(load, policy, steps) if load else None
    try:
        if other is not None:
            time.sleep(3 if load == "train" else 0.5)  # let a competing run get past its imports
        run = spawn([__file__, "--child", "--steps", str(steps), "--policy", policy_name(policy)])
        out, _ = run.communicate()
        if run.returncode:
            raise SystemExit(f"the measured run failed (exit {run.returncode})")
        return json.loads(out.strip().splitlines()[-1])
    finally:
        if other is not None:
            other.kill()
            other.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="SGD steps of batch 64 per measurement (default 300)")
    p.add_argument("--repeats", type=int, default=1, help="measurements per setting (median reported)")
    p.add_argument("--competitor", choices=("busy", "train"), default="busy",
                   help="what loads the machine: a busy-looping process or another training run")
    p.add_argument("--policy", action="append", default=None,
                   help="a policy to compare with libgomp's default, e.g. OMP_WAIT_POLICY=PASSIVE or "
                        "GOMP_SPINCOUNT=10000 (repeatable; default: bnreview's OPENMP_WAIT)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--forever", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.steps, parse_policy((args.policy or [DEFAULT])[0]), args.forever)
        return 0

    sys.path.insert(0, str(ROOT))
    import bnreview

    policies = [{}] + ([parse_policy(text) for text in args.policy] if args.policy else [dict(bnreview.SHARED_MACHINE_POLICY)])
    print(f"{args.steps} steps of batch 64, LeNet with BN on all four layers; competitor: {args.competitor}; "
          f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    seconds, losses = {}, {}
    for policy in policies:
        for load in (None, args.competitor):
            runs = [measure(args.steps, policy, load) for _ in range(args.repeats)]
            key = (policy_name(policy), load or "idle")
            seconds[key] = statistics.median(r["seconds"] for r in runs)
            losses.update({(*key, i): r["step_loss"] for i, r in enumerate(runs)})
            print(f"  {key[0]:40s} {key[1]:6s} {seconds[key]:7.2f} s", flush=True)
    base_idle = seconds[(DEFAULT, "idle")]
    print("ratios:")
    for policy in policies:
        name = policy_name(policy)
        idle, loaded = seconds[(name, "idle")], seconds[(name, args.competitor)]
        print(f"  {name:40s} loaded/idle {loaded / idle:6.2f}x   idle vs default {idle / base_idle:5.2f}x   "
              f"loaded vs default loaded {loaded / seconds[(DEFAULT, args.competitor)]:5.2f}x")
    reference = next(iter(losses.values()))
    same = all(loss == reference for loss in losses.values())
    print(f"final loss {reference[-1]:.6f}; step losses identical across all runs: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
