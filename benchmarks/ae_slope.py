"""Autoencoder weight in the hybrid score, compared on KDDTrain+ alone (no test file is read).

The hybrid's score is ``max(classifier log-odds, ae_slope * (log error - log reference))``, the
reference being the ``ae_quantile`` quantile of benign validation errors. This script trains the
default detector with ``ae_slope`` 1, 2, 4 and ``ae_quantile`` 0.95, 0.99 on 3 leave-attack-types-out
folds of KDDTrain+ (each test fold holds attack types its training never saw, as KDDTest+ does) and
reports ROC-AUC and balanced accuracy at the threshold each fit chose on its own validation split.
The networks are the same in every configuration of a fold (same seed); only the scoring differs.
The classifier trains 10 epochs, the default when this comparison was made.
Writes benchmarks/results/ae_slope.json.

    python benchmarks/ae_slope.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from defaults import novel_fold_scores  # noqa: E402

RESULTS = Path(__file__).parent / "results"
GRID = [(slope, quantile) for slope in (1.0, 2.0, 4.0) for quantile in (0.95, 0.99)]


def main() -> int:
    started = time.perf_counter()
    # the classifier's 10 epochs, the default when this comparison was made (BENCHMARKS.md)
    rows, held_out = novel_fold_scores({f"{slope:g}/{quantile:g}": {"ae_slope": slope, "ae_quantile": quantile,
                                                                    "epochs": 10} for slope, quantile in GRID})
    seconds = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    report = {"date": date.today().isoformat(), "seconds": round(seconds, 1),
              "held_out_attack_types": held_out, "results": rows}
    (RESULTS / "ae_slope.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| ae_slope / ae_quantile | ROC-AUC per fold | mean | balanced accuracy per fold | mean |\n|---|---|---|---|---|")
    for name, row in rows.items():
        auc, bacc = row["roc_auc"], row["balanced_accuracy"]
        print(f"| {name} | {' / '.join(f'{v:.4f}' for v in auc)} | {np.mean(auc):.4f} | "
              f"{' / '.join(f'{v:.4f}' for v in bacc)} | {np.mean(bacc):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
