"""Reading and scoring a large Zeek conn.log: wall time and peak memory (max RSS), each in a fresh
process, median of ``--repeats``, all in one run.

- reading: ``read_zeek`` (lines checked one by one, split into columns by pyarrow) against the
  baseline of a Python dict per record (``zeek_records``, which the service still uses for a request
  body and which ``read_zeek`` used for files until 2026-11-29) gathered into a DataFrame;
- ``deepsentry detect`` on the log (read in pieces of about 32 MiB) against the library's
  ``detect_file`` reading it whole, with a model trained on a smaller log of the same kind;
- the same log in Zeek's JSON form (one object a line, unset fields left out): ``read_zeek``
  (pyarrow's JSON reader, a batch of lines at a time) against a Python dict per record (``json``
  per line, as ``read_zeek`` read it until 2026-11-29), and ``deepsentry detect`` on it.

The logs are generated (seeded): TSV conn.logs with Zeek's header, a mix of TCP, UDP and ICMP
connections with unset fields (``-``) where Zeek leaves them, and a ``label`` column in the
training log (scans and floods against normal traffic). Writes benchmarks/results/zeek_reader.json
and prints a Markdown table.

    python benchmarks/zeek_reader.py [--records 1000000] [--repeats 3]
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

import numpy as np
import pandas as pd
# (seconds, peak MiB) of a child process, measured as that benchmark measures it
from detect_process import run

RESULTS = Path(__file__).parent / "results"
CLI = [str(Path(sys.executable).parent / "deepsentry")]
FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
          "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history",
          "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]


def write_conn_log(path: Path, records: int, *, seed: int, labelled: bool = False, json_path: Path | None = None
                   ) -> None:
    """A conn.log of ``records`` connections: normal TCP/UDP/ICMP traffic and, one in five,
    scans (one SYN, no answer) or floods (many short rejected connections); also as Zeek's JSON
    lines to ``json_path`` where given."""
    rng = np.random.default_rng(seed)
    attack = rng.random(records) < 0.2
    proto = np.where(attack, "tcp", rng.choice(["tcp", "udp", "icmp"], records, p=[0.7, 0.25, 0.05]))
    port = np.where(attack, rng.integers(1, 1024, records),
                    rng.choice([80, 443, 53, 22, 25, 123], records)).astype(str)
    service = np.where(attack, "-", rng.choice(["http", "ssl", "dns", "ssh", "-"], records))
    state = np.where(attack, rng.choice(["S0", "REJ", "RSTO"], records),
                     rng.choice(["SF", "S1", "RSTO", "OTH"], records, p=[0.8, 0.1, 0.05, 0.05]))
    orig_pkts = np.where(attack, 1, rng.integers(1, 200, records))
    resp_pkts = np.where(attack, rng.integers(0, 2, records), rng.integers(1, 300, records))
    orig_bytes = np.where(attack, 0, orig_pkts * rng.integers(40, 1400, records))
    resp_bytes = np.where(attack, 0, resp_pkts * rng.integers(40, 1400, records))
    unset = attack & (state == "S0")  # Zeek leaves duration and byte counts unset when nothing came back
    frame = pd.DataFrame({
        "ts": (1767225600 + np.arange(records) * 0.01).round(6).astype(str),
        "uid": [f"C{k:09d}" for k in range(records)],
        "id.orig_h": np.char.add("10.0.", rng.integers(0, 255, records).astype(str)),
        "id.orig_p": rng.integers(1024, 65535, records).astype(str),
        "id.resp_h": np.char.add("192.168.1.", rng.integers(1, 255, records).astype(str)),
        "id.resp_p": port,
        "proto": proto, "service": service,
        "duration": np.where(unset, "-", np.round(rng.exponential(5.0, records) * ~attack, 6).astype(str)),
        "orig_bytes": np.where(unset, "-", orig_bytes.astype(str)),
        "resp_bytes": np.where(unset, "-", resp_bytes.astype(str)),
        "conn_state": state, "local_orig": "T", "local_resp": "F", "missed_bytes": "0",
        "history": np.where(attack, "S", "ShADadFf"),
        "orig_pkts": orig_pkts.astype(str), "orig_ip_bytes": (orig_bytes + 40 * orig_pkts).astype(str),
        "resp_pkts": resp_pkts.astype(str), "resp_ip_bytes": (resp_bytes + 40 * resp_pkts).astype(str),
        "tunnel_parents": "(empty)"})
    fields = FIELDS + (["label"] if labelled else [])
    if labelled:
        frame["label"] = np.where(attack, "Malicious", "Benign")
    with open(path, "w", encoding="utf-8") as sink:
        sink.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
                   "#open\t2026-01-01-00-00-00\n#fields\t" + "\t".join(fields) + "\n")
        frame.to_csv(sink, sep="\t", header=False, index=False, lineterminator="\n")
        sink.write("#close\t2026-01-01-01-00-00\n")
    if json_path is not None:
        write_conn_json(frame, json_path)


_JSON_NUMBERS = {"ts": float, "duration": float, **dict.fromkeys(
    ("id.orig_p", "id.resp_p", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "orig_ip_bytes",
     "resp_pkts", "resp_ip_bytes"), int)}


def write_conn_json(frame: pd.DataFrame, path: Path) -> None:
    """The records of a conn.log frame (text, as written in TSV) as Zeek's JSON writer has them:
    numbers and booleans as such, sets as arrays, unset fields left out."""
    def value(field: str, text: str):
        if field in _JSON_NUMBERS:
            return _JSON_NUMBERS[field](text)
        if field in ("local_orig", "local_resp"):
            return text == "T"
        if field == "tunnel_parents":
            return [] if text == "(empty)" else text.split(",")
        return text

    with open(path, "w", encoding="utf-8") as sink:
        for record in frame.itertuples(index=False, name=None):
            sink.write(json.dumps({f: value(f, t) for f, t in zip(frame.columns, record) if t != "-"}) + "\n")


RECORDS_BASELINE = """
import sys
import numpy as np, pandas as pd
from deepsentry.core.tables import numbered_lines
from deepsentry.flows.zeek import MISSING, zeek_records
frame = pd.DataFrame(list(zeek_records(numbered_lines(sys.argv[1], print), print)))
frame = frame.replace(dict.fromkeys(MISSING, np.nan))
"""
READ_ZEEK = "import sys; from deepsentry.flows.zeek import read_zeek; read_zeek(sys.argv[1])"
DETECT_WHOLE = ("from deepsentry.detection.batch import detect_file, load_detector; import sys; "
                "detect_file(load_detector(sys.argv[1], keras_model=False), sys.argv[2], sys.argv[3], "
                "piece_bytes=10**15)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    results: dict = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "python": platform.python_version(), "records": options.records, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train, log, log_json = work / "train_conn.log", work / "conn.log", work / "conn.json.log"
        write_conn_log(train, 20_000, seed=1, labelled=True)
        write_conn_log(log, options.records, seed=2, json_path=log_json)
        results["megabytes"] = round(log.stat().st_size / 1e6, 1)
        results["json_megabytes"] = round(log_json.stat().st_size / 1e6, 1)
        subprocess.run([*CLI, "train", "flows", "--data", str(train), "--out", str(work / "model"), "--epochs", "3"],
                       check=True, capture_output=True)
        commands = {
            "read/records as dicts (baseline)": [sys.executable, "-c", RECORDS_BASELINE, str(log)],
            "read/read_zeek (columns)": [sys.executable, "-c", READ_ZEEK, str(log)],
            "detect/read whole (baseline)": [sys.executable, "-c", DETECT_WHOLE, str(work / "model"), str(log),
                                             str(work / "out.csv")],
            "detect/in pieces (deepsentry detect)": [*CLI, "detect", "--model", str(work / "model"), str(log),
                                                     "--out", str(work / "out.csv")],
            "read JSON/records as dicts (baseline)": [sys.executable, "-c", RECORDS_BASELINE, str(log_json)],
            "read JSON/read_zeek (pyarrow batches)": [sys.executable, "-c", READ_ZEEK, str(log_json)],
            "detect JSON/in pieces (deepsentry detect)": [*CLI, "detect", "--model", str(work / "model"),
                                                          str(log_json), "--out", str(work / "out.csv")],
        }
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(options.repeats):  # alternating, so that the machine's load falls on all alike
            for name, command in commands.items():
                measured[name].append(run(command))
        for name, runs in measured.items():
            results["runs"][name] = {"seconds": round(statistics.median(m[0] for m in runs), 2),
                                     "peak_mib": round(statistics.median(m[1] for m in runs)), "all": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "zeek_reader.json").write_text(json.dumps(results, indent=2))
    print(f"{results['date']}, {results['machine']}, {options.records:,} records, {results['megabytes']} MB "
          f"(JSON {results['json_megabytes']} MB), median of {options.repeats}\n")
    print("| task | how | seconds | peak MiB |\n|---|---|---|---|")
    for key, r in results["runs"].items():
        task, how = key.split("/")
        print(f"| {task} | {how} | {r['seconds']} | {r['peak_mib']:,} |")


if __name__ == "__main__":
    main()
