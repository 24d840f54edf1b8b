"""What CONTRIBUTING.md promises, checked cheaply: the parts no other test covers.

The chapter template, the notebook pairs and registered check ids per chapter are in
tests/test_book.py; the model hand counts in tests/test_models.py; download and
verification in tests/test_data.py. This module adds the book-wide and registry-wide
promises, and keeps the guide's references to tests true.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, is_notebook_chapter, toc_chapters

from cnncourse.data.registry import DATASETS
from cnncourse.exercises import registry
from cnncourse.models import MODEL_NAMES, build_model, count_parameters

GUIDE = ROOT / "CONTRIBUTING.md"
CHAPTERS = [doc for doc in toc_chapters() if is_notebook_chapter(doc)]
CHECK_CALL = re.compile(r"""check\(\s*["']([a-z0-9-]+)["']""")
# Registered before the guide asked for a SHA-256; this set may only shrink.
WITHOUT_SHA256 = {"mnist", "cifar10"}


def test_every_chapter_is_in_the_toc_and_paired_and_no_notebook_is_orphaned():
    notebooks_on_disk = {
        p.with_suffix("").relative_to(ROOT).as_posix() for p in ROOT.glob("book/*.ipynb")
    }
    sources = {
        p.with_suffix("").relative_to(ROOT).as_posix()
        for p in ROOT.glob("book/*.md")
        if is_notebook_chapter(p.with_suffix("").relative_to(ROOT).as_posix())
    }
    assert sources <= set(CHAPTERS), (
        f"chapters missing from _toc.yml: {sorted(sources - set(CHAPTERS))}"
    )
    assert set(CHAPTERS) <= notebooks_on_disk, (
        f"unpaired: {sorted(set(CHAPTERS) - notebooks_on_disk)}"
    )
    assert notebooks_on_disk <= sources, (
        f"notebooks without a .md: {sorted(notebooks_on_disk - sources)}"
    )


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_has_the_sections_and_a_quick_mode(doc):
    text = (ROOT / f"{doc}.md").read_text()
    headings = re.findall(r"^## (\w+)", text, flags=re.MULTILINE)
    assert {"Overview", "Summary", "Exercises"} <= set(headings), (doc, headings)
    assert headings.index("Overview") < headings.index("Summary") < headings.index("Exercises")
    assert "runtime.pick(" in text or "runtime.is_quick()" in text, f"{doc} has no quick mode"


def test_every_check_id_in_the_book_is_registered_and_every_check_is_used():
    used = {}
    for path in ROOT.glob("book/*.md"):
        for exercise_id in CHECK_CALL.findall(path.read_text()):
            used.setdefault(exercise_id, path.stem)
    known = {ex.id: ex for ex in registry.all_exercises()}
    assert set(used) <= set(known), f"unregistered check ids: {sorted(set(used) - set(known))}"
    chapter_stems = {doc.split("/")[-1] for doc in CHAPTERS}
    for ex in known.values():
        assert ex.chapter in chapter_stems, (
            f"{ex.id} names chapter {ex.chapter!r}, not in _toc.yml"
        )
    unused = sorted(ex_id for ex_id in known if ex_id not in used)
    assert not unused, f"checks no chapter calls: {unused}"


@pytest.mark.keras
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_builds_in_both_frameworks_with_one_count(name):
    torch_model = build_model(name)
    keras_model = build_model(name, "keras")
    assert count_parameters(torch_model) == count_parameters(keras_model) > 0
    assert count_parameters(torch_model, False) == count_parameters(keras_model, False)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_file_has_its_checksums(name):
    files = [f for split in DATASETS[name].splits.values() for f in split]
    assert files
    for remote in files:
        assert re.fullmatch(r"[0-9a-f]{32}", remote.md5), (name, remote.filename)
        if remote.raw_sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.raw_sha256), (name, remote.filename)
    has_sha256 = all(f.raw_sha256 for f in files)
    if name in WITHOUT_SHA256:
        assert not has_sha256, f"{name} has its SHA-256 now: remove it from WITHOUT_SHA256"
    else:
        assert has_sha256, f"{name}: give every RemoteFile its raw_sha256 (CONTRIBUTING.md)"


def test_the_guide_names_tests_that_exist():
    guide = GUIDE.read_text()
    files = set(re.findall(r"`(tests/test_\w+\.py)", guide))
    assert files, "the guide points at no test"
    for file in files:
        assert (ROOT / file).is_file(), file
    every_test = "".join(p.read_text() for p in ROOT.glob("tests/test_*.py"))
    for name in re.findall(r"`(?:[\w/.]+::)?(test_\w+)`", guide):
        assert f"def {name}(" in every_test, f"CONTRIBUTING.md names {name}, which does not exist"
