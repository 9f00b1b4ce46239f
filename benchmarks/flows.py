"""Flow-detection benchmark: deepsentry vs LightGBM and random forest on the same preprocessing and
split, in the same run; training time; scoring throughput. Writes benchmarks/results/flows.json and
prints Markdown tables for BENCHMARKS.md.

Rules (no test-set tuning): every model is trained on the training file (or the training part of a
seeded stratified split after de-duplication) with its defaults; deepsentry's threshold is chosen in
``fit`` on a validation split carved from the training rows. Test files are only scored.

    python benchmarks/flows.py [--quick] [--skip-throughput | --throughput-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402

from deepsentry.core.preprocessing import TabularPreprocessor  # noqa: E402
from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.core.tabular import DetectorConfig, _dedupe  # noqa: E402
from deepsentry.flows import FlowDetector, read_flows  # noqa: E402
from deepsentry.flows.readers import FlowData  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def subset(data: FlowData, idx: np.ndarray) -> FlowData:
    return FlowData(features=data.features.iloc[idx].reset_index(drop=True), labels=data.labels[idx],
                    raw_labels=None if data.raw_labels is None else data.raw_labels[idx],
                    ids=data.ids[idx], format=data.format, benign_labels=data.benign_labels,
                    report=data.report, positions=np.arange(len(idx)), total_rows=len(idx),
                    label_column=data.label_column)


def split(data: FlowData, seed: int = 0, test_fraction: float = 0.2) -> tuple[FlowData, FlowData, int]:
    """De-duplicate (features + label), then a seeded stratified split."""
    from sklearn.model_selection import train_test_split

    features, labels, removed, _ = _dedupe(data.features, data.labels)
    deduped = FlowData(features=features, labels=labels, raw_labels=None, ids=np.arange(len(labels)),
                       format=data.format, benign_labels=data.benign_labels, report=data.report,
                       positions=np.arange(len(labels)), total_rows=len(labels), label_column=data.label_column)
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                           stratify=labels, random_state=seed)
    return subset(deduped, train_idx), subset(deduped, test_idx), removed


def is_benign(labels: np.ndarray, benign: tuple[str, ...]) -> np.ndarray:
    names = {b.lower() for b in benign}
    return np.array([str(v).lower() in names for v in labels])


def scores_for(name: str, y_true_cls: np.ndarray, benign: tuple[str, ...], pred_cls: np.ndarray,
               score: np.ndarray) -> dict:
    y = ~is_benign(y_true_cls, benign)
    alert = ~is_benign(pred_cls, benign)
    present = sorted(set(y_true_cls))
    recall = {c: float((pred_cls[y_true_cls == c] == c).mean()) for c in present}
    return {
        "model": name,
        "accuracy": float((alert == y).mean()),
        "roc_auc": float(roc_auc_score(y, score)),
        "fpr": float(alert[~y].mean()),
        "detection_rate": float(alert[y].mean()),
        "macro_f1": float(f1_score(y_true_cls, pred_cls, labels=present, average="macro", zero_division=0)),
        "recall": recall,
    }


def run_baselines(train: FlowData, tests: dict[str, FlowData], seed: int) -> list[dict]:
    import lightgbm as lgb
    from sklearn.ensemble import RandomForestClassifier

    prep = TabularPreprocessor().fit(train.features)
    X = prep.transform(train.features)
    classes = np.array(sorted(set(train.labels)))
    y = np.searchsorted(classes, train.labels)
    benign_idx = [i for i, c in enumerate(classes) if c.lower() in {b.lower() for b in train.benign_labels}]
    rows = []
    for name, model in (
        ("LightGBM", lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2)),
        # LightGBM's multiclass defaults fail to fit the CIC sample's own training rows (tiny
        # classes); balanced class weights are the usual remedy, run on every data set alike
        ("LightGBM (balanced class weights)", lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2,
                                                                 class_weight="balanced")),
        ("random forest", RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=2)),
    ):
        started = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - started
        train_accuracy = float((model.predict(X) == y).mean())  # does it fit its own training rows?
        for test_name, test in tests.items():
            proba = model.predict_proba(prep.transform(test.features))
            pred = classes[proba.argmax(axis=1)]
            score = 1.0 - proba[:, benign_idx].sum(axis=1)
            row = scores_for(name, test.labels, train.benign_labels, pred, score)
            row.update(test=test_name, train_seconds=round(seconds, 1), train_accuracy=train_accuracy)
            rows.append(row)
    return rows


def run_deepsentry(train: FlowData, tests: dict[str, FlowData], config: DetectorConfig,
                   label: str) -> tuple[list[dict], FlowDetector]:
    started = time.perf_counter()
    detector = FlowDetector(config).fit_flows(train)
    return score_rows(detector, tests, train.benign_labels, label, time.perf_counter() - started), detector


def score_rows(detector: FlowDetector, tests: dict[str, FlowData], benign_labels: tuple[str, ...], label: str,
               seconds: float) -> list[dict]:
    """One result row per test set for a fitted detector (``seconds``: what fitting it took)."""
    rows = []
    for test_name, test in tests.items():
        out = detector.score_features(detector.transform(test.features))
        pred = out.get("predicted")
        if pred is None or not detector.multiclass_:
            # binary model: compare binary classes
            truth = np.where(is_benign(test.labels, benign_labels), "benign", "attack")
            pred = np.where(out["alert"] == 1, "attack", "benign")
            row = scores_for(label, truth, ("benign",), pred, out["score"])
            row["macro_f1"] = None
            row["recall"] = {}
        else:
            row = scores_for(label, test.labels, benign_labels, pred, out["score"])
        row.update(test=test_name, train_seconds=round(seconds, 1),
                   validation_fpr=detector.threshold_.validation_fpr)
        rows.append(row)
    return rows


def median_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def throughput(detector: FlowDetector, nsl_test: Path, rows: int) -> dict:
    """detect end to end on a big CSV; network-only inference (ONNX Runtime, Keras); LightGBM."""
    import lightgbm as lgb

    from deepsentry.core import networks
    from deepsentry.core.onnx import onnx_runner
    from deepsentry.detection.batch import detect_file

    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = detector.save(tmp / "model")
        from deepsentry.core.onnx import export_onnx

        export_onnx(detector, bundle)
        from deepsentry.detection.batch import load_detector

        loaded = load_detector(bundle)
        base = nsl_test.read_text().splitlines()
        big = tmp / "big.txt"
        with open(big, "w") as handle:
            for start in range(0, rows, len(base)):
                handle.write("\n".join(base[: min(len(base), rows - start)]) + "\n")
        out = tmp / "preds.csv"
        seconds = median_time(lambda: detect_file(loaded, big, out))
        result["detect_end_to_end_rows_per_s"] = rows / seconds
        result["detect_rows"] = rows
        features = loaded.transform(read_flows(big).features)
        result["onnx_hybrid_rows_per_s"] = rows / median_time(lambda: loaded.onnx_session_(features))
        result["keras_hybrid_rows_per_s"] = rows / median_time(
            lambda: networks.run_model(loaded.network_, features), repeat=1)
        seed_net = networks.build_seed(features.shape[1])
        seed_net(features[:2])
        seed_net.export(str(tmp / "seed.onnx"), format="onnx", verbose=False)
        run_seed = onnx_runner((tmp / "seed.onnx").read_bytes())
        result["onnx_seed_rows_per_s"] = rows / median_time(lambda: run_seed(features))
        sample = features[:100000]
        # Any two-class target will do: only prediction speed is measured.
        y = (sample[:, 0] > np.median(sample[:, 0])).astype(int) if sample[:, 0].std() > 0 \
            else (np.arange(len(sample)) % 2).astype(int)
        model = lgb.LGBMClassifier(verbose=-1, n_jobs=2).fit(sample, y)
        result["lightgbm_predict_rows_per_s"] = rows / median_time(lambda: model.predict_proba(features))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer epochs, NSL-KDD only")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--throughput-only", action="store_true",
                        help="train the default NSL-KDD model, re-measure throughput, keep the other results")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the throughput CSV")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = data_dir() / "network"
    if not root.exists():
        print(f"datasets not found at {root}; set DEEPSENTRY_DATA", file=sys.stderr)
        return 3
    default = DetectorConfig(seed=args.seed, **({"epochs": 3, "ae_epochs": 5} if args.quick else {}))
    seed_cfg = DetectorConfig(model="seed", seed=args.seed, **({"epochs": 3} if args.quick else {}))
    report: dict = {"date": date.today().isoformat(), "machine": f"{platform.node()} {platform.machine()}, "
                    f"{os.cpu_count()} cores, Python {platform.python_version()}", "datasets": {}}

    nsl = root / "nsl-kdd"
    if args.throughput_only:
        previous = json.loads((RESULTS / "flows.json").read_text()) if (RESULTS / "flows.json").exists() else {}
        detector = FlowDetector(default).fit_flows(read_flows(nsl / "KDDTrain+.txt"))
        previous["throughput"] = throughput(detector, nsl / "KDDTest+.txt", args.rows)
        previous["throughput_date"] = report["date"]
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "flows.json").write_text(json.dumps(previous, indent=2, default=str) + "\n")
        for key, value in previous["throughput"].items():
            print(f"- {key}: {value:,.0f}")
        return 0
    train = read_flows(nsl / "KDDTrain+.txt")
    tests = {"KDDTest+": read_flows(nsl / "KDDTest+.txt"), "KDDTest-21": read_flows(nsl / "KDDTest-21.txt")}
    rows, detector = run_deepsentry(train, tests, default, "deepsentry hybrid (default)")
    rows += run_deepsentry(train, tests, seed_cfg, "seed MLP (original design)")[0]
    rows += run_baselines(train, tests, args.seed)
    report["datasets"]["NSL-KDD"] = rows
    _print("NSL-KDD (train KDDTrain+, test KDDTest+ / KDDTest-21)", rows)

    if not args.quick:
        for name, path in (("UNSW-NB15", root / "unsw-nb15" / "UNSW_NB15_dev.csv"),
                           ("CIC-IDS2017 sample", root / "cicids2017-improved-sample")):
            data = read_flows(path)
            tr, te, removed = split(data, seed=args.seed)
            rows = run_deepsentry(tr, {"held-out 20%": te}, default, "deepsentry hybrid (default)")[0]
            rows += run_baselines(tr, {"held-out 20%": te}, args.seed)
            report["datasets"][name] = rows
            report[f"{name} duplicates removed before split"] = removed
            _print(f"{name} ({removed} duplicate rows removed, then stratified 80/20 split, seed {args.seed})", rows)

    if args.skip_throughput:  # keep the throughput measured by an earlier run, with its date
        previous = json.loads((RESULTS / "flows.json").read_text()) if (RESULTS / "flows.json").exists() else {}
        report.update({k: previous[k] for k in ("throughput", "throughput_date") if k in previous})
    else:
        report["throughput"] = throughput(detector, nsl / "KDDTest+.txt", args.rows)
        print("\n### Throughput (median of 3)\n")
        for key, value in report["throughput"].items():
            print(f"- {key}: {value:,.0f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flows.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


def _print(title: str, rows: list[dict]) -> None:
    print(f"\n### {title}\n")
    print("| model | test | accuracy | ROC-AUC | detection rate | FPR | macro-F1 | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        f1 = "n/a" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
        print(f"| {r['model']} | {r['test']} | {r['accuracy']:.3f} | {r['roc_auc']:.3f} | "
              f"{r['detection_rate']:.3f} | {r['fpr']:.3f} | {f1} | {r['train_seconds']} |")
    fitted = {r["model"]: r["train_accuracy"] for r in rows if "train_accuracy" in r}
    if fitted:
        print("- class accuracy of the baselines on their own training rows: "
              + ", ".join(f"{k} {v:.3f}" for k, v in fitted.items()))
    for r in rows:
        if r["recall"]:
            print(f"- {r['model']} / {r['test']} recall: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in r["recall"].items()))


if __name__ == "__main__":
    sys.exit(main())
