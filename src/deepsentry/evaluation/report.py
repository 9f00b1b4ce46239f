"""Evaluation reports: ``metrics.json``, PNG plots (ROC, PR, confusion matrix, score histogram) and
a self-contained ``report.html`` that shows them."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def write_plots(directory: Path, y: np.ndarray | None, scores: np.ndarray, threshold: float,
                classes: dict[str, Any] | None, score_groups: np.ndarray | None) -> list[str]:
    """Write the plots that the data allows; returns their file names."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    written = []
    if y is not None and 0 < np.sum(y) < len(y):
        fpr, tpr, _ = roc_curve(y, scores)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(fpr, tpr, lw=1.5)
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set(xlabel="false-positive rate (log scale below 0.001)", ylabel="detection rate", title="ROC")
        fig.tight_layout(); fig.savefig(directory / "roc.png", dpi=110); plt.close(fig)
        precision, recall, _ = precision_recall_curve(y, scores)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(recall, precision, lw=1.5)
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
        fig.tight_layout(); fig.savefig(directory / "pr.png", dpi=110); plt.close(fig)
        written += ["roc.png", "pr.png"]
    if classes is not None:
        matrix = np.asarray(classes["confusion_matrix"], dtype=float)
        names = classes["classes"]
        norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        size = max(4.0, 0.55 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(size, size * 0.85))
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                if matrix[i, j]:
                    ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (row-normalised colour)")
        fig.tight_layout(); fig.savefig(directory / "confusion_matrix.png", dpi=110); plt.close(fig)
        written.append("confusion_matrix.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = score_groups if score_groups is not None else np.full(len(scores), "all")
    bins = np.linspace(np.nanmin(scores), np.nanmax(scores) + 1e-9, 50)
    for name in sorted(set(groups.tolist())):
        ax.hist(scores[groups == name], bins=bins, alpha=0.5, label=str(name), log=True)
    ax.axvline(threshold, color="red", ls="--", lw=1, label="threshold")
    ax.set(xlabel="score (higher = more malicious)", ylabel="rows (log)", title="Scores by class")
    ax.legend(fontsize=7)
    fig.tight_layout(); fig.savefig(directory / "score_histogram.png", dpi=110); plt.close(fig)
    written.append("score_histogram.png")
    return written


def _table(rows: list[tuple[str, Any]]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "n/a" if value is None else html.escape(str(value))

    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def write_html(directory: Path, title: str, metrics: dict[str, Any], plots: list[str],
               notes: list[str]) -> Path:
    """A self-contained HTML page showing the metrics and the plots beside it."""
    binary = metrics.get("binary", {})
    sections = [f"<h1>{html.escape(title)}</h1>"]
    sections += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    if binary:
        keys = ("rows", "malicious_rows", "threshold", "accuracy", "precision", "recall", "f1",
                "false_positive_rate", "roc_auc", "pr_auc", "detection_rate_at_1pct_fpr",
                "detection_rate_at_0.1pct_fpr")
        sections.append("<h2>Detection (malicious vs benign)</h2>" + _table([(k, binary.get(k)) for k in keys]))
    classes = metrics.get("classes")
    if classes:
        rows = [("macro-F1", classes["macro_f1"]), ("accuracy", classes["accuracy"])]
        rows += [(f"recall: {k}", v) for k, v in classes["per_class_recall"].items()]
        sections.append("<h2>Classes</h2>" + _table(rows))
    cv = metrics.get("cv_summary")
    if cv:
        rows = [(k, f"{v['mean']:.4f} ± {v['std']:.4f}") for k, v in cv.items()]
        sections.append("<h2>Across folds (mean ± standard deviation)</h2>" + _table(rows))
    comparison = metrics.get("augmentation_comparison")
    if comparison:
        rows = [(k, f"{v['without']:.4f} → {v['with']:.4f}") for k, v in comparison.items()]
        sections.append("<h2>Without → with augmentation (same folds, means)</h2>" + _table(rows))
    groups = metrics.get("per_label_detection")
    if groups:
        rows = [(k, f"{v['alerted']:.3f} of {v['rows']}") for k, v in groups.items()]
        sections.append("<h2>Share alerted per original label</h2>" + _table(rows))
    sections += [f"<figure><img src='{p}' alt='{p}'><figcaption>{p}</figcaption></figure>" for p in plots]
    style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;"
             "text-align:left}th{background:#f4f4f4}figure{display:inline-block;margin:8px}"
             "img{max-width:460px}.note{color:#555}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>")
    out = directory / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


def write_report(directory: str | Path, *, title: str, metrics: dict[str, Any], y: np.ndarray | None,
                 scores: np.ndarray, threshold: float, score_groups: np.ndarray | None = None,
                 notes: list[str] | None = None, extra_plots: list[str] | None = None) -> Path:
    """Write ``metrics.json``, the plots and ``report.html`` into ``directory``
    (``extra_plots``: PNG files the caller already wrote there)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n",
                                            encoding="utf-8")
    plots = (extra_plots or []) + write_plots(directory, y, scores, threshold, metrics.get("classes"),
                                              score_groups)
    return write_html(directory, title, metrics, plots, notes or [])


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
