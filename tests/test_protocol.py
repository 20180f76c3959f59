"""The protocol: well-formed entries, one per ledger row and a row for each, and the seed count's reason."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from bnreview import protocol
from bnreview.findings import DEPTH_FAMILIES
from bnreview.protocol import CHANGES, ENTRIES, SEEDS, UNTESTED, entry

FINDINGS = Path(protocol.__file__).parent / "findings"


def ledger_topics() -> set[str]:
    """Every Claim topic the findings modules write (their first argument, or topic=...), read from the source."""
    topics = set()
    for path in FINDINGS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Claim":
                args = [kw.value for kw in node.keywords if kw.arg == "topic"] or node.args[:1]
                if args and isinstance(args[0], ast.Constant):
                    topics.add(args[0].value)
    return topics | {family.topic for family in DEPTH_FAMILIES.values()}  # the depth chapter's, one per family


def test_every_ledger_row_has_an_entry_and_every_entry_a_row():
    topics = ledger_topics()
    assert len(topics) >= 15
    assert topics <= {e.topic for e in ENTRIES}, topics - {e.topic for e in ENTRIES}
    assert {e.topic for e in ENTRIES} <= topics, {e.topic for e in ENTRIES} - topics


def entries_tested() -> set[str]:
    """Every protocol id a findings module builds a Test of (its first argument), read from the source."""
    ids = set()
    for path in FINDINGS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Test" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                ids.add(node.args[0].value)
    return ids | {i for f in DEPTH_FAMILIES.values() for i in (f.accuracy, f.trend, f.steps)}


def test_every_entry_is_measured_or_said_not_to_be_by_some_chapter():
    assert entries_tested() == {e.id for e in ENTRIES}


def test_the_appendix_tables_hold_every_entry_untested_claim_and_change():
    entries, untested, changes = protocol.entries_markdown(), protocol.untested_markdown(), protocol.changes_markdown()
    assert entries.count("\n") == 1 + len(ENTRIES) and all(f"`{e.id}`" in entries for e in ENTRIES)
    assert "| `dropout-can-go` | with BN, removing dropout costs no test accuracy |" in entries
    assert "0.5 points | non-inferiority |" in entries and "10 seeds a side" in entries
    assert untested.count("\n") == 1 + len(UNTESTED) and changes.count("\n") == 1 + len(CHANGES)


def test_ids_are_unique_and_entries_well_formed():
    ids = [e.id for e in ENTRIES] + [u.id for u in UNTESTED]
    assert len(ids) == len(set(ids))
    assert all(e.seeds >= SEEDS or e.id == "training-time" for e in ENTRIES)
    assert all(e.chapter for e in ENTRIES) and all(u.why.endswith(".") for u in UNTESTED)
    assert {c.entry for c in CHANGES} <= {e.id for e in ENTRIES} | {"all"}
    with pytest.raises(ValueError, match="no protocol entry 'x'; there are: baseline-accuracy"):
        entry("x")
    with pytest.raises(ValueError, match="malformed"):
        protocol.Entry("bad", "t", "c", "m", "a", "b", True, 0, 0.3, "points")


def test_ten_pairs_resolve_about_one_point_four_deviations_at_holms_strictest_level():
    level = 0.05 / len(ENTRIES)
    half_width = scipy_stats.t.ppf(1 - level / 2, SEEDS - 1) / math.sqrt(SEEDS)
    assert len(ENTRIES) == 32 and level == pytest.approx(0.00156, abs=1e-5)
    assert scipy_stats.t.ppf(1 - level / 2, SEEDS - 1) == pytest.approx(4.47, abs=0.05)
    assert half_width == pytest.approx(1.41, abs=0.05)
