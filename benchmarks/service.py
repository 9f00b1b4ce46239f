"""Service benchmark: in-process latency of one record, HTTP latency at a fixed request rate, bulk
throughput, token enforcement and a schemathesis run, against a bundle trained on KDDTrain+.
Writes benchmarks/results/service.json.

    python benchmarks/service.py [--quick]     # --quick: 10 s instead of 60 s at 200 requests/s
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from deepsentry.core.settings import data_dir  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def percentiles(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {"p50_us": float(np.percentile(us, 50)), "p90_us": float(np.percentile(us, 90)),
            "p99_us": float(np.percentile(us, 99)), "n": int(len(us))}


def in_process(bundle: Path, records: list[dict]) -> dict:
    import gc

    from deepsentry.detection.batch import load_detector

    detector = load_detector(bundle, keras_model=False)
    for record in records[:300]:
        detector.score_records([record])
    gc.disable()
    timings = []
    for record in records:
        started = time.perf_counter()
        detector.score_records([record])
        timings.append(time.perf_counter() - started)
    gc.enable()
    features = detector.transform_records(records[:1])
    started = time.perf_counter()
    for _ in range(2000):
        detector.raw_outputs(features)
    ort_alone = (time.perf_counter() - started) / 2000
    return {**percentiles(timings), "onnxruntime_alone_us": ort_alone * 1e6}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, token_file: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "deepsentry.cli", "serve", "--model", f"nsl={bundle}",
                               "--port", str(port), "--token-file", str(token_file),
                               "--max-body-bytes", str(64 * 1024 * 1024)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("server did not start")


def paced(port: int, token: str, records: list[dict], rate: float, seconds: float) -> dict:
    """One record per request at a fixed rate on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps([r]) for r in records]
    timings, errors = [], 0
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0.002:
            time.sleep(pause - 0.002)
        while time.perf_counter() < due:  # the last 2 ms spin: the client must not add wake-up delay
            pass
        began = time.perf_counter()
        try:
            conn.request("POST", "/v1/models/nsl/detect", body=bodies[i % len(bodies)], headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        except OSError:
            errors += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        timings.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    return {**percentiles(timings), "errors": errors, "requests": n, "achieved_rate": n / elapsed}


def bulk(port: int, token: str, records: list[dict], per_request: int, repeat: int = 7, warm_up: int = 2) -> dict:
    """Median time of ``repeat`` requests of ``per_request`` records, after ``warm_up`` untimed
    ones (the first bulk requests of a process fault in fresh memory for the large buffers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps(records[:per_request])
    csv_lines = [",".join(records[0])] + [",".join(str(v) for v in r.values()) for r in records[:per_request]]
    csv_body = "\n".join(csv_lines) + "\n"
    out = {}
    for name, payload, ctype in (("json", body, "application/json"), ("csv", csv_body, "text/csv")):
        timings = []
        for attempt in range(warm_up + repeat):
            began = time.perf_counter()
            conn.request("POST", "/v1/models/nsl/detect", body=payload,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
            response = conn.getresponse()
            answer = response.read()
            assert response.status == 200, answer[:200]
            if attempt >= warm_up:
                timings.append(time.perf_counter() - began)
        out[name] = {"records": per_request, "median_s": statistics.median(timings),
                     "records_per_s": per_request / statistics.median(timings),
                     "runs_s": [round(t, 4) for t in timings], "warm_up_requests": warm_up}
    return out


def records_scored(conn: http.client.HTTPConnection) -> float:
    conn.request("GET", "/metrics")
    metrics = conn.getresponse().read().decode()
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("deepsentry_records_total"))


def unauthorised(port: int, records: list[dict], n: int = 500) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    statuses: dict[int, int] = {}
    before = records_scored(conn)
    for i in range(n):
        headers = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}][i % 3]
        conn.request("POST", "/v1/models/nsl/detect", body=json.dumps(records[:1]),
                     headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
    return {"requests": n, "statuses": statuses, "records_scored_meanwhile": records_scored(conn) - before}


def schemathesis_run(port: int, token: str, examples: int) -> dict:
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(exe).exists():
        return {"skipped": "schemathesis is not installed"}
    started = time.perf_counter()
    result = subprocess.run([exe, "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "not_a_server_error",
                             "-H", f"Authorization: Bearer {token}", "--max-examples", str(examples)],
                            capture_output=True, text=True, timeout=900)
    tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
    return {"exit_code": result.returncode, "seconds": time.perf_counter() - started, "summary": tail}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bundle", type=Path, help="an existing NSL-KDD bundle (default: train one)")
    args = parser.parse_args()
    from deepsentry.flows import FlowDetector, read_flows

    root = data_dir() / "network" / "nsl-kdd"
    test = read_flows(root / "KDDTest+.txt")
    records = json.loads(test.features.head(20000).to_json(orient="records"))
    results: dict = {"date": str(date.today()), "machine": f"{platform.processor() or platform.machine()}, "
                     f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            from deepsentry.core.onnx import export_onnx

            bundle = tmp / "nsl"
            detector = FlowDetector().fit_flows(read_flows(root / "KDDTrain+.txt"))
            detector.save(bundle)
            export_onnx(detector, bundle)
        results["in_process_one_record"] = in_process(bundle, records[:3000])
        port = free_port()
        token_file = tmp / "token"
        server = start_server(bundle, token_file, port)
        token = token_file.read_text().strip()
        try:
            results["http_one_record_200rps"] = paced(port, token, records, 200, 10 if args.quick else 60)
            results["http_bulk_10k"] = bulk(port, token, records, 10000)
            results["unauthorised"] = unauthorised(port, records)
            results["schemathesis"] = schemathesis_run(port, token, 20 if args.quick else 100)
        finally:
            server.terminate()
            try:
                results["shutdown_exit_code"] = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                results["shutdown_exit_code"] = "killed after 30 s"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
