"""The reproduction report: what record() writes, how compare() sorts each test, and what verify prints and exits."""

from __future__ import annotations

import pytest

from bnreview import findings as fd
from bnreview.cache import cpu_kind
from bnreview.cli import main
from bnreview.verify import RESULTS_ENV, Machine, Result, Results, compare, record

MACHINE = Machine("AMD EPYC 7B13", "AVX2", "2.14.1", "3.11.7", "2026-12-06T18:52+00:00")


def ledger_rows():
    """Three judged tests, as the conclusion hands them to record(): supported, contradicted, not tested."""
    seeds = (0, 1, 2, 3, 4)
    base = fd.spread([98.6, 98.7, 98.8, 98.65, 98.75], seeds)
    up = fd.compare(base, fd.spread([99.6, 99.7, 99.8, 99.62, 99.71], seeds))
    flat = fd.compare(base, fd.spread([98.7, 98.6, 98.8, 98.7, 98.65], seeds))
    return fd.judge([fd.Test("accuracy-review", up), fd.Test("harder-task", flat),
                     fd.Test("training-time", why_not="no benchmark yet")])


def result(name, verdict="supported", estimate=0.5, low=0.2, high=0.8):
    interval = (estimate, low, high, 0.99) if estimate is not None else (None,) * 4
    return Result(name, name.split(" ")[0], verdict, *interval, "points")


def results(*rows):
    return Results(MACHINE, "full", tuple(rows))


COMMITTED = results(result("accuracy-review"), result("before-nonlinearity (lr 0.3)"), result("first-epoch"),
                    result("regularises"), result("training-time", "not tested", None))
REBUILT = results(result("accuracy-review", estimate=0.7, low=0.3, high=1.1),  # inside [0.2, 0.8]: reproduced
                  result("before-nonlinearity (lr 0.3)", "inconclusive"),  # verdict changed
                  result("first-epoch", estimate=0.9, low=0.85, high=0.95),  # outside [0.2, 0.8]: number moved
                  result("training-time", "not tested", None),  # regularises is missing
                  result("harder-task", "contradicted"))  # new in the rebuild


def test_record_writes_the_ledger_and_from_json_reads_it_back_equal(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    rows = ledger_rows()
    path = record(rows, tmp_path / "results.json")
    assert path == tmp_path / "results.json" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    back = Results.from_json(path.read_text())
    assert back.results == tuple(Result.from_judged(j) for j in rows) and back.profile == "full"
    assert [(r.name, r.verdict) for r in back.results] == [
        ("accuracy-review", "supported"), ("harder-task", "contradicted"), ("training-time", "not tested")]
    assert back.results[0].level == rows[0].effect.level and back.results[2].estimate is None
    assert back.machine.kind == cpu_kind() and back.machine.cpu
    assert Results.from_json(back.to_json()) == back and back.seeds == 5  # the most seeds a side of any test


def test_record_writes_where_the_variable_says_and_nothing_without_it(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert record(ledger_rows()) is None
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "_build" / "results.json"))
    assert record(ledger_rows()) == tmp_path / "_build" / "results.json"
    assert len(Results.from_json((tmp_path / "_build" / "results.json").read_text()).results) == 3


def test_record_writes_nothing_in_the_quick_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "env.json"))
    assert record(ledger_rows(), tmp_path / "given.json") is None and record(ledger_rows()) is None
    assert list(tmp_path.iterdir()) == []


def test_each_kind_of_difference_gets_its_status():
    report = compare(COMMITTED, REBUILT)
    rows = {r.name: r for r in report.rows}
    assert [r.name for r in report.rows] == [r.name for r in COMMITTED.results] + ["harder-task"]
    assert {name: r.status for name, r in rows.items()} == {
        "accuracy-review": "reproduced", "before-nonlinearity (lr 0.3)": "verdict changed",
        "first-epoch": "number moved", "regularises": "missing in rebuild", "training-time": "reproduced",
        "harder-task": "new in rebuild"}
    assert (rows["accuracy-review"].same_verdict, rows["accuracy-review"].within) == (True, True)
    assert (rows["first-epoch"].same_verdict, rows["first-epoch"].within) == (True, False)
    assert rows["training-time"].within is None and rows["regularises"].same_verdict is None
    assert not report.ok
    assert [r.name for r in report.failures] == ["before-nonlinearity (lr 0.3)", "first-epoch", "regularises"]


def test_identical_results_and_a_new_test_reproduce():
    assert compare(COMMITTED, COMMITTED).ok
    assert compare(COMMITTED, results(*COMMITTED.results, result("harder-task"))).ok  # a new test is no failure


def test_the_markdown_names_the_machines_and_has_a_row_per_test():
    lines = compare(COMMITTED, REBUILT).markdown().splitlines()
    assert lines[0] == f"Committed: {MACHINE.text()}. Rebuilt: {MACHINE.text()}."
    assert lines[2] == "| claim | committed | rebuilt | same verdict | within interval | status |"
    assert len(lines) == 4 + 6
    assert ("| first-epoch | supported, +0.500 points (99% CI +0.200 to +0.800) | supported, +0.900 points | yes | no "
            "| number moved |") in lines


def write(path, res):
    path.write_text(res.to_json())
    return str(path)


def test_verify_prints_the_machines_and_the_table_and_exits_1_naming_the_failures(tmp_path, capsys):
    committed, rebuilt = write(tmp_path / "c.json", COMMITTED), write(tmp_path / "r.json", REBUILT)
    assert main(["verify", "--committed", committed, "--rebuilt", rebuilt]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"committed  {committed}: full profile, {MACHINE.text()}"
    assert out[1].startswith(f"rebuilt    {rebuilt}: full profile, AMD EPYC 7B13 (AVX2), torch 2.14.1")
    assert out[3].split() == "claim committed rebuilt same verdict within interval status".split()
    assert any(line.startswith("regularises") and line.endswith("missing in rebuild") for line in out)
    assert out[-2] == "1 test new in the rebuild, not on file (`make notebooks` records them)"
    assert out[-1] == ("3 of 5 committed tests did not reproduce: before-nonlinearity (lr 0.3) (verdict changed); "
                       "first-epoch (number moved); regularises (missing in rebuild)")

def test_verify_says_when_the_two_builds_ran_different_numbers_of_seeds(tmp_path, capsys):
    committed = write(tmp_path / "c.json", Results(MACHINE, "full", COMMITTED.results, seeds=10))
    rebuilt = write(tmp_path / "r.json", Results(MACHINE, "full", COMMITTED.results, seeds=3))
    assert main(["verify", "--committed", committed, "--rebuilt", rebuilt]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"committed  {committed}: full profile, 10 seeds a side, {MACHINE.text()}"
    assert out[2] == ("the two ran different numbers of seeds (10 and 3 a side): another experiment, so verdicts and "
                      "intervals may differ")


def test_verify_exits_0_when_everything_reproduces(tmp_path, capsys):
    same = write(tmp_path / "c.json", COMMITTED)
    assert main(["verify", "--committed", same, "--rebuilt", same]) == 0
    out = capsys.readouterr().out
    assert out.count("reproduced") == 5 + 1 and out.splitlines()[-1] == "all 5 committed tests reproduced"


@pytest.mark.parametrize("which", ["committed", "rebuilt"])
def test_a_missing_or_garbled_file_exits_2_with_one_line_naming_it(tmp_path, capsys, which):
    good = write(tmp_path / "good.json", COMMITTED)
    make = {"committed": "make notebooks", "rebuilt": "make book"}[which]
    for bad, says in ((tmp_path / "none.json", "no results at"), (tmp_path / "bad.json", "not a results file")):
        if bad.name == "bad.json":
            bad.write_text('{"format": 1, "machine": {}}')
        paths = {"committed": good, "rebuilt": good, which: str(bad)}
        assert main(["verify", "--committed", paths["committed"], "--rebuilt", paths["rebuilt"]]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and not captured.out
        assert says in err and str(bad) in err and f"`{make}`" in err


def test_the_built_book_says_which_machine_built_it_and_what_reproduced(tmp_path, monkeypatch):
    from bnreview.verify import build_sentence

    monkeypatch.delenv("BNREVIEW_QUICK", raising=False)
    committed, rebuilt = tmp_path / "results.json", tmp_path / "_build" / "results.json"
    assert "No results are on file" in build_sentence(committed, rebuilt)
    committed.write_text(COMMITTED.to_json())
    assert build_sentence(committed, None) == (f"The results on file were computed on {MACHINE.text()}; `make verify` "
                                               "checks a rebuild.")
    rebuilt.parent.mkdir()
    rebuilt.write_text(REBUILT.to_json())
    text = build_sentence(committed, rebuilt)
    assert text == (f"This copy was built on {MACHINE.text()}. The results on file were computed on {MACHINE.text()}; "
                    "2 of the 5 tests on file reproduced (these did not: before-nonlinearity (lr 0.3) (verdict changed); "
                    "first-epoch (number moved); regularises (missing in rebuild)). `make verify` prints the table.")
    rebuilt.write_text(COMMITTED.to_json())
    assert "5 of the 5 tests on file reproduced. `make verify`" in build_sentence(committed, rebuilt)
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert build_sentence(committed, rebuilt).startswith("This copy was built in the quick profile")


def test_a_closed_pipe_ends_the_report_quietly(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "results.json"  # 3,000 rows: far more than a pipe holds, so the report outlives `head`
    path.write_text(results(*(result(f"first-epoch (setting {i})") for i in range(3000))).to_json())
    shell = f"{sys.executable} -m bnreview verify --committed {path} --rebuilt {path} | head -c 10 >/dev/null"
    done = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stderr == ""


def test_the_committed_reproductions_read_and_compare_with_the_results_on_file():
    """reproductions/*.json are full builds on other machines, kept so that anyone can re-read the cross-kind report
    (`python -m bnreview verify --committed results.json --rebuilt reproductions/...`): each one reads, names a
    machine, and compares with results.json test by test."""
    from pathlib import Path

    from bnreview.experiments import SEEDS

    root = Path(__file__).resolve().parents[1]
    on_file = Results.read(root / "results.json", "make notebooks")
    assert on_file.seeds == len(SEEDS)  # the committed results are the book's, at the seeds its chapters run
    files = sorted((root / "reproductions").glob("*.json"))
    assert files
    for path in files:
        rebuilt = Results.read(path, "make book")
        assert rebuilt.profile == "full" and rebuilt.machine.kind and rebuilt.seeds
        report = compare(on_file, rebuilt)
        assert {r.name for r in report.rows} >= {r.name for r in on_file.results}
        assert all(r.status for r in report.rows)


def test_the_built_book_says_how_the_builds_kept_from_other_machines_compare(tmp_path):
    from bnreview.verify import kinds_sentence

    committed, folder = tmp_path / "results.json", tmp_path / "reproductions"
    assert kinds_sentence(committed, folder) == ""  # nothing on file
    committed.write_text(COMMITTED.to_json())
    assert kinds_sentence(committed, folder) == ""  # nothing kept
    folder.mkdir()
    other = Results(Machine("Intel Xeon", "AVX512", "2.14.1", "3.11.7", "2026-12-07T10:35+00:00"), "full",
                    REBUILT.results)
    (folder / "intel.json").write_text(other.to_json())
    (folder / "notes.json").write_text("{}")  # not a results file: left out
    text = kinds_sentence(committed, folder)
    assert text.startswith(f"The same runs built on other machines, kept in `reproductions/`: on {other.machine.text()}, "
                           "2 of the 5 tests on file reproduced (these did not: before-nonlinearity (lr 0.3) "
                           "(verdict changed); first-epoch (number moved); regularises (missing in rebuild))."), text
    other_seeds = Results(other.machine, "full", REBUILT.results, seeds=3)  # another experiment than the file's
    (folder / "intel.json").write_text(other_seeds.to_json())
    assert kinds_sentence(committed, folder).startswith(
        f"The same runs built on other machines, kept in `reproductions/`: on {other.machine.text()}, at 3 seeds a side "
        "against an unrecorded number on file: another experiment, not compared."), kinds_sentence(committed, folder)
