"""book/execute.py: chapters executed in place keep the values of their markdown cells' {eval} roles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

spec = importlib.util.spec_from_file_location("execute", Path(__file__).parents[1] / "book" / "execute.py")
execute = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute)


def notebook(tmp_path, *cells) -> Path:
    path = tmp_path / "chapter.ipynb"
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_markdown_cells_keep_what_their_roles_evaluate_to(tmp_path):
    path = notebook(tmp_path,
                    nbformat.v4.new_code_cell('from bnreview.page import Page\npage = Page({"acc": 98.765, "name": "LeNet\'s"},'
                                              ' formats={"acc": ".2f"})\nprint("ran")'),
                    nbformat.v4.new_markdown_cell("{eval}`page.name` accuracy: {eval}`page.acc`%, again {eval}`page.acc`."),
                    nbformat.v4.new_markdown_cell("No numbers here."))
    assert execute.main([str(path)]) == 0
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0]["text"] == "ran\n"
    stored = cells[1].metadata["user_expressions"]
    assert [s["expression"] for s in stored] == ["page.name", "page.acc"]
    assert [s["result"]["data"]["text/plain"] for s in stored] == ["LeNet's", "98.77"]
    assert "user_expressions" not in cells[2].metadata


def test_a_role_that_cannot_be_evaluated_fails_the_execution(tmp_path):
    path = notebook(tmp_path, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("{eval}`page.acc`"))
    with pytest.raises(RuntimeError, match="cell 1: page.acc could not be evaluated"):
        execute.main([str(path)])


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert execute.main([]) == 2
    assert execute.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "not a notebook file" in capsys.readouterr().err


def test_check_lists_every_failing_cell_and_writes_nothing(tmp_path, capsys):
    path = notebook(tmp_path,
                    nbformat.v4.new_code_cell('raise ValueError("the paragraph \'A\' was written for x supported")'),
                    nbformat.v4.new_code_cell("y = 1"),
                    nbformat.v4.new_markdown_cell("{eval}`page.acc`"),
                    nbformat.v4.new_code_cell('assert y == 2, "rewrite \'B\'"'))
    before = path.read_bytes()
    assert execute.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == [f"{path}: cell 0: ValueError: the paragraph 'A' was written for x supported",
                       f"{path}: cell 2: page.acc could not be evaluated",
                       f"{path}: cell 3: AssertionError: rewrite 'B'"]
    assert path.read_bytes() == before
