"""The student edition: solutions gone (text, code, outputs), stubs kept and runnable."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from cnncourse.exercises.student import (
    find_book_root,
    make_student_edition,
    strip_solutions,
    toc_files,
)

nbformat = pytest.importorskip("nbformat")  # the student edition writes notebooks

SENTINEL = "SENTINEL-SOLUTION-7f3a"

FRONT = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def chapter(title: str, check_id: str, correct: str, label: str) -> str:
    """A MyST notebook chapter with one gated exercise, its solution and a hidden assert."""
    return FRONT + textwrap.dedent(
        f"""
        # {title}

        ```{{code-cell}} ipython3
        from cnncourse.exercises import check
        ```

        ## Exercises

        ```{{exercise-start}}
        :label: {label}
        :class: exercise-easy
        ```

        How many parameters? ![figure](images/fig.png)

        ```{{code-cell}} ipython3
        :tags: [exercise-stub]
        answer = None  # replace None with your answer
        check("{check_id}", answer)
        ```

        ```{{exercise-end}}
        ```

        ```{{solution-start}} {label}
        :class: dropdown
        ```

        The reasoning ({SENTINEL} prose) goes here.

        ```{{code-cell}} ipython3
        answer = {correct}  # {SENTINEL} code
        check("{check_id}", answer)
        ```

        ````{{note}}
        A nested block in the solution, {SENTINEL} too.
        ```python
        print("{SENTINEL}")
        ```
        ````

        ```{{solution-end}}
        ```

        ```{{code-cell}} ipython3
        :tags: [remove-cell]
        assert 2 + 2 == 4, "hidden assert of the chapter"
        ```

        ```{{solution}} {label}
        A plain solution block, {SENTINEL}.
        ```

        The markup, shown as text, is left alone:

        `````md
        ```{{solution-start}} example-ex1
        ```
        ```{{solution-end}}
        ```
        `````
        """
    )


def write_fake_book(root: Path) -> Path:
    """A two-chapter book (plus an intro page and an image) in the repository's layout."""
    (root / "book" / "images").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        "  - caption: Part I\n    chapters:\n"
        "      - file: book/ch_one\n      - file: book/ch_two\n"
        "  - caption: Reference\n    chapters:\n      - file: book/api\n"
    )
    (root / "_config.yml").write_text(
        "title: Fake course\nonly_build_toc_files: true\n"
        "exclude_patterns: [_build/*, 'book/*.ipynb']\n"
        "execute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  extra_extensions: [sphinx_exercise]\n  local_extensions: {fixes: book/_ext}\n"
        "  config:\n    exercise_style: solution_follow_exercise\n"
    )
    (root / "book" / "intro.md").write_text("# Intro\n\nWelcome.\n")
    (root / "book" / "api.md").write_text("# API\n\nReference page.\n")
    (root / "book" / "ch_one.md").write_text(
        chapter("Chapter one", "why-params-dense", "784 * 128 + 128", "one-ex1")
    )
    (root / "book" / "ch_two.md").write_text(
        chapter("Chapter two", "why-params-conv", "1 * 32 * 3 * 3 + 32", "two-ex1")
    )
    (root / "book" / "images" / "fig.png").write_bytes(b"\x89PNG fake")
    (root / "book" / "_ext").mkdir()
    (root / "book" / "_ext" / "fixes.py").write_text("def setup(app):\n    return {}\n")
    (root / "book" / "ch_one.py").write_text(f"# a jupytext twin: {SENTINEL}\n")
    (root / "book" / "draft.md").write_text(f"# not in the toc: {SENTINEL}\n")
    return root


@pytest.fixture
def fake_book(tmp_path) -> Path:
    return write_fake_book(tmp_path / "repo")


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_student_edition_has_no_solution_and_keeps_stubs(fake_book, tmp_path):
    out = tmp_path / "student"
    written = make_student_edition(fake_book, out)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "book/intro.md",
        "book/ch_one.ipynb",
        "book/ch_two.ipynb",
        "book/api.md",
    ]
    assert SENTINEL in all_text(fake_book)  # the test would catch a leak
    assert SENTINEL not in all_text(out)
    nb = nbformat.read(out / "book" / "ch_one.ipynb", as_version=4)
    nbformat.validate(nb)
    sources = [c.source for c in nb.cells]
    stubs = [c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", [])]
    assert len(stubs) == 1 and "answer = None" in stubs[0].source
    assert any("exercise-start" in s for s in sources) and any(
        "exercise-end" in s for s in sources
    )
    assert not any("solution-start" in s or "solution-end" in s for s in sources[:-1])
    hidden = [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert len(hidden) == 1 and "hidden assert" in hidden[0].source
    assert "```{solution-start} example-ex1" in sources[-1]  # example markup kept as text
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    assert "jupytext" not in nb.metadata and nb.metadata.kernelspec.name == "python3"
    assert (out / "book" / "images" / "fig.png").read_bytes() == b"\x89PNG fake"
    assert (out / "book" / "_ext" / "fixes.py").is_file()  # the config's local extension
    assert not (out / "book" / "ch_one.py").exists() and not (out / "book" / "draft.md").exists()


def test_student_config_hides_solutions_and_keeps_the_chapters(fake_book, tmp_path):
    out = tmp_path / "student"
    make_student_edition(fake_book / "book", out, chapters=["ch_two"])  # book/ works too
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["sphinx"]["config"]["hide_solutions"] is True
    assert config["sphinx"]["config"]["exercise_style"] == "solution_follow_exercise"
    assert config["title"] == "Fake course (student edition)"
    assert config["exclude_patterns"] == ["_build/*"]  # book/*.ipynb would hide the chapters
    toc = yaml.safe_load((out / "_toc.yml").read_text())
    assert toc_files(toc) == ["book/intro", "book/ch_two"]
    assert [part["caption"] for part in toc["parts"]] == ["Part I"]
    assert not (out / "book" / "ch_one.ipynb").exists()


def test_unknown_chapter_and_bad_folders_are_refused(fake_book, tmp_path):
    with pytest.raises(ValueError, match="ch_three.*choose from: intro, ch_one, ch_two, api"):
        make_student_edition(fake_book, tmp_path / "out", chapters=["ch_three"])
    with pytest.raises(ValueError, match="would overwrite the book"):
        make_student_edition(fake_book, fake_book)
    with pytest.raises(FileNotFoundError, match="no _toc.yml"):
        find_book_root(tmp_path / "empty")
    (fake_book / "book" / "ch_two.md").unlink()
    with pytest.raises(FileNotFoundError, match="book/ch_two"):
        make_student_edition(fake_book, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()  # nothing written before the check


def test_strip_solutions_refuses_malformed_gates():
    unterminated = "a\n```{solution-start} x\n```\nsecret\n"
    with pytest.raises(ValueError, match="no matching solution-end"):
        strip_solutions(unterminated)
    with pytest.raises(ValueError, match="without a solution-start"):
        strip_solutions("a\n```{solution-end}\n```\n")
    kept = "a\n```{solution-start} x\n```\nsecret\n```{solution-end}\n```\n\nb\n"
    assert strip_solutions(kept) == "a\n\nb\n"  # paragraphs stay apart
    colon = "a\n\n:::{solution-start} x\n:::\nsecret\n:::{solution-end}\n:::\nb\n"
    assert strip_solutions(colon) == "a\n\nb\n"


def test_student_notebook_runs_and_reports_not_attempted(fake_book, tmp_path):
    from nbclient import NotebookClient

    out = tmp_path / "student"
    make_student_edition(fake_book, out, chapters=["ch_one"])
    nb = nbformat.read(out / "book" / "ch_one.ipynb", as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()  # raises on any error
    stub = next(c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", []))
    texts = [o.get("text", "") for o in stub.outputs if o.output_type == "stream"]
    assert len(texts) == 1 and "why-params-dense: not attempted" in texts[0]
    # The cell ends with check(...): its Verdict must not be displayed a second time.
    assert [o.output_type for o in stub.outputs] == ["stream"]


def test_student_book_builds_without_any_solution(fake_book, tmp_path):
    import subprocess
    import sys

    pytest.importorskip("jupyter_book")
    out = tmp_path / "student"
    make_student_edition(fake_book, out)
    # sphinx-exercise's hide_solutions alone crashes on gated solutions (its issue #89);
    # the student sources have none left, so the build passes with warnings as errors.
    launcher = "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"
    build = subprocess.run(
        [sys.executable, "-c", launcher, "build", str(out), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = out / "_build" / "html"
    page = (html / "book" / "ch_one.html").read_text()
    assert "one-ex1" in page and "How many parameters?" in page
    assert not [p for p in html.rglob("*.html") if SENTINEL in p.read_text()]
