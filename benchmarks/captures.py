"""Capture benchmark: a portable model trained on the CIC-IDS2017 sample only, scored on every shared
packet capture (labelled per file), and flow-extraction throughput on two 1M-packet synthetic
captures (a few long flows; a SYN flood where nearly every packet is a new flow): deepsentry's
extractor and nfstream in the same run, median of 3 each. Writes benchmarks/results/captures.json.

    python benchmarks/captures.py
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from deepsentry.core.settings import data_dir  # noqa: E402
from deepsentry.detection.batch import load_detector, score_file  # noqa: E402
from deepsentry.flows import FlowDetector, read_flows  # noqa: E402
from deepsentry.flows.capture import extract_flows, flow_streamer  # noqa: E402
from deepsentry.flows.synthetic import long_flows, syn_flood, write_pcap  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def nfstream_table(path: Path, scratch: str):
    # to_pandas goes through a CSV it writes into the working directory
    with contextlib.chdir(scratch):
        return flow_streamer(str(path)).to_pandas()


def main() -> int:
    root = data_dir() / "network"
    results: dict = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        from deepsentry.core.onnx import export_onnx

        started = time.perf_counter()
        detector = FlowDetector().fit_flows(read_flows(root / "cicids2017-improved-sample"), feature_set="portable")
        results["train_s"] = time.perf_counter() - started
        bundle = Path(tmp) / "cic"
        detector.save(bundle)
        export_onnx(detector, bundle)
        model = load_detector(bundle)
        rows = []
        for kind in ("attack", "benign"):
            for path in sorted((root / "pcaps" / kind).iterdir()):
                frame, _, _ = score_file(model, path)
                alerted = frame[frame["alert"] == 1]
                rows.append({"capture": path.name, "label": kind, "flows": len(frame),
                             "alerted_share": float(frame["alert"].mean()),
                             "top_classes": {str(k): int(v) for k, v in alerted["predicted"].value_counts().head(3).items()}})
        results["captures"] = rows
    throughput = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, packets in (("few long flows", long_flows(1_000_000, flows=10, seed=0)),
                              ("SYN flood", syn_flood(1_000_000, seed=0))):
            path = Path(tmp) / "capture.pcap"
            write_pcap(path, packets)
            row = {"packets": len(packets.time_s), "bytes": path.stat().st_size}
            for tool, extract in (("deepsentry", lambda p: extract_flows([p]).table),
                                  ("nfstream", lambda p: nfstream_table(p, tmp))):
                runs, flows = [], None
                for _ in range(3):
                    started = time.perf_counter()
                    flows = extract(path)
                    runs.append(time.perf_counter() - started)
                seconds = statistics.median(runs)
                row[tool] = {"flows": len(flows), "runs_s": runs, "seconds": seconds,
                             "packets_per_s": row["packets"] / seconds, "flows_per_s": len(flows) / seconds}
            row["speedup"] = row["nfstream"]["seconds"] / row["deepsentry"]["seconds"]
            throughput[name] = row
            print(name, json.dumps(row), flush=True)
            path.unlink()
    results["extraction"] = throughput
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "captures.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
