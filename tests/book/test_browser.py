"""Open every chapter of the built book in headless Chromium: charts drawn, nothing fetched off-host, no errors."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("XLSTM_LAB_BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def _toc_files(toc: Path) -> list[str]:
    """Every `file:` entry of a Jupyter Book _toc.yml, in order."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            if "root" in node:
                out.append(node["root"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text()))
    return out


CHAPTERS = [f for f in _toc_files(ROOT / "_toc.yml") if f.startswith("notebooks/")]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would drown the test output
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML}: run `make book` first (`make test` does it for you).")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing on CI: .ci/run installs Debian's chromium (apt-get install -y chromium).")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium); CI installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_toc_lists_the_five_result_chapters():
    names = {Path(f).name for f in CHAPTERS}
    assert {"loss_surface", "isoflop_optima", "overtraining", "context_dependence", "inference_latency"} <= names


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_offline(server, browser, chapter):
    page_path = HTML / f"{chapter}.html"
    assert page_path.exists(), f"{page_path} was not built"
    page = browser.new_page()
    off_host: list[str] = []
    failed: list[str] = []

    def on_request(req):
        url = req.url
        if not (url.startswith(server) or url.startswith("data:") or url.startswith("blob:") or url == "about:blank"):
            off_host.append(url)

    page.on("request", on_request)
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.goto(f"{server}/{chapter}.html", wait_until="load")
    n_charts = page.locator(".xlstm-lab-chart").count()
    assert n_charts >= 1, f"{chapter}: no chart on the page"
    # vegaEmbed renders asynchronously: wait until every chart container holds drawn marks.
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.xlstm-lab-chart')).every(
               el => el.querySelector('.xlstm-chart-error') ||
                     (el.classList.contains('vega-embed') && el.querySelector('svg.marks, canvas')))""",
        timeout=30_000,
    )
    chart_errors = page.locator(".xlstm-chart-error").all_inner_texts()
    assert not chart_errors, f"{chapter}: chart errors {chart_errors}"
    tracebacks = page.locator(".output.traceback, .output.error, .output.stderr:has-text('Traceback')").count()
    assert tracebacks == 0, f"{chapter}: {tracebacks} cell(s) show an error or traceback"
    body = page.inner_text("body")
    assert "Traceback (most recent call last)" not in body, f"{chapter}: a traceback is printed on the page"
    assert not off_host, f"{chapter}: requests left 127.0.0.1: {off_host[:5]}"
    assert not [u for u in failed if u.startswith(server)], f"{chapter}: local requests failed: {failed[:5]}"
    page.close()
