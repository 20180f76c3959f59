"""Chapter conclusion: the review's questions answered from the ledger, and the ledger itself.

The conclusion reads nothing but the chapters' claims (:mod:`bnreview.book` collects them). Each of the review's
questions is answered by one test of the ledger, looked up by its protocol id: the verdict after correction
across the whole ledger, the effect with its interval, the setting in a few words and the chapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bnreview import protocol
from bnreview.findings.ledger import (Claim, Judged, evidence_markdown, ledger_markdown, ledger_rows,
                                      verdict_counts)

REVIEW_CONCLUSION = ("\"Batch Normalization can allow for larger learning rates, decrease training time, decrease the "
                     "amount of regularization needed and remove the necessity of drop-out layer. The above "
                     "mentionned advantages were not noticed when using the LeNet model [...]\"")


@dataclass(frozen=True)
class Question:
    """One of the review's questions: what the review answered, and the ledger's test (a protocol id) that answers it."""

    question: str
    review: str  # the review's answer, in its words where it gave one
    entry: str  # the protocol entry whose test answers it
    setting: str  # the runs, in a few words


QUESTIONS = (
    Question("Does BN end more accurate at the review's settings?", "no: \"98%\" for both", "accuracy-review",
             "LeNet, lr 0.9, 10 epochs"),
    Question("Does BN allow larger learning rates?", "\"not noticed\"", "larger-learning-rates",
             "LeNet, one epoch at the largest rate usable with BN"),
    Question("Does BN train in fewer steps?", "\"not noticed\"", "fewer-steps",
             "LeNet, steps to 97%, each at its chosen rate"),
    Question("Does BN decrease training time?", "\"not noticed\"", "training-time", "LeNet, seconds to 97%"),
    Question("Does BN regularise?", "\"not noticed\"", "regularises", "LeNet, 2,000 training images"),
    Question("With BN, can dropout go?", "\"not noticed\"", "dropout-can-go", "LeNet, 2,000 training images"),
    Question("Does BN decrease the regularisation needed?", "\"not noticed\"", "less-l2",
             "LeNet, 2,000 training images, weight decay chosen on validation"),
    Question("Does BN beat a network without it at its own best rate?", "not asked", "tuned-accuracy",
             "LeNet, each at its rate chosen on validation"),
    Question("Is the review's own BN as good as PyTorch's?", "\"no significant difference\"", "implementation",
             "LeNet, lr 0.9, 10 epochs"),
    Question("Does BN's advantage show on harder data?", "not asked", "harder-task",
             "LeNet on Fashion-MNIST"),
    Question("On harder data, does BN beat a network at its own best rate?", "not asked", "tuned-harder-task",
             "LeNet on Fashion-MNIST, each at its rate chosen on validation"),
    Question("Does BN's advantage grow with depth?", "\"probably\": LeNet is too shallow", "depth-trend",
             "sigmoid MLPs, 2 to 16 layers"),
    Question("Does it grow with the depth of a convolutional network?", "\"probably\": LeNet is too shallow",
             "conv-depth-trend", "tanh convolutional networks, 2 to 16 layers"),
)


def check_protocol(claims: Sequence[Claim]) -> None:
    """Every protocol entry is tested (or said not to be) by some claim of the ledger: a ValueError naming what is
    missing."""
    tested = {t.entry for c in claims for t in c.tests}
    missing = [e.id for e in protocol.ENTRIES if e.id not in tested]
    if missing:
        raise ValueError(f"protocol entries no claim of the ledger tests: {', '.join(missing)}")


def claims_of(found) -> list[Claim]:
    """A chapter's ledger rows: its typed findings' ``claims``, or the ``"claims"`` of a findings dict."""
    return found["claims"] if isinstance(found, dict) else found.claims


@dataclass(frozen=True)
class ConclusionFindings:
    """Every test of the ledger judged together (Holm), and the views of them the conclusion shows."""

    claims: tuple[Claim, ...]
    judged: tuple[Judged, ...]

    def test(self, entry: str) -> Judged:
        """The judged test of a protocol entry measured once (a ValueError for an entry measured at several settings
        or at none)."""
        found = [j for j in self.judged if j.test.entry == entry]
        if len(found) != 1:
            raise ValueError(f"protocol entry {entry!r} has {len(found)} tests in the ledger; a question needs one")
        return found[0]

    def answer(self, q: Question) -> str:
        """``"**inconclusive**: +0.20 points (99.4% CI -2.35 to +2.74); LeNet, lr 0.9"``: at most 30 words."""
        j = self.test(q.entry)
        return f"**{j.verdict}**: {j.effect_text()}; {q.setting}"

    def answers_table(self) -> str:
        """The review's questions, one row each: question | the review | our runs (with the chapter's link)."""
        chapters = {t.name: c.chapter for c in self.claims for t in c.tests}
        rows = ["| question | the review | our runs |", "|---|---|---|"]
        for q in QUESTIONS:
            chapter = chapters[self.test(q.entry).test.name]
            rows.append(f"| {q.question} | {q.review} | {self.answer(q)} ({{doc}}`{chapter}`) |")
        return "\n".join(rows)

    @property
    def ledger(self) -> str:
        """The compact ledger: claim | verdict | effect (interval) | chapter."""
        return ledger_markdown(self.claims)

    @property
    def evidence(self) -> str:
        """Per claim, the paper's and the review's words and the runs' evidence, each in a collapsed dropdown."""
        return evidence_markdown(self.claims)

    @property
    def verdict_counts(self) -> str:
        """``"7 supported, 33 inconclusive"``."""
        return verdict_counts(self.claims)

    @property
    def seeds(self) -> int:
        """Runs a side of the ledger's comparisons (the most any test has)."""
        return max((j.effect.n for j in self.judged if j.effect is not None), default=0)

    def count(self, verdict: str) -> int:
        """How many of the ledger's tests got ``verdict`` after correction."""
        return sum(j.verdict == verdict for j in self.judged)


def conclusion_findings(claims: Sequence[Claim]) -> ConclusionFindings:
    """The ledger of every chapter's ``claims`` (in the book's order), judged together; a ValueError when a protocol
    entry is left untested or a question's entry is measured at several settings."""
    check_protocol(claims)
    found = ConclusionFindings(tuple(claims), tuple(ledger_rows(claims)))
    for q in QUESTIONS:
        found.test(q.entry)
    return found
