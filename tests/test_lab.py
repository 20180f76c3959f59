"""The chapters in JupyterLab, as a student runs them: their figures and their numbers.

JupyterLab (with jupyterlab-myst) serves a copy of chapters/ on a loopback port behind a token;
headless Chromium opens a chapter, runs all its cells against the quick profile's run cache (the
one `make quick-book` fills), and the test reads what a student would see.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from bookbrowser import ROOT, browser  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser

JUPYTER = Path(sys.executable).with_name("jupyter")

# The chapter's own panel, found by its file, not the current widget: a page load restores the workspace, and a
# notebook opened earlier may come back and take the focus (then a run-all ran the wrong notebook, or none).
_PANEL_OF = """
const app = window.jupyterapp;
const panel = app && Array.from(app.shell.widgets('main')).find(
  (w) => w.context && w.context.path.endsWith(arguments[0]) && w.content);
"""

_RUN_ALL = _PANEL_OF + """
const done = arguments[arguments.length - 1];
app.shell.activateById(panel.id);
panel.context.sessionContext.ready
  .then(() => app.commands.execute('notebook:run-all-cells'))
  .then(() => done('ok'), (e) => done('error: ' + e));
"""

_STATE = _PANEL_OF + """
if (!panel || !panel.context.sessionContext.session) return null;
const kernel = panel.context.sessionContext.session.kernel;
if (!kernel) return null;
const cells = panel.content.widgets;
return {
  kernel: kernel.status,
  connection: kernel.connectionStatus,
  pending: cells.filter((c) => c.model.type === 'code' && c.promptNode && c.promptNode.textContent.includes('*')).length,
  unrun: cells.filter((c) => c.model.type === 'code' && c.model.executionCount === null).length,
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Base URL and token of a JupyterLab serving a copy of chapters/ (runs saved there touch no committed file)."""
    if not JUPYTER.exists():
        pytest.skip(f"{JUPYTER} not found")
    root = tmp_path_factory.mktemp("lab") / "chapters"
    shutil.copytree(ROOT / "chapters", root)
    for path in root.glob("*.ipynb"):  # as a student's fresh run sees them: nothing computed yet
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            cell.metadata.pop("user_expressions", None)
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(notebook, path)
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "BNREVIEW_QUICK": "1", "BNREVIEW_BOOK": "0"}
    env.setdefault("BNREVIEW_CACHE", str(ROOT / ".bnreview-cache"))
    env.setdefault("BNREVIEW_DATA", str(ROOT / "data"))
    env.pop("MPLBACKEND", None)
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--allow-root", "--expose-app-in-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start on {url}")
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def run_all(driver, lab, chapter: str, timeout: float = 600) -> None:
    """Open ``chapter`` in JupyterLab, run all its cells, and wait until every one has run."""
    url, token = lab
    notebook = f"{chapter}.ipynb"
    driver.get(f"{url}lab/tree/{chapter}.ipynb?reset&token={token}")  # reset: no notebook of an earlier test
    deadline = time.monotonic() + 120
    while True:  # the kernel started, connected and idle: a run-all sent earlier can be dropped
        state = driver.execute_script(_STATE, notebook)
        if state and state["kernel"] == "idle" and state["connection"] == "connected":
            break
        assert time.monotonic() < deadline, f"{chapter}: the notebook and its kernel never came up ({state})"
        time.sleep(0.5)
    unrun, tries = state["unrun"], 0
    assert driver.execute_async_script(_RUN_ALL, notebook) == "ok"
    deadline, sent = time.monotonic() + timeout, time.monotonic()
    while True:
        state = driver.execute_script(_STATE, notebook)
        if state["kernel"] == "idle" and not state["pending"] and not state["unrun"]:
            break
        if state["unrun"] == unrun and not state["pending"] and time.monotonic() - sent > 15 and tries < 3:
            tries += 1  # nothing started: send the run-all again
            assert driver.execute_async_script(_RUN_ALL, notebook) == "ok"
            sent = time.monotonic()
        assert time.monotonic() < deadline, f"{chapter}: cells still running after {timeout} s ({state})"
        time.sleep(1)
    time.sleep(2)  # markdown cells render their {eval} results once the kernel has answered


def shown_text(driver) -> str:
    return driver.execute_script("return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)').innerText;")


# lr_sweep passed here and in one CI run, then stalled in the next with its kernel idle and cells unrun
# (issue 24); the explorer, the second notebook of the same server, then stalled the same way, every cell
# unrun. Likely cause: a page load restored the earlier notebook, which took the focus from the run-all.
# run_all now resets the workspace and drives the chapter's own panel; only baseline runs here meanwhile.
@pytest.mark.parametrize("chapter", ["baseline"])
def test_a_student_sees_the_figures_and_the_numbers(browser, lab, chapter):  # noqa: F811
    run_all(browser, lab, chapter)
    images = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
        ".filter((img) => img.complete && img.naturalWidth > 0).length;")
    assert images >= 1, f"{chapter}: no figure drawn"
    text = shown_text(browser)
    assert "{glue" not in text and "{eval}" not in text, f"{chapter}: raw MyST roles shown"
    unevaluated = browser.execute_script(
        "return Array.from(document.querySelectorAll('.jp-MarkdownOutput code'))"
        ".map((c) => c.textContent).filter((t) => t.startsWith('page.'));")
    assert not unevaluated, f"{chapter}: numbers not evaluated: {unevaluated[:5]}"
    errors = browser.execute_script("return document.querySelectorAll('.jp-MarkdownOutput .myst-RenderedExpressionError,"
                                    " .jp-MarkdownOutput [data-mime-type=\"application/vnd.jupyter.stderr\"]').length;")
    assert not errors, f"{chapter}: {errors} numbers failed to evaluate"
    assert ":name: fig-" not in text and "```" not in text, f"{chapter}: directives shown as text"


def wait_for(driver, script: str, timeout: float, what: str, *args):
    """Poll ``script`` (given ``args``) until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := driver.execute_script(script, *args)):
        assert time.monotonic() < deadline, f"{what} after {timeout} s"
        time.sleep(1)
    return value


_PANEL = "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)')"


def test_a_student_explores_the_grid_and_retrains_on_the_spot(browser, lab):  # noqa: F811
    run_all(browser, lab, "explorer")
    wait_for(browser, f"return {_PANEL}.querySelectorAll('.js-plotly-plot .main-svg').length;", 60,
             "explorer: no plotly chart drawn")
    image = f"{_PANEL}.querySelector('.widget-image')"
    wait_for(browser, f"return !!{image};", 60, "explorer: the retraining panel is not shown")
    before = browser.execute_script(f"return {image}.src;")
    clicked = browser.execute_script(
        f"const b = Array.from({_PANEL}.querySelectorAll('.jupyter-widgets button'))"
        ".find((b) => b.textContent.trim() === 'Train'); if (b) b.click(); return !!b;")
    assert clicked, "explorer: the panel has no Train button"
    wait_for(browser, f"const i = {image}; return i.src !== arguments[0] && i.complete && i.naturalWidth > 0;", 300,
             "explorer: Train drew no curves", before)
