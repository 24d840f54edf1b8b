"""Image folders: one sub-folder per class, the layout ``ImageFolder`` and Keras read."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cnncourse._errors import InputError
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


class LabelsCsvError(ValueError, InputError):
    """A row of a labels CSV names a missing image file or an unknown label."""


def export_labelled_images(
    data: ImageSet, root: str | Path, *, per_class: int | None = None
) -> Path:
    """Write ``data`` in the layout of most Kaggle image sets and return ``root``.

    Images go to ``root/images/<id>.png`` (``id`` is the index in ``data``) and one
    row per image to ``root/labels.csv``, with the columns ``id,label`` and the class
    name as the label. Rows are in the order of ``id``, so classes come mixed.
    """
    import pandas as pd
    from PIL import Image

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already holds files; choose an empty or new folder.")
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    chosen = np.sort(
        np.concatenate(
            [np.flatnonzero(data.labels == label)[:per_class] for label in range(data.num_classes)]
        )
    )
    for index in chosen:
        pixels = data.images[index]
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
            images / f"{index}.png"
        )
    names = [data.class_names[label] for label in data.labels[chosen]]
    pd.DataFrame({"id": chosen, "label": names}).to_csv(root / "labels.csv", index=False)
    return root


def read_labels_csv(
    csv_file: str | Path,
    image_dir: str | Path,
    class_names: list[str] | tuple[str, ...],
    *,
    suffix: str = ".png",
):
    """Read an ``id,label`` CSV and check every row before any training starts.

    Returns the table with two more columns: ``path`` (the image file of the row)
    and ``target`` (the label's position in ``class_names``). A row whose file
    ``image_dir/<id><suffix>`` does not exist, or whose label is not one of
    ``class_names``, raises :class:`LabelsCsvError` naming the row and the fix.
    """
    import pandas as pd

    csv_file, image_dir = Path(csv_file), Path(image_dir)
    table = pd.read_csv(csv_file, dtype={"id": str, "label": str}, keep_default_na=False)
    missing_columns = {"id", "label"} - set(table.columns)
    if missing_columns:
        raise LabelsCsvError(
            f"{csv_file.name} has the columns {list(table.columns)}, not id and label: "
            "rename its header to id,label."
        )
    targets = {name: position for position, name in enumerate(class_names)}
    paths = [image_dir / f"{image_id}{suffix}" for image_id in table["id"]]
    for row, (image_id, label, path) in enumerate(
        zip(table["id"], table["label"], paths, strict=True)
    ):
        where = f"{csv_file.name}, line {row + 2} (id {image_id!r})"  # line 1 is the header
        if not path.is_file():
            raise LabelsCsvError(
                f"{where}: no image file {path}. Add the file, or delete the row."
            )
        if label not in targets:
            raise LabelsCsvError(
                f"{where}: unknown label {label!r}; the classes are {list(class_names)}. "
                "Correct the label, or add the class to class_names."
            )
    return table.assign(path=[str(p) for p in paths], target=table["label"].map(targets))
