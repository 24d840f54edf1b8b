"""The student edition: solutions gone (text, code, outputs), stubs kept and runnable."""

from __future__ import annotations

import os
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
    add_instructor_pages(fake_book)  # left out, links unlinked, kept include copied
    out = tmp_path / "student"
    make_student_edition(fake_book, out, publish="my-course/nb")
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
    assert "Shared paragraph, kept." in (html / "book" / "api.html").read_text()
    assert not (html / "book" / "instructors.html").exists()


def add_instructor_pages(root: Path) -> None:
    """An instructor guide including a file outside book/, an appendix, and links to both."""
    (root / "results").mkdir()
    (root / "results" / "table.md").write_text(f"| grading | {SENTINEL} |\n")
    (root / "book" / "instructors.md").write_text(
        "(instructors)=\n# Teaching with this book\n\nGrading internals.\n\n"
        "```{include} ../results/table.md\n```\n"
    )
    (root / "book" / "benchmark.md").write_text("(benchmark)=\n# Appendix: speed\n\nTables.\n")
    (root / "book" / "shared.md").write_text("Shared paragraph, kept.\n")
    toc = (
        (root / "_toc.yml")
        .read_text()
        .replace(
            "      - file: book/api\n",
            "      - file: book/api\n      - file: book/instructors\n      - file: book/benchmark\n",
        )
    )
    (root / "_toc.yml").write_text(toc)
    api = (root / "book" / "api.md").read_text()
    (root / "book" / "api.md").write_text(
        api + "\nSee {doc}`the guide <instructors>`, {ref}`benchmark`, {doc}`benchmark`,"
        " [the appendix](benchmark.md) and {ref}`the intro <intro-label>`.\n\n"
        "```{include} shared.md\n```\n\n"
        "% instructor-only:start\n## Grading API\n\nrun_notebook internals\n"
        "% instructor-only:end\n\nAfter.\n"
    )
    (root / "book" / "intro.md").write_text("(intro-label)=\n# Intro\n\nWelcome.\n")


def test_instructor_pages_and_what_they_include_are_left_out(fake_book, tmp_path):
    add_instructor_pages(fake_book)
    out = tmp_path / "student"
    written = make_student_edition(fake_book, out)
    names = [p.relative_to(out).as_posix() for p in written]
    assert "book/instructors.md" not in names and "book/benchmark.md" not in names
    assert not (out / "book" / "instructors.md").exists()
    assert not (out / "results").exists()  # the guide's include is not copied
    toc = yaml.safe_load((out / "_toc.yml").read_text())
    assert toc_files(toc) == ["book/intro", "book/ch_one", "book/ch_two", "book/api"]
    api = (out / "book" / "api.md").read_text()
    # Links to left-out pages become their text; links to kept pages stay links.
    assert "See the guide, Appendix: speed, Appendix: speed, the appendix and" in api
    assert "{ref}`the intro <intro-label>`" in api
    assert "instructors" not in api and "benchmark" not in api
    assert "Grading API" not in api and "run_notebook" not in api and "After." in api
    assert (out / "book" / "shared.md").read_text() == "Shared paragraph, kept.\n"
    assert SENTINEL not in all_text(out)
    # Asking for an instructor page by name is refused, not silently dropped.
    with pytest.raises(ValueError, match="instructors only"):
        make_student_edition(fake_book, tmp_path / "o2", chapters=["ch_one", "instructors"])


def test_includes_outside_the_book_and_broken_markers_are_refused(fake_book, tmp_path):
    api = fake_book / "book" / "api.md"
    api.write_text("# API\n\n```{include} ../../elsewhere.md\n```\n")
    (fake_book.parent / "elsewhere.md").write_text("outside\n")
    with pytest.raises(ValueError, match="not a file inside the book"):
        make_student_edition(fake_book, tmp_path / "out")
    api.write_text("# API\n\n% instructor-only:start\nsecret\n")
    with pytest.raises(ValueError, match="api.md.*no matching"):
        make_student_edition(fake_book, tmp_path / "out2")


def test_selected_chapters_lose_links_to_the_chapters_left_out(fake_book, tmp_path):
    two = fake_book / "book" / "ch_two.md"
    two.write_text(
        two.read_text().replace(
            "# Chapter two", "# Chapter two\n\nAs in {ref}`one-ex1` and {doc}`ch_one`."
        )
    )
    out = tmp_path / "student"
    make_student_edition(fake_book, out, chapters=["ch_two"])
    nb = nbformat.read(out / "book" / "ch_two.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "As in {ref}`one-ex1` and Chapter one." in text  # a label not in a page title


@pytest.mark.parametrize(
    ("publish", "repo"),
    [
        ("my-course/cnn-notebooks", "https://github.com/my-course/cnn-notebooks"),
        (
            "https://github.com/my-course/cnn-notebooks.git",
            "https://github.com/my-course/cnn-notebooks",
        ),
        (
            "https://github.com/my-course/cnn-notebooks/tree/main",
            "https://github.com/my-course/cnn-notebooks",
        ),
    ],
)
def test_buttons_open_the_published_repository(fake_book, tmp_path, publish, repo):
    (fake_book / "_config.yml").write_text(
        (fake_book / "_config.yml").read_text()
        + "repository:\n  url: https://github.com/cnncourse/cnncourse\n  branch: main\n"
        + "launch_buttons:\n  colab_url: https://colab.research.google.com\n"
        + "html:\n  use_repository_button: true\n  use_issues_button: true\n"
    )
    out = tmp_path / "student"
    make_student_edition(fake_book, out, publish=publish, branch="week3")
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["repository"] == {"url": repo, "path_to_book": "", "branch": "week3"}
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    assert config["html"]["use_issues_button"] is False
    assert "cnncourse/cnncourse" not in (out / "_config.yml").read_text()


def test_without_a_repository_no_button_leads_to_the_course(fake_book, tmp_path):
    (fake_book / "_config.yml").write_text(
        (fake_book / "_config.yml").read_text()
        + "repository:\n  url: https://github.com/cnncourse/cnncourse\n"
        + "launch_buttons:\n  colab_url: https://colab.research.google.com\n"
    )
    for publish in (None, "https://moodle.example.edu/course/view.php?id=7"):
        out = tmp_path / f"student-{publish is None}"
        make_student_edition(fake_book, out, publish=publish)
        config = yaml.safe_load((out / "_config.yml").read_text())
        assert "repository" not in config and "launch_buttons" not in config
        assert config["html"]["use_repository_button"] is False
        footer = config["html"].get("extra_footer", "")
        assert (publish in footer) if publish else footer == ""
    with pytest.raises(ValueError, match="neither a GitHub repository"):
        make_student_edition(fake_book, tmp_path / "bad", publish="ftp://x")


def test_student_book_executes_in_quick_mode_unless_told(fake_book, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from cnncourse.exercises import student

    make_student_edition(fake_book, tmp_path / "quick")
    make_student_edition(fake_book, tmp_path / "full", quick=False)
    for name, quick in (("quick", True), ("full", False)):
        config = yaml.safe_load((tmp_path / name / "_config.yml").read_text())
        assert "cnncourse.exercises.student" in config["sphinx"]["extra_extensions"]
        assert config["sphinx"]["config"]["cnncourse_quick"] is quick

    class App:  # what setup() uses of Sphinx's application
        def __init__(self):
            self.values, self.hooks = {}, {}

        def add_config_value(self, name, default, rebuild):
            self.values[name] = default

        def connect(self, event, hook):
            self.hooks[event] = hook

    for env, quick, expected in ((None, True, "1"), (None, False, "0"), ("0", True, "0")):
        monkeypatch.delenv("CNNCOURSE_QUICK", raising=False)
        if env is not None:
            monkeypatch.setenv("CNNCOURSE_QUICK", env)
        app = App()
        student.setup(app)
        assert app.values == {"cnncourse_quick": True}
        app.hooks["config-inited"](app, SimpleNamespace(cnncourse_quick=quick))
        assert os.environ["CNNCOURSE_QUICK"] == expected


def test_assignment_archive_holds_the_notebooks_and_a_readme(fake_book, tmp_path):
    import zipfile

    from cnncourse.exercises.student import write_assignment

    out = tmp_path / "week3"
    written = make_student_edition(
        fake_book, out, chapters=["ch_one", "ch_two"], publish="my-course/nb", branch="w3"
    )
    notebooks = [p for p in written if p.suffix == ".ipynb"]
    archive = write_assignment(
        out, "week3", notebooks, publish="my-course/nb", branch="w3", submit="upload to Moodle"
    )
    assert archive == out / "week3.zip"
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == [
            "week3/README.md",
            "week3/ch_one.ipynb",
            "week3/ch_two.ipynb",
        ]
        readme = z.read("week3/README.md").decode()
        nb = nbformat.reads(z.read("week3/ch_one.ipynb").decode(), as_version=4)
    assert SENTINEL not in readme and all(SENTINEL not in c.source for c in nb.cells)
    colab = "https://colab.research.google.com/github/my-course/nb/blob/w3/book/ch_one.ipynb"
    assert colab in readme
    assert 'check("' in readme and "upload to Moodle" in readme and "jupyter lab" in readme
    with pytest.raises(ValueError, match="assignment name"):
        write_assignment(out, "week 3/..", notebooks)
    plain = write_assignment(out, "w", notebooks[:1])  # no repository: upload to Colab
    with zipfile.ZipFile(plain) as z:
        assert "Upload notebook" in z.read("w/README.md").decode()


def test_cli_writes_the_edition_and_the_assignment(fake_book, tmp_path, capsys):
    import zipfile

    from cnncourse.cli import main

    out = tmp_path / "handout"
    status = main(
        [
            "student-edition", str(out), "--book", str(fake_book),
            "--chapters", "ch_one,ch_two", "--assignment", "week3",
            "--publish-url", "my-course/nb", "--full",
        ]
    )  # fmt: skip
    assert status == 0
    assert "full size" in capsys.readouterr().out
    with zipfile.ZipFile(out / "week3.zip") as z:
        assert {"week3/ch_one.ipynb", "week3/ch_two.ipynb"} <= set(z.namelist())
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["sphinx"]["config"]["cnncourse_quick"] is False
    with pytest.raises(SystemExit) as exc:
        main(
            ["student-edition", str(tmp_path / "x"), "--book", str(fake_book), "--assignment", "a"]
        )
    assert exc.value.code == 2
