"""The rendered book, read as a reader would: Chromium (Debian's) driven by Playwright, offline.

Needs a built book: ``make test`` builds the quick-mode book first and points
``CNNCOURSE_BOOK_HTML`` at it (``make browser`` does both). Every page in ``_toc.yml``
must open without console errors, show its images, and (chapters) carry executed
outputs, the notebook download button and an "Open in Colab" link to a notebook that
exists in this repository. MathJax, which pages load from a CDN, is served from the
``django-static-mathjax`` wheel so the formulas render offline too. Screenshots of
every page land in ``_build/screenshots`` (CI keeps them as an artifact).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import ROOT, is_notebook_chapter, toc_chapters

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGES = toc_chapters()


@pytest.fixture(scope="module")
def html_dir() -> Path:
    path = Path(os.environ.get("CNNCOURSE_BOOK_HTML", ROOT / "_build/quick/_build/html"))
    if not (path / "index.html").is_file():
        pytest.fail(f"no built book at {path}: run `make book-quick` (or `make browser`) first")
    return path


@pytest.fixture(scope="module")
def site(html_dir):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_dir))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is missing: run `bash .ci/system-deps.sh` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


def serve_mathjax_locally(page) -> None:
    """Answer the CDN's MathJax requests from the installed wheel; refuse any other host."""
    import mathjax

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"

    def handle(route):
        url = route.request.url
        host = urlparse(url).hostname
        if host == "127.0.0.1":
            return route.continue_()
        match = re.search(r"/mathjax@3[^/]*/es5/(.+)$", urlparse(url).path)
        if match and (es5 / match[1]).is_file():
            return route.fulfill(path=str(es5 / match[1]))
        return route.abort()

    page.route("**/*", handle)


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    serve_mathjax_locally(page)
    page.goto(url, wait_until="networkidle")
    return page, errors


@pytest.mark.parametrize("doc", PAGES)
def test_page_opens_cleanly_with_images(browser, site, html_dir, doc):
    page, errors = open_page(browser, f"{site}/{doc}.html")
    try:
        assert page.title(), f"{doc} has no title"
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert not broken, f"{doc}: images that do not load: {broken}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{doc.replace('/', '_')}.png"), full_page=True)
        assert not errors, f"{doc}: console errors: {errors}"
    finally:
        page.close()


@pytest.mark.parametrize("doc", [d for d in PAGES if is_notebook_chapter(d)])
def test_chapter_has_outputs_download_and_colab(browser, site, doc):
    page, _ = open_page(browser, f"{site}/{doc}.html")
    try:
        outputs = page.locator("div.cell_output").count()
        assert outputs >= 3, f"{doc}: only {outputs} executed outputs"
        assert page.locator("div.cell_output img").count() >= 1, f"{doc}: no figure"
        ipynb = page.eval_on_selector_all(
            "a[href$='.ipynb']", "links => links.map(a => a.getAttribute('href'))"
        )
        assert any("_sources" in href for href in ipynb), f"{doc}: no notebook download: {ipynb}"
        colab = page.eval_on_selector_all(
            "a[href*='colab.research.google.com']", "links => links.map(a => a.href)"
        )
        assert colab, f"{doc}: no Open in Colab link"
        target = re.search(r"/blob/[^/]+/(.+\.ipynb)$", colab[0])
        assert target, f"{doc}: Colab link does not open a notebook: {colab[0]}"
        assert (ROOT / target[1]).is_file(), f"Colab link points to missing {target[1]}"
        assert target[1] == f"{doc}.ipynb"
    finally:
        page.close()


def test_internal_links_resolve(html_dir):
    """Every relative link of every page points to a file of the build (and anchor, if any)."""
    broken = []
    for page in html_dir.rglob("*.html"):
        if "_static" in page.parts or "_modules" in page.parts:
            continue
        html = page.read_text(errors="replace")
        for href in re.findall(r'href="([^"#:?]+)(?:#([^"]*))?"', html):
            target = (page.parent / unquote(href[0])).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)} -> {href[0]}")
            elif href[1] and target.suffix == ".html":
                anchor = unquote(href[1])
                if f'id="{anchor}"' not in target.read_text(errors="replace"):
                    broken.append(f"{page.relative_to(html_dir)} -> {href[0]}#{anchor}")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken))[:30])


def test_search_finds_convolution(browser, site):
    page, errors = open_page(browser, f"{site}/search.html?q=convolution")
    try:
        page.wait_for_selector("#search-results li", timeout=20_000)
        hits = page.locator("#search-results li").count()
        assert hits >= 1
        assert not errors, errors
    finally:
        page.close()
