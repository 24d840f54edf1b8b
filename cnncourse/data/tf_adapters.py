"""A ``tf.data.Dataset`` view of an :class:`ImageSet`, for Keras' ``fit``."""

from __future__ import annotations

from cnncourse._frameworks import import_tf
from cnncourse.data.imageset import ImageSet


def to_tf_dataset(
    data: ImageSet,
    batch_size: int = 64,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    scale: bool = True,
):
    """Batches of ``(images, labels)``: images ``(B, H, W, C)`` float32 in ``[0, 1]``.

    The pipeline is the one the data chapter explains: from tensors, shuffle
    (whole split), batch, map the scaling over batches, prefetch with AUTOTUNE.
    ``scale=False`` keeps uint8 pixels for models that rescale themselves.
    """
    tf = import_tf()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if scale:
        ds = ds.map(
            lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)
