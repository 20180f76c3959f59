"""The cold-build table: each chapter's execution time and the runs it trained and read.

    python book/timings.py BUILD_DIR STARTED

``make book`` calls it after ``jupyter-book build`` with its ``_build`` folder and the build's
start (seconds since the epoch). It joins two records of that build:

* the book's, ``BUILD_DIR/notebooks.json`` (written by ``book/bnreview_book.py`` from myst-nb's
  execution data): one per notebook, with when its execution finished and how long it ran; a
  record older than ``STARTED`` is a notebook this build did not execute (Sphinx kept its page);
* bnreview's run log, ``BUILD_DIR/runs.jsonl`` (``BNREVIEW_RUN_LOG``): one line per run a
  chapter asked for, trained or read from the run cache, with when it started, and one per run
  ``precompute`` trained before the chapters ran (its own row: wall minutes, runs, training minutes
  summed over its workers).

A run belongs to the notebook whose execution window holds its start: that is who trained it or
read it. Since the notebooks execute in file-name order (the conclusion, third, asks for nearly
every run), each chapter's own cost is counted another way too: every run trained in this build
(by a notebook or by ``precompute``) goes to the first chapter, in book order, that reads it
(:mod:`bnreview.runs`). The table goes to stdout and, with the CPU and torch version, to
``BUILD_DIR/timings.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

SLACK = 0.25  # seconds around a notebook's window (its record is written just after it ran)


def cpu_model() -> str:
    """The CPU's model name and the instruction set torch's kernels use, e.g. 'AMD EPYC (AVX2), 2 cores'."""
    from bnreview.cache import cpu_kind
    from bnreview.verify import cpu_name

    return f"{cpu_name()} ({cpu_kind()}), {os.cpu_count()} cores"


def notebook_records(path: Path) -> list[dict]:
    """``{chapter, finished, seconds}`` for each notebook the book executed (none without the file)."""
    if not path.exists():
        return []
    return [{"chapter": r["chapter"], "finished": float(r["finished"]), "seconds": float(r["seconds"])}
            for r in json.loads(path.read_text())]


def book_order() -> list[str]:
    """The chapters in the order of ``_toc.yml`` (the root page first)."""
    toc = Path(__file__).resolve().parents[1] / "_toc.yml"
    names = []
    for line in toc.read_text().splitlines() if toc.exists() else []:
        key, _, value = line.strip().lstrip("- ").partition(":")
        if key in ("root", "file"):
            names.append(Path(value.strip()).stem)
    return names


def owners() -> dict[str, str]:
    """Each registry run's key (and description) -> the first chapter, in book order, that reads it."""
    try:
        from bnreview.runs import registry

        listed, _ = registry()
    except Exception as exc:  # noqa: BLE001 - the table is still worth printing without this column
        print(f"(no per-chapter training: the registry could not be listed: {exc})", file=sys.stderr)
        return {}
    found = {}
    for run in listed:
        found[run.key] = found.setdefault(run.config.describe(), run.chapters[0])
    return found


def table(build: Path, started: float) -> dict:
    """Every chapter's row (executed or not, seconds, runs trained / read, training seconds) and the totals."""
    log = build / "runs.jsonl"
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    runs = [run for run in logged if not run.get("worker")]
    workers = [run for run in logged if run.get("worker")]  # trained by precompute before the chapters ran
    rows, claimed = [], set()
    for record in sorted(notebook_records(build / "notebooks.json"), key=lambda r: r["finished"]):
        executed = record["finished"] >= started
        low, high = record["finished"] - record["seconds"] - SLACK, record["finished"] + SLACK
        mine = [i for i, run in enumerate(runs) if executed and i not in claimed and low <= run["started"] <= high]
        claimed.update(mine)
        rows.append({"chapter": record["chapter"], "executed": executed,
                     "seconds": round(record["seconds"], 1) if executed else 0.0,
                     "trained": sum(not runs[i]["hit"] for i in mine), "read": sum(runs[i]["hit"] for i in mine),
                     "training_seconds": round(sum(runs[i]["seconds"] for i in mine if not runs[i]["hit"]), 1)})
    others = [run for i, run in enumerate(runs) if i not in claimed]
    owner = owners()
    order = {name: i for i, name in enumerate(book_order())}
    rows.sort(key=lambda row: order.get(row["chapter"], len(order)))
    for row in rows:  # the training the chapter's own runs cost, whoever trained them
        own = [run for run in logged if not run["hit"] and owner.get(run.get("key", run["run"])) == row["chapter"]]
        row["own_runs"], row["own_training_seconds"] = len(own), round(sum(run["seconds"] for run in own), 1)
    import torch

    return {"date": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - started), "cpu": cpu_model(), "torch": torch.__version__,
            "precompute": {"trained": len(workers), "training_seconds": round(sum(r["seconds"] for r in workers), 1),
                           "wall_seconds": round(max((r["started"] + r["seconds"] for r in workers), default=started)
                                                 - started)},
            "chapters": rows,
            "outside_chapters": {"trained": sum(not r["hit"] for r in others), "read": sum(r["hit"] for r in others)}}


def render(result: dict) -> str:
    """The table as text, one chapter a line, then the totals."""
    lines = [f"Book build of {result['date']} on {result['cpu']}, torch {result['torch']}",
             "Per chapter: its notebook's execution (minutes; runs it trained and read), and its own runs (each run"
             " counted in the first chapter, in book order, that reads it) with the minutes they took to train.",
             f"{'chapter':16s} {'executed':>9s} {'minutes':>8s} {'trained':>8s} {'read':>6s} {'own runs':>9s} "
             f"{'training min':>13s}"]
    pre = result["precompute"]
    if pre["trained"]:
        lines.append(f"{'(precompute)':16s} {'':>9s} {pre['wall_seconds'] / 60:8.1f} {pre['trained']:8d} {'':>6s} "
                     f"{'':>9s} {pre['training_seconds'] / 60:13.1f}")
    for row in result["chapters"]:
        lines.append(f"{row['chapter']:16s} {'yes' if row['executed'] else 'cached':>9s} {row['seconds'] / 60:8.1f} "
                     f"{row['trained']:8d} {row['read']:6d} {row.get('own_runs', 0):9d} "
                     f"{row.get('own_training_seconds', 0.0) / 60:13.1f}")
    rows = result["chapters"]
    lines.append(f"{'all chapters':16s} {sum(r['executed'] for r in rows):9d} {sum(r['seconds'] for r in rows) / 60:8.1f} "
                 f"{sum(r['trained'] for r in rows):8d} {sum(r['read'] for r in rows):6d} "
                 f"{sum(r.get('own_runs', 0) for r in rows):9d} "
                 f"{sum(r.get('own_training_seconds', 0.0) for r in rows) / 60:13.1f}")
    outside = result["outside_chapters"]
    if outside["trained"] or outside["read"]:
        lines.append(f"(runs outside the chapters: {outside['trained']} trained, {outside['read']} read)")
    lines.append(f"whole build: {result['wall_seconds'] / 60:.1f} minutes")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python book/timings.py BUILD_DIR STARTED (seconds since the epoch)", file=sys.stderr)
        return 2
    build = Path(argv[0])
    try:
        started = float(argv[1])
    except ValueError:
        print(f"STARTED={argv[1]!r} is invalid; accepted: seconds since the epoch, e.g. $(date +%s)", file=sys.stderr)
        return 2
    result = table(build, started)
    print(render(result))
    if build.is_dir():
        (build / "timings.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
