"""Logs benchmark: template-mining grouping accuracy and speed against drain3 (same run, same lines),
and sequence detection on HDFS blocks, Hadoop containers and BGL windows: deeplog and the
event-count autoencoder (normal sequences only) and the supervised classifier, against unseen event
3-grams, event-count PCA and LightGBM on event counts, all on the same held-out sequences.
Writes benchmarks/results/logs.json.

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
from deepsentry.core.thresholds import choose_threshold, threshold_at_fpr  # noqa: E402
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
    per_system: dict[str, list[str]] = {}
    for system in sorted(PRESETS):
        folder = next(p for p in root.iterdir() if p.name.lower() == system)
        structured = pd.read_csv(folder / f"{folder.name}_2k.log_structured.csv")
        contents = [str(c) for c in structured["Content"]]
        per_system[system] = contents
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
        # every system's 2,000 lines once, a fresh miner per system (repeats within a system reused)
        runs = []
        for _ in range(3):
            elapsed = 0.0
            for contents in per_system.values():
                miner = make()
                started = time.perf_counter()
                for c in contents:
                    add(miner, c)
                elapsed += time.perf_counter() - started
            runs.append(elapsed)
        first_pass[name] = sum(map(len, per_system.values())) / statistics.median(runs)
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


def event_counts(vocabulary: dict[str, int], sequences: list[list[str]]) -> np.ndarray:
    """Event-count matrix; the last column counts events outside ``vocabulary``."""
    out = np.zeros((len(sequences), len(vocabulary) + 1))
    for i, sequence in enumerate(sequences):
        for event in sequence:
            out[i, vocabulary.get(event, len(vocabulary))] += 1
    return out


def carve(n: int, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indexes: the baselines' validation rows, carved like the detectors' own."""
    idx = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * fraction))
    return idx[cut:], idx[:cut]


def pca_baseline(train_normal: list[list[str]], test: list[list[str]], target_fpr: float) -> np.ndarray:
    """Event-count PCA (Xu et al., SOSP 2009): the squared prediction error outside the principal
    subspace (95% of the variance) of normal count vectors; threshold at ``target_fpr`` on normal
    validation blocks. Returns alerts on ``test``."""
    from sklearn.decomposition import PCA

    vocabulary = {e: i for i, e in enumerate(sorted({e for s in train_normal for e in s}))}
    fit_idx, val_idx = carve(len(train_normal))
    counts = np.log1p(event_counts(vocabulary, train_normal))
    mean = counts[fit_idx].mean(axis=0)
    pca = PCA(n_components=0.95, svd_solver="full", random_state=0).fit(counts[fit_idx] - mean)

    def spe(x: np.ndarray) -> np.ndarray:
        centred = x - mean
        return ((centred - pca.inverse_transform(pca.transform(centred))) ** 2).sum(axis=1)

    threshold = threshold_at_fpr(spe(counts[val_idx]), target_fpr)
    return spe(np.log1p(event_counts(vocabulary, test))) > threshold


def lightgbm_baseline(train: list[list[str]], labels: np.ndarray, test: list[list[str]]) -> np.ndarray:
    """LightGBM on event counts (supervised); threshold at max F1 on validation blocks, the
    classifier's rule. Returns alerts on ``test``."""
    import lightgbm

    vocabulary = {e: i for i, e in enumerate(sorted({e for s in train for e in s}))}
    x, y = event_counts(vocabulary, train), np.asarray(labels).astype(int)
    fit_idx, val_idx = carve(len(train))
    model = lightgbm.LGBMClassifier(n_estimators=200, random_state=0, verbose=-1).fit(x[fit_idx], y[fit_idx])
    threshold = choose_threshold(model.predict_proba(x[val_idx])[:, 1], y[val_idx], rule="max_f1").threshold
    return model.predict_proba(event_counts(vocabulary, test))[:, 1] > threshold


def compare(train_normal: list[list[str]], train_anomalous: list[list[str]], test: list[list[str]],
            truth: np.ndarray, epochs: int | None, quick: bool, groups: dict[str, np.ndarray] | None = None,
            max_length: int = 200) -> dict:
    """Every detector and baseline on the same split. ``groups``: extra masks of anomalous test
    rows (fault types) whose detection rates are reported one by one."""
    from sklearn.metrics import roc_auc_score

    def rates(alert: np.ndarray, scores: np.ndarray | None = None, seconds: float | None = None) -> dict:
        out = {"detection_rate": float(alert[truth].mean()), "false_positive_rate": float(alert[~truth].mean()),
               "false_positives": int(alert[~truth].sum())}
        for name, mask in (groups or {}).items():
            out[f"detection_rate_{name}"] = float(alert[mask].mean())
        if scores is not None:
            out["roc_auc"] = float(roc_auc_score(truth, scores))
        if seconds is not None:
            out["train_s"] = seconds
        return out

    target = LogConfig().target_fpr
    results = {"unseen_3grams": rates(unseen_ngrams(train_normal, test) > 0),
               "event_count_pca": rates(pca_baseline(train_normal, test, target))}
    models: list[tuple[str, LogConfig, list, list]] = [
        ("deeplog", LogConfig(model="deeplog", epochs=epochs), train_normal, []),
        ("autoencoder", LogConfig(model="autoencoder", epochs=20 if quick else None), train_normal, [])]
    if train_anomalous:
        X, y = train_normal + train_anomalous, [0] * len(train_normal) + [1] * len(train_anomalous)
        results["lightgbm_counts"] = rates(lightgbm_baseline(X, np.asarray(y), test))
        models.append(("classifier", LogConfig(model="classifier", epochs=epochs, max_length=max_length), X, y))
        # the same autoencoder given the labelled blocks: it trains on the normal ones, the labelled
        # validation blocks choose its threshold
        models.append(("autoencoder_labelled", LogConfig(model="autoencoder", epochs=20 if quick else None), X, y))
        # auto: each candidate with its own default epochs (the classifier's is the 8 used above)
        models.append(("auto_labelled", LogConfig(epochs=3 if quick else None, max_length=max_length), X, y))
    for name, config, X, y in models:
        started = time.perf_counter()
        detector = LogSequenceDetector(config).fit(X, y or None)
        seconds = time.perf_counter() - started
        scores = detector.score_samples(test)
        results[name] = rates(scores > detector.threshold_.threshold, scores, seconds)
        results[name]["threshold_rule"] = detector.threshold_.rule
        if name == "auto_labelled":
            results[name]["chosen"] = detector.model_
            results[name]["validation_average_precision"] = detector.summary_.validation_metrics["auto_average_precision"]
    return results


def detection(epochs: int, quick: bool) -> dict:
    root = data_dir() / "logs" / "hdfs" / "sequences"
    normal, anomalous = read_sequences(root / "hdfs_normal"), read_sequences(root / "hdfs_abnormal")
    rng = np.random.default_rng(0)
    n_idx, a_idx = rng.permutation(len(normal)), rng.permutation(len(anomalous))
    n_train, n_test = n_idx[: len(n_idx) // 2], n_idx[len(n_idx) // 2:]
    a_train, a_test = a_idx[: len(a_idx) // 2], a_idx[len(a_idx) // 2:]
    test = [normal.sequences[i] for i in n_test] + [anomalous.sequences[i] for i in a_test]
    truth = np.r_[np.zeros(len(n_test)), np.ones(len(a_test))].astype(bool)
    out = {"test_normal": int(len(n_test)), "test_anomalous": int(len(a_test))}
    out.update(compare([normal.sequences[i] for i in n_train], [anomalous.sequences[i] for i in a_train],
                       test, truth, epochs, quick))
    return out


def hadoop(epochs: int, quick: bool) -> dict:
    """Hadoop containers (Landauer et al.'s files): normal-only training on ``hadoop_train`` plus half
    of ``hadoop_test_normal`` (17 sequences alone leave no validation set to choose a threshold on);
    the other half of the normal test sequences and every abnormal one are scored, per fault type."""
    root = data_dir() / "logs" / "hadoop"
    train = read_sequences(root / "hadoop_train").sequences
    normal = read_sequences(root / "hadoop_test_normal").sequences
    idx = np.random.default_rng(0).permutation(len(normal))
    train = train + [normal[i] for i in idx[: len(idx) // 2]]
    test = [normal[i] for i in idx[len(idx) // 2:]]
    n_normal = len(test)
    faults = {}
    for fault in ("disk_full", "machine_down", "network_disconnection"):
        sequences = read_sequences(root / f"hadoop_test_abnormal_{fault}").sequences
        faults[fault] = (len(test), len(test) + len(sequences))
        test += sequences
    truth = np.r_[np.zeros(n_normal), np.ones(len(test) - n_normal)].astype(bool)
    groups = {}
    for fault, (lo, hi) in faults.items():
        mask = np.zeros(len(test), dtype=bool)
        mask[lo:hi] = True
        groups[fault] = mask
    out = {"train_normal": len(train), "test_normal": n_normal,
           "test_abnormal": {fault: hi - lo for fault, (lo, hi) in faults.items()}}
    out.update(compare(train, [], test, truth, epochs, quick, groups))
    return out


def bgl(epochs: int, quick: bool) -> dict:
    """BGL, 100-line windows, split by time: the first 80% of windows train, the last 20% test."""
    from deepsentry.logs.sequences import read_event_lines

    data = read_event_lines(data_dir() / "logs" / "bgl" / "BGL_100k_structured.csv", window=100)
    cut = int(len(data) * 0.8)
    train, test = data.sequences[:cut], data.sequences[cut:]
    y_train, truth = data.labels[:cut], data.labels[cut:].astype(bool)
    out = {"windows": len(data), "train_windows": cut, "test_windows": len(test),
           "test_anomalous": int(truth.sum()), "train_anomalous": int(y_train.sum())}
    out.update(compare([s for s, y in zip(train, y_train) if y == 0], [s for s, y in zip(train, y_train) if y == 1],
                       test, truth, epochs, quick, max_length=100))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "parsing": parsing(), "hdfs": detection(3 if args.quick else 8, args.quick),
               "hadoop": hadoop(3 if args.quick else 8, args.quick), "bgl": bgl(3 if args.quick else 5, args.quick)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "logs.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
