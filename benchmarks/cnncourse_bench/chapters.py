"""Section ``chapters``: seconds each chapter took to execute in the last full-size
(``make book``) and quick-mode (``make book-quick``) builds, read from their jupyter-caches.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jupyter_cache import get_cache

from .report import device_kind, device_name

BOOK_CACHES = {  # build mode -> the jupyter-cache that build executes into (see the Makefile)
    "full": Path("_build/.jupyter_cache"),
    "quick": Path("_build/quick/_build/.jupyter_cache"),
}


def chapter_seconds(cache: Path) -> dict[str, float]:
    """``{chapter: seconds}`` of each chapter's latest cached execution; empty when
    ``cache`` holds no jupyter-cache (it is not created by looking)."""
    if not (Path(cache) / "global.db").is_file():
        return {}
    latest: dict[str, tuple] = {}
    for record in get_cache(cache).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        chapter = Path(record.uri).stem
        if seconds is not None and (chapter not in latest or record.created > latest[chapter][0]):
            latest[chapter] = (record.created, float(seconds))
    return {chapter: seconds for chapter, (_, seconds) in sorted(latest.items())}


def book_times(caches: dict[str, Path] = BOOK_CACHES, *, device="cpu") -> list[dict]:
    """One row per chapter with its seconds in each build mode (``None``: not built in
    that mode); no rows when no build left a cache."""
    seconds = {mode: chapter_seconds(Path(cache)) for mode, cache in caches.items()}
    date = dt.datetime.now().isoformat(timespec="seconds")
    return [
        {
            "chapter": chapter,
            "device": device_kind(device),
            **{f"{mode}_s": times.get(chapter) for mode, times in seconds.items()},
            "device_name": device_name(device),
            "date": date,
        }
        for chapter in sorted(set().union(*seconds.values()))
    ]
