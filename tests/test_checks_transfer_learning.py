"""Checks of the chapter "Transfer learning": solutions pass, mistakes get hints."""

from __future__ import annotations

import torch

from cnncourse.exercises import check, get_exercise
from cnncourse.exercises.checks import transfer_learning as tl
from cnncourse.exercises.registry import evaluate
from cnncourse.models import build_model, count_parameters
from cnncourse.train.transfer import with_new_head


def test_head_params_oracle_passes_and_mistakes_get_hints():
    torch.manual_seed(0)
    pretrained = build_model(tl.ARCH, num_classes=tl.OLD_CLASSES, widths=tl.WIDTHS)
    model = with_new_head(pretrained, tl.NEW_CLASSES)  # base frozen: only the head trains
    oracle = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert check("transfer-head-params", oracle).passed
    features = pretrained.fc.in_features
    assert "bias" in check("transfer-head-params", features * 5).message
    assert "five classes" in check("transfer-head-params", features * 10 + 10).message
    assert check("transfer-head-params", oracle + 1).status == "fail"
    assert check("transfer-head-params", None).status == "not attempted"


def test_batchnorm_frozen_answer_is_what_pytorch_does():
    # oracle: freeze a BatchNorm's parameters, run it in training mode, watch its statistics
    bn = torch.nn.BatchNorm2d(3)
    for p in bn.parameters():
        p.requires_grad_(False)
    before = bn.running_mean.clone()
    bn.train()(torch.randn(4, 3, 5, 5) + 2)
    changed = int((before != bn.running_mean).sum())  # the oracle: every channel moved

    def running_means_changed(channels):
        return sum(channels)

    assert changed == 3 == running_means_changed([3])
    assert check("transfer-batchnorm-frozen", running_means_changed).passed
    graded = evaluate(get_exercise("transfer-batchnorm-frozen"), lambda: running_means_changed)
    assert graded["status"] == "pass"
    frozen = check("transfer-batchnorm-frozen", lambda channels: 0)
    assert "running mean" in frozen.message
    fitted = lambda channels: 448  # noqa: E731 - right for the check's one base only
    assert check("transfer-batchnorm-frozen", fitted).passed
    assert evaluate(get_exercise("transfer-batchnorm-frozen"), lambda: fitted)["points"] == 0
    assert check("transfer-batchnorm-frozen", False).status == "fail"  # the old yes/no


def solution(model, base_lr, head_lr):
    return [
        {"params": model.base.parameters(), "lr": base_lr},
        {"params": model.head.parameters(), "lr": head_lr},
    ]


def test_param_groups_solution_passes_and_mistakes_get_hints():
    assert check("transfer-param-groups", solution).passed
    swapped = check("transfer-param-groups", lambda m, b, h: solution(m, h, b))
    assert "swapped" in swapped.message
    head_only = check(
        "transfer-param-groups", lambda m, b, h: [{"params": m.head.parameters(), "lr": h}]
    )
    assert "base are in no group" in head_only.message
    no_lr = check("transfer-param-groups", lambda m, b, h: [{"params": list(m.parameters())}])
    assert "own" in no_lr.message
    twice = check(
        "transfer-param-groups",
        lambda m, b, h: [
            {"params": m.parameters(), "lr": b},
            {"params": m.head.parameters(), "lr": h},
        ],
    )
    assert "refused" in twice.message
    one_rate = check(
        "transfer-param-groups", lambda m, b, h: [{"params": m.parameters(), "lr": h}]
    )
    assert f"lr {tl.BASE_LR}" in one_rate.message
    assert "list of dicts" in check("transfer-param-groups", lambda m, b, h: 3).message
    assert check("transfer-param-groups", lambda m, b, h: None).status == "not attempted"
    assert check("transfer-param-groups", "solution").status == "fail"


def test_head_sizes_follow_the_model():
    features, head = tl.head_sizes()
    assert head == features * tl.NEW_CLASSES + tl.NEW_CLASSES
    pretrained = build_model(tl.ARCH, num_classes=tl.OLD_CLASSES, widths=tl.WIDTHS)
    model = with_new_head(pretrained, tl.NEW_CLASSES)
    assert count_parameters(model) == head
