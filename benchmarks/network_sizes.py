"""Scoring throughput of the hybrid network against its size (issue 2's 5M rows/s target).

Inference time does not depend on the weights, so each network is built untrained: the default
hybrid (classifier 256-128 + autoencoder 64-16), smaller classifiers and autoencoders, each part
alone, and the seed network (64-64-1) as the same-run baseline. Each is exported to ONNX the way
bundles are and scored by ONNX Runtime on 1M rows of NSL-KDD's preprocessed width (119 columns,
5 classes); median of 3 runs. Writes benchmarks/results/network_sizes.json.

    python benchmarks/network_sizes.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from deepsentry.core import networks  # noqa: E402
from deepsentry.core.onnx import onnx_runner  # noqa: E402

RESULTS = Path(__file__).parent / "results"
WIDTH, CLASSES, ROWS = 119, 5, 1_000_000
#: name -> (classifier hidden widths or None, autoencoder hidden widths or None)
CANDIDATES: dict[str, tuple[tuple[int, ...] | None, tuple[int, ...] | None]] = {
    "default hybrid: classifier 256-128 + autoencoder 64-16": ((256, 128), (64, 16)),
    "classifier 128-64 + autoencoder 64-16": ((128, 64), (64, 16)),
    "classifier 64-64 + autoencoder 64-16": ((64, 64), (64, 16)),
    "classifier 64-64 + autoencoder 32-8": ((64, 64), (32, 8)),
    "classifier 64-32 + autoencoder 32-8": ((64, 32), (32, 8)),
    "classifier 64-64 + autoencoder 16-4": ((64, 64), (16, 4)),
    "classifier 32-32 + autoencoder 16-4": ((32, 32), (16, 4)),
    "classifier 256-128 alone": ((256, 128), None),
    "classifier 64-64 alone": ((64, 64), None),
    "autoencoder 64-16 alone": (None, (64, 16)),
}


def multiply_adds(hidden: tuple[int, ...] | None, ae: tuple[int, ...] | None) -> int:
    """Multiply-adds per row of the dense layers."""
    total = 0
    if hidden:
        widths = [WIDTH, *hidden, CLASSES]
        total += sum(a * b for a, b in zip(widths, widths[1:]))
    if ae:
        widths = [WIDTH, *ae, *reversed(ae[:-1]), WIDTH]
        total += sum(a * b for a, b in zip(widths, widths[1:]))
    return total


def rows_per_s(model, features: np.ndarray) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        model(features[:2])
        model.export(str(path), format="onnx", verbose=False)
        run = onnx_runner(path.read_bytes())
    run(features[:20000])  # warm-up
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        run(features)
        runs.append(time.perf_counter() - started)
    return ROWS / statistics.median(runs), runs


def main() -> int:
    features = np.random.default_rng(0).random((ROWS, WIDTH), dtype=np.float32)
    rows = []
    seed_speed, seed_runs = rows_per_s(networks.build_seed(WIDTH), features)
    rows.append({"network": "seed 64-64-1 (baseline)", "multiply_adds": multiply_adds((64, 64), None) - 64 * (CLASSES - 1),
                 "rows_per_s": seed_speed, "runs_s": seed_runs})
    for name, (hidden, ae) in CANDIDATES.items():
        classifier = networks.build_mlp(WIDTH, CLASSES, hidden=hidden) if hidden else None
        autoencoder = networks.build_autoencoder(WIDTH, hidden=ae) if ae else None
        speed, runs = rows_per_s(networks.inference_model(WIDTH, classifier, autoencoder), features)
        rows.append({"network": name, "multiply_adds": multiply_adds(hidden, ae), "rows_per_s": speed, "runs_s": runs})
        print(f"{name}: {speed / 1e6:.2f}M rows/s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "network_sizes.json").write_text(json.dumps(
        {"date": date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
         "rows": ROWS, "width": WIDTH, "results": rows}, indent=2) + "\n")
    print("\n| network | multiply-adds per row | rows/s (ONNX Runtime) | vs seed |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['network']} | {row['multiply_adds']:,} | {row['rows_per_s'] / 1e6:.2f}M | "
              f"{row['rows_per_s'] / seed_speed:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
