"""The committed chapters' prose as a reader sees it: every number stored, verdicts agreeing with the results on file,
and a few golden sentences.

The chapters are executed notebooks (``make notebooks``): each markdown cell stores what its ``{eval}`` roles gave
(``book/execute.py``), and the conclusion writes the ledger's verdicts to ``results.json``. These tests read both
without running anything. A re-execution that changes a number changes a golden sentence here: the diff shows what
a reader will read differently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from bnreview import findings as fd

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
RESULTS = json.loads((ROOT / "results.json").read_text(encoding="utf-8"))["results"]
EVAL = re.compile(r"\{eval\}`([^`]+)`")


def rendered(path: Path) -> str:
    """The chapter's markdown with every ``{eval}`` role replaced by the text it stored, whitespace collapsed."""
    paragraphs = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        stored = {e["expression"]: e["result"].get("data", {}).get("text/plain")
                  for e in cell.metadata.get("user_expressions", [])}
        paragraphs.append(EVAL.sub(lambda m: str(stored.get(m.group(1))), cell.source))
    return " ".join(" ".join(paragraphs).split())


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_a_chapter_states_was_stored_when_it_ran(path):
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown" and EVAL.search(cell.source):
            stored = {e["expression"]: e["result"] for e in cell.metadata.get("user_expressions", [])}
            for expression in EVAL.findall(cell.source):
                assert expression in stored, f"{path.name}, cell {index}: {expression} has no stored value"
                assert stored[expression].get("status") == "ok", f"{path.name}, cell {index}: {expression} failed"


def by_test() -> dict[str, dict]:
    """The results on file by test name, and by protocol id for an entry measured once."""
    found = {r["name"]: r for r in RESULTS}
    once = {r["entry"] for r in RESULTS if sum(s["entry"] == r["entry"] for s in RESULTS) == 1}
    return found | {r["entry"]: r for r in RESULTS if r["entry"] in once}


def declared(path: Path) -> list[tuple[str, dict[str, str]]]:
    """Every ``fd.written_for(claims, {...}, paragraph)`` of a chapter: (paragraph, {test: verdict}), read by running
    only those calls, with a stand-in that records them."""
    calls = []

    class Recorder:
        def __getattr__(self, name):
            return getattr(fd, name)

        @staticmethod
        def written_for(claims, verdicts, paragraph):
            calls.append((paragraph, dict(verdicts)))

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "fd.written_for(" in cell.source:
            lines = [line for line in cell.source.splitlines() if not line.startswith(("assert ", "from ", "import "))]
            exec("\n".join(lines), {"fd": Recorder(), "f": type("F", (), {"claims": ()})(), "is_quick": lambda: False})
    return calls


def test_the_conclusions_paragraphs_were_written_for_the_verdicts_on_file():
    results, calls = by_test(), declared(ROOT / "chapters" / "conclusion.ipynb")
    assert len(calls) >= 4
    for paragraph, verdicts in calls:
        for name, verdict in verdicts.items():
            accepted = (verdict,) if isinstance(verdict, str) else verdict
            assert results[name]["verdict"] in accepted, (f"the conclusion's {paragraph!r} was written for {name} "
                                                          f"{verdict}; results.json says {results[name]['verdict']}")


def test_the_answers_table_gives_each_question_the_verdict_and_estimate_on_file():
    cells = nbformat.read(ROOT / "chapters" / "conclusion.ipynb", as_version=4).cells
    (table,) = [o["data"]["text/markdown"] for c in cells if c.cell_type == "code" and c.source == "page.cn_answers"
                for o in c.outputs if "text/markdown" in o.get("data", {})]
    rows = table.splitlines()[2:]
    results = by_test()
    assert len(rows) == len(fd.QUESTIONS)
    for question, row in zip(fd.QUESTIONS, rows):
        found = results[question.entry]
        assert row.startswith(f"| {question.question} |") and f"**{found['verdict']}**" in row, row
        if found["unit"] == "points":
            assert f"{found['estimate']:+.2f} points" in row, row


# A few sentences as a reader reads them, numbers included. Re-executing the chapters with other runs changes them:
# update them from the failure's message, and read what changed.
GOLDEN = {
    "baseline": "Over 10 seeds, the final test accuracy is 98.61% on average, from 98.08% to 98.82%.",
    "lenet_bn": "BN's advantage, paired over the seeds with its 95% interval: in final test accuracy +0.35 points "
                "(95% CI +0.08 to +0.63); after one epoch +0.75 points (95% CI +0.19 to +1.30); in final test loss "
                "-0.0168 nats (95% CI -0.0261 to -0.0076).",
    "fashion": "With BN, LeNet ends at 89.90% on Fashion-MNIST; without it, at 86.13%.",
    "regularisation": "Validation chose no weight decay at all, for either network: weight decay 0 without BN and 0 "
                      "with it.",
    "depth": "Its slope, averaged over the seeds, is +34.19 points per doubling (95% CI +33.93 to +34.45; paired t, "
             "10 seeds).",
    "conclusion": "At lr 0.9 after ten epochs, LeNet ends at 98.96% with BN and 98.61% without.",
}


@pytest.mark.parametrize("chapter", GOLDEN)
def test_golden_sentences_read_as_written(chapter):
    text = rendered(ROOT / "chapters" / f"{chapter}.ipynb")
    sentence = GOLDEN[chapter]
    if sentence not in text:
        start = text.find(sentence.split(" ")[0] + " " + sentence.split(" ")[1])
        pytest.fail(f"{chapter}: expected {sentence!r}; the chapter reads {text[start:start + len(sentence) + 40]!r}")
