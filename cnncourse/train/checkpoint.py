"""The one checkpoint format: a model's weights, how to rebuild it, and where training stood.

``fit(..., checkpoint=path)``, :func:`cnncourse.deploy.save_torch` / ``load_torch`` and the
command line all write and read this file. It is a ``torch.save`` dict of tensors,
strings, numbers and plain containers only:

================  ==================================================================
key               value
================  ==================================================================
``format``        :data:`FORMAT`, so another kind of file is recognised and refused
``version``       :data:`VERSION` of the layout below
``name``          the model's registry name (``"tiny"``...), ``""`` for other models
``model_config``  its constructor arguments: ``build_model(name, **model_config)``
``state_dict``    the weights and buffers, contiguous, on the CPU
``optimizer``     the optimizer's ``state_dict`` (``None`` without one)
``epoch``         the epoch the weights come from (``None`` outside ``fit``)
``fit_config``    ``fit``'s settings (``None`` outside ``fit``)
``metrics``       that epoch's row of the history (``None`` outside ``fit``)
================  ==================================================================

:func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``, which rebuilds
tensors and plain containers only: a file that asks to run code is refused before any of
it runs. Every refusal is a ``ValueError`` (or ``FileNotFoundError``) saying what the file
is and how to write a good one. Files of the two earlier layouts (``fit``'s
``{"model", "optimizer", ...}`` and ``save_torch``'s ``cnncourse-torch-1``) and bare
``state_dict`` files load too.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnncourse._files import atomic_path, existing_file
from cnncourse.models import build_model

FORMAT = "cnncourse-checkpoint"
VERSION = 1
_OLD_DEPLOY_FORMAT = "cnncourse-torch-1"  # save_torch's layout before this module

HOW_TO_SAVE = "cnncourse.train.save_checkpoint(path, model) (or deploy.save_torch)"


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    epoch: int | None = None,
    config: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write ``model`` (and, from ``fit``, the optimizer, epoch, settings and metrics) to ``path``.

    Course models (``cnncourse.models``) also store their registry name and constructor
    arguments, so ``load_checkpoint(path)`` rebuilds them without the code that built
    them. The file is written to a temporary name and renamed: a crash mid-save leaves
    the previous file intact.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint expects a torch.nn.Module, got {type(model).__name__}.")
    state = {
        "format": FORMAT,
        "version": VERSION,
        "name": getattr(model, "name", "") or "",
        "model_config": dict(getattr(model, "config", {}) or {}),
        # contiguous CPU copies: a channels-last or GPU model saves plain tensors
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "epoch": None if epoch is None else int(epoch),
        "fit_config": config,
        "metrics": None if metrics is None else {k: float(v) for k, v in metrics.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path`` as a dict with the keys of the current layout.

    Reads safely (``weights_only=True``) and refuses, with a ``ValueError`` that says
    why, an empty, truncated or foreign file and one that carries code.
    """
    path = existing_file(path, "a checkpoint file", HOW_TO_SAVE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise ValueError(_unreadable(path, err)) from err
        raise ValueError(
            f"refused to load {path}: it asks to run Python code or build objects beyond "
            "tensors and plain containers, which a checkpoint never needs. Nothing in it "
            f"was executed. Only load files from sources you trust. ({_culprit(err)})"
        ) from err
    except (RuntimeError, EOFError, KeyError, ValueError) as err:  # empty, truncated, foreign
        raise ValueError(_unreadable(path, err)) from err
    return _current_layout(state, path)


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Restore the checkpoint at ``path``; returns its contents with ``"model"`` filled in.

    With ``model``, the weights go into it (on its device) and its layers must match;
    without it, a course model is rebuilt from the stored name and configuration, on the
    CPU. With ``optimizer``, its state is restored too (a checkpoint from ``fit`` has it).
    The returned dict has the keys of the file's layout (``"epoch"``, ``"fit_config"``,
    ``"metrics"``, ...), ``"config"`` as a second name for ``"fit_config"``, and
    ``"model"``.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module (or None to rebuild it), got {type(model).__name__}."
        )
    state = read_checkpoint(path)
    name, config = state["name"], state["model_config"]
    if model is None:
        if not name:
            raise ValueError(
                f"{path} holds weights without the model's name: build the model first "
                "and pass it, load_checkpoint(path, model)."
            )
        model = build_model(name, **config)
    _check_fits(model, state, path)
    model.load_state_dict(state["state_dict"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(
                f"{path} holds no optimizer state (it was saved outside fit); "
                "load it without an optimizer."
            )
        optimizer.load_state_dict(state["optimizer"])
    return {**state, "config": state["fit_config"], "model": model}


def _current_layout(state: Any, path: Path) -> dict[str, Any]:
    """Any supported layout as the current one (see the module docstring)."""
    empty = {"name": "", "model_config": {}, "optimizer": None, "epoch": None}
    empty |= {"fit_config": None, "metrics": None}
    if isinstance(state, dict) and state.get("format") == FORMAT:
        if state.get("version") != VERSION:
            raise ValueError(
                f"{path} is a cnncourse checkpoint of version {state.get('version')!r}; this "
                f"cnncourse reads version {VERSION}: update cnncourse, or re-save the model "
                f"with {HOW_TO_SAVE}."
            )
        return {**empty, **state}
    if isinstance(state, dict) and state.get("format") == _OLD_DEPLOY_FORMAT:
        return {**empty, "name": state["name"], "model_config": state["config"]} | {
            "state_dict": state["state_dict"]
        }
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "epoch" in state:
        return empty | {  # fit's checkpoints of earlier releases
            "state_dict": state["model"],
            "optimizer": state.get("optimizer"),
            "epoch": state.get("epoch"),
            "fit_config": state.get("config"),
            "metrics": state.get("metrics"),
        }
    if (
        isinstance(state, dict)
        and state
        and all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        return empty | {"state_dict": state}  # a bare state_dict from torch.save
    raise ValueError(
        f"{path} holds a {type(state).__name__}, not model weights: expected a checkpoint "
        f"written by {HOW_TO_SAVE}, fit(..., checkpoint=path) or "
        "torch.save(model.state_dict(), path)."
    )


def _check_fits(model: nn.Module, state: dict[str, Any], path) -> None:
    """Refuse weights of another architecture, naming the first key that differs."""
    expected = model.state_dict()
    stored = state["state_dict"]
    problem = None
    for key, tensor in expected.items():
        if key not in stored:
            problem = f"the model has {key!r}, which the file lacks"
        elif tuple(stored[key].shape) != tuple(tensor.shape):
            problem = (
                f"{key!r} is {tuple(stored[key].shape)} in the file but "
                f"{tuple(tensor.shape)} in the model"
            )
        if problem:
            break
    else:
        extra = [key for key in stored if key not in expected]
        if extra:
            problem = f"the file has {extra[0]!r}, which the model lacks"
    if problem is None:
        return
    name, config = state["name"], state["model_config"]
    if name:
        arguments = "".join(f", {k}={v!r}" for k, v in config.items())
        fix = (
            f"it was saved from build_model({name!r}{arguments}): build that, or call "
            "load_checkpoint(path) without a model to rebuild it"
        )
    else:
        fix = "build the architecture it was saved from"
    raise ValueError(
        f"the weights in {path} do not fit this {type(model).__name__}: {problem}. {fix}."
    )


def _unreadable(path: Path, err: Exception) -> str:
    return (
        f"{path} is not a readable PyTorch file (empty, truncated or of another kind): "
        f"{type(err).__name__}: {str(err)[:200]}. Re-save the model with {HOW_TO_SAVE}."
    )


def _culprit(err: Exception) -> str:
    """The line of torch's weights-only error that names what the file wanted to load."""
    lines = [line.strip() for line in str(err).splitlines() if "Unsupported global" in line]
    return lines[0].split(" Please use")[0] if lines else str(err).splitlines()[0]
