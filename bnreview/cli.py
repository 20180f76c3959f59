"""``python -m bnreview``: train a configuration or locate the data from a terminal.

    python -m bnreview train --lr 0.9 --epochs 10 --bn all --bn-impl ours
    python -m bnreview train --dataset fashion-mnist --val-size 5000 --dropout 0.5
    python -m bnreview data --dataset fashion-mnist
    python -m bnreview runs --chapter lr_sweep
    python -m bnreview precompute --workers 8          (or --scheduler tcp://host:8786)
    python -m bnreview verify                           (after make book: its verdicts against results.json)

Bad input (a value, a device this machine lacks, missing data) exits with status 2 and one
line naming the bad value, never a traceback; Ctrl-C exits with 130 and one line. ``verify``
exits with 1 when a committed verdict or number did not reproduce. Warnings
(an unwritable cache, a damaged entry) are one line each and never cost the results.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from bnreview import data
from bnreview.models import BN_IMPLS, BN_LAYERS, BN_POSITIONS, ACTIVATIONS


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bnreview", description=__doc__.split("\n")[0])
    parser.add_argument("--data", metavar="DIR",
                        help=f"folder holding MNIST/raw or FashionMNIST/raw (default: ${data.ENV_VAR}, then ./data)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("train", help="train LeNet on MNIST and print the final metrics")
    run.add_argument("--lr", type=float, default=0.9, help="SGD learning rate, > 0 (default 0.9, the review's)")
    run.add_argument("--epochs", type=int, default=10, help="passes over the training set, >= 1 (default 10)")
    run.add_argument("--batch-size", type=int, default=64, help="mini-batch size, >= 2 (default 64)")
    run.add_argument("--momentum", type=float, default=0.0, help="SGD momentum in [0, 1) (default 0)")
    run.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty, >= 0 (default 0)")
    run.add_argument("--bn", default="none",
                     help=f"where BN goes: 'none', 'all', or comma-separated layers from {','.join(BN_LAYERS)}")
    run.add_argument("--bn-impl", default="ours", help=f"BN implementation: {' or '.join(BN_IMPLS)} (default ours)")
    run.add_argument("--bn-position", default="before",
                     help=f"BN {' or '.join(BN_POSITIONS)} the nonlinearity (default before, the paper's)")
    run.add_argument("--activation", default="tanh", help=f"nonlinearity: {', '.join(ACTIVATIONS)} (default tanh)")
    run.add_argument("--seed", type=int, default=0, help="seed for initial weights and batch order (default 0)")
    run.add_argument("--n-train", type=int, default=None, help="train on a fixed subset of this many images")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps (default auto)")
    run.add_argument("--dataset", default="mnist", help=f"{' or '.join(data.DATASETS)} (default mnist)")
    run.add_argument("--val-size", type=int, default=0,
                     help="training images held out for validation, never trained on (default 0)")
    run.add_argument("--dropout", type=float, default=0.0,
                     help="dropout probability on the inputs of fc1 and fc2, in [0, 1) (default 0)")
    run.add_argument("--no-cache", action="store_true", help="train even if this run is cached, and do not store it")

    where = commands.add_parser("data", help="say where MNIST (or --dataset) was found and what it holds")
    where.add_argument("--dataset", default="mnist", help=f"{' or '.join(data.DATASETS)} (default mnist)")

    listing = commands.add_parser("runs", help="list every run the book trains: cached or missing, expected cost")
    listing.add_argument("--chapter", action="append", metavar="NAME", help="only this chapter's runs (repeatable)")
    listing.add_argument("--check-log", metavar="FILE",
                         help="exit 1 if a build's run log (BNREVIEW_RUN_LOG) holds a run the registry does not list")
    pre = commands.add_parser("precompute", help="train every missing run in parallel on Dask")
    pre.add_argument("--chapter", action="append", metavar="NAME", help="only this chapter's runs (repeatable)")
    pre.add_argument("--workers", type=int, default=None,
                     help="worker processes of the local cluster (default: cores / threads per run)")
    pre.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    check = commands.add_parser("verify", help="compare a rebuild's verdicts and numbers with the committed ones")
    check.add_argument("--committed", default="results.json", metavar="FILE",
                       help="the results on file (default results.json, written by make notebooks)")
    check.add_argument("--rebuilt", default="_build/results.json", metavar="FILE",
                       help="the rebuild's results (default _build/results.json, written by make book)")
    return parser


# The TrainConfig fields the command line sets (each as --name-with-dashes).
TRAIN_FLAGS = ("lr", "epochs", "batch_size", "momentum", "weight_decay", "bn", "bn_impl", "bn_position", "activation",
               "seed", "n_train", "device", "dataset", "val_size", "dropout")


def _config(args):
    from bnreview.config import TrainConfig

    return TrainConfig(**{name: getattr(args, name) for name in TRAIN_FLAGS})


def config_from_args(argv: list[str]):
    """The :class:`~bnreview.config.TrainConfig` that ``python -m bnreview train <argv>`` trains."""
    return _config(_parser().parse_args(["train", *argv]))


def _train(args) -> None:
    from bnreview.cache import cached_run
    from bnreview.config import check_device
    from bnreview.train import train

    config = _config(args)
    check_device(config.device)  # before any data is read: a device this machine lacks fails at once
    print(config.describe())
    if args.no_cache:
        history, hit, path = train(config), False, None
    else:
        run = cached_run(config)
        history, hit, path = run.history, run.hit, run.path
    if hit:  # the epoch times are those of the run that was cached, not of this command
        print(f"from cache: {path} (trained earlier; not retrained now)")
    for epoch, row in enumerate(zip(history.train_loss, history.test_loss, history.test_acc, history.epoch_seconds), 1):
        seconds = "" if hit else f"  {row[3]:.1f} s"
        print(f"epoch {epoch:3d}  train loss {row[0]:.4f}  test loss {row[1]:.4f}  test acc {row[2]:.4f}{seconds}")
    if history.diverged:
        print(f"diverged at step {history.diverged_step}")
    print(f"final test accuracy {history.final_test_acc:.4f}")
    if args.no_cache or hit:
        return
    print(f"cached at {path}" if path is not None else "not cached (see the warning above)")


def _data(dataset: str) -> None:
    info = data.dataset_info(dataset)
    root = data.find_root(dataset=dataset).resolve()
    print(f"{info.display} found in {root / info.folder / 'raw'}")
    for train in (True, False):
        images, labels = data.load_mnist(root, train=train, dataset=dataset)
        print(f"  {data.SPLITS[train]:5s}: images {tuple(images.shape)} {images.dtype}, labels {tuple(labels.shape)}")
    mean, std = data.train_stats(root, dataset)
    print(f"  normalised with the training set's mean {mean:.4f} and std {std:.4f}; "
          f"fingerprint {data.fingerprint(root, dataset)}")


def _runs(chapters: list[str] | None, check_log: str | None) -> int:
    from pathlib import Path

    from bnreview.runs import registry, unlisted

    if check_log is not None:
        missing = unlisted(Path(check_log))
        for run in missing:
            print(f"not in the registry: {run}")
        print(f"{check_log}: {'every run is in the registry' if not missing else f'{len(missing)} runs unlisted'}")
        return 1 if missing else 0
    runs, pending = registry(chapters)
    for run in runs:
        state = "cached " if run.cached else "missing"
        print(f"{state}  {run.seconds / 60:6.1f} min  {run.config.describe()}  [{', '.join(run.chapters)}]")
    todo = [r for r in runs if not r.cached]
    print(f"{len(runs)} runs: {len(runs) - len(todo)} cached, {len(todo)} missing "
          f"(about {sum(r.seconds for r in todo) / 60:.0f} minutes of training on 2 cores)")
    for chapter, stage in pending:
        print(f"pending ({chapter}): {stage.what}, listed once {stage.waits_for} are trained")
    return 0


def _precompute(args) -> int:
    from bnreview.precompute import default_workers, precompute

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers={args.workers} is invalid; accepted: an integer >= 1")
    count = args.workers or default_workers()
    where = args.scheduler or f"a local cluster of {count} worker process{'' if count == 1 else 'es'}"
    print(f"precompute on {where}")
    report = precompute(args.chapter, args.workers, args.scheduler)
    print(f"{report.trained} runs trained and cached, {report.cached} were cached already "
          f"({report.seconds / 60:.1f} min){'; stopped: every run finished before is cached' if report.stopped else ''}")
    return 130 if report.stopped else 0


def _verify(committed: str, rebuilt: str) -> int:
    from pathlib import Path

    from bnreview.verify import Results, compare

    report = compare(Results.read(Path(committed), "make notebooks"), Results.read(Path(rebuilt), "make book"))
    for side, path, results in (("committed", committed, report.committed), ("rebuilt", rebuilt, report.rebuilt)):
        seeds = f", {results.seeds} seeds a side" if results.seeds else ""
        print(f"{side:9s}  {path}: {results.profile} profile{seeds}, {results.machine.text()}")
    if report.committed.seeds != report.rebuilt.seeds:
        print(f"the two ran different numbers of seeds ({report.committed.seeds or 'unrecorded'} and "
              f"{report.rebuilt.seeds or 'unrecorded'} a side): another experiment, so verdicts and intervals may differ")
    print(f"\n{report.table()}\n")
    new = sum(r.committed is None for r in report.rows)
    if new:
        print(f"{new} test{'s' if new > 1 else ''} new in the rebuild, not on file (`make notebooks` records them)")
    tests = len(report.committed.results)
    if report.ok:
        print(f"all {tests} committed tests reproduced")
        return 0
    print(f"{len(report.failures)} of {tests} committed tests did not reproduce: "
          + "; ".join(f"{r.name} ({r.status})" for r in report.failures))
    return 1


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"python -m bnreview: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m bnreview <argv>``; exits 0 done, 1 not reproduced (verify), 2 bad input, 130 interrupted."""
    args = _parser().parse_args(argv)
    if args.data:
        os.environ[data.ENV_VAR] = args.data
    try:
        with warnings.catch_warnings():  # a terminal gets one line per warning, not file:line and source
            warnings.showwarning = _one_line_warning
            if args.command == "train":
                _train(args)
            elif args.command == "data":
                _data(args.dataset)
            elif args.command == "runs":
                return _runs(args.chapter, args.check_log)
            elif args.command == "verify":
                return _verify(args.committed, args.rebuilt)
            else:
                return _precompute(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"python -m bnreview: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was cached", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
