"""Moved: every public name of this module now lives in :mod:`cnncourse.models`.

Reading one here still works for a release, with a ``DeprecationWarning`` naming the
new place (the rows are in :mod:`cnncourse._compat`).
"""

from cnncourse._compat import resolve_renamed


def __getattr__(name: str):
    return resolve_renamed(__name__, name)
