"""The built book in a real browser: fixtures and helpers for tests marked ``browser``.

Fixtures (import them into a test module: ``from bookbrowser import book_html, book_server, browser``):

* ``book_html``: the folder of the quick build (``make quick-book``), ``_build/quick/_build/html``
  (or ``$BNREVIEW_BOOK_HTML``);
* ``book_server``: that folder served over HTTP on localhost (a free port), as its base URL;
* ``browser``: a headless Debian Chromium driven by selenium through /usr/bin/chromedriver
  (no Selenium Manager, no download), with a fresh profile.

Missing Chromium/chromedriver or a missing build skip the test with the reason, unless
``BNREVIEW_REQUIRE_BROWSER=1`` (CI), where they fail it.

Helpers: ``serving(folder)`` and ``chromium(profile)`` are the two fixtures' machinery, for
scripts too (benchmarks/browser_train.py); ``toc_pages()`` lists the book's pages from _toc.yml; ``open_page()`` loads one and
waits for MathJax; ``console_errors()``, ``broken_images()`` and ``outside_requests()`` read
what the page did.
"""

from __future__ import annotations

import json
import os
import re
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK_HTML = Path(os.environ.get("BNREVIEW_BOOK_HTML") or ROOT / "_build" / "quick" / "_build" / "html")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "BNREVIEW_REQUIRE_BROWSER"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000",
)
SOURCE_SUFFIXES = (".ipynb", ".md")


def unavailable(reason: str):
    """Skip, or fail where the browser test must run (``BNREVIEW_REQUIRE_BROWSER=1``)."""
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1)")
    pytest.skip(reason)


# --- the book's pages --------------------------------------------------------------------

def toc_pages(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """Docnames (``chapters/intro``) of every page in _toc.yml, in reading order."""
    data = yaml.safe_load(toc.read_text(encoding="utf8"))
    pages = [data["root"]]

    def walk(entries):
        for entry in entries or ():
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(data.get("chapters"))
    walk(data.get("parts"))
    walk(data.get("sections"))
    return [re.sub(r"\.(ipynb|md)$", "", page) for page in pages]


def source_file(docname: str) -> Path:
    for suffix in SOURCE_SUFFIXES:
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no source for {docname} ({', '.join(SOURCE_SUFFIXES)})")


def markdown_text(path: Path) -> str:
    """The page's Markdown prose: a notebook's markdown cells, without code blocks or inline code."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf8"))["cells"]
        text = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text(encoding="utf8")
    text = re.sub(r"^(```|~~~).*?^\1[ \t]*$", "", text, flags=re.S | re.M)  # fenced blocks
    return re.sub(r"`[^`\n]+`", "", text)


MATH_PATTERNS = (
    r"\$\$.+?\$\$",  # display math
    r"(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)",  # inline $...$ (not "$5 and $6")
    r"\{math\}",  # the math role/directive
    r"\\begin\{(equation|align|gather)",  # amsmath environments
)


def source_has_math(path: Path) -> bool:
    text = markdown_text(path)
    return any(re.search(pattern, text, flags=re.S) for pattern in MATH_PATTERNS)


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def book_html() -> Path:
    if not (BOOK_HTML / "index.html").is_file():
        unavailable(f"the book is not built in {BOOK_HTML}: run `make quick-book` first")
    return BOOK_HTML


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


@contextmanager
def serving(directory: Path):
    """Base URL (ending in /) of ``directory`` served from a thread on a free local port, while in the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium(profile: Path):
    """A headless Debian Chromium (selenium WebDriver) with a fresh ``profile`` and its browser and
    performance logs enabled; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="session")
def book_server(book_html):
    """Base URL (ending in /) of the built book, served from a thread on a free local port."""
    with serving(book_html) as url:
        yield url


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Chromium (selenium WebDriver) with browser and performance logs enabled."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        unavailable(f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver")
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# --- what a page did -----------------------------------------------------------------------

_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done("typeset"), (e) => done("error: " + e));
  } else if (!document.querySelector('script[src*="mathjax"]')) {
    done("absent");
  } else if (Date.now() - start > 45000) {
    done("timeout: MathJax never started");
  } else {
    setTimeout(poll, 50);
  }
})();
"""

_WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
Promise.all(images.map((img) => img.complete ? null :
  new Promise((ok) => { img.addEventListener("load", ok); img.addEventListener("error", ok); })))
  .then(() => done(images.length));
"""


def open_page(driver, url: str) -> str:
    """Load ``url``, wait for its images and MathJax; returns MathJax's state
    ("typeset", "absent", or an error/timeout message)."""
    driver.get_log("browser")  # drop entries of earlier pages
    driver.get_log("performance")
    driver.get(url)
    driver.execute_async_script(_WAIT_FOR_IMAGES)
    return driver.execute_async_script(_WAIT_FOR_MATHJAX)


def console_errors(driver) -> list[str]:
    """SEVERE console entries, less Chromium's own request for /favicon.ico (the book has no icon)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not entry["message"].split(" ", 1)[0].endswith("/favicon.ico")
    ]


def broken_images(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.images)"
        ".filter((img) => !(img.complete && img.naturalWidth > 0))"
        ".map((img) => img.currentSrc || img.src || img.outerHTML.slice(0, 200));"
    )


def outside_requests(driver, base_url: str) -> list[str]:
    """http(s)/ws(s) URLs the page requested from anywhere but ``base_url``'s host.

    (data:, blob: and Chromium's own chrome:// resources are not network requests.)"""
    host = urlsplit(base_url).netloc
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != host:
                urls.append(url)
    return urls
