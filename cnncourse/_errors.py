"""The one marker of failures a user causes and can fix: ``InputError``.

The package's own error types for bad input (missing or rejected data files, values
outside the domain a user could mean) derive from it as well as from the built-in
type callers already catch (``ValueError``, ``FileNotFoundError``). The command line
prints such an error as one message, without a traceback; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """A failure caused by what the user passed in; its message names the fix."""
