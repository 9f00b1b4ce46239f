"""The self-contained demo: a generated network, a clean training day and an attack day.

Trains an autoencoder on the portable features of the clean day's flows (no labels needed: it learns
what this network's normal traffic looks like), then scores the attack day's flows, groups the
alerts by attacker and attack, and writes ``report.html`` with alerts over time, the score
histogram and per-attack detection.

>>> summary = run_network_demo("demo-output", seed=0)            # doctest: +SKIP
>>> summary["benign_alert_rate"] < 0.02                           # doctest: +SKIP
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.tables import check_writable
from ..core.tabular import DetectorConfig
from ..evaluation.metrics import binary_metrics
from ..evaluation.report import _pyplot, write_report
from ..flows import FlowDetector
from ..flows.capture import extract_flows
from ..flows.demo_network import label_flows, write_day
from ..flows.readers import FlowData


def run_network_demo(out_dir: str | Path, *, seed: int = 0, epochs: int | None = None,
                     progress: Any = None, say: Any = print) -> dict[str, Any]:
    out = Path(out_dir)
    config = DetectorConfig(model="autoencoder", epochs=epochs, target_fpr=0.01, seed=seed)  # checked first
    check_writable(out, directory=True)
    out.mkdir(parents=True, exist_ok=True)
    say("generating the demo network: a clean training day and an attack day (30 min each)")
    write_day(out / "training_day.pcap", seed=seed * 2 + 1, attacks=False)
    truth = write_day(out / "attack_day.pcap", seed=seed * 2 + 2, attacks=True)
    (out / "injected_attacks.json").write_text(json.dumps([a.to_dict() for a in truth], indent=2))
    train = extract_flows([out / "training_day.pcap"])
    say(f"training day: {len(train.table)} flows; training an autoencoder on them (no labels)")
    data = FlowData(features=train.features, labels=None, raw_labels=None, ids=np.arange(len(train.table)),
                    format="capture", benign_labels=("benign",), report=train.report,
                    positions=np.arange(len(train.table)), total_rows=len(train.table))
    detector = FlowDetector(config).fit_flows(data, progress=progress, feature_set="portable")
    detector.save(out / "model")
    attack_day = extract_flows([out / "attack_day.pcap"])
    table = attack_day.table
    scored = detector.score_features(detector.transform(attack_day.features))
    table = table.assign(score=scored["score"], alert=scored["alert"], attack=label_flows(table, truth))
    table.to_csv(out / "attack_day_flows.csv", index=False)
    malicious = (table["attack"] != "").to_numpy()
    per_attack = []
    for attack in truth:
        rows = table[table["attack"] == attack.attack]
        per_attack.append({"attacker": attack.attacker, "attack": attack.attack, "target": attack.target,
                           "flows": int(len(rows)), "alerted": int(rows["alert"].sum()),
                           "detected": bool(rows["alert"].any()),
                           "share_alerted": float(rows["alert"].mean()) if len(rows) else 0.0})
    benign_rate = float(table.loc[~malicious, "alert"].mean())
    metrics = {"binary": binary_metrics(malicious.astype(np.int8), table["score"].to_numpy(),
                                        detector.threshold_.threshold),
               "per_attack": per_attack, "benign_flows": int((~malicious).sum()),
               "benign_alert_rate": benign_rate, "training_flows": len(train.table),
               "threshold": detector.threshold_.to_dict()}
    plots = _demo_plots(out / "report", table)
    notes = [f"Training day: {len(train.table)} flows of a generated network (clients browsing, DNS, SSH, mail); "
             "an autoencoder learnt them without labels. Threshold: 1% false positives on validation flows "
             "carved from the training day.",
             f"Attack day: {len(table)} flows; {int(malicious.sum())} belong to the {len(truth)} injected attacks "
             f"(ground truth in injected_attacks.json). Benign flows alerted: {benign_rate:.2%}."]
    write_report(out / "report", title="deepsentry demo network", metrics=metrics,
                 y=malicious.astype(np.int8), scores=table["score"].to_numpy(),
                 threshold=detector.threshold_.threshold, score_groups=np.where(malicious, table["attack"], "benign"),
                 notes=notes, extra_plots=plots)
    return {"per_attack": per_attack, "benign_alert_rate": benign_rate, "flows": len(table),
            "report": str(out / "report" / "report.html"), "binary": metrics["binary"]}


def _demo_plots(directory: Path, table: pd.DataFrame) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    start = table["first_seen"].min()
    minutes = ((table["first_seen"] - start) / 60).astype(int)
    fig, ax = plt.subplots(figsize=(7, 3))
    alerts = table[table["alert"] == 1]
    for name, group in alerts.groupby(np.where(alerts["attack"] == "", "benign (false alert)", alerts["attack"])):
        counts = minutes[group.index].value_counts().sort_index()
        ax.bar(counts.index, counts.values, label=name, alpha=0.8)
    ax.set_xlabel("minute of the attack day")
    ax.set_ylabel("alerts")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(directory / "alerts_over_time.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3))
    attacks = table[table["attack"] != ""].groupby("attack")["alert"].mean().sort_values()
    ax.barh(attacks.index, attacks.values, color="#c0392b")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the attack's flows alerted")
    fig.tight_layout()
    fig.savefig(directory / "per_attack_detection.png", dpi=110)
    plt.close(fig)
    return ["alerts_over_time.png", "per_attack_detection.png"]
