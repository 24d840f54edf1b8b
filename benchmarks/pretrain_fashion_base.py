"""Pre-train the transfer chapter's base: a slim VGG on all of Fashion-MNIST.

Writes ``cnncourse/models/weights/vgg_fashion_mnist.pt`` (the course's checkpoint
format, read with ``torch.load(weights_only=True)``) and prints its SHA-256, which goes
into ``cnncourse/models/pretrained.py``. Deterministic on the CPU: one thread, seed 0.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pretrain_fashion_base.py
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch

from cnncourse import data, models, runtime, train
from cnncourse.deploy import save_torch

OUT = Path(__file__).resolve().parents[1] / "cnncourse/models/weights/vgg_fashion_mnist.pt"
WIDTHS, EPOCHS, LR, BATCH = (16, 32, 64), 2, 3e-3, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    runtime.seed_everything(0)
    train_set = data.load("fashion_mnist", "train")
    test_set = data.load("fashion_mnist", "test")
    model = models.build_model("vgg", num_classes=10, widths=WIDTHS)
    history = train.fit(
        model,
        train_set,
        epochs=args.epochs,
        batch_size=BATCH,
        lr=LR,
        scheduler="cosine",
        device="cpu",
        seed=0,
        progress=False,
    )
    print(history)
    accuracy = train.evaluate(model, test_set, device="cpu")["accuracy"]
    model.cpu().eval()
    save_torch(model, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"test accuracy {accuracy:.4f}; {args.out} ({args.out.stat().st_size:,} bytes)")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
