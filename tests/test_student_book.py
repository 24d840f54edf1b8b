"""The student edition built from a fresh clone, read as a student would.

The module builds ``cnncourse student-edition OUT --publish-url PUBLISH`` from a clone
of the repository into HTML (quick mode, the edition's default) with ``-W``, then
checks every page: no solution, no grader internals, no instructor-only page, and
every launch link points at the publishing location. ``CNNCOURSE_STUDENT_HTML`` names
an edition built that way already (its ``_build/html``) to check it without building.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_browser import browser, open_page  # noqa: F401  (the fixture, reused)

from cnncourse.exercises.student import toc_files

pytestmark = pytest.mark.slow

PUBLISH = "my-course/cnn-notebooks"
REPO = f"https://github.com/{PUBLISH}"
COLAB_PREFIX = f"https://colab.research.google.com/github/{PUBLISH}/blob/main/"
# What a student must not read: solutions, the grader's workings, instructor pages.
FORBIDDEN = re.compile(
    r"\bsolutions?\b|\bgrad(?:e|es|er|ing)\b|run_notebook|CNNCOURSE_GRADING_LOG"
    r"|instructor|Teaching with this book|how fast, how accurate|make_student_edition",
    re.I,
)
JB = "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """The student edition's folder, with its HTML in ``_build/html``."""
    prebuilt = os.environ.get("CNNCOURSE_STUDENT_HTML")
    if prebuilt:
        return Path(prebuilt).resolve().parents[1]
    pytest.importorskip("jupyter_book")
    if shutil.which("git") is None:
        pytest.skip("git is needed to clone the repository")
    work = tmp_path_factory.mktemp("student-book")
    clone, out = work / "clone", work / "edition"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ}
    env.pop("CNNCOURSE_QUICK", None)  # the edition's own default must give quick mode
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(clone), env.get("PYTHONPATH")]))
    subprocess.run(
        [sys.executable, "-m", "cnncourse", "student-edition", str(out), "--publish-url", PUBLISH],
        cwd=clone,
        env=env,
        check=True,
        capture_output=True,
    )
    build = subprocess.run(
        [sys.executable, "-c", JB, "build", str(out), "-W", "--keep-going"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    return out


def pages(edition: Path) -> list[Path]:
    html = edition / "_build" / "html"
    return [p for p in html.rglob("*.html") if "_static" not in p.parts]


def visible_text(page: Path) -> str:
    text = page.read_text(errors="replace")
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", text))


def test_edition_has_its_pages_and_no_instructor_page(edition):
    toc = yaml.safe_load((edition / "_toc.yml").read_text())
    docs = toc_files(toc)
    html = edition / "_build" / "html"
    assert all((html / f"{doc}.html").is_file() for doc in docs)
    assert not {"book/instructors", "book/benchmark"} & set(docs)
    assert not (html / "book" / "instructors.html").exists()
    assert not (html / "book" / "benchmark.html").exists()


def test_no_page_mentions_solutions_grading_or_instructor_pages(edition):
    found = {}
    for page in pages(edition):
        hits = sorted({m.group(0) for m in FORBIDDEN.finditer(visible_text(page))})
        if hits:
            found[page.name] = hits
    assert not found, f"pages a student should not read this on: {found}"


def test_every_launch_link_points_at_the_publishing_location(edition):
    html = edition / "_build" / "html"
    chapters = [p for p in (edition / "book").glob("*.ipynb")]
    assert chapters
    for page in pages(edition):
        text = page.read_text(errors="replace")
        hrefs = re.findall(r'href="([^"]+)"', text)
        assert not [h for h in hrefs if "cnncourse/cnncourse" in h], page
        # The header's buttons (launch, repository, download): anchors with a btn class.
        buttons = re.findall(r'<a\s+href="([^"]+)"[^>]*class="btn\b', text, flags=re.S)
        for href in buttons:
            if "colab.research.google.com" in href:
                assert href.startswith(COLAB_PREFIX), href
                assert (edition / href.removeprefix(COLAB_PREFIX)).is_file(), href
            elif href.startswith("http"):
                assert href.startswith(REPO), href
    for notebook in chapters:
        page = (html / "book" / f"{notebook.stem}.html").read_text()
        assert f'{COLAB_PREFIX}book/{notebook.name}"' in page, notebook.stem
        assert f"_sources/book/{notebook.name}" in page  # the download button


@pytest.mark.browser
def test_pages_open_cleanly_in_the_browser(edition, browser):  # noqa: F811
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    html = edition / "_build" / "html"
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    failures = {}
    try:
        for doc in toc_files(yaml.safe_load((edition / "_toc.yml").read_text())):
            page, errors = open_page(browser, f"{site}/{doc}.html")
            try:
                broken = page.eval_on_selector_all(
                    "img",
                    "i => i.filter(x => !(x.complete && x.naturalWidth > 0)).map(x => x.src)",
                )
                if errors or broken or not page.title():
                    failures[doc] = {"errors": errors, "broken images": broken}
            finally:
                page.close()
    finally:
        server.shutdown()
        server.server_close()
    assert not failures, failures
