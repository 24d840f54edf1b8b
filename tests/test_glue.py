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


def test_glue_hands_numpy_and_torch_scalars_over_as_python_numbers(monkeypatch):
    """myst-nb formats ``{glue:text}`key:.1%``` only from text that reads back as a literal."""
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    seen = {}
    monkeypatch.setattr(glue_module, "_myst_glue", lambda n, v, **k: seen.update({n: v}))
    value = np.float64(0.875)
    assert glue_module.glue("accuracy", value) is value
    glue_module.glue("count", np.int64(3))
    glue_module.glue("loss", torch.tensor(0.5))
    glue_module.glue("table", [1, 2])
    assert seen == {"accuracy": 0.875, "count": 3, "loss": 0.5, "table": [1, 2]}
    assert [type(seen[k]) for k in ("accuracy", "count", "loss")] == [float, int, float]


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
