"""Resolve -> verify -> download: find a dataset's files, or fetch them safely.

Order searched for every file: ``$CNNCOURSE_DATA`` (``<dir>/<name>/`` or ``<dir>``),
the user cache, the system copy (Debian's ``dataset-fashion-mnist``), and only
then the official mirrors. A file is used only after its checksum verifies.
Downloads go to a temporary file in the cache folder, are verified, then renamed:
an interrupted or corrupt download never leaves a file that looks complete.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import urllib.request
import warnings
import zlib
from pathlib import Path

from cnncourse._errors import InputError
from cnncourse._files import atomic_path
from cnncourse.data.registry import DatasetSpec, RemoteFile

DATA_ENV = "CNNCOURSE_DATA"
CACHE_ENV = "CNNCOURSE_CACHE"
MIRRORS_ENV = "CNNCOURSE_MIRRORS"
_CHUNK = 1 << 20


class DataNotFoundError(FileNotFoundError, InputError):
    """A dataset file is nowhere to be found and could not be downloaded."""


class ChecksumError(ValueError, InputError):
    """A file exists but its bytes are not the ones the registry expects."""


class DataFileRejectedWarning(UserWarning):
    """A file with a dataset file's name was found but not used; the message says why."""


def cache_dir() -> Path:
    """Where downloads are kept: ``$CNNCOURSE_CACHE`` or ``~/.cache/cnncourse``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnncourse"


def search_dirs(spec: DatasetSpec) -> list[Path]:
    """The folders searched for ``spec``'s files, in resolution order."""
    dirs: list[Path] = []
    if os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV]).expanduser()
        dirs += [root / spec.name, root]
    dirs.append(cache_dir() / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    """Base URLs to download from; ``$CNNCOURSE_MIRRORS`` (comma-separated) overrides."""
    override = os.environ.get(MIRRORS_ENV, "").strip()
    if override:
        return tuple(m.strip() for m in override.split(",") if m.strip())
    return spec.mirrors


def file_digest(path: Path, algorithm: str, *, gunzip: bool = False) -> str:
    """Hex digest of a file's bytes (or of its decompressed bytes with ``gunzip``)."""
    digest = hashlib.new(algorithm)
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, remote: RemoteFile) -> bool:
    """True when ``path`` holds exactly the bytes ``remote`` describes."""
    stat = path.stat()
    return _verify_cached(str(path), stat.st_size, stat.st_mtime_ns, remote)


@functools.lru_cache(maxsize=64)
def _verify_cached(path: str, size: int, mtime_ns: int, remote: RemoteFile) -> bool:
    if file_digest(Path(path), "md5") == remote.md5:
        return True
    if remote.raw_sha256 is None:
        return False
    try:
        return file_digest(Path(path), "sha256", gunzip=True) == remote.raw_sha256
    except (OSError, EOFError, zlib.error):  # not gzip, or truncated: not our file
        return False


def candidates(spec: DatasetSpec, remote: RemoteFile) -> tuple[Path | None, list[str]]:
    """``(first verified local copy or None, reasons)`` for one dataset file.

    Walks :func:`search_dirs` in order and stops at the first copy that verifies.
    ``reasons`` holds one line per file found on the way but not used: what is wrong
    with it, how to fix that, and its path. Nothing is downloaded.
    """
    rejected: list[str] = []
    for folder in search_dirs(spec):
        candidate = folder / remote.filename
        try:
            if not candidate.is_file():
                continue
            if verify(candidate, remote):
                return candidate, rejected
            why = (
                "checksum mismatch: corrupt, truncated or another dataset's file; "
                "delete or replace it"
            )
        except OSError as err:  # unreadable: say so, and go on to the next copy
            why = (
                f"cannot be read: {err.strerror or type(err).__name__}; make it readable "
                f"(chmod a+r) or remove it"
            )
        rejected.append(f"({why}): {candidate}")
    return None, rejected


def resolve(spec: DatasetSpec, remote: RemoteFile, *, download: bool = True) -> Path:
    """The verified local path of one dataset file, downloading it if allowed.

    A file found earlier in the search order but rejected (checksum mismatch,
    unreadable) is never passed over in silence: when a later copy is used, a
    :class:`DataFileRejectedWarning` names the rejected file, why, and the copy used.
    """
    path, rejected = candidates(spec, remote)
    if path is None and download:
        try:
            path = download_file(spec, remote, cache_dir() / spec.name)
        except DataNotFoundError as err:
            raise DataNotFoundError(_missing_message(spec, remote, rejected, str(err))) from err
    if path is None:
        raise DataNotFoundError(_missing_message(spec, remote, rejected, "download=False"))
    for reason in rejected:
        warnings.warn(
            f"rejected {reason}; using {path} instead.", DataFileRejectedWarning, stacklevel=3
        )
    return path


def download_file(spec: DatasetSpec, remote: RemoteFile, dest_dir: Path) -> Path:
    """Fetch ``remote`` from the first mirror that serves verifying bytes."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.filename
    failures = []
    for base in mirrors(spec):
        url = base.rstrip("/") + "/" + remote.filename
        try:
            _fetch_verified(url, remote, target)
            return target
        except (OSError, ChecksumError) as err:  # URLError and timeouts are OSErrors
            failures.append(f"{url}: {err}")
    raise DataNotFoundError("download failed from every mirror:\n  " + "\n  ".join(failures))


def _fetch_verified(url: str, remote: RemoteFile, target: Path) -> None:
    with atomic_path(target, suffix=".part") as tmp:  # renamed onto target only if verified
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
        if not verify(Path(tmp), remote):
            raise ChecksumError(f"checksum mismatch (expected md5 {remote.md5})")


def _missing_message(spec: DatasetSpec, remote: RemoteFile, rejected: list[str], why: str) -> str:
    lines = [f"{spec.name}: no verified copy of {remote.filename} was found."]
    lines += [f"  searched: {d}" for d in search_dirs(spec)]
    lines += [f"  rejected {reason}" for reason in rejected]
    lines.append(f"  download: {why}")
    lines.append("To fix it, do one of:")
    if spec.system_hint:
        lines.append(f"  - install the system copy:   {spec.system_hint}")
    lines.append(f"  - point {DATA_ENV} at a folder holding {remote.filename}")
    lines.append(f"  - when online, fetch it:      cnncourse data fetch {spec.name}")
    return "\n".join(lines)
