"""What one ``deepsentry detect`` process costs: wall time and peak memory (max RSS) of the command
line, scoring a small and a large CICFlowMeter CSV with a model trained on the CIC-IDS2017 sample,
on ONNX Runtime (the default) and with ``--keras`` (which imports TensorFlow), in the same run; and,
as the baseline of reading a large table in pieces, the library's ``detect_file`` reading it whole.
The same for the records as JSON lines (read in pieces too). Writes
benchmarks/results/detect_process.json and prints a Markdown table.

    python benchmarks/detect_process.py [--copies 20] [--json-copies 5] [--repeats 3]

The large file is the sample's CSVs joined ``--copies`` times (about 15 MB each time); the JSON-lines
file holds them ``--json-copies`` times (about 40 MB each time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from deepsentry.core.settings import data_dir

RESULTS = Path(__file__).parent / "results"
CLI = [str(Path(sys.executable).parent / "deepsentry")]  # the installed command, as users run it


def join_csvs(files: list[Path], out: Path, copies: int, limit: int | None = None) -> int:
    """Write the files' records ``copies`` times under one header (``limit`` records at most)."""
    rows = 0
    with open(out, "w", encoding="utf-8") as sink:
        for copy in range(copies):
            for k, file in enumerate(files):
                with open(file, encoding="utf-8") as source:
                    header = source.readline()
                    if copy == 0 and k == 0:
                        sink.write(header)
                    for line in source:
                        if limit is not None and rows >= limit:
                            return rows
                        sink.write(line)
                        rows += 1
    return rows


def csv_to_json_lines(csv: Path, out: Path) -> None:
    """The records of ``csv`` as JSON lines, one object a record, keys the column names."""
    import pandas as pd

    with open(out, "w", encoding="utf-8") as sink:
        for chunk in pd.read_csv(csv, chunksize=50_000, low_memory=False):
            sink.write(chunk.to_json(orient="records", lines=True))


def run(args: list[str]) -> tuple[float, float]:
    """(seconds, peak MiB) of one child process; RUSAGE_CHILDREN's maxrss is the largest child so
    far, so each run is measured in a fresh helper process of its own."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *args], check=True, capture_output=True, text=True)
    seconds, kib = out.stdout.split()
    return float(seconds), int(kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--json-copies", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    sample = data_dir() / "network" / "cicids2017-improved-sample"
    files = sorted(p for p in sample.glob("*.csv") if p.name != "data_header_reference.csv")
    if not files:
        sys.exit(f"datasets not found at {sample}; set DEEPSENTRY_DATA")
    results: dict = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "python": platform.python_version(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train, small, large = work / "train.csv", work / "small.csv", work / "large.csv"
        join_csvs(files, train, 1)
        small_rows = join_csvs(files, small, 1, limit=2000)
        large_rows = join_csvs(files, large, options.copies)
        json_rows = join_csvs(files, work / "json.csv", options.json_copies)
        csv_to_json_lines(work / "json.csv", work / "large.jsonl")
        (work / "json.csv").unlink()
        subprocess.run([*CLI, "train", "flows", "--data", str(train), "--out", str(work / "model"), "--epochs", "3"],
                       check=True, capture_output=True)
        whole = ("from deepsentry.detection.batch import detect_file, load_detector; import sys; "
                 "detect_file(load_detector(sys.argv[1], keras_model=False), sys.argv[2], sys.argv[3], "
                 "piece_bytes=10**15)")
        for name, path, rows in (("small", small, small_rows), ("large", large, large_rows),
                                 ("large JSON lines", work / "large.jsonl", json_rows)):
            commands = {"onnxruntime": [*CLI, "detect", "--model", str(work / "model"), str(path),
                                        "--out", str(work / "out.csv")]}
            if name != "large JSON lines":
                commands["keras"] = [*commands["onnxruntime"], "--keras"]
            if name != "small":
                commands["onnxruntime, read whole"] = [sys.executable, "-c", whole, str(work / "model"), str(path),
                                                       str(work / "out.csv")]
            for scorer, command in commands.items():
                measured = [run(command) for _ in range(options.repeats)]
                results["runs"][f"{name}/{scorer}"] = {
                    "rows": rows, "megabytes": round(path.stat().st_size / 1e6, 1),
                    "seconds": round(statistics.median(m[0] for m in measured), 2),
                    "peak_mib": round(statistics.median(m[1] for m in measured)),
                    "all": measured}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "detect_process.json").write_text(json.dumps(results, indent=2))
    print(f"{results['date']}, {results['machine']}, median of {options.repeats}\n")
    print("| input | scorer | rows | MB | seconds | peak MiB |\n|---|---|---|---|---|---|")
    for key, r in results["runs"].items():
        name, scorer = key.split("/")
        print(f"| {name} | {scorer} | {r['rows']:,} | {r['megabytes']} | {r['seconds']} | {r['peak_mib']:,} |")


if __name__ == "__main__":
    main()
