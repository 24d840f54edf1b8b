"""Image folders: one sub-folder per class, the layout ``ImageFolder`` and Keras read."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnncourse.data.imageset import ImageSet


def folder_name(class_name: str) -> str:
    """A file-system-safe folder name for a class (``"T-shirt/top"`` -> ``"T-shirt_top"``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", class_name).strip("_") or "class"


def export_image_folder(data: ImageSet, root: str | Path, *, per_class: int | None = None) -> Path:
    """Write ``data`` as PNG files under ``root/<class>/<index>.png`` and return ``root``.

    The tree is built in a temporary folder beside ``root`` and renamed into place,
    so an interrupted export never leaves a half-written tree. An existing
    non-empty ``root`` is an error rather than silently mixed with new files.
    """
    from PIL import Image

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already holds files; choose an empty or new folder.")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for label, name in enumerate(data.class_names):
            folder = staging / folder_name(name)
            folder.mkdir()
            indices = np.flatnonzero(data.labels == label)[:per_class]
            for index in indices:
                pixels = data.images[index]
                image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
                image.save(folder / f"{index:05d}.png")
        if root.exists():
            root.rmdir()
        staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root
