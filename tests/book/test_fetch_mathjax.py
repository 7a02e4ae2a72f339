"""book/fetch_mathjax.py: the MathJax browser build is unpacked from the pinned wheel, CDN loader left out."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("fetch_mathjax", ROOT / "book" / "fetch_mathjax.py")
fm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fm)


def _wheel(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, f"// {name}\n")
    return path


def test_unpack_keeps_the_browser_build_and_drops_the_cdn_loader(tmp_path):
    p = fm.PREFIX
    wheel = _wheel(tmp_path / "w.whl", [
        p + "es5/tex-chtml.js", p + "es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff", p + "es5/latest.js",
        p + "es5/node-main.js", p + "ts/core.ts", p + "LICENSE", "mathjax/__init__.py",
    ])
    dest = tmp_path / "static" / "mathjax"
    dest.mkdir(parents=True)
    (dest / "stale.js").write_text("old")
    n = fm.unpack(wheel, dest)
    files = sorted(str(f.relative_to(dest)) for f in dest.rglob("*") if f.is_file())
    assert files == ["LICENSE", "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff", "tex-chtml.js"]
    assert n == 3
    assert not (tmp_path / "static" / "mathjax.partial").exists()


def test_unpack_refuses_a_wheel_without_the_entry_point(tmp_path):
    wheel = _wheel(tmp_path / "w.whl", [fm.PREFIX + "es5/tex-svg.js"])
    dest = tmp_path / "mathjax"
    with pytest.raises(fm.MathJaxFetchError, match="tex-chtml.js"):
        fm.unpack(wheel, dest)
    assert not dest.exists() and not (tmp_path / "mathjax.partial").exists()


def test_config_loads_the_fetched_entry_point():
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["sphinx"]["config"]["mathjax_path"] == f"mathjax/{fm.ENTRY}"
    assert "book/_static/mathjax/" in (ROOT / ".gitignore").read_text().splitlines()
    assert {"dollarmath", "amsmath"} <= set(cfg["parse"]["myst_enable_extensions"])
