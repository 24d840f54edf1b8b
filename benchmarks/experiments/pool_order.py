"""A/B: ReLU before or after max pooling in the tiny CNN, in PyTorch and in Keras.

Both orders compute the same function (max pooling commutes with ReLU). The package's
TinyCNN and its Keras twin pool first. This script measures what that buys in each
framework: epoch seconds of all four variants, taking turns one epoch each per round, on the
60,000 Fashion-MNIST training images, batch 64, Adam 1e-3 (the throughput section's
setting). Usage: ``python benchmarks/experiments/pool_order.py [--rounds 7]``.
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import torchvision  # noqa: F401  (before TensorFlow: see cnncourse._frameworks)

from cnncourse._frameworks import import_keras
from cnncourse.bench import fit_epochs, keras_epochs
from cnncourse.data import load, to_tensors
from cnncourse.models import build_model
from cnncourse.models.torch_models import TinyCNN
from cnncourse.runtime import seed_everything


class ReluFirstTinyCNN(TinyCNN):
    """The seed tutorial's order, conv -> ReLU -> pool, with TinyCNN's layers."""

    def forward(self, x):
        self.check_input(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(x))


def relu_first_keras_tiny_cnn():
    """The Keras twin in the seed tutorial's order, each ReLU before its pooling."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((28, 28, 1), name="images")
    x = layers.ReLU(name="relu1")(layers.Conv2D(8, 3, padding="same", name="conv1")(inputs))
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.ReLU(name="relu2")(layers.Conv2D(16, 3, padding="same", name="conv2")(x))
    x = layers.MaxPooling2D(2, name="pool2")(x)
    outputs = layers.Dense(10, name="fc")(layers.Flatten(name="flatten")(x))
    return keras.Model(inputs, outputs, name="tiny_cnn_relu_first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="the first one warms up")
    rounds = parser.parse_args().rounds
    train = load("fashion_mnist", "train")
    seed_everything(0, keras=True)
    data = to_tensors(train)
    loops = {
        "PyTorch, pool then ReLU (TinyCNN)": fit_epochs(TinyCNN(), data),
        "PyTorch, ReLU then pool": fit_epochs(ReluFirstTinyCNN(), data),
        "Keras, pool then ReLU (the twin)": keras_epochs(build_model("tiny", "keras"), train),
        "Keras, ReLU then pool": keras_epochs(relu_first_keras_tiny_cnn(), train),
    }
    seconds = {name: [] for name in loops}
    for round_ in range(rounds):
        for name, run_epoch in loops.items():
            seconds[name].append(run_epoch())
        print(f"round {round_}: " + ", ".join(f"{s[-1]:.2f}" for s in seconds.values()))
    for name, times in seconds.items():
        timed = times[1:] or times
        print(f"{name:36s} median {statistics.median(timed):.3f} s, best {min(timed):.3f} s")


if __name__ == "__main__":
    main()
