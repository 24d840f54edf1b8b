"""The student edition: every chapter as a notebook without solutions, and a book to match.

Solutions are the chapters' gated ``solution-start`` ... ``solution-end`` blocks (and
plain ``{solution}`` blocks); CONTRIBUTING.md ("Add an exercise check") gives the markup
and the rules a chapter follows so that removing them leaves a working notebook.

The student copy (``OUT/``) mirrors the book: ``OUT/_toc.yml`` (chosen chapters,
never the instructor-only pages of ``INSTRUCTOR_PAGES``), ``OUT/_config.yml`` (the
book's, with ``hide_solutions: true``, "(student edition)" in the title, no exclude
pattern that would hide the new ``.ipynb`` chapters, buttons that lead to the
publishing location only, and quick-mode execution by default through this module's
Sphinx ``setup``), chapters as ``OUT/<docname>.ipynb`` without outputs, plain pages as
``.md`` (their ``% instructor-only:start``/``end`` blocks removed, links to pages left
out turned into text, their includes copied), the files beside the chapters (images,
data) and the config's ``local_extensions`` folders.
Removing the solutions from the sources is what hides them: ``hide_solutions: true``
on its own crashes the HTML build on gated solutions (sphinx-exercise issue #89).
``make student PUBLISH=owner/repo`` runs::

    python -m cnncourse student-edition _build/student --publish-url owner/repo
    jupyter-book build _build/student -W --keep-going   # HTML in _build/student/_build/html
"""

from __future__ import annotations

import copy
import fnmatch
import os
import posixpath
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

from cnncourse.exercises.markup import solution_blocks, strip_solutions

__all__ = [
    "INSTRUCTOR_PAGES",
    "find_book_root",
    "github_repository",
    "make_student_edition",
    "write_assignment",
    "setup",
    "solution_blocks",
    "strip_solutions",
    "is_myst_notebook",
    "toc_files",
]

SOURCE_SUFFIXES = (".md", ".ipynb")
# Pages for the instructor only: never in the student edition, nor what they include.
INSTRUCTOR_PAGES = ("book/instructors", "book/benchmark")
# A kept page's instructor-only part sits between these MyST comment lines.
INSTRUCTOR_START, INSTRUCTOR_END = "% instructor-only:start", "% instructor-only:end"
QUICK_ENV = "CNNCOURSE_QUICK"
COLAB = "https://colab.research.google.com"


def make_student_edition(
    book_dir: str | Path,
    out_dir: str | Path,
    chapters: Iterable[str] | None = None,
    *,
    publish: str | None = None,
    branch: str = "main",
    quick: bool = True,
    leave_out: Iterable[str] = INSTRUCTOR_PAGES,
) -> list[Path]:
    """Write the student edition of the book at ``book_dir`` into ``out_dir``.

    Parameters
    ----------
    book_dir
        The book's source root: the folder holding ``_toc.yml`` and ``_config.yml``
        (the repository root here). The ``book/`` folder inside it is accepted too.
    out_dir
        Where to write; created if missing. Must not be the book itself.
    chapters
        Chapter names to include (``"why_convolutions"`` or ``"book/why_convolutions"``);
        ``None`` takes every file of the table of contents. The root page is always kept.
    publish
        Where the instructor publishes the edition: a GitHub repository (``owner/name``
        or its URL), whose notebooks the book's repository and Colab buttons then open,
        or any other URL, named in the footer. ``None``: no button leads anywhere.
    branch
        The branch of that repository the notebooks are on.
    quick
        Build the student book's HTML in quick mode (``CNNCOURSE_QUICK=1`` for the
        executed notebooks, unless the environment sets it); ``False`` runs full size.
    leave_out
        Pages for instructors only (default: the instructor guide and the benchmark
        appendix): never written, removed from the table of contents, and every link
        to them in a kept page becomes plain text.

    Returns
    -------
    list of Path
        The pages written, in table-of-contents order: ``.ipynb`` for notebook
        chapters, ``.md`` for plain pages.
    """
    import jupytext
    import nbformat
    import yaml

    root = find_book_root(book_dir)
    out = Path(out_dir).expanduser().resolve()
    if out == root or root.is_relative_to(out):
        raise ValueError(f"out_dir {out} would overwrite the book at {root}; pick another folder.")
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    docs = toc_files(toc)
    names = {_strip_suffix(str(name)) for name in leave_out}
    hidden = [d for d in docs if d in names or Path(d).name in names]
    if chapters is not None:
        asked = _select(docs, chapters, root_doc=None)
        if refused := [d for d in asked if d in hidden]:
            raise ValueError(
                f"{', '.join(refused)} is for instructors only and never goes into the "
                "student edition; leave it out of the chapters."
            )
    selected = [d for d in _select(docs, chapters, toc.get("root")) if d not in hidden]
    sources = {doc: _source(root, doc) for doc in selected}  # fail before writing anything
    links = _LeftOut(root, {doc: _source(root, doc) for doc in docs if doc not in selected})
    site = _publishing(publish, branch)

    written: list[Path] = []
    for doc, src in sources.items():
        text = _read_text(src, jupytext)
        try:
            stripped = links.unlink(_strip_instructor_parts(strip_solutions(text)), doc)
        except ValueError as err:
            raise ValueError(f"{src}: {err}") from err
        _copy_includes(root, out, src, stripped)
        if src.suffix == ".ipynb" or is_myst_notebook(text):
            target = out / f"{doc}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(_to_notebook(stripped, jupytext), target)
        else:
            target = out / f"{doc}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(stripped, encoding="utf-8")
        written.append(target)

    _write_toc(toc, set(selected), out / "_toc.yml")
    _write_config(root, out, written, site=site, quick=quick)
    _copy_assets(root, out, sources.values())
    return written


def write_assignment(
    out_dir: str | Path,
    name: str,
    notebooks: Iterable[str | Path],
    *,
    publish: str | None = None,
    branch: str = "main",
    submit: str | None = None,
) -> Path:
    """Zip one assignment: the chosen student notebooks and a README for students.

    Parameters
    ----------
    out_dir
        The student edition the notebooks come from; the archive is ``out_dir/NAME.zip``.
    name
        The assignment's name (letters, digits, ``-``, ``_``, ``.``): the archive's name
        and its top folder.
    notebooks
        The ``.ipynb`` files of the student edition to hand out.
    publish, branch
        The publishing location given to :func:`make_student_edition`: with a GitHub
        repository the README links each notebook's Colab page.
    submit
        How students hand in their notebooks (one sentence); a generic line otherwise.
    """
    import zipfile

    if not re.fullmatch(r"[\w.-]+", name or ""):
        raise ValueError(
            f"assignment name {name!r} must be letters, digits, '-', '_' or '.' "
            "(it names the archive), e.g. week3."
        )
    out = Path(out_dir).expanduser().resolve()
    files = [Path(nb).resolve() for nb in notebooks]
    if not files or any(f.suffix != ".ipynb" or not f.is_file() for f in files):
        raise ValueError(f"an assignment needs .ipynb notebooks of the edition, got {files}.")
    repo = github_repository(publish) if publish else None
    lines = [
        f"# {name}",
        "",
        "The notebooks of this assignment:",
        "",
    ]
    for f in files:
        rel = f.relative_to(out).as_posix()
        if repo:
            owner_name = repo.removeprefix("https://github.com/")
            lines.append(
                f"- `{f.name}`: [open in Colab]({COLAB}/github/{owner_name}/blob/{branch}/{rel})"
            )
        else:
            lines.append(f"- `{f.name}`")
    lines += [
        "",
        "## Open a notebook",
        "",
        "- **Colab**: "
        + (
            "follow the link above, then *File > Save a copy in Drive* to keep your work."
            if repo
            else f"go to {COLAB}, *File > Upload notebook*, and pick the notebook."
        )
        + " The first cell installs the course package.",
        "- **Your computer**: `pip install "
        '"cnncourse[keras,lab] @ git+https://github.com/cnncourse/cnncourse"`, then '
        "`jupyter lab` in the unzipped folder.",
        "",
        "## Check an answer",
        "",
        "Each exercise ends with a cell such as",
        "",
        "```python",
        "answer = None  # replace None with your answer",
        'check("conv-output-size", answer)',
        "```",
        "",
        "Replace `None` with your answer and run the cell: it prints *pass*, or *fail* with "
        "a hint, or *not attempted*. Run the notebook from the top first, so that the "
        "names the exercise uses exist.",
        "",
        "## Submit",
        "",
        "Run the whole notebook from the top (*Run all*), check that it finishes without "
        "an error, and save it. Hand in the `.ipynb` files, keeping their names: "
        + (submit or "the way your instructor asks (for example, uploaded to the course page)")
        + ".",
        "",
    ]
    target = out / f"{name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/README.md", "\n".join(lines))
        for f in files:
            archive.write(f, f"{name}/{f.name}")
    return target


def github_repository(publish: str) -> str | None:
    """``https://github.com/OWNER/NAME`` for ``OWNER/NAME`` or a GitHub URL; else ``None``."""
    text = publish.strip().removesuffix("/").removesuffix(".git")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        return f"https://github.com/{text}"
    url = urlparse(text)
    parts = [p for p in url.path.split("/") if p]
    on_github = url.scheme in ("http", "https") and url.netloc in ("github.com", "www.github.com")
    if on_github and len(parts) >= 2:
        return f"https://github.com/{parts[0]}/{parts[1].removesuffix('.git')}"
    return None


def setup(app) -> dict:
    """Sphinx hook of the student book: its notebooks execute in quick mode by default.

    The kernels that execute the notebooks inherit the build's environment, so the
    configuration value ``cnncourse_quick`` sets ``CNNCOURSE_QUICK`` for them, unless the
    environment already sets it (``CNNCOURSE_QUICK=0 jupyter-book build OUT`` runs full
    size).
    """
    app.add_config_value("cnncourse_quick", True, "env")

    def quick_mode(app, config) -> None:
        os.environ.setdefault(QUICK_ENV, "1" if config.cnncourse_quick else "0")

    app.connect("config-inited", quick_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _read_text(src: Path, jupytext) -> str:
    if src.suffix == ".ipynb":
        return jupytext.writes(jupytext.read(src), fmt="md:myst")
    return src.read_text(encoding="utf-8")


def _strip_instructor_parts(text: str) -> str:
    """Remove every block between ``% instructor-only:start`` and ``% instructor-only:end``."""
    kept, inside = [], False
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker == INSTRUCTOR_START:
            if inside:
                raise ValueError(f"line {number}: {INSTRUCTOR_START} inside another one.")
            inside = True
        elif marker == INSTRUCTOR_END:
            if not inside:
                raise ValueError(f"line {number}: {INSTRUCTOR_END} without a start.")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{INSTRUCTOR_START} has no matching {INSTRUCTOR_END}.")
    return "".join(kept)


_LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")
_ROLE = re.compile(r"\{(doc|ref|numref)\}`([^`]*)`")
_MD_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)")
_INCLUDE = re.compile(r"^\s*(`{3,}|:{3,})\{(?:include|literalinclude)\}\s+(\S+)", re.M)


class _LeftOut:
    """The pages left out, their titles and labels: links to them become plain text."""

    def __init__(self, root: Path, pages: dict[str, Path]) -> None:
        import jupytext

        self.titles: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        for doc, src in pages.items():
            lines = _read_text(src, jupytext).splitlines()
            headings = [m[1] for line in lines if (m := _HEADING.match(line))]
            self.titles[doc] = headings[0] if headings else Path(doc).name
            for i, line in enumerate(lines):
                if m := _LABEL.match(line):
                    after = next((h for h in lines[i + 1 :] if h.strip()), "")
                    heading = _HEADING.match(after)
                    self.labels[m[1]] = heading[1] if heading else m[1]

    def unlink(self, text: str, doc: str) -> str:
        here = posixpath.dirname(doc)

        def target_doc(target: str) -> str | None:
            target = target.split("#")[0]
            if not target or "://" in target:
                return None
            path = target[1:] if target.startswith("/") else posixpath.join(here, target)
            name = posixpath.normpath(path)
            for suffix in SOURCE_SUFFIXES:
                name = name.removesuffix(suffix)
            return name if name in self.titles else None

        def role(m: re.Match) -> str:
            kind, body = m[1], m[2]
            explicit = re.fullmatch(r"(.*?)\s*<([^<>]+)>", body, re.S)
            title, target = (explicit[1], explicit[2]) if explicit else (None, body.strip())
            if kind == "doc":
                left = target_doc(target)
                return (title or self.titles[left]) if left else m[0]
            if target in self.labels:
                return title or self.labels[target]
            return m[0]

        def link(m: re.Match) -> str:
            return m[1] if target_doc(m[2]) else m[0]

        return _MD_LINK.sub(link, _ROLE.sub(role, text))


def _copy_includes(root: Path, out: Path, src: Path, text: str) -> None:
    """Copy what a kept page includes into ``out`` (solutions stripped), refusing outside files."""
    for match in _INCLUDE.finditer(text):
        target = match[2]
        path = (root / target[1:]) if target.startswith("/") else (src.parent / target)
        path = path.resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise ValueError(
                f"{{include}} {target} is not a file inside the book at {root}; move it "
                "into the book or wrap the include in % instructor-only:start/end."
            )
        dest = out / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(strip_solutions(path.read_text(encoding="utf-8")), encoding="utf-8")


def _publishing(publish: str | None, branch: str) -> dict:
    """The config entries that point the student book at the publishing location."""
    if publish is None:
        return {}
    if not publish.strip():
        raise ValueError("publish is empty: give a GitHub repository (owner/name) or a URL.")
    repo = github_repository(publish)
    if repo:
        return {"repository": {"url": repo, "path_to_book": "", "branch": branch}}
    url = urlparse(publish.strip())
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(
            f"publish {publish!r} is neither a GitHub repository (owner/name) nor an "
            "http(s) URL; for example --publish-url my-course/cnn-notebooks."
        )
    return {"url": publish.strip()}


def find_book_root(book_dir: str | Path) -> Path:
    """The folder holding ``_toc.yml``: ``book_dir`` itself or its parent."""
    start = Path(book_dir).expanduser().resolve()
    for candidate in (start, start.parent):
        if (candidate / "_toc.yml").is_file():
            return candidate
    raise FileNotFoundError(
        f"no _toc.yml in {start} or its parent: pass the book's root folder (the one "
        "holding _toc.yml and _config.yml)."
    )


def toc_files(toc: dict) -> list[str]:
    """Every document a Jupyter Book ``_toc.yml`` names, root first, in reading order."""
    files = [toc["root"]] if toc.get("root") else []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: toc[key] for key in ("parts", "chapters", "sections") if key in toc})
    return [_strip_suffix(f) for f in files]


def is_myst_notebook(text: str) -> bool:
    """MyST notebooks carry a ``kernelspec`` in their front matter; plain pages do not."""
    if not text.startswith("---"):
        return False
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    return "kernelspec:" in front


def _to_notebook(text: str, jupytext):
    nb = jupytext.reads(text, fmt="md:myst")
    nb.metadata.pop("jupytext", None)  # no pairing: the student copy is a plain notebook
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not cell.source.strip():
            continue  # left behind where a solution was cut out
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    return nb


def _strip_suffix(doc: str) -> str:
    for suffix in SOURCE_SUFFIXES:
        if doc.endswith(suffix):
            return doc[: -len(suffix)]
    return doc


def _select(docs: list[str], chapters: Iterable[str] | None, root_doc: str | None) -> list[str]:
    if chapters is None:
        return docs
    if isinstance(chapters, str):
        chapters = [chapters]
    wanted = set()
    for name in chapters:
        key = _strip_suffix(str(name))
        matches = [d for d in docs if d == key or Path(d).name == key]
        if not matches:
            known = ", ".join(Path(d).name for d in docs)
            raise ValueError(f"chapter {name!r} is not in _toc.yml; choose from: {known}.")
        wanted.update(matches)
    root_doc = _strip_suffix(root_doc) if root_doc else None
    return [d for d in docs if d in wanted or d == root_doc]


def _source(root: Path, doc: str) -> Path:
    for suffix in SOURCE_SUFFIXES:
        if (root / f"{doc}{suffix}").is_file():
            return root / f"{doc}{suffix}"
    raise FileNotFoundError(
        f"_toc.yml names {doc!r}, but neither {doc}.md nor {doc}.ipynb exists in {root}."
    )


def _write_toc(toc: dict, keep: set[str], target: Path) -> None:
    import yaml

    def prune(node):
        if isinstance(node, list):
            items = [prune(item) for item in node]
            return [item for item in items if item is not None]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        for key in ("parts", "chapters", "sections"):
            if key in node:
                node[key] = prune(node[key])
                if not node[key]:
                    del node[key]
        if "file" in node and _strip_suffix(str(node["file"])) not in keep:
            return None
        if "file" not in node and not any(k in node for k in ("parts", "chapters", "sections")):
            return None  # a part whose chapters were all left out
        if "instructor" in str(node.get("caption", "")).lower():
            node["caption"] = "Reference"  # the instructors' pages are not in this edition
        return node

    pruned = {k: v for k, v in toc.items() if k not in ("parts", "chapters", "sections")}
    for key in ("parts", "chapters", "sections"):
        if key in toc and (kept := prune(toc[key])):
            pruned[key] = kept
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Student edition: written by `cnncourse student-edition`; do not edit.\n"
        + yaml.safe_dump(pruned, sort_keys=False),
        encoding="utf-8",
    )


def _write_config(root: Path, out: Path, written: list[Path], *, site: dict, quick: bool) -> None:
    """The book's ``_config.yml`` with solutions hidden and the student notebooks included.

    Its buttons lead to the publishing location ``site`` only: the repository and Colab
    buttons to the published repository, or none (and the URL in the footer).
    """
    import yaml

    source = root / "_config.yml"
    config = yaml.safe_load(source.read_text(encoding="utf-8")) if source.is_file() else {}
    config = copy.deepcopy(config or {})
    config["title"] = f"{config.get('title', 'Course')} (student edition)"
    # The chapters here are .ipynb files: an exclude pattern meant for the book's paired
    # notebooks (e.g. "book/*.ipynb") would drop every student chapter.
    names = [p.relative_to(out).as_posix() for p in written]
    config["exclude_patterns"] = [
        pattern
        for pattern in config.get("exclude_patterns", [])
        if not any(fnmatch.fnmatch(name, pattern) for name in names)
    ]
    config.pop("repository", None)
    html = config.setdefault("html", {})
    html["use_issues_button"] = False
    html["use_edit_page_button"] = False
    html["use_repository_button"] = "repository" in site
    if "repository" in site:
        config["repository"] = site["repository"]
    else:
        config.pop("launch_buttons", None)  # Colab opens notebooks from GitHub only
    if "url" in site:
        html["extra_footer"] = f'<p>Notebooks: <a href="{site["url"]}">{site["url"]}</a></p>'
    sphinx = config.setdefault("sphinx", {})
    extensions = sphinx.setdefault("extra_extensions", [])
    if __name__ not in extensions:
        extensions.append(__name__)  # quick mode for the executed notebooks: see setup()
    sphinx.setdefault("config", {})["hide_solutions"] = True
    sphinx["config"]["cnncourse_quick"] = bool(quick)
    (out / "_config.yml").write_text(
        "# Student edition: the book's configuration with every solution hidden.\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )


def _copy_assets(root: Path, out: Path, sources: Iterable[Path]) -> None:
    """Copy what the student book needs besides the chapters.

    The files beside the chapters (images, data), and the folders of the config's
    ``sphinx.local_extensions``. Never a ``.md``/``.ipynb`` file or a ``.py`` paired with
    one: any of those could hold solutions (or be a chapter left out on purpose).
    """
    import yaml

    config_path = root / "_config.yml"
    config = (
        yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    )
    extensions = ((config or {}).get("sphinx") or {}).get("local_extensions") or {}
    folders = {src.parent for src in sources if src.parent != root}
    folders |= {(root / str(path)).resolve() for path in extensions.values()}
    for folder in sorted(f for f in folders if f.is_dir() and f.is_relative_to(root)):
        for path in folder.rglob("*"):
            rel = path.relative_to(root)
            if (
                not path.is_file()
                or path.suffix in (".md", ".ipynb", ".pyc")
                or (path.suffix == ".py" and _has_notebook_twin(path))
                or any(part.startswith((".", "_build", "__")) for part in rel.parts)
            ):
                continue
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _has_notebook_twin(path: Path) -> bool:
    """A ``.py`` file paired (jupytext) with a notebook of the same name."""
    return any(path.with_suffix(suffix).exists() for suffix in SOURCE_SUFFIXES)
