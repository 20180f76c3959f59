"""book/timings.py: the build's table of chapters, their seconds and the runs each trained and read."""

import importlib.util
import json
import time
from pathlib import Path

spec = importlib.util.spec_from_file_location("timings", Path(__file__).parents[1] / "book" / "timings.py")
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)


def executed(build: Path, name: str, seconds: float) -> None:
    """A notebook's record as book/bnreview_book.py writes it when ``name`` has just run for ``seconds``."""
    path = build / "notebooks.json"
    records = json.loads(path.read_text()) if path.exists() else []
    records.append({"chapter": name, "finished": time.time(), "seconds": seconds, "succeeded": True})
    build.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))


def test_runs_are_counted_in_the_chapter_that_asked_for_them(tmp_path, monkeypatch):
    monkeypatch.setattr(timings, "owners", lambda: {"a": "motivation", "b": "motivation"})
    build = tmp_path / "_build"
    started = time.time()
    log = [{"hit": False, "started": started + 0.1, "seconds": 30.0, "run": "a", "worker": True},  # precompute
           {"hit": True, "started": time.time(), "seconds": 0.1, "run": "a"}]
    executed(build, "motivation", 0.5)
    time.sleep(2 * timings.SLACK)  # the next chapter's runs fall outside this one's window
    log += [{"hit": False, "started": time.time(), "seconds": 0.2, "run": "b"},
            {"hit": True, "started": time.time(), "seconds": 0.1, "run": "a"}]
    executed(build, "baseline", 0.5)
    (build / "runs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in log))
    result = timings.table(build, started)
    rows = {row["chapter"]: row for row in result["chapters"]}
    assert (rows["motivation"]["trained"], rows["motivation"]["read"]) == (0, 1)
    assert (rows["baseline"]["trained"], rows["baseline"]["read"]) == (1, 1)
    assert result["precompute"]["trained"] == 1 and result["precompute"]["training_seconds"] == 30.0
    # both trained runs are the motivation's own (the first chapter that reads them), whoever trained them
    assert (rows["motivation"]["own_runs"], rows["motivation"]["own_training_seconds"]) == (2, 30.2)
    assert rows["baseline"]["own_runs"] == 0
    text = timings.render(result)
    assert "(precompute)" in text and "all chapters" in text and result["cpu"] in text


def test_a_notebook_from_an_earlier_build_is_marked_cached(tmp_path):
    build = tmp_path / "_build"
    executed(build, "intro", 3.0)
    (row,) = timings.table(build, time.time() + 60)["chapters"]
    assert not row["executed"] and row["seconds"] == 0.0


def test_bad_arguments_are_one_line(capsys):
    assert timings.main(["only-one"]) == 2
    assert timings.main(["_build", "yesterday"]) == 2
    assert "STARTED='yesterday' is invalid" in capsys.readouterr().err
