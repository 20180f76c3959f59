"""The reproduction report: the ledger's verdicts and numbers on file, and a rebuild checked against them.

The conclusion chapter hands its ledger (:func:`bnreview.findings.ledger.ledger_rows`) to
:func:`record`, which writes every test's verdict and effect, with the machine that ran them, to
the JSON file ``$BNREVIEW_RESULTS`` names (written atomically; nothing without it, and nothing in
the quick profile, whose verdicts are not the book's). ``make notebooks`` records the committed
``results.json``; ``make book`` records ``_build/results.json``.

:func:`compare` sets a rebuild's results beside the committed ones, one row per test. A test
**reproduces** when the rebuild gives its verdict and, where both sides have an interval, an
estimate inside the committed interval. ``python -m bnreview verify`` (``make verify``) prints
the report and fails when a committed test does not reproduce or is missing from the rebuild. A
test new in the rebuild has nothing on file to reproduce: it is listed, not counted as a failure
(``make notebooks`` puts it on file).

>>> r = Result("first-epoch", "first-epoch", "supported", 1.2, 0.8, 1.6, 0.99, "points")
>>> moved = Result("first-epoch", "first-epoch", "supported", 1.7, 1.3, 2.1, 0.99, "points")
>>> Row("first-epoch", r, moved).status
'number moved'
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bnreview.cache import atomic_write, cpu_kind
from bnreview.config import is_quick

if TYPE_CHECKING:
    from bnreview.findings.ledger import Judged

RESULTS_ENV = "BNREVIEW_RESULTS"
FORMAT = 1
STATUSES = ("reproduced", "verdict changed", "number moved", "missing in rebuild", "new in rebuild")


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Machine:
    """Where a build ran: the CPU's model and kind (:func:`bnreview.cache.cpu_kind`), torch, Python, when."""

    cpu: str
    kind: str
    torch: str
    python: str
    date: str  # ISO 8601, UTC, to the minute

    @classmethod
    def here(cls) -> Machine:
        """This machine, now."""
        return cls(cpu_name(), cpu_kind(), torch.__version__, platform.python_version(),
                   datetime.now(timezone.utc).isoformat(timespec="minutes"))

    def text(self) -> str:
        """``"AMD EPYC 7B13 (AVX2), torch 2.14.1, Python 3.11.7, 2026-12-06T18:52+00:00"``."""
        return f"{self.cpu} ({self.kind}), torch {self.torch}, Python {self.python}, {self.date}"


@dataclass(frozen=True)
class Result:
    """One ledger test as built: its verdict and, when it has one, its effect with the (Holm) interval."""

    name: str  # the test's name in the ledger, e.g. "before-nonlinearity (lr 0.3)"
    entry: str  # its protocol entry
    verdict: str
    estimate: float | None
    low: float | None
    high: float | None
    level: float | None
    unit: str

    @classmethod
    def from_judged(cls, judged: Judged) -> Result:
        """The record of one row of :func:`~bnreview.findings.ledger.ledger_rows`."""
        e, unit = judged.effect, judged.test.protocol_entry.unit
        numbers = (None,) * 4 if e is None else (e.estimate, e.low, e.high, e.level)
        return cls(judged.test.name, judged.test.entry, judged.verdict, *numbers, unit)

    def text(self, interval: bool = True, digits: int = 3) -> str:
        """``"supported, +1.200 points (99% CI +0.800 to +1.600)"``; the verdict alone without an estimate."""
        if self.estimate is None:
            return self.verdict
        shown = f"{self.verdict}, {self.estimate:+.{digits}f} {self.unit}"
        if interval and self.low is not None:
            shown += f" ({100 * self.level:.3g}% CI {self.low:+.{digits}f} to {self.high:+.{digits}f})"
        return shown


@dataclass(frozen=True)
class Results:
    """A build's ledger on file: the machine, the profile of its runs, every test's :class:`Result`."""

    machine: Machine
    profile: str  # "full": record() writes nothing in the quick profile
    results: tuple[Result, ...]
    seeds: int | None = None  # seeds a side, the most any test has (None: a file written before it was recorded)

    def to_json(self) -> str:
        """The file's text: indented JSON, one key a line, so a committed change reads as a diff."""
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Results:
        """The results :meth:`to_json` wrote; a ValueError, in one line, naming what is wrong otherwise."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            return cls(Machine(**data["machine"]), data["profile"], tuple(Result(**r) for r in data["results"]),
                       data.get("seeds"))
        except (AttributeError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a results file ({type(exc).__name__}: {exc})") from None

    @classmethod
    def read(cls, path: Path, make: str) -> Results:
        """The results at ``path``; a missing or unreadable file is an error naming it and ``make``, which writes it."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"no results at {path}: `{make}` writes them") from None
        except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, not text
            raise ValueError(f"cannot read {path} ({type(exc).__name__}: {exc}); `{make}` writes it") from None
        try:
            return cls.from_json(text)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}; `{make}` writes it again") from None


def record(rows: Sequence[Judged], path: str | Path | None = None) -> Path | None:
    """Write the ledger's judged tests, with this machine, to ``path`` (default ``$BNREVIEW_RESULTS``).

    Returns the file written, or None: in the quick profile, or with neither ``path`` nor the
    variable. The file is replaced in one step (:func:`bnreview.cache.atomic_write`).
    """
    path = path or os.environ.get(RESULTS_ENV)
    if is_quick() or not path:
        return None
    seeds = max((side.n for j in rows if j.test.comparison for side in (j.test.comparison.a, j.test.comparison.b)),
                default=None)
    results = Results(Machine.here(), "full", tuple(Result.from_judged(j) for j in rows), seeds)
    with atomic_write(Path(path), "w") as f:
        f.write(results.to_json())
    return Path(path)


@dataclass(frozen=True)
class Row:
    """One test in a comparison: what is on file and what the rebuild gave (None where a side lacks it)."""

    name: str
    committed: Result | None
    rebuilt: Result | None

    @property
    def same_verdict(self) -> bool | None:
        """The rebuild gave the committed verdict (None when a side lacks the test)."""
        if self.committed is None or self.rebuilt is None:
            return None
        return self.committed.verdict == self.rebuilt.verdict

    @property
    def within(self) -> bool | None:
        """The rebuilt estimate lies in the committed interval (None unless both sides have an interval)."""
        c, r = self.committed, self.rebuilt
        if c is None or r is None or c.low is None or r.low is None:
            return None
        return c.low <= r.estimate <= c.high

    @property
    def status(self) -> str:
        """One of :data:`STATUSES`."""
        if self.committed is None:
            return "new in rebuild"
        if self.rebuilt is None:
            return "missing in rebuild"
        if not self.same_verdict:
            return "verdict changed"
        return "number moved" if self.within is False else "reproduced"

    @property
    def fails(self) -> bool:
        """A committed test the rebuild did not reproduce (a new one never fails)."""
        return self.status not in ("reproduced", "new in rebuild")

    def cells(self) -> tuple[str, ...]:
        """The report's columns: claim, committed, rebuilt, same verdict, within interval, status."""
        def yes_no(flag):
            return "-" if flag is None else "yes" if flag else "no"

        return (self.name, self.committed.text() if self.committed else "-",
                self.rebuilt.text(interval=False) if self.rebuilt else "-",
                yes_no(self.same_verdict), yes_no(self.within), self.status)


HEADER = ("claim", "committed", "rebuilt", "same verdict", "within interval", "status")


@dataclass(frozen=True)
class Report:
    """The committed results against a rebuild's, one :class:`Row` per test of either."""

    committed: Results
    rebuilt: Results
    rows: tuple[Row, ...]

    @property
    def failures(self) -> tuple[Row, ...]:
        """The committed tests that did not reproduce (a verdict changed, a number moved, missing)."""
        return tuple(r for r in self.rows if r.fails)

    @property
    def ok(self) -> bool:
        """Every committed test reproduced."""
        return not self.failures

    def reproduced(self) -> str:
        """``"2 of the 5 tests on file reproduced (these did not: a (verdict changed); b (missing in rebuild))"``."""
        tested = sum(r.committed is not None for r in self.rows)
        failed = "; ".join(f"{r.name} ({r.status})" for r in self.failures)
        return (f"{tested - len(self.failures)} of the {tested} tests on file reproduced"
                + (f" (these did not: {failed})" if failed else ""))

    def table(self) -> str:
        """The rows as a plain-text table, columns aligned."""
        lines = [HEADER, *(r.cells() for r in self.rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)

    def markdown(self) -> str:
        """The machines in a sentence, then the rows as a Markdown table, for the book."""
        rows = [f"Committed: {self.committed.machine.text()}. Rebuilt: {self.rebuilt.machine.text()}.", "",
                "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
        rows += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in self.rows]
        return "\n".join(rows)


def compare(committed: Results, rebuilt: Results) -> Report:
    """Each test of either side, in the committed order and then the rebuild's new ones, as a :class:`Row`."""
    old = {r.name: r for r in committed.results}
    new = {r.name: r for r in rebuilt.results}
    names = list(old) + [n for n in new if n not in old]
    return Report(committed, rebuilt, tuple(Row(n, old.get(n), new.get(n)) for n in names))


def build_sentence(committed: Path, rebuilt: str | Path | None) -> str:
    """What a built book says of itself (its intro): the machine that built it and how many committed tests its
    runs reproduced, or why there is nothing to say (the quick profile, no results on file)."""
    if is_quick():
        return ("This copy was built in the quick profile: its numbers come from tiny runs and are not checked "
                "against the results on file. `make book` builds the full book; `make verify` then checks it.")
    try:
        on_file = Results.read(Path(committed), "make notebooks")
    except (OSError, ValueError):
        return "No results are on file to check this copy against (`make notebooks` writes them)."
    try:
        built = Results.read(Path(rebuilt), "make book") if rebuilt else None
    except (OSError, ValueError):
        built = None
    if built is None:
        return f"The results on file were computed on {on_file.machine.text()}; `make verify` checks a rebuild."
    return (f"This copy was built on {built.machine.text()}. The results on file were computed on "
            f"{on_file.machine.text()}; {compare(on_file, built).reproduced()}. `make verify` prints the table.")



def kinds_sentence(committed: Path, folder: Path) -> str:
    """What a built book says of the builds kept from other CPU kinds (``reproductions/``, full builds' results
    files): for each, how many of the tests on file it reproduced and which did not. Empty when none is kept, or
    nothing is on file to compare with."""
    try:
        on_file = Results.read(Path(committed), "make notebooks")
    except (OSError, ValueError):
        return ""
    parts = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            other = Results.read(path, "a full build on another machine")
        except (OSError, ValueError):
            continue
        if other.seeds != on_file.seeds:
            parts.append(f"on {other.machine.text()}, at {other.seeds or 'an unrecorded number of'} seeds a side "
                         f"against {on_file.seeds or 'an unrecorded number'} on file: another experiment, not compared")
        else:
            parts.append(f"on {other.machine.text()}, {compare(on_file, other).reproduced()}")
    if not parts:
        return ""
    return ("The same runs built on other machines, kept in `reproductions/`: " + ". And ".join(parts) + ". A verdict "
            "near its line can move with the CPU's rounding; the README compares the builds.")
