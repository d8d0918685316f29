"""Print the book's own statistics: chapters, figures, executed cells, seconds.

Usage (``tox -e stats`` runs it in the book's environment)::

    python tools/book_stats.py            # clean build (execution cache removed), then stats
    python tools/book_stats.py --no-build # stats of the book already in _build/html

Execution seconds per chapter come from MyST-NB's execution report (the data behind
its ``nb-exec-table`` directive, kept in the Sphinx environment); the total is the
wall-clock time of the build this script ran. The numbers of the README's
"Timings" section come from here.
"""

import argparse
import datetime
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
BUILD_COMMAND = [sys.executable, "-m", "sphinx", "-j", "auto", "-n", "-W", "--keep-going",
                 "-c", ".", "docs", str(HTML)]


def machine():
    """One line: cores, processor, Python and torch versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"torch {torch.__version__}, {platform.system()}")


def build():
    """A clean build: no execution cache, no previous output. Returns its seconds."""
    for folder in (BUILD / ".jupyter_cache", HTML, BUILD / "jupyter_execute"):
        shutil.rmtree(folder, ignore_errors=True)
    print("building the book from scratch:", " ".join(BUILD_COMMAND[2:]), flush=True)
    start = time.perf_counter()
    subprocess.run(BUILD_COMMAND, cwd=ROOT, check=True)
    return time.perf_counter() - start


def chapter_stats():
    """Per executed chapter: title, code cells, figures, execution seconds."""
    with open(HTML / ".doctrees" / "environment.pickle", "rb") as f:
        env = pickle.load(f)
    rows = []
    for docname in env.found_docs:
        exec_data = getattr(env, "nb_metadata", {}).get(docname, {}).get("exec_data")
        if not exec_data:
            continue
        notebook = json.loads((BUILD / "jupyter_execute" / f"{docname}.ipynb").read_text())
        page = (HTML / f"{docname}.html").read_text(encoding="utf-8")
        rows.append({
            "chapter": docname,
            "title": env.titles[docname].astext(),
            "number": ".".join(map(str, env.toc_secnumbers.get(docname, {}).get("", ()))),
            "code_cells": sum(c["cell_type"] == "code" for c in notebook["cells"]),
            "figures": len(re.findall(r'<figure class="[^"]*align-', page)),
            "seconds": exec_data.get("runtime") or 0.0,
            "succeeded": exec_data.get("succeeded"),
        })
    return sorted(rows, key=lambda r: [int(n) for n in r["number"].split(".") if n] or [0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true",
                        help="report on the book already built in _build/html")
    parser.add_argument("--json", type=Path, help="also write the statistics to this file")
    args = parser.parse_args(argv)

    build_seconds = None if args.no_build else build()
    rows = chapter_stats()
    when = datetime.date.today().isoformat()
    print(f"\nattnbook statistics, {when}, on {machine()}")
    if build_seconds is not None:
        threads = os.environ.get("ATTNBOOK_NUM_THREADS", "1")
        print(f"clean build ({' '.join(BUILD_COMMAND[2:5])}, {threads} thread per chapter): "
              f"{build_seconds:.0f} s wall clock")
    print("\n| # | chapter | code cells | figures | execution (s) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['number']} | {r['title']} | {r['code_cells']} | {r['figures']} | "
              f"{r['seconds']:.1f} |")
    total = {key: sum(r[key] for r in rows) for key in ("code_cells", "figures", "seconds")}
    print(f"| | **{len(rows)} chapters** | {total['code_cells']} | {total['figures']} | "
          f"{total['seconds']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"date": when, "machine": machine(),
                                         "build_seconds": build_seconds, "chapters": rows,
                                         "total": total}, indent=2))
    failed = [r["chapter"] for r in rows if r["succeeded"] is False]
    if failed:
        print("chapters whose execution failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
