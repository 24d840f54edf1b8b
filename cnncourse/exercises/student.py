"""The student edition: every chapter as a notebook without solutions, and a book to match.

Solutions are the chapters' gated ``solution-start`` ... ``solution-end`` blocks (and
plain ``{solution}`` blocks); CONTRIBUTING.md ("Add an exercise check") gives the markup
and the rules a chapter follows so that removing them leaves a working notebook.

The copy in ``OUT/`` mirrors the book: ``_toc.yml`` with the chosen chapters,
``_config.yml`` with ``hide_solutions: true`` and "(student edition)" in the title,
chapters as ``.ipynb`` without outputs, plain pages as ``.md``, and the files and
``local_extensions`` beside them. Removing the solutions from the sources is what hides
them (``hide_solutions`` alone crashes the HTML build on gated solutions, sphinx-exercise
issue #89). ``make student`` runs ``cnncourse student-edition _build/student`` and then
``jupyter-book build _build/student``.
"""

from __future__ import annotations

import copy
import fnmatch
import shutil
from collections.abc import Iterable
from pathlib import Path

from cnncourse.exercises.markup import solution_blocks, strip_solutions

__all__ = [
    "find_book_root",
    "make_student_edition",
    "solution_blocks",
    "strip_solutions",
    "toc_files",
]

SOURCE_SUFFIXES = (".md", ".ipynb")


def make_student_edition(
    book_dir: str | Path, out_dir: str | Path, chapters: Iterable[str] | None = None
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
    selected = _select(docs, chapters, root_doc=toc.get("root"))
    sources = {doc: _source(root, doc) for doc in selected}  # fail before writing anything

    written: list[Path] = []
    for doc, src in sources.items():
        if src.suffix == ".ipynb":
            text = jupytext.writes(jupytext.read(src), fmt="md:myst")
        else:
            text = src.read_text(encoding="utf-8")
        try:
            stripped = strip_solutions(text)
        except ValueError as err:
            raise ValueError(f"{src}: {err}") from err
        if src.suffix == ".ipynb" or _is_notebook(text):
            target = out / f"{doc}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(_to_notebook(stripped, jupytext), target)
        else:
            target = out / f"{doc}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(stripped, encoding="utf-8")
        written.append(target)

    _write_toc(toc, set(selected), out / "_toc.yml")
    _write_config(root, out, written)
    _copy_assets(root, out, sources.values())
    return written


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


def _is_notebook(text: str) -> bool:
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


def _write_config(root: Path, out: Path, written: list[Path]) -> None:
    """The book's ``_config.yml`` with solutions hidden and the student notebooks included."""
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
    sphinx = config.setdefault("sphinx", {})
    sphinx.setdefault("config", {})["hide_solutions"] = True
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
