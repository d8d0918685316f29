"""The vendored JavaScript of the live code is the package version it claims to be.

``docs/_static/thebe/`` holds the files of the npm package ``thebe`` that a page loads
when a reader clicks Run, and ``VENDOR.json`` records the version, the registry's
integrity hash and each file's SHA-256 (``python tools/vendor_thebe.py VERSION``
refreshes both). Offline: this checks the files against that record.
"""

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "_static" / "thebe"


def _tool():
    path = ROOT / "tools" / "vendor_thebe.py"
    spec = importlib.util.spec_from_file_location("vendor_thebe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendored_files_match_the_record():
    assert _tool().check(TARGET) == []


def test_the_record_names_version_integrity_licence_and_refresh_command():
    record = json.loads((TARGET / "VENDOR.json").read_text(encoding="utf-8"))
    assert record["package"] == "thebe"
    assert re.fullmatch(r"\d+\.\d+\.\d+", record["version"])
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", record["integrity"])
    assert record["tarball"] == (f"https://registry.npmjs.org/thebe/-/thebe-{record['version']}.tgz")
    assert record["license"] == "BSD-3-Clause"
    assert record["refresh"] == f"python tools/vendor_thebe.py {record['version']}"
    assert set(record["files"]) == {"index.js", "thebe.css", "index.js.LICENSE.txt", "LICENSE"}
    licence = (TARGET / "LICENSE").read_text(encoding="utf-8")
    assert "Redistribution and use in source and binary forms" in licence
    assert "Executable Books Project" in licence


def test_the_bundle_is_the_recorded_version_and_has_no_source_maps():
    record = json.loads((TARGET / "VENDOR.json").read_text(encoding="utf-8"))
    bundle = (TARGET / "index.js").read_text(encoding="utf-8")
    assert f'"{record["version"]}"' in bundle
    assert not list(TARGET.glob("*.map"))


def test_a_changed_file_is_reported(tmp_path):
    for path in TARGET.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "thebe.css").write_text("/* edited */", encoding="utf-8")
    (tmp_path / "extra.js").write_text("", encoding="utf-8")
    problems = _tool().check(tmp_path)
    assert "changed since it was vendored: thebe.css" in problems
    assert "not in the record: extra.js" in problems
