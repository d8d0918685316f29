"""Sphinx configuration of the attnbook book (build with ``sphinx-build -c . docs OUT``)."""

import hashlib
import os
import shutil
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).parent.resolve()
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import hosting  # noqa: E402  (docs/_ext/hosting.py: repository URL and URL prefix)

project = "attnbook"
author = "The attnbook authors"
copyright = "2026, The attnbook authors"
release = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinxcontrib.bibtex",
    "sphinx_copybutton",
    "sphinx_togglebutton",
    "sphinx_design",
    "sphinx-mathjax-offline",  # MathJax 3 served from _static: math renders offline
    "notfound.extension",  # a 404 page with the book's navigation and search
    "live_code",  # docs/_ext/live_code.py: Run, edit and rerun every code cell in the page
]
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "_inventories",
                    "_kernels", "_ext"]
nitpicky = True
# Words inside NumPy-style type fields ("torch.Tensor of shape (batch, d_in)") are
# cross-reference targets for Sphinx; the lower-case shape names are not objects.
nitpick_ignore_regex = [(r"py:.*", r"[A-Za-z_][A-Za-z_0-9]*(=[0-9]+)?|[0-9]+|\.\.\.")]
numfig = True

# -- MyST-NB: every chapter is a text notebook, executed at build ----------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_raise_on_error = True  # a cell error fails the build
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_output_stderr = "warn"  # anything on stderr (warnings) becomes a Sphinx warning
nb_merge_streams = True
nb_render_image_options = {"align": "center"}

# Threads: every chapter runs in a kernel of its own, and the experiments' models are
# small, so one intra-op thread per kernel is as fast as more on a quiet machine, and
# does not spin against other processes (or the other kernel of a parallel build) on a
# busy one. The printed numbers do not depend on it (tests/experiments/test_training.py).
# This is the one place the thread count is set: ATTNBOOK_NUM_THREADS=N overrides it.
_num_threads = os.environ.setdefault("ATTNBOOK_NUM_THREADS", "1")
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _num_threads

# The chapters' kernel: docs/_kernels/kernels/python3 is the standard ipykernel spec with
# the kernel's own log at ERROR level, so a build does not print ipykernel's "running
# over TCP without encryption" warning (the kernel only listens on localhost) once per
# chapter. JUPYTER_PATH is searched before the installed kernel specs.
_jupyter_path = [str(DOCS / "_kernels"), *os.environ.get("JUPYTER_PATH", "").split(os.pathsep)]
os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(filter(None, _jupyter_path)))


def _source_hash():
    """Hash of the attnbook source and the pinned toolchain: the execution cache key.

    MyST-NB's cache only watches a chapter's own cells; keying the cache folder to
    the package means a change to ``src/attnbook`` re-executes every chapter.
    """
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "src" / "attnbook").rglob("*.py")), ROOT / "constraints.txt"]:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


attnbook_source_hash = _source_hash()
# ATTNBOOK_CACHE_ROOT moves the cache, e.g. beside a second output folder, so that two
# builds of different package sources do not drop each other's cache.
_cache_root = Path(os.environ.get("ATTNBOOK_CACHE_ROOT", ROOT / "_build" / ".jupyter_cache"))
nb_execution_cache_path = str(_cache_root / attnbook_source_hash)
if _cache_root.is_dir():  # drop caches of older package sources
    for stale in _cache_root.iterdir():
        if stale.name != attnbook_source_hash:
            shutil.rmtree(stale, ignore_errors=True)

# -- API reference ---------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True
napoleon_use_rtype = False

# -- Cross-references: inventories kept in the repository (no network) -----------
INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "matplotlib": "https://matplotlib.org/stable",
}


def _compile_inventory(name):
    """Write ``docs/_inventories/NAME.inv`` (Sphinx inventory v2) from ``NAME.txt``.

    The ``.txt`` file holds the inventory's three header lines and its entries in
    plain text, so that it can be reviewed and extended by hand.
    """
    source = DOCS / "_inventories" / f"{name}.txt"
    target = source.with_suffix(".inv")
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = "".join(lines[:3]) + "# The remainder of this file is compressed using zlib.\n"
    data = header.encode() + zlib.compress("".join(lines[3:]).encode(), 9)
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
    return f"_inventories/{name}.inv"  # relative to the source folder, docs/


intersphinx_mapping = {name: (url, _compile_inventory(name)) for name, url in INVENTORIES.items()}

# -- Bibliography ------------------------------------------------------------------
bibtex_bibfiles = ["docs/references.bib"]  # relative to this file
bibtex_default_style = "plain"
bibtex_reference_style = "author_year"

# -- Copy buttons: copy the code, not the prompts or the output --------------------
copybutton_prompt_text = r">>> |\.\.\. |\$ |In \[\d*\]: | {2,5}\.\.\.: "
copybutton_prompt_is_regexp = True
copybutton_exclude = ".linenos, .gp, .go"

# -- HTML ----------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "attnbook: attention mechanisms, computed"
html_static_path = ["docs/_static"]  # relative to this file
html_css_files = ["attnbook.css"]
html_last_updated_fmt = None
# The repository: from the hosting environment (GitHub Actions, Read the Docs) or
# ATTNBOOK_REPOSITORY_URL; when it is unknown the book shows no repository buttons
# rather than a link to a guessed address (docs/_ext/hosting.py).
repository_url, repository_branch = hosting.repository()
html_theme_options = {
    "use_download_button": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
if repository_url:
    html_theme_options |= {
        "repository_url": repository_url,
        "repository_branch": repository_branch,
        "path_to_docs": "docs",
        "use_repository_button": True,
        "use_source_button": True,
        "use_issues_button": True,
    }
# Search lists the chapters before the reference pages (glossary, API, ...).
html_search_scorer = "docs/_ext/search_scorer.js"  # relative to this file
# One search box: the one in the header (the sidebar's is dropped).
html_sidebars = {"**": ["navbar-logo.html", "icon-links.html", "sbt-sidebar-nav.html"]}

# -- 404 page (sphinx-notfound-page): absolute links below the hosted sub-path -------
notfound_context = {
    "title": "Page not found",
    "body": "<h1>Page not found</h1><p>This page is not part of the book (any more). "
            "Use the table of contents or the search box to find what you were "
            "looking for.</p>",
}
if hosting.url_prefix() is not None:
    notfound_urls_prefix = hosting.url_prefix()


# Figures are drawn on white; an explicit mode also avoids the theme's console error
# on a first visit ("Got invalid theme mode", from an empty localStorage).
html_context = {"default_mode": "light"}


def _offer_executed_notebook(app, pagename, templatename, context, doctree):
    """Offer a chapter as the notebook the build executed, outputs included.

    MyST-NB writes every executed chapter to ``_build/jupyter_execute/``; this copies
    it to ``_sources/`` without the cells tagged ``remove-cell`` (the book's own
    bookkeeping: glue and asserts, which need MyST-NB), so that it runs top to bottom
    where only ``attnbook`` is installed. The theme's download button then lists
    ``.ipynb`` (it does so by itself only when a launch button is configured).
    """
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if app.builder.format != "html" or not executed.is_file():
        return
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    notebook.cells = [cell for cell in notebook.cells
                      if "remove-cell" not in cell.metadata.get("tags", [])]
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _accessible_citations(app, pagename, templatename, context, doctree):
    """Give bibliography entries the ARIA role their list expects.

    Docutils writes the bibliography as ``<div role="list">`` of
    ``<div role="doc-biblioentry">``; DPUB-ARIA deprecated that role, so axe-core
    finds a list without list items (a critical violation). ``listitem`` is the role
    doc-biblioentry was a kind of.
    """
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("html-page-context", _accessible_citations)
    # before the theme's header buttons (priority 501) read ipynb_source
    app.connect("html-page-context", _offer_executed_notebook, priority=500)
    # sphinx-mathjax-offline only sets mathjax_path and copies files once the build has
    # finished, but does not say so; declare it, so that `sphinx-build -j auto` executes
    # chapters in parallel instead of falling back to a serial read with a warning.
    mathjax_offline = app.extensions["sphinx-mathjax-offline"]
    mathjax_offline.parallel_read_safe = mathjax_offline.parallel_write_safe = True
    # A change of the package source changes this value, which makes Sphinx re-read
    # every chapter (and MyST-NB look in the new, empty cache folder).
    app.add_config_value("attnbook_source_hash", "", "env")
