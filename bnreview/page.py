"""What a chapter shows, by name: the numbers its prose cites, its figures and its Markdown blocks.

One notebook, two renderings. A chapter builds one :class:`Page` from its findings and figures;
its markdown cites a value as ``{eval}`page.base_acc```, and a figure or a Markdown block is the
output of its own code cell (``page.fig_loss``, its caption and label in the cell's ``mystnb``
metadata). The book evaluates the roles with myst-nb's inline execution; JupyterLab evaluates the
same roles in the running kernel through jupyterlab-myst, and shows the outputs as any notebook
does. Nothing is hidden from one rendering and placed by the other.

>>> page = Page({"acc": 98.7654, "name": "LeNet", "rows": [1, 2]}, formats={"acc": ".2f"})
>>> page.acc, page.name
('98.77', 'LeNet')
>>> page.rows
Traceback (most recent call last):
AttributeError: this chapter's page has no 'rows'; it has: acc, name
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real


class Text(str):
    """A value as the prose shows it: its text, without the quotes of a Python string's repr."""

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def _shown(value: object) -> bool:
    """Whether a value is a figure or a rich block a notebook can display (matplotlib, plotly, Markdown)."""
    return any(hasattr(value, name) for name in ("_repr_mimebundle_", "_repr_markdown_", "_repr_html_",
                                                  "_repr_png_", "savefig"))


class Page:
    """A chapter's values by name: numbers and strings as :class:`Text` (``formats`` gives a
    ``format()`` spec per name), figures and Markdown blocks as they are. Other values (lists,
    dicts) are left out: prose cites text, and a cell shows a figure."""

    def __init__(self, values: Mapping[str, object], formats: Mapping[str, str] | None = None):
        formats = dict(formats or {})
        unknown = sorted(set(formats) - set(values))
        if unknown:
            raise ValueError(f"formats for values the page does not have: {', '.join(unknown)}")
        self._values: dict[str, object] = {}
        for name, value in values.items():
            if isinstance(value, (str, Real)) and not isinstance(value, bool):  # numpy's numbers too
                self._values[name] = Text(format(value, formats.get(name, "")))
            elif _shown(value):
                self._values[name] = value

    def __getattr__(self, name: str):
        values = self.__dict__.get("_values", {})
        if name not in values:
            raise AttributeError(f"this chapter's page has no {name!r}; it has: {', '.join(sorted(values))}")
        return values[name]

    def __dir__(self):
        return sorted(self._values)

    def as_dict(self) -> dict[str, object]:
        """Every value the page holds, by name."""
        return dict(self._values)
