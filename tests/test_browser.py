"""The built book (quick profile, ``make quick-book``): self-contained, and sound in a real browser.

Static checks read the HTML files: no asset from an outside host, the notebooks' .ipynb
downloads, launch buttons only with a repository URL. The browser checks open every page of
_toc.yml in headless Chromium: no console errors, every image loaded, math typeset by the
local MathJax, plotly figures drawn, no request leaving localhost.

Run with ``make browser`` (builds the quick book first) or ``pytest tests -m browser``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from bookbrowser import (  # noqa: F401 - book_html, book_server and browser are fixtures
    ROOT,
    book_html,
    book_server,
    browser,
    broken_images,
    console_errors,
    open_page,
    outside_requests,
    source_file,
    source_has_math,
    toc_pages,
)

pytestmark = pytest.mark.browser

PAGES = toc_pages()
NOTEBOOK_PAGES = [page for page in PAGES if (ROOT / f"{page}.ipynb").is_file()]
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
CSS_EXTERNAL = re.compile(r"(url\(\s*['\"]?|@import\s+['\"])(https?:)?//", re.I)


class _AssetRefs(HTMLParser):
    """(tag, attribute, value) of everything a page loads: src/srcset/poster/data on any tag,
    href on <link>."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "poster", "data") or (name == "href" and tag == "link"):
                self.refs.append((tag, name, value))
            elif name in ("srcset", "imagesrcset"):
                self.refs += [(tag, name, part.split()[0]) for part in value.split(",") if part.strip()]

    handle_startendtag = handle_starttag


def html_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    return ((config.get("repository") or {}).get("url") or "").strip()


# --- static checks ---------------------------------------------------------------------------

def test_every_toc_page_is_built(book_html):
    missing = [page for page in PAGES if not (book_html / f"{page}.html").is_file()]
    assert not missing, f"pages in _toc.yml missing from {book_html} (stale build? run `make quick-book`): {missing}"


def test_the_quick_build_says_so_on_every_page_and_the_full_one_on_none(book_html):
    quick = "quick" in book_html.parts  # make quick-book builds into _build/quick
    pages = [book_html / f"{page}.html" for page in PAGES]
    banner = [("Quick profile: the numbers on these pages come from tiny runs" in p.read_text()) for p in pages]
    assert banner == [quick] * len(pages)


def test_no_asset_from_outside_hosts(book_html):
    """Scripts, stylesheets, fonts and images all come from the book itself (offline reading)."""
    offenders = []
    for path in html_files(book_html):
        parser = _AssetRefs()
        text = path.read_text(encoding="utf8", errors="replace")
        parser.feed(text)
        rel = path.relative_to(book_html)
        offenders += [f"{rel}: <{tag} {name}={value!r}>" for tag, name, value in parser.refs if EXTERNAL.match(value)]
        offenders += [f"{rel}: inline CSS {m.group(0)!r}" for m in CSS_EXTERNAL.finditer(text)]
    for path in sorted(book_html.rglob("*.css")):
        offenders += [f"{path.relative_to(book_html)}: {m.group(0)!r}" for m in CSS_EXTERNAL.finditer(path.read_text(errors="replace"))]
    assert not offenders, "assets loaded from outside the book:\n" + "\n".join(offenders)


def test_local_mathjax_and_plotly_are_served(book_html):
    assert (book_html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "sphinx-mathjax-offline did not copy MathJax"
    for path in html_files(book_html):
        text = path.read_text(encoding="utf8", errors="replace")
        if 'class="plotly-graph-div"' in text:
            assert "plotly.min.js" in text, f"{path.name}: plotly figure but no plotly.min.js"
            assert (book_html / "_static" / "plotly.min.js").is_file()


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_notebook_page_offers_its_ipynb(book_html, page):
    html = (book_html / f"{page}.html").read_text(encoding="utf8")
    depth = page.count("/")
    link = "../" * depth + f"_sources/{page}.ipynb"
    assert f'href="{link}"' in html, f"no download link to {link}"
    notebook = json.loads((book_html / "_sources" / f"{page}.ipynb").read_text(encoding="utf8"))
    assert notebook["nbformat"] == 4 and notebook["cells"]


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_buttons_follow_repository_url(book_html, page):
    html = (book_html / f"{page}.html").read_text(encoding="utf8")
    has_buttons = "mybinder.org" in html or "colab.research.google.com" in html
    if repository_url():
        assert has_buttons, "repository.url is set but there is no Binder/Colab button"
    else:
        assert not has_buttons, "Binder/Colab buttons without a repository.url"


def test_no_dead_widget_views(book_html):
    """Widget views need a kernel or a CDN: the HTML builder shows their fallback instead."""
    dead = [p.relative_to(book_html) for p in html_files(book_html)
            if "application/vnd.jupyter.widget-view+json" in p.read_text(encoding="utf8", errors="replace")]
    assert not dead, f"pages with widget views that cannot render: {dead}"


# --- in the browser --------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page_in_browser(book_server, browser, page):
    mathjax = open_page(browser, f"{book_server}{page}.html")
    assert browser.title and "404" not in browser.title, f"{page}: not served ({browser.title!r})"

    errors = console_errors(browser)
    assert not errors, f"{page}: console errors:\n" + "\n".join(errors)

    broken = broken_images(browser)
    assert not broken, f"{page}: images that did not load: {broken}"

    assert mathjax in ("typeset", "absent"), f"{page}: MathJax {mathjax}"
    containers = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    math_nodes = browser.execute_script("return document.querySelectorAll('.math').length")
    if source_has_math(source_file(page)):
        assert containers > 0, f"{page}: its source has math, but nothing was typeset (MathJax {mathjax})"
    assert containers >= math_nodes, f"{page}: {math_nodes} math elements, only {containers} typeset"
    assert not browser.execute_script("return document.querySelectorAll('mjx-merror').length"), f"{page}: TeX errors"

    undrawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".filter((div) => !div.querySelector('.main-svg')).map((div) => div.id);"
    )
    assert not undrawn, f"{page}: plotly figures not drawn: {undrawn}"

    outside = outside_requests(browser, book_server)
    assert not outside, f"{page}: requests that left the book's server: {outside}"


# --- the explorer: switching runs in the page changes what is plotted ----------------------

_SELECTED_RUN = """
const gd = document.getElementById('bn-explorer');
const shown = gd._fullData.filter((t) => t.visible === true && t.meta && !t.meta.ref
                                          && (t.meta.kind === 'loss' || t.meta.kind === 'acc'));
return {state: gd.bnState, summary: document.getElementById('bn-explorer-summary').textContent,
        traces: shown.map((t) => [t.meta.kind, t.meta.lr, t.meta.placement, Array.from(t.y).slice(-3)])};
"""


@pytest.mark.skipif("explorer" not in " ".join(PAGES), reason="the explorer chapter is not in _toc.yml")
def test_explorer_slider_and_buttons_change_the_plotted_data(book_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    page = next(p for p in PAGES if p.endswith("explorer"))
    open_page(browser, f"{book_server}{page}.html")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "const gd = document.getElementById('bn-explorer'); return !!(gd && gd.bnState && gd._fullData);"))
    controls = browser.find_element(By.ID, "bn-explorer-controls")
    assert controls.is_displayed()
    before = browser.execute_script(_SELECTED_RUN)
    assert before["traces"], "no run is plotted"

    slider = browser.find_element(By.ID, "bn-explorer-lr")
    slider.send_keys(Keys.ARROW_LEFT if int(before["state"]["lr"]) > 0 else Keys.ARROW_RIGHT)
    after_slider = browser.execute_script(_SELECTED_RUN)
    assert after_slider["state"]["lr"] != before["state"]["lr"]
    assert after_slider["traces"] != before["traces"], "moving the lr slider left the plotted data unchanged"
    assert after_slider["summary"] != before["summary"]

    buttons = controls.find_elements(By.CSS_SELECTOR, "button[data-placement]")
    other = next(b for b in buttons if b.get_attribute("aria-pressed") != "true")
    other.click()
    after_button = browser.execute_script(_SELECTED_RUN)
    assert str(after_button["state"]["placement"]) == other.get_attribute("data-placement")
    assert other.get_attribute("aria-pressed") == "true"
    assert after_button["traces"] != after_slider["traces"], "switching the placement left the plotted data unchanged"
    assert not console_errors(browser)
