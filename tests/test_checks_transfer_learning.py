"""Checks of the chapter "Transfer learning": solutions pass, mistakes get hints."""

from __future__ import annotations

import numpy as np
import torch

from cnncourse.data.digits import upscaled_digits
from cnncourse.exercises import check, get_exercise
from cnncourse.exercises.checks import transfer_learning as tl
from cnncourse.exercises.registry import evaluate
from cnncourse.models import build_model, count_parameters, load_pretrained
from cnncourse.train import fit
from cnncourse.train.transfer import trainable_parameters, with_new_head


def head_params(features, classes):
    """The chapter's solution."""
    return features * classes + classes


def torch_head_params(features, classes):
    """The oracle: the parameters of PyTorch's own linear layer (dropout has none)."""
    head = torch.nn.Sequential(torch.nn.Dropout(0.25), torch.nn.Linear(features, classes))
    return sum(p.numel() for p in head.parameters())


def grade(exercise_id, answer):
    return evaluate(get_exercise(exercise_id), lambda: answer)


def test_head_params_oracle_passes_and_the_chapters_model_agrees():
    torch.manual_seed(0)
    pretrained = build_model(tl.ARCH, num_classes=tl.OLD_CLASSES, widths=tl.WIDTHS)
    model = with_new_head(pretrained, tl.NEW_CLASSES)  # base frozen: only the head trains
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    features = pretrained.fc.in_features
    assert tl.head_params(features, tl.NEW_CLASSES) == trainable
    for features, classes in [(64, 10), (2048, 1000), (7, 1)]:
        assert tl.head_params(features, classes) == torch_head_params(features, classes)
    assert check("transfer-head-params", torch_head_params).passed
    graded = grade("transfer-head-params", torch_head_params)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_head_params_literal_constant_and_mistakes_get_hints():
    features = tl.head_sizes()[0]
    literal = check("transfer-head-params", head_params(features, 10))
    assert literal.status == "fail" and "needs the function" in literal.message
    assert grade("transfer-head-params", head_params(features, 10))["points"] == 0
    assert "bias" in check("transfer-head-params", lambda f, c: f * c).message
    assert "ten classes" in check("transfer-head-params", lambda f, c: f * 5 + 5).message
    assert "own weight" in check("transfer-head-params", lambda f, c: f).message
    assert check("transfer-head-params", lambda f, c: f * c + c + 1).status == "fail"
    assert check("transfer-head-params", None).status == "not attempted"
    assert check("transfer-head-params", lambda f, c: None).status == "not attempted"
    constant = lambda f, c: head_params(features, 10)  # noqa: E731
    assert check("transfer-head-params", constant).passed
    graded = grade("transfer-head-params", constant)
    assert graded["status"] == "fail" and graded["points"] == 0


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
    assert graded["status"] == "pass", graded["message"]
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


def train_digit_head(few):
    """The chapter's handwriting base, frozen, with a new head trained on the labels."""
    torch.manual_seed(0)
    model = with_new_head(load_pretrained("vgg_mnist_digits"), 10, dropout=0.25)
    head_only = torch.optim.Adam(trainable_parameters(model), 1e-2)
    fit(model, few, epochs=80, batch_size=32, optimizer=head_only, progress=False, seed=0)
    return model


def clothes_head(few):
    """The same on the clothes base: it falls short of the target."""
    torch.manual_seed(0)
    model = with_new_head(load_pretrained("vgg_fashion_mnist"), 10, dropout=0.25)
    head_only = torch.optim.Adam(trainable_parameters(model), 1e-2)
    fit(model, few, epochs=80, batch_size=32, optimizer=head_only, progress=False, seed=0)
    return model


def test_digits_head_solution_passes_and_shortcuts_fail():
    few = tl.draw_digit_labels(3)
    assert len(few) == tl.DIGIT_LABELS * 10
    assert set(np.bincount(few.labels)) == {tl.DIGIT_LABELS}
    test = upscaled_digits("test").images.reshape(len(upscaled_digits("test")), -1)
    assert not (
        {image.tobytes() for image in few.images.reshape(len(few), -1)}
        & {image.tobytes() for image in test}
    )  # the labels come from the pool
    assert check("transfer-digits-head", train_digit_head).passed
    graded = evaluate(get_exercise("transfer-digits-head"), lambda: train_digit_head)
    assert graded["status"] == "pass"

    def untrained(few):
        torch.manual_seed(0)
        return with_new_head(load_pretrained(), 10)  # a random head: about chance

    verdict = check("transfer-digits-head", untrained)
    assert verdict.status == "fail" and "held-out digits" in verdict.message
    assert check("transfer-digits-head", lambda few: None).status == "not attempted"
    assert "torch.nn.Module" in check("transfer-digits-head", lambda few: 0.9).message
    wrong_shape = check("transfer-digits-head", lambda few: torch.nn.Linear(3, 10))
    assert "ten logits" in wrong_shape.message


def test_digits_head_target_is_out_of_reach_of_the_clothes_base():
    verdict = check("transfer-digits-head", clothes_head)
    assert verdict.status == "fail" and "vgg_mnist_digits" in verdict.message
    graded = evaluate(get_exercise("transfer-digits-head"), lambda: clothes_head)
    assert graded["status"] == "fail" and graded["points"] == 0
