"""The claims ledger: a row per claim, with its verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

VERDICTS = ("supported", "not supported", "mixed", "not tested")


# ---------------------------------------------------------------------------------------
# The claims ledger


@dataclass(frozen=True)
class Claim:
    """One row of the ledger: what the paper says, what the review said, what our runs show, and the verdict."""

    topic: str
    paper: str
    review: str
    evidence: str
    verdict: str
    chapter: str = ""  # the chapter (document name) holding the runs, for a {doc} link

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is invalid; accepted: {', '.join(map(repr, VERDICTS))}")


def verdict(supported: bool | None, mixed: bool = False) -> str:
    """``"supported"``/``"not supported"`` from a condition, ``"mixed"`` if asked, ``"not tested"`` for None."""
    if supported is None:
        return "not tested"
    if mixed:
        return "mixed"
    return "supported" if supported else "not supported"


def ledger_markdown(claims: Sequence[Claim]) -> str:
    """The ledger as a Markdown table (a MyST page renders the {doc} links)."""
    rows = ["| claim | the paper | the review | our evidence | verdict |", "|---|---|---|---|---|"]
    for c in claims:
        evidence = c.evidence + (f" ({{doc}}`{c.chapter}`)" if c.chapter else "")
        cells = (c.topic, c.paper, c.review, evidence, f"**{c.verdict}**")
        rows.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(rows)


def verdict_counts(claims: Sequence[Claim]) -> str:
    """``"5 supported, 2 mixed"``: how many claims got each verdict (verdicts no claim got are left out)."""
    counts = {name: sum(c.verdict == name for c in claims) for name in VERDICTS}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)
