"""Sphinx extension for the bnreview book (loaded from _config.yml: sphinx.local_extensions).

It keeps the built HTML self-contained and the build warning-free:

* Plotly, offline: the plotly.min.js shipped by the installed ``plotly`` package is copied
  to ``_static/plotly.min.js`` in the output (not into a source ``_static/`` folder, which
  Jupyter Book 1 would inject into every page), and added to the <head> of exactly the pages
  that contain a figure made with ``fig.to_html(full_html=False, include_plotlyjs=False)``.
* The in-browser trainer (``bnreview.browser``): on pages holding its panel, bntrain.js,
  bnpanel.js and bntrain.css (from book/static/) are added; after the build they, the pinned
  TensorFlow.js files (book/static/tfjs/) and the images and PyTorch reference that
  ``bnreview.browser.export`` writes are in ``_static/`` (tfjs and the images are fetched by the
  page on the reader's first click, not with the page).
* ipywidgets: widget views are dropped for HTML builders in _config.yml, so the page shows
  the output's text/html or text/plain fallback; the saved widget state is then dead
  weight and is dropped here too.
* Inline scripts added after the HTML builder starts (sphinx-thebe's ``const THEBE_JS_URL``,
  sphinx-togglebutton's settings) are written twice by Sphinx 7.4 (once with filename None,
  once with ''), and the second ``const`` is a SyntaxError in the browser: pages keep one copy.
* Each notebook's execution (myst-nb's inline mode: when it finished, how long it ran) is written
  to ``<build>/notebooks.json`` at the end, for ``book/timings.py``'s table of chapters.
* The quick profile (``BNREVIEW_QUICK=1``, what CI builds) puts a banner on every page: its numbers
  come from tiny runs (one seed, 2,000 images) and the verdicts were written for the full runs.
* The directive ``bnreview-build`` (in the intro) says which machine built this copy and how many of the
  committed results (``results.json``) its runs reproduced (:func:`bnreview.verify.build_sentence`), and how
  the builds kept from other CPU kinds (``reproductions/``) compare with them (:func:`bnreview.verify.kinds_sentence`). The
  intro is re-read on every build, after the conclusion has written this build's results (Sphinx reads
  documents in sorted order: ``chapters/conclusion`` before ``chapters/intro``).
* Launch buttons (Binder, Colab, ...) need ``repository.url``; with it empty,
  sphinx-book-theme would crash on notebook pages, so the launch providers are switched
  off until a URL is set.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

PLOTLY_JS = "plotly.min.js"  # served as <outdir>/_static/plotly.min.js
PLOTLY_MARKER = 'class="plotly-graph-div"'
TRAINER_MARKER = 'class="bn-browser-train"'
TRAINER_STATIC = Path(__file__).resolve().parent / "static"
TRAINER_JS, TRAINER_CSS = ("bntrain.js", "bnpanel.js"), "bntrain.css"
NOTEBOOK_RECORDS = "notebooks.json"  # beside html/ in the build folder: book/timings.py reads it
LAUNCH_PROVIDERS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")


def plotly_js_source() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


QUICK_BANNER = ("Quick profile: the numbers on these pages come from tiny runs (one seed, 2,000 images), so the "
                "verdicts and the prose written for the full runs are not checked against them. "
                "<code>make book</code> builds the real thing.")


def _quick_banner(app, config) -> None:
    from bnreview.config import is_quick

    if is_quick():
        config.html_theme_options["announcement"] = QUICK_BANNER


def _launch_buttons_need_repository(app, config) -> None:
    options = config.html_theme_options
    if options.get("repository_url"):
        return
    buttons = dict(options.get("launch_buttons") or {})
    if any(buttons.get(key) for key in LAUNCH_PROVIDERS) or buttons.get("thebe"):
        buttons.update({key: "" for key in LAUNCH_PROVIDERS}, thebe=False)
        options["launch_buttons"] = buttons


def _drop_widget_state(app, doctree) -> None:
    # myst-nb (1.x) records a page's saved widget state as an inline <script>; the views
    # that would use it are not rendered, so it would only add weight to the page.
    metadata = getattr(app.env, "nb_metadata", None) or {}
    metadata.get(app.env.docname, {}).get("js_files", {}).pop("ipywidgets_state", None)


def _add_plotly_js(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body") or ""
    if PLOTLY_MARKER in body and PLOTLY_JS not in body:
        app.add_js_file(PLOTLY_JS)  # this page only; in <head>, before the figures' inline scripts


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's per-page list; Sphinx restores it after the page


def _add_trainer(app, pagename, templatename, context, doctree) -> None:
    if TRAINER_MARKER in (context.get("body") or ""):
        for name in TRAINER_JS:
            app.add_js_file(name, defer="defer")
        app.add_css_file(TRAINER_CSS)


def _copy(source: Path, target: Path) -> None:
    if not (target.exists() and filecmp.cmp(source, target, shallow=False)):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _copy_static(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir, "_static")
    _copy(plotly_js_source(), static / PLOTLY_JS)
    for name in (*TRAINER_JS, TRAINER_CSS):
        _copy(TRAINER_STATIC / name, static / name)
    for source in sorted((TRAINER_STATIC / "tfjs").iterdir()):
        _copy(source, static / "tfjs" / source.name)
    from bnreview.browser import export  # torch: imported only once a build has finished

    export(static / "bn-browser")


def _record_executions(app, exception) -> None:
    """``<build>/notebooks.json``: each notebook's last execution, ``{chapter, finished, seconds}``
    (``finished`` in seconds since the epoch; a notebook not re-read keeps an earlier build's record)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    records = []
    for docname, data in sorted(NbMetadataCollector.get_doc_data(app.env).items()):
        run = data.get("exec_data") or {}
        if run.get("runtime") is not None:
            records.append({"chapter": Path(docname).name, "finished": run["mtime"], "seconds": run["runtime"],
                            "succeeded": run.get("succeeded")})
    (Path(app.outdir).parent / NOTEBOOK_RECORDS).write_text(json.dumps(records, indent=1) + "\n")


class BuildDirective(SphinxDirective):
    """``bnreview-build``: a paragraph on the machine that built this copy and the results it reproduced."""

    def run(self):
        from bnreview.verify import RESULTS_ENV, build_sentence, kinds_sentence

        root = Path(self.env.srcdir)
        texts = (build_sentence(root / "results.json", os.environ.get(RESULTS_ENV)),
                 kinds_sentence(root / "results.json", root / "reproductions"))
        return [nodes.paragraph(text=text) for text in texts if text]


def _reread_intro(app, env, added, changed, removed):
    """The intro's build paragraph reads this build's results: read it again on every build."""
    return [name for name in env.found_docs if name.endswith("intro")]


def setup(app):
    app.add_directive("bnreview-build", BuildDirective)
    app.connect("env-get-outdated", _reread_intro)
    app.connect("config-inited", _launch_buttons_need_repository, priority=900)
    app.connect("config-inited", _quick_banner, priority=900)
    app.connect("doctree-read", _drop_widget_state)
    app.connect("html-page-context", _add_plotly_js)
    app.connect("html-page-context", _add_trainer)
    app.connect("html-page-context", _dedupe_scripts, priority=900)  # after every other handler
    app.connect("build-finished", _copy_static)
    app.connect("build-finished", _record_executions)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
