"""Logs benchmark: template-mining grouping accuracy and speed against drain3 (same run, same lines),
and HDFS sequence detection (normal-only deeplog, supervised classifier) against an unseen-n-gram
baseline on the same held-out blocks. Writes benchmarks/results/logs.json.

Split: the HDFS normal and anomalous sequence files are each shuffled with seed 0 and cut in half;
models train on the first halves only (deeplog on normal blocks only), thresholds come from
validation blocks carved from those halves, and the second halves are only scored.

    python benchmarks/logs.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.logs.detector import LogConfig, LogSequenceDetector  # noqa: E402
from deepsentry.logs.drain import TemplateMiner, grouping_accuracy  # noqa: E402
from deepsentry.logs.formats import PRESETS  # noqa: E402
from deepsentry.logs.sequences import read_sequences  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parsing() -> dict:
    root = data_dir() / "logs" / "loghub-2k"
    rows = []
    try:
        from drain3 import TemplateMiner as _Drain3
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig

        from deepsentry.logs.drain import DEFAULT_MASKS

        def Drain3():  # drain3's defaults, plus the same masks as ours ("same masking")
            config = TemplateMinerConfig()
            config.masking_instructions = [MaskingInstruction(p, name) for name, p in DEFAULT_MASKS]
            config.profiling_enabled = False
            return _Drain3(config=config)
    except ImportError:
        Drain3 = None
    for system in sorted(PRESETS):
        folder = next(p for p in root.iterdir() if p.name.lower() == system)
        structured = pd.read_csv(folder / f"{folder.name}_2k.log_structured.csv")
        contents = [str(c) for c in structured["Content"]]
        truth = list(structured["EventId"])
        miner = TemplateMiner()
        ours = [miner.add(c)[0] for c in contents]
        row = {"system": system, "deepsentry": grouping_accuracy(truth, ours), "templates": len(miner.clusters),
               "true_templates": int(structured["EventId"].nunique())}
        if Drain3 is not None:
            d3 = Drain3()
            row["drain3_same_masks"] = grouping_accuracy(truth, [d3.add_log_message(c)["cluster_id"] for c in contents])
            plain = _Drain3()
            row["drain3_defaults"] = grouping_accuracy(truth, [plain.add_log_message(c)["cluster_id"] for c in contents])
        rows.append(row)
    distinct = [str(c) for c in pd.read_csv(next(p for p in root.iterdir() if p.name == "HDFS")
                                            / "HDFS_2k.log_structured.csv")["Content"]]
    lines = distinct * 50
    speed, first_pass = {}, {}
    for name, make, add in (("deepsentry", TemplateMiner, lambda m, c: m.add(c)),
                            ("drain3", (lambda: Drain3()) if Drain3 else None, lambda m, c: m.add_log_message(c))):
        if make is None:
            continue
        runs = []
        for _ in range(3):
            miner = make()
            started = time.perf_counter()
            for c in lines:
                add(miner, c)
            runs.append(time.perf_counter() - started)
        speed[name] = len(lines) / statistics.median(runs)
        miner = make()
        started = time.perf_counter()
        for c in distinct:  # no exact repeats of earlier lines: no cache help
            add(miner, c)
        first_pass[name] = len(distinct) / (time.perf_counter() - started)
    summary = {"mean_deepsentry": statistics.fmean(r["deepsentry"] for r in rows)}
    if Drain3 is not None:
        summary["mean_drain3_same_masks"] = statistics.fmean(r["drain3_same_masks"] for r in rows)
        summary["mean_drain3_defaults"] = statistics.fmean(r["drain3_defaults"] for r in rows)
    return {"systems": rows, **summary, "lines_per_s": speed, "speed_lines": len(lines),
            "first_pass_lines_per_s": first_pass}


def unseen_ngrams(train: list[list[str]], test: list[list[str]], n: int = 3) -> np.ndarray:
    seen = {tuple(s[i:i + n]) for s in train for i in range(max(1, len(s) - n + 1))}
    return np.asarray([float(any(tuple(s[i:i + n]) not in seen for i in range(max(1, len(s) - n + 1))))
                       for s in test])


def detection(epochs: int) -> dict:
    root = data_dir() / "logs" / "hdfs" / "sequences"
    normal, anomalous = read_sequences(root / "hdfs_normal"), read_sequences(root / "hdfs_abnormal")
    rng = np.random.default_rng(0)
    n_idx, a_idx = rng.permutation(len(normal)), rng.permutation(len(anomalous))
    n_train, n_test = n_idx[: len(n_idx) // 2], n_idx[len(n_idx) // 2:]
    a_train, a_test = a_idx[: len(a_idx) // 2], a_idx[len(a_idx) // 2:]
    test = [normal.sequences[i] for i in n_test] + [anomalous.sequences[i] for i in a_test]
    truth = np.r_[np.zeros(len(n_test)), np.ones(len(a_test))].astype(bool)

    def rates(alert: np.ndarray) -> dict:
        return {"detection_rate": float(alert[truth].mean()), "false_positive_rate": float(alert[~truth].mean())}

    out = {"test_normal": int(len(n_test)), "test_anomalous": int(len(a_test))}
    train_normal = [normal.sequences[i] for i in n_train]
    out["unseen_3grams"] = rates(unseen_ngrams(train_normal, test) > 0)
    started = time.perf_counter()
    deeplog = LogSequenceDetector(LogConfig(model="deeplog", epochs=epochs)).fit(train_normal)
    out["deeplog"] = {**rates(deeplog.predict(test) == 1), "train_s": time.perf_counter() - started}
    started = time.perf_counter()
    X = train_normal + [anomalous.sequences[i] for i in a_train]
    y = [0] * len(n_train) + [1] * len(a_train)
    classifier = LogSequenceDetector(LogConfig(model="classifier", epochs=epochs)).fit(X, y)
    out["classifier"] = {**rates(classifier.predict(test) == 1), "train_s": time.perf_counter() - started}
    from sklearn.metrics import roc_auc_score

    out["deeplog"]["roc_auc"] = float(roc_auc_score(truth, deeplog.score_samples(test)))
    out["classifier"]["roc_auc"] = float(roc_auc_score(truth, classifier.score_samples(test)))
    return out


def bgl(epochs: int) -> dict:
    """BGL, 100-line windows, split by time: the first 80% of windows train, the last 20% test."""
    from deepsentry.logs.sequences import read_event_lines

    data = read_event_lines(data_dir() / "logs" / "bgl" / "BGL_100k_structured.csv", window=100)
    cut = int(len(data) * 0.8)
    train, test = data.sequences[:cut], data.sequences[cut:]
    y_train, truth = data.labels[:cut], data.labels[cut:].astype(bool)

    def rates(alert: np.ndarray) -> dict:
        return {"detection_rate": float(alert[truth].mean()) if truth.any() else None,
                "false_positive_rate": float(alert[~truth].mean())}

    normal_train = [s for s, y in zip(train, y_train) if y == 0]
    out = {"windows": len(data), "train_windows": cut, "test_windows": len(test),
           "test_anomalous": int(truth.sum()), "train_anomalous": int(y_train.sum()),
           "unseen_3grams": rates(unseen_ngrams(normal_train, test) > 0)}
    started = time.perf_counter()
    deeplog = LogSequenceDetector(LogConfig(model="deeplog", epochs=epochs)).fit(normal_train)
    out["deeplog"] = {**rates(deeplog.predict(test) == 1), "train_s": time.perf_counter() - started}
    started = time.perf_counter()
    classifier = LogSequenceDetector(LogConfig(model="classifier", epochs=epochs, max_length=100)).fit(train, y_train)
    out["classifier"] = {**rates(classifier.predict(test) == 1), "train_s": time.perf_counter() - started}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "parsing": parsing(), "hdfs": detection(3 if args.quick else 8),
               "bgl": bgl(3 if args.quick else 5)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "logs.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
