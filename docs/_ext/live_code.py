"""Live code: every code cell of a chapter runs, editable, in the page.

A chapter page gets ``_static/attnbook-live.js`` and, in a
``<script type="application/json" id="attnbook-live-config">``, the sources of the
cells that the page's notebook download runs (``_sources/<chapter>.ipynb``, written by
``conf.py``: the executed notebook without the ``remove-cell`` bookkeeping), in page
order, each paired with one ``div.attnbook-cell`` of the page. The build checks that
the pairing holds: the page shows the same code cells, in the same order and with the
same source, as the notebook; a mismatch is a warning (an error under ``-W``).

When a reader clicks Run, the script loads thebe (``_static/thebe/``, vendored by
``tools/vendor_thebe.py``) and runs the cells in a Jupyter kernel: a local
``jupyter_server`` started by ``tox -e live`` (``tools/live.py``), whose address and
token the page reads from its URL fragment, or, on the hosted book, Binder.

Also here: a fix for Sphinx's search page (``_static/attnbook-search.js``).
"""

import json
from pathlib import Path

import hosting
from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[1] / "_static"
VENDOR = STATIC / "thebe" / "VENDOR.json"
CELL_CLASS = "attnbook-cell"
COMMAND = "python3 -m tox -e live"
BINDER_URL = "https://mybinder.org"


def code_cells(doctree):
    """The code cells MyST-NB rendered (``remove-cell`` cells are not in the doctree)."""
    return [node for node in doctree.findall(nodes.container)
            if node.get("nb_element") == "cell_code"]


def shown_source(cell):
    """The source a code cell shows, or None where its input is removed."""
    for child in cell.findall(nodes.container):
        if child.get("nb_element") == "cell_code_source":
            literal = next(iter(child.findall(nodes.literal_block)), None)
            return literal.astext() if literal is not None else ""
    return None


def binder_options(repository_url, branch):
    """thebe's Binder options for a GitHub repository, or None for any other host."""
    prefix = "https://github.com/"
    if not repository_url or not repository_url.startswith(prefix):
        return None
    repo = repository_url[len(prefix):].strip("/")
    if repo.count("/") != 1:
        return None
    return {"repo": repo, "ref": branch or "main", "binderUrl": BINDER_URL,
            "repoProvider": "github"}


def page_config(sources, inputs, pathto, version, binder, notebook):
    """What ``attnbook-live.js`` reads from a chapter page (``pathto``: Sphinx's)."""
    return {
        "cells": [{"source": source, "input": has_input}
                  for source, has_input in zip(sources, inputs, strict=True)],
        "thebe": pathto("_static/thebe/index.js", 1) + f"?v={version}",
        "thebeCss": pathto("_static/thebe/thebe.css", 1) + f"?v={version}",
        "thebeVersion": version,
        "kernelName": "python3",
        "notebook": notebook,
        "command": COMMAND,
        "binder": binder,
    }


def json_script(element_id, data):
    """A JSON data island that no cell source can close early."""
    text = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")
    return f'\n<script type="application/json" id="{element_id}">{text}</script>\n'


def _mark_cells(app, doctree, docname):
    for cell in code_cells(doctree):
        cell["classes"].append(CELL_CLASS)


def _add_live_code(app, pagename, templatename, context, doctree):
    if app.builder.format != "html" or doctree is None or "body" not in context:
        return
    cells = code_cells(doctree)
    notebook_path = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    if not cells or not notebook_path.is_file():
        return
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    shown = [shown_source(cell) for cell in cells]
    if len(sources) != len(shown) or any(
            text is not None and text.strip() != source.strip()
            for text, source in zip(shown, sources, strict=False)):
        logger.warning("live code: the code cells of the page (%d) are not those of its "
                       "notebook download (%d): no Run controls on this page",
                       len(shown), len(sources), location=pagename)
        return
    version = json.loads(VENDOR.read_text(encoding="utf-8"))["version"]
    repository_url, branch = hosting.repository()
    config = page_config(sources, [text is not None for text in shown], context["pathto"],
                         version, binder_options(repository_url, branch),
                         notebook_path.name)
    context["body"] += json_script("attnbook-live-config", config)


def _add_search_fix(app, pagename, templatename, context, doctree):
    if pagename == "search" and app.builder.format == "html":
        app.add_js_file("attnbook-search.js", loading_method="defer")


def setup(app):
    app.connect("doctree-resolved", _mark_cells)
    # after conf.py's _offer_executed_notebook (priority 500) wrote the notebook download
    app.connect("html-page-context", _add_live_code, priority=600)
    app.connect("html-page-context", _add_search_fix)
    # every page: the script also takes the kernel's address and token from the URL
    # fragment that `tox -e live` prints, whichever page it opens
    app.add_js_file("attnbook-live.js", loading_method="defer")
    app.add_css_file("attnbook-live.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
