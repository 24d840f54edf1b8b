"""The package's layout: imports point down the layers, moved names forward with a warning,
chapters and the API page use the new homes, and ``import cnncourse`` leaves TensorFlow out."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import cnncourse
from cnncourse import _compat

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnncourse"

# data -> models -> train -> {metrics, plots, deploy, interop} -> {exercises, cli}: a module
# may import its own layer or a lower one, never a higher one.
LAYERS = {
    **dict.fromkeys(
        ["__init__", "_version", "_util", "_files", "_errors", "_frameworks", "_compat", "_lazy"],
        0,
    ),
    "ops": 0,
    "runtime": 0,
    "glue": 0,
    "data": 1,
    "models": 2,
    "train": 3,
    **dict.fromkeys(["metrics", "plots", "deploy", "interop"], 4),
    **dict.fromkeys(["exercises", "cli", "__main__", "bench"], 5),
}

# every public name each old module had, and where it lives now
OLD_NAMES = {
    "cnncourse.compare": (
        "cnncourse.interop",
        [
            "KERAS_BACKENDS",
            "Stopwatch",
            "count_code_lines",
            "epoch_orders",
            "max_abs_difference",
            "run_with_keras_backend",
            "torch_eps_matching_keras",
        ],
    ),
    "cnncourse.pipelines": (
        "cnncourse.data",
        [
            "Throughput",
            "augment_samples",
            "changed_mask",
            "dataset_bytes",
            "format_bytes",
            "measure_throughput",
            "synthetic_digit",
            "throughput_table",
        ],
    ),
    # every name of the old module kept its name and is listed in the new one's __all__
    "cnncourse.transfer": ("cnncourse.train.transfer", None),
    "cnncourse.models.torch_models": (
        "cnncourse.models",
        ["ImageClassifier", "MLP", "TinyCNN", "VGGNet"],
    ),
    "cnncourse.models.keras_models": (
        "cnncourse.models",
        ["keras_mlp", "keras_tiny_cnn", "keras_vgg"],
    ),
    "cnncourse.tuning": (
        "cnncourse.train.tuning",
        [
            "RESULT_COLUMNS",
            "SEARCHABLE",
            "grid_search",
            "grid_size",
            "reference_builder",
            "schedule_curve",
        ],
    ),
}


def _layer_of(module: str, where: Path) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in LAYERS:
        raise AssertionError(f"{where}: cnncourse.{top} has no layer; add it to LAYERS.")
    return LAYERS[top]


def _imported(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, module)`` of every cnncourse import in ``tree``, in functions too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "cnncourse" or node.module is None:  # from cnncourse import data
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "cnncourse"]


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        is_package = relative.name == "__init__"
        module = ".".join(relative.parts[:-1] if is_package else relative.parts)
        own = _layer_of(module if module != "cnncourse" else "cnncourse.__init__", path)
        for line, target in _imported(ast.parse(path.read_text()), module, is_package):
            if _layer_of(target, path) > own:
                upward.append(f"{relative}.py:{line} imports {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_layer_check_catches_an_upward_import():
    tree = ast.parse("from cnncourse.train import fit\nfrom . import imageset\n")
    found = _imported(tree, "cnncourse.data", True)
    assert found == [(1, "cnncourse.train"), (2, "cnncourse.data.imageset")]
    assert _layer_of("cnncourse.train", PACKAGE) > _layer_of("cnncourse.data", PACKAGE)


def test_the_shim_table_lists_every_moved_module():
    assert {old: new for old, (new, _) in OLD_NAMES.items()} == _compat.MOVED_MODULES


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_every_old_name_still_works_and_names_its_new_home(old):
    new, names = OLD_NAMES[old]
    home = importlib.import_module(new)
    names = home.__all__ if names is None else names
    stand_in = importlib.import_module(old)
    for name in names:
        with pytest.warns(
            DeprecationWarning, match=re.escape(f"{old}.{name} moved to {new}.{name}")
        ):
            value = getattr(stand_in, name)
        assert value is getattr(home, name)


def test_old_import_statements_warn_and_work(monkeypatch):
    from cnncourse._util import Stopwatch as current

    # a fresh session: the stand-in is made, and the package warns, on first import
    monkeypatch.delitem(sys.modules, "cnncourse.pipelines", raising=False)
    monkeypatch.delattr(cnncourse, "pipelines", raising=False)
    with pytest.warns(DeprecationWarning, match=r"cnncourse\.compare\.Stopwatch moved to"):
        from cnncourse.compare import Stopwatch
    assert Stopwatch is current
    with pytest.warns(DeprecationWarning, match=r"cnncourse\.pipelines moved to cnncourse\.data"):
        from cnncourse import pipelines
    with pytest.warns(DeprecationWarning, match="dataset_bytes"):
        assert pipelines.dataset_bytes(2, (3,)) == 6
    with pytest.warns(DeprecationWarning, match=r"cnncourse\.tuning\.grid_size moved to"):
        old_tuning = importlib.import_module("cnncourse.tuning")
        assert old_tuning.grid_size({"lr": [1e-3, 3e-3]}) == 2
    with pytest.raises(AttributeError):
        cnncourse.compare.no_such_name  # noqa: B018


def test_the_interop_package_keeps_its_old_names_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from cnncourse.interop import keras_to_torch, torch_to_keras
        from cnncourse.interop.weights import torch_to_keras as direct
    assert torch_to_keras is direct and callable(keras_to_torch)


def test_moved_modules_are_not_advertised():
    assert not set(dir(cnncourse)) & {"compare", "pipelines", "transfer", "tuning"}
    assert {"data", "interop", "train"} <= set(dir(cnncourse))


def test_chapters_import_the_new_homes_only():
    moved = "|".join(old.split(".")[-1] for old in _compat.MOVED_MODULES)
    pattern = re.compile(
        rf"^\s*(from cnncourse import .*\b({moved})\b|from cnncourse\.({moved})\b"
        rf"|import cnncourse\.({moved})\b)|\bcnncourse\.({moved})\.",
        re.MULTILINE,
    )
    hits = [
        f"{path.name}: {match.group(0).strip()}"
        for path in sorted((ROOT / "book").glob("*.md"))
        if path.name != "api.md"
        for match in pattern.finditer(path.read_text())
    ]
    assert not hits, "chapters that still use a moved module:\n" + "\n".join(hits)


def test_every_api_page_entry_imports():
    text = (ROOT / "book" / "api.md").read_text()
    entries = re.findall(
        r"^\.\. auto(module|function|class):: (\S+)(?:\n\s+:members: (.*))?", text, re.M
    )
    assert entries
    for kind, target, members in entries:
        assert target not in _compat.MOVED_MODULES, f"api.md documents the stand-in {target}"
        if kind == "module":
            module = importlib.import_module(target)
            for member in filter(None, (m.strip() for m in members.split(","))):
                assert hasattr(module, member), f"api.md: {target} has no {member}"
        else:
            parent, name = target.rsplit(".", 1)
            assert hasattr(importlib.import_module(parent), name), f"api.md: no {target}"


def test_the_package_and_its_pytorch_layers_do_not_import_tensorflow():
    code = (
        "import sys, cnncourse\n"
        "from cnncourse import data, interop, plots, metrics, exercises, runtime\n"
        "from cnncourse.train import transfer, tuning\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_lazy_module_getattr_imports_on_first_use_and_refuses_unknown_names(monkeypatch):
    from cnncourse._lazy import lazy_module_getattr

    module = type(sys)("cnncourse_lazy_probe")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    module.__getattr__, module.__dir__ = lazy_module_getattr(
        module.__name__, ["to_numpy"], lazy={"to_numpy": "cnncourse._util"}
    )
    from cnncourse._util import to_numpy

    assert module.to_numpy is to_numpy
    assert "to_numpy" in vars(module)  # cached: the next read skips __getattr__
    assert dir(module) == ["to_numpy"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        module.nothing  # noqa: B018
