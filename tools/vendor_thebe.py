"""Vendor thebe, the Jupyter kernel client of the book's live code, into docs/_static/thebe/.

The book serves every file its pages load (no CDN). Of the npm package ``thebe`` it
keeps only what a page loads when a reader clicks Run: ``lib/index.js`` and
``lib/thebe.css``, with the licences that travel with them: thebe's own BSD-3-Clause
``LICENSE`` (kept in the repository: the npm package ships none) and
``lib/index.js.LICENSE.txt`` (the licences of the code bundled in ``index.js``).
``VENDOR.json`` beside them records the version, the registry's integrity hash of the
package and the SHA-256 of every vendored file; ``tests/test_vendored.py`` checks the
files against it, offline.

Refresh (needs ``npm`` and the npm registry)::

    python tools/vendor_thebe.py 0.9.3

downloads ``thebe@VERSION`` with ``npm pack``, checks the tarball against the integrity
hash the registry states (``npm view thebe@VERSION dist.integrity``), and rewrites the
files and ``VENDOR.json``. ``python tools/vendor_thebe.py --check`` checks the vendored
files against the record without the network.
"""

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "_static" / "thebe"
RECORD = TARGET / "VENDOR.json"
PACKAGE = "thebe"
# what a page loads (index.js loads no other chunk: docs/_static/attnbook-live.js removes
# the one renderer that would, the JSON viewer), and the licences of the bundle
FILES = ["lib/index.js", "lib/thebe.css", "lib/index.js.LICENSE.txt"]
KEPT = ["LICENSE"]  # thebe's licence, from github.com/executablebooks/thebe (not on npm)
REFRESH = "python tools/vendor_thebe.py VERSION"


def sha256(path):
    return "sha256-" + base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def check(target=TARGET):
    """Problems of the vendored files against ``VENDOR.json`` (an empty list if none)."""
    record = json.loads((target / "VENDOR.json").read_text(encoding="utf-8"))
    problems = []
    expected = set(record["files"]) | {"VENDOR.json"}
    present = {p.name for p in target.iterdir()}
    problems += [f"not in the record: {name}" for name in sorted(present - expected)]
    for name, digest in record["files"].items():
        path = target / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif sha256(path) != digest:
            problems.append(f"changed since it was vendored: {name}")
    return problems


def refresh(version):
    view = subprocess.run(
        ["npm", "view", f"{PACKAGE}@{version}", "dist.integrity", "dist.tarball", "license",
         "--json"], check=True, capture_output=True, text=True)
    meta = json.loads(view.stdout)
    if meta["license"] != "BSD-3-Clause":
        sys.exit(f"{PACKAGE}@{version} is licensed {meta['license']!r}, not BSD-3-Clause: "
                 "check the licence before vendoring it")
    algorithm, _, expected = meta["dist.integrity"].partition("-")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--silent"], cwd=tmp,
                       check=True, capture_output=True)
        tarball = Path(tmp) / f"{PACKAGE}-{version}.tgz"
        digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest())
        if digest.decode() != expected:
            sys.exit(f"{tarball.name}: {algorithm} does not match the registry's integrity")
        with tarfile.open(tarball) as archive:
            for name in FILES:
                member = archive.getmember(f"package/{name}")
                data = archive.extractfile(member).read()
                (TARGET / Path(name).name).write_bytes(data)
    names = [Path(name).name for name in FILES] + KEPT
    record = {
        "package": PACKAGE,
        "version": version,
        "license": meta["license"],
        "tarball": meta["dist.tarball"],
        "integrity": meta["dist.integrity"],
        "refresh": REFRESH.replace("VERSION", version),
        "licence_file": "LICENSE is thebe's, from https://github.com/executablebooks/thebe "
                        "(the npm package ships none); index.js.LICENSE.txt lists the "
                        "licences of the code bundled in index.js",
        "files": {name: sha256(TARGET / name) for name in names},
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"vendored {PACKAGE}@{version} into {TARGET.relative_to(ROOT)}: "
          + ", ".join(names))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", nargs="?", help="the thebe version to vendor, e.g. 0.9.3")
    parser.add_argument("--check", action="store_true", help="check the vendored files, offline")
    args = parser.parse_args(argv)
    if args.check or not args.version:
        problems = check()
        print("\n".join(problems) or f"{TARGET.relative_to(ROOT)} matches VENDOR.json")
        return 1 if problems else 0
    refresh(args.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
