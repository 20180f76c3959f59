"""book/timings.py: the build's table of chapters, their seconds and the runs each trained and read."""

import importlib.util
import json
import time
from pathlib import Path

import nbformat
import pytest

jupyter_cache = pytest.importorskip("jupyter_cache")
from jupyter_cache.base import CacheBundleIn  # noqa: E402

spec = importlib.util.spec_from_file_location("timings", Path(__file__).parents[1] / "book" / "timings.py")
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)


def executed(cache, name: str, seconds: float, code: str) -> None:
    """A notebook record as myst-nb stores it right after executing ``name`` for ``seconds``."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cache.cache_notebook_bundle(CacheBundleIn(notebook, f"/book/chapters/{name}.ipynb",
                                              data={"execution_seconds": seconds}), check_validity=False)


def test_runs_are_counted_in_the_chapter_that_asked_for_them(tmp_path, monkeypatch):
    monkeypatch.setattr(timings, "owners", lambda: {"a": "motivation", "b": "motivation"})
    build = tmp_path / "_build"
    cache = jupyter_cache.get_cache(str(build / ".jupyter_cache"))
    started = time.time()
    log = [{"hit": False, "started": started + 0.1, "seconds": 30.0, "run": "a", "worker": True},  # precompute
           {"hit": True, "started": time.time(), "seconds": 0.1, "run": "a"}]
    executed(cache, "motivation", 0.5, "1")
    time.sleep(2 * timings.SLACK)  # the next chapter's runs fall outside this one's window
    log += [{"hit": False, "started": time.time(), "seconds": 0.2, "run": "b"},
            {"hit": True, "started": time.time(), "seconds": 0.1, "run": "a"}]
    executed(cache, "baseline", 0.5, "2")
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
    executed(jupyter_cache.get_cache(str(build / ".jupyter_cache")), "intro", 3.0, "1")
    (row,) = timings.table(build, time.time() + 60)["chapters"]
    assert not row["executed"] and row["seconds"] == 0.0


def test_bad_arguments_are_one_line(capsys):
    assert timings.main(["only-one"]) == 2
    assert timings.main(["_build", "yesterday"]) == 2
    assert "STARTED='yesterday' is invalid" in capsys.readouterr().err
