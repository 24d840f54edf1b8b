"""Save, load and export trained models safely, and check that copies predict the same.

=================  ================================  =====================================
task               PyTorch                           Keras
=================  ================================  =====================================
save               :func:`save_torch` (``.pt``)      :func:`save_keras` (``.keras``)
load safely        :func:`load_torch`                :func:`load_keras`
export             :func:`export_torch` (``.pt2``)   :func:`export_keras` (SavedModel)
load the export    :func:`load_torch_export`         :func:`load_keras_export`
=================  ================================  =====================================

Safe loading means ``torch.load(weights_only=True)`` and ``keras.saving.load_model(safe_mode=True)``:
a file that would run code is refused with a ``ValueError``.

:func:`predict_proba` runs any of these (a model, an exported program, a SavedModel) on an
:class:`~cnncourse.data.ImageSet`; :func:`compare_predictions` says how far two sets of
probabilities are apart; :func:`predictions_to_csv` writes one row per image.

Every file is written to a temporary name beside its target and renamed at the end, so an
interrupted save never leaves a half-written model or CSV behind. Keras and TensorFlow are
imported only inside the Keras functions. Modules: :mod:`~cnncourse.deploy.saving`,
:mod:`~cnncourse.deploy.export`, :mod:`~cnncourse.deploy.predictions`.
"""

from cnncourse.deploy.export import (
    export_keras,
    export_torch,
    load_keras_export,
    load_torch_export,
)
from cnncourse.deploy.predictions import (
    CSV_COLUMNS,
    Agreement,
    compare_predictions,
    predict_proba,
    predictions_to_csv,
)
from cnncourse.deploy.saving import FORMAT, load_keras, load_torch, save_keras, save_torch

__all__ = [
    "CSV_COLUMNS",
    "FORMAT",
    "Agreement",
    "compare_predictions",
    "export_keras",
    "export_torch",
    "load_keras",
    "load_keras_export",
    "load_torch",
    "load_torch_export",
    "predict_proba",
    "predictions_to_csv",
    "save_keras",
    "save_torch",
]
