"""The claims ledger: each claim's tests under the protocol, their verdicts after Holm's correction.

A chapter's findings return :class:`Claim` rows (what the paper and the review say, the chapter's
evidence) holding :class:`Test` s: one protocol entry (:mod:`bnreview.protocol`) measured on the
chapter's runs, as a :class:`~bnreview.findings.core.Comparison` of the entry's two sides in the
entry's unit. A test whose runs do not yet measure what its entry specifies holds none and says why.

:func:`judge` draws every test's interval at its Holm level across the whole ledger and applies
the entry's rule (:func:`bnreview.stats.verdict`): **supported**, **contradicted**,
**inconclusive**, or **not tested**. A chapter shows its tests judged alone (uncorrected); the
conclusion's ledger judges them together.
"""

from __future__ import annotations

import math

from collections.abc import Sequence
from dataclasses import dataclass, field

from bnreview import protocol, stats
from bnreview.config import is_quick
from bnreview.findings.core import Comparison
from bnreview.stats import VERDICTS, Effect


@dataclass(frozen=True)
class Test:
    """One protocol entry measured on a chapter's runs: the comparison ``b - a``, or why there is none."""

    entry: str  # a protocol.Entry id
    comparison: Comparison | None = None
    label: str = ""  # which of the entry's settings, when an entry is measured at several (e.g. "lr 0.9")
    why_not: str = ""  # why the runs do not measure the entry (comparison None)

    def __post_init__(self):
        protocol.entry(self.entry)  # a ValueError naming the ids there are
        if self.comparison is None and not self.why_not:
            raise ValueError(f"test of {self.entry!r} has no comparison and no reason why not")

    @property
    def protocol_entry(self) -> protocol.Entry:
        """The protocol's entry this test measures."""
        return protocol.entry(self.entry)

    @property
    def name(self) -> str:
        """``"first-epoch"``, or ``"before-nonlinearity (lr 0.9)"`` for one of several settings."""
        return f"{self.entry} ({self.label})" if self.label else self.entry

    def samples(self) -> tuple[tuple[float, ...], tuple[float, ...], bool] | None:
        """``(a, b, paired)`` for :func:`bnreview.stats.family`, or None when this test gives no interval."""
        c = self.comparison
        return None if c is None or c.effect is None else (c.a.values, c.b.values, c.paired)


@dataclass(frozen=True)
class Judged:
    """A test's effect (interval at its Holm level across the ledger, or alone) and its verdict."""

    test: Test
    effect: Effect | None
    verdict: str

    def effect_text(self, digits: int = 2) -> str:
        """``"+0.23 points (99.7% CI +0.05 to +0.41)"``; an effect on a log scale as a ratio, ``"x0.54 steps (99.7%
        CI x0.002 to x183)"``; or why there is no interval."""
        if self.effect is None:
            return self.test.why_not or f"no interval: {self.test.comparison.why_no_interval}"
        e, unit = self.effect, self.test.protocol_entry.unit
        level = f"{100 * e.level:.3g}% CI"
        if unit.startswith("log") and not unit.startswith("log2"):
            what = unit.removeprefix("log").split(" (")[0].strip()
            what = f" {what}" if what and what != "ratio" else ""
            return f"{_times(e.estimate)}{what} ({level} {_times(e.low)} to {_times(e.high)})"
        return f"{e.estimate:+.{digits}f} {unit} ({level} {e.low:+.{digits}f} to {e.high:+.{digits}f})"


def _times(log_ratio: float) -> str:
    """A log ratio as a factor: ``"x0.54"``, ``"x180"``, ``"x0.002"``."""
    x = math.exp(log_ratio)
    return f"x{x:.0f}" if x >= 10 else f"x{x:.2g}" if x >= 0.01 else f"x{x:.1g}"


def judge(tests: Sequence[Test]) -> list[Judged]:
    """Every test's verdict by its entry's rule, the intervals corrected together (Holm) over the tests given."""
    measured = [t for t in tests if t.samples() is not None]
    effects = dict(zip((t.name for t in measured), stats.family([t.samples() for t in measured]))) if measured else {}
    out = []
    for t in tests:
        e = t.protocol_entry
        if t.comparison is None:
            out.append(Judged(t, None, "not tested"))
        elif t.name not in effects:
            out.append(Judged(t, None, "inconclusive"))  # runs exist, too few for an interval
        else:
            effect = effects[t.name]
            out.append(Judged(t, effect, stats.verdict(effect, e.direction, e.smallest, e.kind)))
    return out


def summary(verdicts: Sequence[str]) -> str:
    """One verdict for several tests of one claim: the one they share, else inconclusive; not tested if none was."""
    tested = [v for v in verdicts if v != "not tested"]
    if not tested:
        return "not tested"
    return tested[0] if len(set(tested)) == 1 else "inconclusive"


@dataclass(frozen=True)
class Claim:
    """One row of the ledger: what the paper says, what the review said, our evidence, and the tests under the protocol."""

    topic: str
    paper: str
    review: str
    evidence: str
    tests: tuple[Test, ...] = field(default_factory=tuple)
    chapter: str = ""  # the chapter (document name) holding the runs, for a {doc} link

    @property
    def judged(self) -> list[Judged]:
        """This claim's tests judged alone (Holm over its own tests only)."""
        return judge(self.tests)

    @property
    def verdict(self) -> str:
        """This claim's verdict, its tests judged alone (:func:`summary`); the ledger's corrects across claims."""
        return summary([j.verdict for j in self.judged])


def ledger_rows(claims: Sequence[Claim]) -> list[Judged]:
    """Every test of every claim, judged together (Holm across the ledger), in the claims' order."""
    return judge([t for c in claims for t in c.tests])


def ledger_markdown(claims: Sequence[Claim]) -> str:
    """The compact ledger: claim | verdict | effect (interval) | chapter, one row per test, corrected together."""
    chapters = {t.name: c.chapter for c in claims for t in c.tests}
    rows = ["| claim | verdict | effect, corrected interval | chapter |", "|---|---|---|---|"]
    for j in ledger_rows(claims):
        e = j.test.protocol_entry
        claim = e.claim + (f" ({j.test.label})" if j.test.label else "")
        chapter = f"{{doc}}`{chapters[j.test.name]}`" if chapters[j.test.name] else ""
        cells = (claim, f"**{j.verdict}**", j.effect_text(), chapter)
        rows.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(rows)


def evidence_markdown(claims: Sequence[Claim]) -> str:
    """Per claim, the paper's and the review's words and the chapter's evidence, each in a collapsed dropdown."""
    blocks = []
    for c in claims:
        link = f" ({{doc}}`{c.chapter}`)" if c.chapter else ""
        blocks.append(f":::{{dropdown}} {c.topic}\n**The paper:** {c.paper}\n\n**The review:** {c.review}\n\n"
                      f"**Our runs:** {c.evidence}{link}\n:::")
    return "\n\n".join(blocks)


def verdict_counts(claims: Sequence[Claim]) -> str:
    """``"5 supported, 2 inconclusive"``: how many tests of the ledger got each verdict (after correction)."""
    rows = ledger_rows(claims)
    counts = {name: sum(j.verdict == name for j in rows) for name in VERDICTS}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)


def judged_by_name(claims: Sequence[Claim]) -> dict[str, Judged]:
    """Each test, judged together over ``claims``: by test name, and by protocol id for an entry measured once."""
    rows = ledger_rows(claims)
    once = [e for e in {j.test.entry for j in rows} if sum(j.test.entry == e for j in rows) == 1]
    return {j.test.name: j for j in rows} | {j.test.entry: j for j in rows if j.test.entry in once}


def judged_of(claims: Sequence[Claim], name: str) -> Judged:
    """One test (name, or protocol id of an entry measured once), judged together over ``claims``: for a paragraph
    that glues in its verdict or its corrected effect (declared with :func:`written_for`)."""
    judged = judged_by_name(claims)
    if name not in judged:
        raise ValueError(f"no test {name!r} among these claims; they hold: {', '.join(judged)}")
    return judged[name]


def verdict_of(claims: Sequence[Claim], name: str) -> str:
    """The verdict of one test (:func:`judged_of`): for a paragraph that glues it in (declared with every verdict it
    reads true for, :func:`written_for`)."""
    return judged_of(claims, name).verdict


def written_for(claims: Sequence[Claim], verdicts: dict[str, str | tuple[str, ...]], paragraph: str) -> None:
    """Declare the verdicts a hand-written paragraph was written for: test name (or the protocol id of an entry
    measured once) -> verdict, the tests judged together over ``claims``. A tuple of verdicts declares a paragraph
    worded to read true under each (it glues the verdict in, rather than asserting one): a verdict that moves
    between CPU kinds at few seeds. A full build whose runs give another verdict fails here, naming the paragraph,
    so stale prose cannot ship. The quick profile checks nothing: its tiny runs decide no verdict (its banner says
    so)."""
    if is_quick():
        return
    judged = {name: j.verdict for name, j in judged_by_name(claims).items()}
    accepted = {name: (expected,) if isinstance(expected, str) else tuple(expected) for name, expected in verdicts.items()}
    for name, expected in accepted.items():
        if not expected:
            raise ValueError(f"no verdict given for {name!r}; accepted: {', '.join(VERDICTS)}")
        for verdict in expected:
            if verdict not in VERDICTS:
                raise ValueError(f"verdict {verdict!r} for {name!r} is not one; accepted: {', '.join(VERDICTS)}")
        if name not in judged:
            raise ValueError(f"the paragraph {paragraph!r} names test {name!r}; the claims hold: {', '.join(judged)}")
    stale = [f"{name} {' or '.join(expected)}; the runs say {judged[name]}" for name, expected in accepted.items()
             if judged[name] not in expected]  # every one at once, so one rebuild shows all a rewrite must cover
    if stale:
        raise ValueError(f"the paragraph {paragraph!r} was written for {'; and for '.join(stale)}: rewrite it for "
                         f"what they show")
