"""glue: values reach myst-nb's cell metadata, and the helper works without myst-nb."""

import importlib
import sys

import pytest

import cnncourse.glue as glue_module


def test_glue_returns_the_value_and_hands_it_to_myst_nb(monkeypatch):
    seen = []
    monkeypatch.setattr(glue_module, "_myst_glue", lambda *a, **k: seen.append((a, k)))
    assert glue_module.glue("best_accuracy", 0.91) == 0.91
    assert seen == [(("best_accuracy", 0.91), {"display": False})]


def test_glue_refuses_names_the_roles_cannot_refer_to():
    with pytest.raises(ValueError, match="identifier"):
        glue_module.glue("best accuracy", 1)


def test_glue_is_a_no_op_without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails as if not installed
    module = importlib.reload(glue_module)
    try:
        assert module._myst_glue is None
        assert module.glue("seconds", 12.5) == 12.5
    finally:
        monkeypatch.delitem(sys.modules, "myst_nb")
        importlib.reload(glue_module)
