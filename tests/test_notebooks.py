"""A chapter downloaded from the built book runs where only attnbook is installed.

Every chapter page offers the notebook the build executed (``_sources/<chapter>.ipynb``,
without the book's bookkeeping cells). This test takes one, runs it top to bottom in a
fresh kernel of an environment that has ``attnbook`` but neither Sphinx nor MyST-NB
(``tox -e notebooks``, after ``tox -e docs``), and checks that it prints what the
book printed.
"""

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("ATTNBOOK_HTML", ROOT / "_build" / "html")).resolve()
CHAPTER = "simplified-self-attention"  # executes in seconds


def printed(cell):
    """What a code cell printed or returned as text (figures' reprs left out)."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output["name"] == "stdout":
            texts.append(output["text"])
        elif output["output_type"] == "execute_result":
            text = output["data"].get("text/plain", "")
            if not text.startswith("<Figure"):
                texts.append(text)
    return "".join(texts)


def test_a_downloaded_chapter_runs_top_to_bottom_and_prints_what_the_book_printed():
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    path = HTML / "_sources" / f"{CHAPTER}.ipynb"
    if not path.is_file():
        pytest.fail(f"no downloadable notebook at {path}: run `tox -e docs` first")
    assert importlib.util.find_spec("attnbook") is not None
    assert importlib.util.find_spec("myst_nb") is None, "run this where MyST-NB is not installed"

    book = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(fresh, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "docs")}}).execute()

    code = [(b, f) for b, f in zip(book.cells, fresh.cells, strict=True) if b.cell_type == "code"]
    assert len(code) >= 10
    assert not [c for _, c in code for o in c.outputs if o["output_type"] == "error"]
    differ = [b.source[:60] for b, f in code if printed(b) != printed(f)]
    assert not differ, f"cells that print other numbers than the book: {differ}"
    assert sum(bool(printed(b)) for b, _ in code) >= 5
