"""Helpers that checkers use to read and compare a student's answer.

A checker (see :func:`cnncourse.exercises.registry.exercise`) receives the raw answer.
These helpers turn it into the expected kind of value or raise :class:`WrongType`
(the verdict then says which type is expected), and compare it with the expected
value, returning ``None`` (correct) or a hint string (wrong) like a checker does.

Nothing here imports NumPy, PyTorch or TensorFlow: values from those libraries are
read through ``.item()`` / ``.tolist()``, so checks stay cheap to import.
"""

from __future__ import annotations

import itertools
import math
import numbers
import random
import reprlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

DIRECTION_HINTS = True  # "too small"/"too large": feedback only, never while grading
MAX_DIMS = 16  # a shape longer than this is not an answer: an endless generator, an array
_REPR = reprlib.Repr()  # reprs that stop after a few items: bounded work on any container
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6


class WrongType(TypeError):
    """The answer is not of the kind the exercise asks for; the message says which."""


class NotAttempted(Exception):  # noqa: N818 - a signal, not an error
    """The answer is still the stub (e.g. a function that returns ``None``)."""


def describe(value: Any) -> str:
    """A short description of a value for messages: its type and a clipped repr.

    Bounded work whatever the value: containers are shown by their first items only,
    and a value whose ``repr`` raises is described by its type alone.
    """
    shape = _attribute(value, "shape")
    if shape is not None and not isinstance(value, (str, bytes)):
        try:
            return f"{type(value).__name__} of shape {tuple(int(d) for d in shape)}"
        except Exception:  # noqa: BLE001 - a broken shape: fall through to the repr
            pass
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - any repr failure: the type still says something
        return f"{type(value).__name__} (its repr() fails)"
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _attribute(value: Any, name: str) -> Any:
    """``getattr(value, name, None)`` that survives properties which raise."""
    try:
        return getattr(value, name, None)
    except Exception:  # noqa: BLE001 - a student's object may raise anything here
        return None


def _scalar(value: Any) -> Any:
    """Unwrap 0-d NumPy arrays, NumPy scalars and one-element tensors to Python numbers."""
    if isinstance(value, (bool, int, float, str)):
        return value
    shape = _attribute(value, "shape")
    if _attribute(value, "item") is None:
        return value
    if shape is None:  # NumPy scalar types
        return value.item()
    try:
        size = math.prod(tuple(shape))
    except TypeError:
        return value
    return value.item() if size == 1 else value


def as_int(value: Any, what: str = "a whole number") -> int:
    """Read ``value`` as an int; accepts ints, whole floats and one-element arrays/tensors."""
    value = _scalar(value)
    if isinstance(value, bool):
        raise WrongType(f"expected {what} (an int), got the bool {value}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        raise WrongType(f"expected {what} (an int), got the str {value!r}: drop the quotes.")
    raise WrongType(f"expected {what} (an int), got {describe(value)}.")


def as_float(value: Any, what: str = "a number") -> float:
    """Read ``value`` as a float; accepts real numbers and one-element arrays/tensors."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = ": drop the quotes" if isinstance(value, str) else ""
        raise WrongType(f"expected {what} (a float), got {describe(value)}{hint}.")
    return float(value)


def as_bool(value: Any, what: str = "True or False") -> bool:
    """Read ``value`` as a bool; only ``True``/``False`` (or a NumPy/torch bool) qualify."""
    value = _scalar(value)
    if isinstance(value, bool):
        return value
    raise WrongType(f"expected {what}, a bool, got {describe(value)}.")


def as_shape(value: Any, what: str = "a shape") -> tuple[int, ...]:
    """Read ``value`` as a shape: a tuple/list of ints, or a ``torch.Size``.

    Reads at most :data:`MAX_DIMS` items, so an endless generator or a huge array
    passed by mistake is refused at once instead of being read to its end.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise WrongType(
            f"expected {what} (a tuple of ints such as (1, 8, 26, 26)), got {describe(value)}."
        )
    shape = _attribute(value, "shape")
    if shape is not None and not isinstance(value, tuple):  # an array or tensor itself
        described = describe(value)
        if len(tuple(shape)) != 1 or int(tuple(shape)[0]) > MAX_DIMS:
            raise WrongType(
                f"expected {what} (a tuple of ints), got the {described}: "
                "pass its .shape, not the array."
            )
    items = list(itertools.islice(iter(value), MAX_DIMS + 1))
    if len(items) > MAX_DIMS:
        raise WrongType(
            f"expected {what} (a tuple of ints), got {describe(value)} with more than "
            f"{MAX_DIMS} items (an endless generator?)."
        )
    return tuple(as_int(v, "each dimension") for v in items)


def as_callable(value: Any, what: str = "a function") -> Callable:
    """Check that ``value`` can be called (a function or another callable)."""
    if not callable(value):
        raise WrongType(
            f"expected {what} (pass the function itself, without calling it), got {describe(value)}."
        )
    return value


def compare_int(
    got: int, expected: int, *, known_mistakes: dict[int, str] | None = None
) -> str | None:
    """``None`` when equal; else a hint: a specific one for a known mistake, or low/high."""
    if got == expected:
        return None
    if known_mistakes and got in known_mistakes:
        return known_mistakes[got]
    if not DIRECTION_HINTS:
        return f"{got} is not the answer."
    direction = "too small" if got < expected else "too large"
    return f"{got} is {direction}."


def compare_float(
    got: float,
    expected: float,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    known_mistakes: Sequence[tuple[float, str]] = (),
) -> str | None:
    """``None`` when ``got`` is within tolerance of ``expected``; else a hint.

    ``known_mistakes`` pairs a value a typical mistake gives with the hint for it,
    compared with the same tolerance.
    """
    if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        return None
    for value, hint in known_mistakes:
        if math.isclose(got, value, rel_tol=rtol, abs_tol=atol):
            return hint
    if math.isnan(got):
        return "your answer is NaN: check for a division by zero or an empty input."
    if not DIRECTION_HINTS:
        return f"{got:g} is not the answer."
    direction = "too small" if got < expected else "too large"
    return f"{got:g} is {direction}."


def compare_shape(got: tuple[int, ...], expected: tuple[int, ...]) -> str | None:
    """``None`` when equal; else a hint naming the first dimension that differs."""
    if got == expected:
        return None
    if len(got) != len(expected):
        return f"your shape has {len(got)} dimensions; the answer has {len(expected)}."
    axis = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e)
    return f"dimension {axis} of your shape is wrong (the others are right)."


def judged_by(hint: Callable[..., str | None]) -> Callable[[Any, tuple], str | None]:
    """A ``compare`` for :func:`check_function` whose cases carry their own arguments as the
    expected value, so the hint is worked out from the problem (``hint(got, *args)``)."""
    return lambda got, args: hint(got, *args)


def own_arguments(*args: Any) -> tuple:
    """A copy of a case's arguments, its expected value under :func:`judged_by`: the hint
    sees the problem as posed even if the student's function changed the arrays in place."""
    return tuple(a.copy() if hasattr(a, "copy") else a for a in args)


def check_function(
    func: Any,
    cases: Sequence[tuple[tuple, Any]],
    *,
    compare: Callable[[Any, Any], str | None] | None = None,
    name: str = "your function",
) -> str | None:
    """Call a student's function on each ``(args, expected)`` case; ``None`` if all agree.

    A function that returns ``None`` on every case, or raises ``NotImplementedError``,
    is still the stub: :class:`NotAttempted`. An exception on a case becomes a hint
    that names the inputs (arrays by their shape), never the expected output.
    """
    as_callable(func)
    compare = compare or _compare_equal
    results = []
    for args, expected in cases:
        shown = _shown(args)
        try:
            got = func(*args)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"{name}({shown}) raised {type(err).__name__}: {err}"
        results.append((shown, got, expected))
    if all(got is None or got is Ellipsis for _, got, _ in results):
        raise NotAttempted("the function returns None: write its body and return the result.")
    for shown, got, expected in results:
        try:
            hint = compare(got, expected)
        except WrongType as err:
            return f"{name}({shown}) returned a value of the wrong type: {err}"
        if hint is not None:
            return f"{name}({shown}) is not right: {hint}"
    return None


def _shown(args: tuple) -> str:
    """Arguments for a message: arrays by their shape, other values by a clipped repr."""
    return ", ".join(
        describe(a) if _attribute(a, "shape") is not None else _REPR.repr(a) for a in args
    )


def _compare_equal(got: Any, expected: Any) -> str | None:
    if isinstance(expected, bool):
        return None if as_bool(got) == expected else f"returned {got!r}."
    if isinstance(expected, numbers.Integral):
        return compare_int(as_int(got), int(expected))
    if isinstance(expected, numbers.Real):
        return compare_float(as_float(got), float(expected))
    if isinstance(expected, tuple):
        return compare_shape(as_shape(got), expected)
    return None if got == expected else f"returned {describe(got)}."


def value_of_case(answer: Any, args: tuple, what: str) -> Any:
    """The answer for the chapter's case: a function's result on ``args``, or the value itself.

    Feedback on an exercise whose stub asks for a function accepts a number computed by
    hand as well; its grading check (:func:`check_fresh_cases`) takes functions only.
    """
    if not callable(answer):
        return answer
    try:
        result = answer(*args)
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    if result is None or result is Ellipsis:
        raise NotAttempted("the function returns None: write its body and return the result.")
    shown = _shown(args)
    if callable(result):
        raise WrongType(f"{what}({shown}) returned a function, not a value.")
    return result


def needs_function(answer: Any, hint: str | None, signature: str) -> str | None:
    """Feedback on the chapter's case of an exercise graded as a function.

    A function gets ``hint`` unchanged. A plain value fails even when right, since the
    grade calls the function on other arguments; the message says so after any hint.
    """
    if callable(answer):
        return hint
    ask = f"the grade needs the function {signature}: define it and pass the function itself."
    if hint is None:
        return f"{_REPR.repr(answer)} is right for the chapter's case, but {ask}"
    return f"{hint} Then: {ask}"


def drawn_cases(
    draw: Callable[[random.Random], tuple], reference: Callable[..., Any], count: int
) -> list[tuple[tuple, Any]]:
    """``count`` grading cases ``(args, reference(*args))`` with ``args = draw(rng)``.

    The generator is seeded afresh at every call, so no case can be known in advance.
    """
    rng = random.Random(secrets.randbits(64))
    return [(args, reference(*args)) for args in (draw(rng) for _ in range(count))]


def check_fresh_cases(
    answer: Any,
    cases: Sequence[tuple[tuple, float]],
    what: str,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> str | None:
    """The grading check of a number-as-function exercise: ``answer`` must be a function
    that gives each case's expected float (cases the grader draws, so a literal fails)."""
    func = as_callable(answer, f"a function {what}(...)")

    def close(got: Any, expected: Any) -> str | None:
        return compare_float(as_float(got), float(expected), rtol=rtol, atol=atol)

    return check_function(func, cases, compare=close, name=what)
