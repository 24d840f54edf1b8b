"""The book's structure: every chapter paired, in sync, built the same way, exercises checkable."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, is_notebook_chapter, toc_chapters

from cnncourse.exercises import registry

jupytext = pytest.importorskip("jupytext")  # the book extra
nbformat = pytest.importorskip("nbformat")

CHAPTERS = [doc for doc in toc_chapters() if is_notebook_chapter(doc)]


def test_toc_lists_existing_pages_and_at_least_one_chapter():
    for doc in toc_chapters():
        assert (ROOT / f"{doc}.md").is_file(), f"_toc.yml names {doc}, which does not exist"
    assert "book/why_convolutions" in CHAPTERS


@pytest.mark.parametrize("doc", CHAPTERS)
def test_paired_notebook_exists_and_matches_its_markdown(doc):
    """Colab opens book/<chapter>.ipynb: it must carry exactly the code of the .md source."""
    source = jupytext.read(ROOT / f"{doc}.md")
    paired_path = ROOT / f"{doc}.ipynb"
    assert paired_path.is_file(), f"{paired_path} missing: run `make sync`"
    paired = nbformat.read(paired_path, as_version=4)

    def cells(nb):
        return [(c.cell_type, c.source.strip()) for c in nb.cells]

    assert cells(paired) == cells(source), f"{paired_path} is stale: run `make sync`"
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code"), (
        f"{paired_path} carries outputs: strip them (`make sync` from a clean .md)"
    )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_follows_the_template(doc):
    text = (ROOT / f"{doc}.md").read_text()
    nb = jupytext.reads(text, fmt="md:myst")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("cnncourse") is None' in first_code.source, "first cell installs on Colab"
    assert "google.colab" in first_code.source
    for heading in ("## Overview", "## Summary", "## Exercises"):
        assert heading in text, f"{doc} lacks {heading}"
    hidden_checks = [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and "remove-cell" in c.metadata.get("tags", [])
        and "assert" in c.source
    ]
    assert hidden_checks, f"{doc} checks none of its key numbers in a hidden cell"
    assert "from cnncourse" in text or "import cnncourse" in text


@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_exercise_check_is_registered(doc):
    text = (ROOT / f"{doc}.md").read_text()
    used = set(re.findall(r'check\("([a-z0-9-]+)"', text))
    assert used, f"{doc} has no checked exercises"
    known = {ex.id for ex in registry.all_exercises()}
    assert used <= known, f"{doc} calls unknown checks {sorted(used - known)}"
    labels = re.findall(r":label: ([a-z0-9-]+-ex\d+)", text)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels


def test_instructor_guide_lists_every_exercise():
    guide = (ROOT / "book/instructors.md").read_text()
    missing = [ex.id for ex in registry.all_exercises() if f"`{ex.id}`" not in guide]
    assert not missing, f"book/instructors.md does not list {missing}"
    used = set(re.findall(r'check\("([a-z0-9-]+)"', guide))
    assert used <= {ex.id for ex in registry.all_exercises()}, used
