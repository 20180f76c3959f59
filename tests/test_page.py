"""A chapter's page: the values its prose cites (formatted, without quotes), its figures and blocks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import pytest
from IPython.core.formatters import PlainTextFormatter
from IPython.display import Markdown

from bnreview.page import Page, Text

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
EVAL = re.compile(r"\{eval\}`([^`]*)`")


def test_numbers_and_strings_become_text_with_their_format():
    page = Page({"acc": 98.7654, "steps": 860, "name": "LeNet's", "ratio": 0.5}, formats={"acc": ".2f", "ratio": ".0%"})
    assert (page.acc, page.steps, page.name, page.ratio) == ("98.77", "860", "LeNet's", "50%")
    assert all(isinstance(getattr(page, n), Text) for n in ("acc", "steps", "name", "ratio"))


def test_text_shows_as_plain_text_without_quotes_or_escapes():
    """What both renderings read: the kernel's text/plain of ``page.x`` (a repr would quote and escape it)."""
    shown = PlainTextFormatter()(Text("the review's \"10 and 8\" classes"))
    assert shown == "the review's \"10 and 8\" classes"


def test_figures_and_markdown_are_kept_as_they_are_and_other_values_left_out():
    fig = plt.figure()
    block = Markdown("| a |\n|---|\n| 1 |")
    page = Page({"fig": fig, "table": block, "rows": [1, 2], "flag": True, "claims": {"x": 1}})
    assert page.fig is fig and page.table is block
    assert sorted(page.as_dict()) == ["fig", "table"]
    plt.close(fig)


def test_a_missing_name_says_which_names_the_page_has():
    with pytest.raises(AttributeError, match=r"no 'acc'; it has: name, steps"):
        Page({"steps": 3, "name": "x"}).acc


def test_a_format_for_a_value_it_does_not_have_is_refused():
    with pytest.raises(ValueError, match="formats for values the page does not have: acc"):
        Page({"steps": 3}, formats={"acc": ".2f"})


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_cite_their_page_after_it_is_made_and_never_glue(path):
    """Both renderings evaluate a role when its cell is reached: the page must exist by then."""
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    made = False
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        assert "{glue" not in source, f"{path.name}, cell {index}: glue reaches only the book, not JupyterLab"
        if cell["cell_type"] == "code" and re.search(r"^page = Page\(", source, flags=re.M):
            made = True
        cited = EVAL.findall(source) if cell["cell_type"] == "markdown" else []
        assert all(re.fullmatch(r"page\.[A-Za-z_]\w*", c) for c in cited), f"{path.name}, cell {index}: {cited}"
        assert made or not cited, f"{path.name}, cell {index} cites {cited[0]} before the page is made"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_figure_cells_carry_their_caption_and_label(path):
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    for cell in cells:
        figure = cell["metadata"].get("mystnb", {}).get("figure")
        if figure:
            assert figure.get("name", "").startswith("fig-") and figure.get("caption"), cell["source"]
            assert "remove-input" in cell["metadata"].get("tags", []), cell["source"]
