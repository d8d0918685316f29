"""Sphinx configuration of the attnbook book (build with ``sphinx-build -c . docs OUT``)."""

import hashlib
import os
import shutil
import zlib
from pathlib import Path

ROOT = Path(__file__).parent.resolve()
DOCS = ROOT / "docs"

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
]
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "_inventories", "_kernels"]
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
_cache_root = ROOT / "_build" / ".jupyter_cache"
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
html_theme_options = {
    "repository_url": "https://github.com/attnbook/attnbook",
    "repository_branch": "main",
    "path_to_docs": "docs",
    "use_repository_button": True,
    "use_source_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}


# Figures are drawn on white; an explicit mode also avoids the theme's console error
# on a first visit ("Got invalid theme mode", from an empty localStorage).
html_context = {"default_mode": "light"}


def setup(app):
    # A change of the package source changes this value, which makes Sphinx re-read
    # every chapter (and MyST-NB look in the new, empty cache folder).
    app.add_config_value("attnbook_source_hash", "", "env")
