"""Atomic writes and clear missing-file errors: checkpoints, downloads, deploy files, benchmark tables."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name, e.g. {path / 'model'}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield tmp
        os.replace(tmp, path)  # atomic on POSIX and Windows: old file or new, never half
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def existing_file(path, what: str, how: str) -> Path:
    path = Path(path)
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "nothing"
        raise FileNotFoundError(f"expected {what} at {path}, found {kind}; {how} writes one.")
    return path
