"""cnncourse.plots: each figure rendered with Agg, checked for what it shows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import ROC_PROBS, ROC_TRUE
from matplotlib.colors import to_rgba  # noqa: E402
from scipy.signal import correlate2d  # noqa: E402

from cnncourse import metrics, plots  # noqa: E402

RED, BLACK = to_rgba(plots.WRONG_COLOR), to_rgba(plots.RIGHT_COLOR)


@pytest.fixture(scope="module")
def first_images(fashion_test):
    """The first 32 real Fashion-MNIST test images (uint8 (32, 28, 28, 1))."""
    return fashion_test.take(np.arange(32))


def shown(ax) -> np.ndarray:
    """The array an axes' (first) image draws."""
    return np.asarray(ax.images[0].get_array())


def rendered(fig) -> None:
    fig.canvas.draw()  # layout and text really render, headless


def test_show_images_titles_and_wrong_predictions_in_red(first_images):
    labels = first_images.labels[:10]
    predictions = labels.copy()
    predictions[3] = (labels[3] + 1) % 10  # one wrong prediction
    fig = plots.show_images(
        first_images.images[:10],
        labels,
        first_images.class_names,
        predictions,
        ncols=4,
        title="test set",
    )
    rendered(fig)
    assert len(fig.axes) == 10
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (3, 4)  # 10 panels, rows of 4
    assert fig.get_suptitle() == "test set"
    names = first_images.class_names
    for i, ax in enumerate(fig.axes):
        np.testing.assert_array_equal(shown(ax), first_images.images[i, :, :, 0])  # (28, 28) grey
        if i == 3:
            assert ax.get_title() == f"{names[predictions[3]]}\n(true: {names[labels[3]]})"
            assert to_rgba(ax.title.get_color()) == RED
        else:
            assert ax.get_title() == names[labels[i]]
            assert to_rgba(ax.title.get_color()) == BLACK


def test_show_images_reads_tensors_as_nchw_and_stretches_normalised_floats(first_images):
    x = torch.tensor(first_images.images[:4]).permute(0, 3, 1, 2).float() / 255  # (4, 1, 28, 28)
    normalised = (x - 0.2860) / 0.3530  # Fashion-MNIST mean/std: values outside [0, 1]
    fig = plots.show_images(normalised)
    assert len(fig.axes) == 4
    for ax, image in zip(fig.axes, x[:, 0].numpy(), strict=True):
        data = shown(ax)
        assert data.shape == (28, 28)
        stretched = (image - image.min()) / (image.max() - image.min())
        np.testing.assert_allclose(data, stretched, atol=1e-6)
        assert ax.get_title() == ""  # no labels given
    rgb = torch.tensor(np.repeat(first_images.images[:2], 3, axis=3)).permute(
        0, 3, 1, 2
    )  # (2, 3, 28, 28)
    assert shown(plots.show_images(rgb).axes[0]).shape == (28, 28, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": [0, 1]}, "one entry an image"),
        ({"labels": [0, 1, 2, 11], "class_names": [str(i) for i in range(10)]}, r"\[0, 9\]"),
        ({"images": np.zeros((4, 28, 28, 5), np.uint8)}, r"\(C, H, W\)"),
        ({"images": np.zeros((28, 28), np.uint8)}, "images\\[None\\]"),
    ],
)
def test_show_images_refuses_bad_input(first_images, kwargs, message):
    arguments = {"images": first_images.images[:4], **kwargs}
    with pytest.raises(ValueError, match=message):
        plots.show_images(**arguments)


def test_show_misclassified_picks_the_wrong_ones(first_images):
    y_true = first_images.labels
    y_pred = y_true.copy()
    wrong = [2, 5, 7]
    y_pred[wrong] = (y_true[wrong] + 3) % 10
    fig = plots.show_misclassified(
        first_images.images, y_true, y_pred, first_images.class_names, n=2
    )
    rendered(fig)
    assert len(fig.axes) == 2
    assert fig.get_suptitle() == "3 of 32 misclassified (first 2 shown)"
    for ax, i in zip(fig.axes, wrong[:2], strict=True):
        np.testing.assert_array_equal(shown(ax), first_images.images[i, :, :, 0])
        assert f"(true: {first_images.class_names[y_true[i]]})" in ax.get_title()
        assert to_rgba(ax.title.get_color()) == RED

    none_wrong = plots.show_misclassified(
        first_images.images, y_true, y_true, first_images.class_names
    )
    assert len(none_wrong.axes) == 1 and not none_wrong.axes[0].images
    assert none_wrong.axes[0].texts[0].get_text() == "no misclassified images among 32"


def test_show_augmentations_original_first(first_images):
    from torchvision.transforms import v2

    image = first_images.images[0]  # (28, 28, 1) uint8
    x = torch.tensor(image).permute(2, 0, 1)  # (1, 28, 28) as torchvision wants
    versions = [v2.RandomHorizontalFlip(p=1.0)(x), v2.RandomVerticalFlip(p=1.0)(x)]
    fig = plots.show_augmentations(image, versions, titles=["mirrored", "upside down"])
    assert [ax.get_title() for ax in fig.axes] == ["original", "mirrored", "upside down"]
    np.testing.assert_array_equal(shown(fig.axes[0]), image[:, :, 0])
    np.testing.assert_array_equal(shown(fig.axes[1]), image[:, ::-1, 0])
    np.testing.assert_array_equal(shown(fig.axes[2]), image[::-1, :, 0])
    batch = plots.show_augmentations(image, np.stack([image] * 3))  # (K, H, W, C)
    assert [ax.get_title() for ax in batch.axes][1:] == [f"augmented {i}" for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="each of the 2 versions"):
        plots.show_augmentations(image, versions, titles=["one"])


def test_plot_feature_maps_one_panel_a_channel(first_images):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 8, kernel_size=3)
    x = torch.tensor(first_images.images[:1]).permute(0, 3, 1, 2).float() / 255  # (1, 1, 28, 28)
    maps = conv(x)  # (1, 8, 26, 26), requires grad: the plot detaches it
    fig = plots.plot_feature_maps(maps)
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes] == [str(i) for i in range(8)]
    for ax, channel in zip(fig.axes, maps[0].detach().numpy(), strict=True):
        np.testing.assert_allclose(shown(ax), channel, rtol=1e-6)
    assert fig.get_suptitle() == "8 feature maps of 26x26"
    fewer = plots.plot_feature_maps(maps[0], max_maps=3)
    assert len(fewer.axes) == 3 and fewer.get_suptitle().endswith("(first 3 shown)")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plots.plot_feature_maps(maps[0, 0])


def test_plot_filters_layouts():
    torch.manual_seed(0)
    grey = torch.nn.Conv2d(1, 6, 3).weight  # (6, 1, 3, 3)
    fig = plots.plot_filters(grey)
    assert len(fig.axes) == 6
    limit = grey.abs().max().item()
    for o, ax in enumerate(fig.axes):
        np.testing.assert_allclose(shown(ax), grey[o, 0].detach().numpy(), rtol=1e-6)
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))  # one shared scale
    colour = torch.randn(4, 3, 5, 5)  # synthetic weights: only the layout is under test
    panels = plots.plot_filters(colour).axes
    assert len(panels) == 4 and shown(panels[0]).shape == (5, 5, 3)
    assert shown(panels[0]).min() == 0 and shown(panels[0]).max() == 1
    many = plots.plot_filters(torch.randn(4, 5, 3, 3))  # one row an output filter
    assert len(many.axes) == 20
    assert many.axes[7].get_title() == "1,2"
    with pytest.raises(ValueError, match=r"\(O, I, kh, kw\)"):
        plots.plot_filters(np.zeros((3, 3, 1)))


def test_filter_response_is_cross_correlation():
    # A vertical edge: 0 0 1 in every row. Kernel [1, 0, -1], zero padding:
    # out[c] = x[c-1] - x[c+1] -> c=0: 0 - 0 = 0; c=1: 0 - 1 = -1; c=2: 0 - 0 (pad) = 0.
    # (A flipped kernel, true convolution, would give +1 in the middle.)
    image = np.array([[0.0, 0.0, 1.0]] * 3)
    response = plots.filter_response(image, np.array([[1.0, 0.0, -1.0]]))
    np.testing.assert_array_equal(response, [[0.0, -1.0, 0.0]] * 3)


def test_plot_kernel_response_on_a_real_image(first_images):
    image = first_images.images[0]  # (28, 28, 1) uint8
    kernels = {
        "vertical edges": [[1, 0, -1]] * 3,
        "blur": np.ones((3, 3)) / 9,
    }
    fig = plots.plot_kernel_response(image, kernels)
    rendered(fig)
    assert len(fig.axes) == 1 + 2 + 2  # input, two responses, two kernels
    assert [ax.get_title() for ax in fig.axes[:3]] == ["input", "vertical edges", "blur"]
    grey = image[:, :, 0] / 255.0
    for ax, kernel in zip(fig.axes[1:3], kernels.values(), strict=True):
        expected = correlate2d(grey, np.asarray(kernel, float), mode="same")  # zero-padded
        np.testing.assert_allclose(shown(ax), expected, atol=1e-12)
    np.testing.assert_array_equal(shown(fig.axes[3]), np.array(kernels["vertical edges"]))
    assert [t.get_text() for t in fig.axes[3].texts] == ["1", "0", "-1"] * 3
    assert len(plots.plot_kernel_response(image, kernels, show_kernels=False).axes) == 3
    with pytest.raises(TypeError, match="non-empty dict"):
        plots.plot_kernel_response(image, [[1, 0, -1]])


def _history(scale: float = 1.0) -> pd.DataFrame:
    """A History-shaped table (columns of cnncourse.train.History); values are made up."""
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": np.array([0.9, 0.6, 0.5]) * scale,
            "accuracy": [0.70, 0.80, 0.85],
            "val_loss": np.array([0.8, 0.65, 0.6]) * scale,
            "val_accuracy": [0.72, 0.78, 0.80],
            "lr": [1e-3] * 3,
            "seconds": [2.0, 2.1, 2.0],
        }
    )


def test_plot_history_one_run():
    history = _history()
    fig = plots.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, metric in zip(fig.axes, ("loss", "accuracy"), strict=True):
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(train.get_ydata(), history[metric])
        np.testing.assert_allclose(val.get_ydata(), history[f"val_{metric}"])
        assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]


def test_plot_history_overlays_runs_and_reads_keras_dicts():
    runs = {"with BatchNorm": _history(), "without": _history(scale=1.5)}
    fig = plots.plot_history(runs, metrics=("loss",))
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "with BatchNorm",
        "with BatchNorm (validation)",
        "without",
        "without (validation)",
    ]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    np.testing.assert_allclose(lines[2].get_ydata(), runs["without"]["loss"])
    keras_style = {"loss": [0.9, 0.5], "accuracy": [0.6, 0.8]}  # keras History.history
    (loss_ax, _) = plots.plot_history(keras_style).axes
    assert len(loss_ax.get_lines()) == 1  # no validation recorded
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2])
    with pytest.raises(ValueError, match="no column \\['f1'\\]"):
        plots.plot_history(runs, metrics=("f1",))


def test_plot_confusion_matrix_numbers_and_names():
    # the worked example of test_metrics: rows true, columns predicted
    cm = metrics.confusion_matrix([0, 0, 0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 2, 2, 2, 2])
    names = ["shirt", "bag", "boot"]
    fig = plots.plot_confusion_matrix(cm, names)
    rendered(fig)
    (ax,) = fig.axes
    np.testing.assert_array_equal(shown(ax), cm)
    assert [t.get_text() for t in ax.texts] == ["2", "1", "0", "0", "1", "1", "0", "0", "3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    normalised = plots.plot_confusion_matrix(cm, names, normalize=True).axes[0]
    # rows divided by their totals 3, 2, 3
    assert [t.get_text() for t in normalised.texts][:3] == ["0.67", "0.33", "0.00"]
    np.testing.assert_allclose(shown(normalised).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="name the 3 classes"):
        plots.plot_confusion_matrix(cm, names[:2])
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(cm[:2], names)


def test_plot_roc_lines_and_legend():
    y, probs = ROC_TRUE, ROC_PROBS  # the worked example of test_metrics
    curves = metrics.roc_curves(y, probs)
    aucs = metrics.roc_auc(y, probs, average=None)  # ROC_AUCS: 0.875, 0.8125, 1.0
    fig = plots.plot_roc(curves, aucs, ["shirt", "bag", "boot"])
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 4  # three classes and the chance diagonal
    np.testing.assert_allclose(lines[1].get_xdata(), curves[1][0])
    np.testing.assert_allclose(lines[1].get_ydata(), curves[1][1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "shirt (AUC = 0.875)",
        "bag (AUC = 0.812)",
        "boot (AUC = 1.000)",
        "chance",
    ]
    binary = plots.plot_roc(metrics.roc_curves([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75)
    assert binary.axes[0].get_lines()[0].get_label() == "class 1 (AUC = 0.750)"


def test_figures_are_not_left_open_in_pyplot(first_images):
    before = plt.get_fignums()
    for _ in range(3):
        plots.show_images(first_images.images[:4])
    assert plt.get_fignums() == before
