"""The command line, driven in-process (httpie-style): train, detect, evaluate, export, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import dataset_path, named_pipe, synthetic_flows, synthetic_zeek_conn
from deepsentry.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train = root / "train.csv"
    synthetic_flows(n=800, seed=3).to_csv(train, index=False)
    model = root / "model"
    code = main(["train", "flows", "--data", str(train), "--out", str(model), "--label-column", "label",
                 "--benign-label", "normal", "--epochs", "5"])
    assert code == 0
    return root, model


def test_train_writes_a_complete_bundle(trained):
    _, model = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert {"model.keras", "preprocessing.json", "thresholds.json", "detector.json", "model.onnx"} <= set(manifest["files"])
    assert manifest["classes"] == ["flood", "normal", "scan"]
    assert manifest["training_data_sha256"]["train.csv"]
    assert manifest["training"]["validation_metrics"]["false_positive_rate"] <= 0.05 + 1e-9
    assert "src_ip" in manifest["training_read_report"]["identifier_columns"]


def test_train_flows_takes_ple_bins(trained, tmp_path):
    root, _ = trained
    model = tmp_path / "ple"
    assert main(["train", "flows", "--data", str(root / "train.csv"), "--out", str(model), "--label-column", "label",
                 "--benign-label", "normal", "--epochs", "1", "--ple-bins", "4", "--no-onnx"]) == 0
    state = json.loads((model / "detector.json").read_text())
    assert state["config"]["ple_bins"] == 4
    assert main(["train", "flows", "--data", str(root / "train.csv"), "--out", str(tmp_path / "bad"),
                 "--label-column", "label", "--ple-bins", "1"]) == 2


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_detect_output_contract(trained, suffix):
    root, model = trained
    data = synthetic_flows(n=200, seed=4)
    data.to_csv(root / "new.csv", index=False)
    out = root / f"preds{suffix}"
    assert main(["detect", "--model", str(model), str(root / "new.csv"), "--out", str(out)]) == 0
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
             ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](out)
    assert list(frame.columns) == ["id", "score", "alert", "predicted", "error"]
    assert list(frame["id"]) == list(range(200))  # one row per record, in input order
    assert set(frame["alert"]) <= {0, 1}
    truth = (data["label"] != "normal").to_numpy()
    assert (frame["alert"].to_numpy() == truth).mean() > 0.9


def test_detect_and_evaluate_score_on_onnx_without_importing_tensorflow(trained):
    """TensorFlow costs 0.6 GB and seconds to import: with model.onnx in the bundle, only
    ``--keras`` needs it (explanations take central differences, which ONNX Runtime serves)."""
    root, model = trained
    synthetic_flows(n=100, seed=6).to_csv(root / "onnx_only.csv", index=False)
    code = ("import sys, json; from deepsentry.cli import main; "
            f"assert main(['detect', '--model', {str(model)!r}, {str(root / 'onnx_only.csv')!r}, "
            f"'--out', {str(root / 'onnx_only_preds.csv')!r}, '--alerts', {str(root / 'onnx_only_alerts.jsonl')!r}, "
            "'--explain', '2']) == 0; "
            f"assert main(['evaluate', '--model', {str(model)!r}, {str(root / 'onnx_only.csv')!r}, "
            f"'--report', {str(root / 'onnx_only_report')!r}]) == 0; "
            "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    preds = pd.read_csv(root / "onnx_only_preds.csv", keep_default_na=False)
    assert len(preds) == 100 and (preds.loc[preds["alert"] == 1, "explanation"] != "").all()
    assert (root / "onnx_only_report" / "metrics.json").exists()


def test_predictions_on_stdout_never_mix_with_alerts(trained, capsys):
    import io

    root, model = trained
    synthetic_flows(n=50, seed=4).to_csv(root / "few.csv", index=False)
    capsys.readouterr()
    assert main(["detect", "--model", str(model), str(root / "few.csv"), "--out", "-"]) == 0
    written = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(written["id"]) == list(range(50))
    # alerts to stdout as well would interleave JSON with the CSV: refused before the work
    assert main(["detect", "--model", str(model), str(root / "few.csv"), "--alerts", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "would both go to standard output" in captured.err
    assert main(["detect", "--model", str(model), str(root / "few.csv"), "--alerts", "-",
                 "--out", str(root / "few_preds.csv")]) == 0
    assert all(line.startswith("{") for line in capsys.readouterr().out.splitlines())
    assert main(["extract", "flows", str(root / "few.csv"), "--out", "-"]) == 2
    assert "cannot be standard output" in capsys.readouterr().err


def test_detect_keeps_malformed_rows_in_place(trained, capsys):
    root, model = trained
    lines = (root / "train.csv").read_text().splitlines()[:6]
    lines[3] = "1,2,3"  # a truncated record at data row 2
    bad = root / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = root / "bad_preds.csv"
    assert main(["detect", "--model", str(model), str(bad), "--out", str(out)]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == 5
    assert frame.loc[2, "error"] == "expected 8 fields, found 3" and frame.loc[2, "score"] == ""
    assert (frame.drop(index=2)["error"] == "").all()
    err = capsys.readouterr().err
    assert "1 malformed row(s) not scored" in err and "4 records scored" in err
    assert main(["detect", "--model", str(model), str(bad), "--out", str(out), "--strict"]) == 3


def test_a_table_with_no_readable_rows_gives_empty_or_error_rows_to_detect_and_an_error_elsewhere(
        trained, tmp_path, capsys):
    """An hourly export with no flows is not a failure of detect: it writes a header alone. A
    table whose every row is malformed keeps each row with its error (nothing is lost); training
    and evaluation, which need rows, say what is wrong with the file."""
    root, model = trained
    header = (root / "train.csv").read_text().splitlines()[0]
    empty, broken = tmp_path / "empty.csv", tmp_path / "broken.csv"
    empty.write_text(header + "\n")
    broken.write_text(header + "\n1,2,3\n4,5\n")
    for source, errors in [(empty, []), (broken, ["expected 8 fields, found 3", "expected 8 fields, found 2"])]:
        out = tmp_path / f"{source.stem}_preds.csv"
        assert main(["detect", "--model", str(model), str(source), "--out", str(out)]) == 0
        frame = pd.read_csv(out, keep_default_na=False)
        assert list(frame.columns) == ["id", "score", "alert", "predicted", "error"]
        assert frame["error"].tolist() == errors and (frame["alert"] == 0).all()
        capsys.readouterr()
        assert main(["evaluate", "--model", str(model), str(source), "--report", str(tmp_path / "r")]) == 3
        assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["train", "flows", "--data", str(broken), "--out", str(tmp_path / "m")]) == 3
    assert "no data rows: all 2 are malformed (first: line 2, expected 8 fields, found 3)" in \
        " ".join(capsys.readouterr().err.split())


def _stdin(monkeypatch, data: bytes) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_detect_and_evaluate_read_tables_from_stdin(trained, tmp_path, monkeypatch, kind, capsys):
    root, model = trained
    data = synthetic_flows(n=120, seed=5)
    source = tmp_path / f"new.{kind}"
    data.to_csv(source, index=False) if kind == "csv" else data.to_parquet(source)
    assert main(["detect", "--model", str(model), str(source), "--out", str(tmp_path / "file.csv")]) == 0
    _stdin(monkeypatch, source.read_bytes())
    assert main(["detect", "--model", str(model), "-", "--out", str(tmp_path / "piped.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "piped.csv"), pd.read_csv(tmp_path / "file.csv"))
    _stdin(monkeypatch, source.read_bytes())
    assert main(["evaluate", "--model", str(model), "-", "--report", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["binary"]["rows"] == 120 and metrics["detect_summary"]["input"] == "-"
    assert "deepsentry-stdin" not in capsys.readouterr().err  # the temporary copy is never named
    # a named pipe, or a shell's <(...), is a stream too: it was sniffed, then read from past its start
    pipe = named_pipe(tmp_path / "fifo", source.read_bytes())
    assert main(["detect", "--model", str(model), str(pipe), "--out", str(tmp_path / "fifo.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fifo.csv"), pd.read_csv(tmp_path / "file.csv"))


def test_ctrl_c_exits_130_and_says_so(trained, monkeypatch, capsys):
    import deepsentry.detection.batch as batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "load_detector", interrupted)
    root, model = trained
    assert main(["detect", "--model", str(model), str(root / "train.csv")]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"  # typer alone exits 130 without a word


def test_detect_refuses_a_negative_explain(trained, capsys):
    root, model = trained
    assert main(["detect", "--model", str(model), str(root / "train.csv"), "--explain", "-3"]) == 2
    assert "explain must be in [0, inf); got -3" in capsys.readouterr().err


def test_detect_names_stdin_in_errors(trained, tmp_path, monkeypatch, capsys):
    root, model = trained
    lines = (root / "train.csv").read_text().splitlines()[:4]
    lines[2] = "1,2,3"
    _stdin(monkeypatch, ("\n".join(lines) + "\n").encode())
    assert main(["detect", "--model", str(model), "-", "--strict"]) == 3
    assert "<stdin>, line 3: expected 8 fields, found 3" in capsys.readouterr().err
    _stdin(monkeypatch, b"")
    assert main(["detect", "--model", str(model), "-"]) == 3
    assert "<stdin>: file is empty" in capsys.readouterr().err
    # training reads its data several times: a stream is refused as one (it read as empty, or as
    # 'no such file'), and the pipe is never opened (no writer waits for a reader that never comes)
    for command in (["train", "flows", "--data"], ["train", "malware", "--data"], ["cv", "--data"]):
        out = ["--out", str(tmp_path / "m")] if command[0] == "train" else ["--report", str(tmp_path / "r")]
        assert main([*command, "-", *out]) == 3
        assert "<stdin>: is a stream (stdin or a pipe)" in capsys.readouterr().err
    os.mkfifo(tmp_path / "fifo")
    assert main(["train", "flows", "--data", str(tmp_path / "fifo"), "--out", str(tmp_path / "m")]) == 3
    assert f"{tmp_path / 'fifo'}: is a stream" in capsys.readouterr().err


def test_unseen_category_and_label_columns_ignored(trained):
    root, model = trained
    data = synthetic_flows(n=50, seed=5)
    data.loc[0, "proto"] = "sctp"
    data.drop(columns=["label"]).to_csv(root / "nolabel.csv", index=False)
    assert main(["detect", "--model", str(model), str(root / "nolabel.csv"), "--out", str(root / "p.csv")]) == 0


def test_evaluate_writes_metrics_plots_and_html(trained):
    root, model = trained
    synthetic_flows(n=300, seed=6).to_csv(root / "test.csv", index=False)
    report = root / "report"
    assert main(["evaluate", "--model", str(model), str(root / "test.csv"), "--report", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
                "detection_rate_at_1pct_fpr", "detection_rate_at_0.1pct_fpr", "confusion_matrix"):
        assert key in metrics["binary"]
    assert set(metrics["classes"]["per_class_recall"]) == {"flood", "normal", "scan"}
    assert metrics["binary"]["roc_auc"] > 0.9
    for plot in ("roc.png", "pr.png", "confusion_matrix.png", "score_histogram.png"):
        assert (report / plot).read_bytes()[:4] == b"\x89PNG"
        assert plot in (report / "report.html").read_text()
    # another export's spelling of the same classes ('FLOOD', 'Scan') is the model's class, not a new one
    shouted = synthetic_flows(n=300, seed=6)
    shouted["label"] = shouted["label"].map({"flood": "FLOOD", "scan": "Scan", "normal": "normal"})
    shouted.to_csv(root / "shouted.csv", index=False)
    assert main(["evaluate", "--model", str(model), str(root / "shouted.csv"), "--report", str(root / "r2")]) == 0
    again = json.loads((root / "r2" / "metrics.json").read_text())
    assert again["classes"]["per_class_recall"] == metrics["classes"]["per_class_recall"]


def test_onnx_and_keras_scores_agree(trained):
    root, model = trained
    synthetic_flows(n=300, seed=7).to_csv(root / "o.csv", index=False)
    main(["detect", "--model", str(model), str(root / "o.csv"), "--out", str(root / "onnx.csv")])
    main(["detect", "--model", str(model), str(root / "o.csv"), "--out", str(root / "keras.csv"), "--keras"])
    a, b = pd.read_csv(root / "onnx.csv"), pd.read_csv(root / "keras.csv")
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-4)


@pytest.mark.parametrize("args,code,message", [
    (["detect", "--model", "/nonexistent", "x.csv"], 4, "no such model bundle"),
    (["train", "flows", "--data", "/nonexistent.csv", "--out", "m"], 3, "no such file"),
    (["train", "flows", "--data", "{data}", "--out", "m", "--model", "gpt"], 2, "model must be one of"),
    (["detect", "--model", "{model}", "{data}", "--out", "x.txt"], 2, "output must end in"),
    (["bogus-command"], 2, ""),
])
def test_errors_map_to_exit_codes(trained, capsys, args, code, message, tmp_path):
    root, model = trained
    args = [a.format(data=root / "train.csv", model=model) for a in args]
    assert main(args) == code
    assert message in capsys.readouterr().err


def test_tampered_bundle_is_refused(trained, tmp_path, capsys):
    import shutil

    _, model = trained
    copy = tmp_path / "m"
    shutil.copytree(model, copy)
    thresholds = json.loads((copy / "thresholds.json").read_text())
    thresholds["threshold"] = 1e9
    (copy / "thresholds.json").write_text(json.dumps(thresholds))
    assert main(["detect", "--model", str(copy), "x.csv"]) == 4
    assert "thresholds.json does not match its checksum" in capsys.readouterr().err


def test_a_model_trained_on_one_cicflowmeter_naming_scores_another(tmp_path):
    # CIC-IDS2017's MachineLearningCVE spelling for training; CICFlowMeter-V4 / CSE-CIC-IDS2018
    # spelling (what running CICFlowMeter on one's own capture writes) for detection
    rng = np.random.default_rng(0)
    n = 400
    attack = rng.random(n) < 0.4
    ml_cve = pd.DataFrame({
        " Destination Port": np.where(attack, rng.integers(1, 1024, n), 443),
        " Flow Duration": rng.lognormal(10, 2, n),
        " Total Fwd Packets": np.where(attack, 1, rng.integers(3, 40, n)),
        " Total Backward Packets": np.where(attack, rng.integers(0, 2, n), rng.integers(3, 40, n)),
        "Total Length of Fwd Packets": rng.lognormal(6, 1, n),
        "Flow Bytes/s": rng.lognormal(8, 2, n),
        " SYN Flag Count": np.where(attack, 1, 0),
        "Init_Win_bytes_forward": rng.integers(0, 65535, n),
        " Label": np.where(attack, "PortScan", "BENIGN"),
    })
    v4_names = {" Destination Port": "Dst Port", " Flow Duration": "Flow Duration",
                " Total Fwd Packets": "Tot Fwd Pkts", " Total Backward Packets": "Tot Bwd Pkts",
                "Total Length of Fwd Packets": "TotLen Fwd Pkts", "Flow Bytes/s": "Flow Byts/s",
                " SYN Flag Count": "SYN Flag Cnt", "Init_Win_bytes_forward": "Init Fwd Win Byts"}
    train, same, v4 = tmp_path / "train.csv", tmp_path / "same.csv", tmp_path / "v4.csv"
    ml_cve.to_csv(train, index=False)
    ml_cve.drop(columns=[" Label"]).to_csv(same, index=False)
    ml_cve.drop(columns=[" Label"]).rename(columns=v4_names)[list(v4_names.values())[::-1]].to_csv(v4, index=False)
    model = tmp_path / "model"
    assert main(["train", "flows", "--data", str(train), "--epochs", "1", "--no-onnx", "--out", str(model)]) == 0
    for path in (same, v4):
        assert main(["detect", "--model", str(model), str(path), "--out", str(path.with_suffix(".out.csv"))]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "v4.out.csv")["score"],
                               pd.read_csv(tmp_path / "same.out.csv")["score"], rtol=1e-6)
    # a column no spelling accounts for is still a clear error
    pd.read_csv(v4).drop(columns=["Tot Bwd Pkts"]).to_csv(v4, index=False)
    assert main(["detect", "--model", str(model), str(v4)]) == 3


def test_an_output_that_is_the_input_is_refused_before_anything_is_written(tmp_path, capsys):
    data = tmp_path / "flows.csv"
    synthetic_flows(200).to_csv(data, index=False)
    before = data.read_bytes()
    model = tmp_path / "m"
    assert main(["train", "flows", "--data", str(data), "--label-column", "label", "--benign-label", "normal",
                 "--epochs", "1", "--no-onnx", "--out", str(model)]) == 0
    assert main(["detect", "--model", str(model), str(data), "--out", str(data)]) == 3
    assert main(["extract", "templates", str(data), "--format", "hdfs", "--out", str(data)]) == 3
    assert main(["extract", "flows", str(data), "--out", str(data)]) == 3
    assert data.read_bytes() == before
    # an output format no writer has is refused before the work as well
    for command in (["detect", "--model", str(model), str(data)], ["extract", "templates", str(data), "--format", "hdfs"],
                    ["extract", "flows", str(data)], ["extract", "pe", str(data)]):
        assert main([*command, "--out", str(tmp_path / "out.txt")]) == 2
    assert not (tmp_path / "out.txt").exists()
    # alerts appended to the input would corrupt it
    assert main(["detect", "--model", str(model), str(data), "--alerts", str(data)]) == 3
    assert data.read_bytes() == before
    # and the predictions written over the alerts would lose them without a word
    both = tmp_path / "both.jsonl"
    assert main(["detect", "--model", str(model), str(data), "--out", str(both), "--alerts", str(both)]) == 2
    assert "the alerts file is the predictions file" in capsys.readouterr().err and not both.exists()
    assert main(["extract", "templates", str(data), "--format", "hdfs", "--out", str(tmp_path / "t.parquet")]) == 0
    assert list(pd.read_parquet(tmp_path / "t.parquet").columns) == ["line", "template_id", "template"]


def test_alerts_go_to_a_webhook_and_failed_deliveries_are_reported(trained, tmp_path, capsys):
    import http.server
    import socket
    import threading

    from deepsentry.detection.alerts import AlertSink

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    sink = AlertSink(url)
    sink.write([{"n": 1}, {"n": 2}])
    assert [json.loads(line) for line in received[0].decode().splitlines()] == [{"n": 1}, {"n": 2}]
    assert sink.written == 2 and sink.problem() is None
    server.shutdown()
    server.server_close()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    root, model = trained
    capsys.readouterr()
    assert main(["detect", "--model", str(model), str(root / "train.csv"), "--out", str(tmp_path / "p.csv"),
                 "--alerts", refused]) == 0  # detection itself went through
    err = " ".join(capsys.readouterr().err.split())
    alerts = int(pd.read_csv(tmp_path / "p.csv")["alert"].sum())
    assert alerts > 0 and f"warning: {alerts} alert(s) not delivered to {refused} (1 failed post(s); last:" in err


def test_training_prints_a_rate_of_zero_as_zero():
    from deepsentry.cli import _rate

    # a detection rate of 0 is the news, not a missing value; n/a where validation had no such rows
    assert (_rate(0.0), _rate(0.25), _rate(None), _rate(float("nan"))) == ("0.0000", "0.2500", "n/a", "n/a")


def test_outputs_that_cannot_be_written_are_refused_before_the_work(trained, tmp_path, capsys, monkeypatch):
    root, model = trained
    data = str(root / "train.csv")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder.csv").mkdir()
    cases = [
        (["evaluate", "--model", str(model), data, "--report", str(tmp_path / "a_file")],
         "a_file: is a file, and a folder is to be written here"),
        (["cv", "--data", data, "--label-column", "label", "--report", str(tmp_path / "a_file" / "cv")],
         "cv: cannot be created: " + str(tmp_path / "a_file") + " is a file, not a folder"),
        (["train", "flows", "--data", data, "--out", str(tmp_path / "a_file" / "m")],
         "a_file: is a file, and a folder is to be written here"),  # the bundle's folder
        (["detect", "--model", str(model), data, "--out", str(tmp_path / "a_folder.csv")],
         "a_folder.csv: is a folder, and a file is to be written here"),
        (["demo", "--out", str(tmp_path / "a_file")], "a_file: is a file, and a folder is to be written here"),
        (["detect", "--model", str(model), data, "--alerts", str(tmp_path / "a_file" / "alerts.jsonl")],
         "alerts.jsonl: cannot be created: " + str(tmp_path / "a_file") + " is a file, not a folder"),
    ]
    import deepsentry.detection.batch as batch

    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(batch, "score_file", no_work)
    for args, message in cases:
        assert main(args) == 3, args
        assert message in " ".join(capsys.readouterr().err.split())
    # what no check foresees (a full disk) is still one line naming the file, not a traceback
    monkeypatch.setattr(batch, "score_file", lambda *a, **k: (_ for _ in ()).throw(
        OSError(28, "No space left on device", str(tmp_path / "p.csv"))))
    assert main(["detect", "--model", str(model), data, "--out", str(tmp_path / "p.csv")]) == 3
    assert capsys.readouterr().err.strip() == f"deepsentry: error: {tmp_path / 'p.csv'}: No space left on device"


def test_a_numeric_column_mostly_not_numbers_is_counted_not_read_as_text(trained, capsys):
    # a new generic CSV takes such a column for text; the model knows it reads numbers
    root, model = trained
    data = synthetic_flows(n=4, seed=9).drop(columns="label").astype({"bytes": object})
    data.loc[:2, "bytes"] = ["[b]x[/b]", "n/a?", "12kB"]
    data.to_csv(root / "wordy.csv", index=False)
    assert main(["detect", "--model", str(model), str(root / "wordy.csv"), "--out", str(root / "wordy.jsonl")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "problems: bytes 3" in err and "malformed" not in err  # no record was malformed
    assert "line 2, column bytes: not a number: '[b]x[/b]'" in err  # brackets printed as given
    assert main(["detect", "--model", str(model), str(root / "wordy.csv"), "--strict"]) == 3
    assert "wordy.csv, line 2, column bytes: not a number: '[b]x[/b]'" in " ".join(capsys.readouterr().err.split())
    # a decimal-comma export (a European spreadsheet's, semicolon-separated) reads as its numbers
    data.loc[:2, "bytes"] = ["1,5", "2,25", "3"]
    data.to_csv(root / "comma.csv", index=False, sep=";")
    data.assign(bytes=data["bytes"].astype(str).str.replace(",", ".").astype(float)).to_csv(root / "dot.csv", index=False)
    for name in ("comma", "dot"):
        assert main(["detect", "--model", str(model), str(root / f"{name}.csv"), "--strict",
                     "--out", str(root / f"{name}_preds.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(root / "comma_preds.csv"), pd.read_csv(root / "dot_preds.csv"))
    # in a comma-separated file such a value can only come quoted: a bad value, with a hint
    data.to_csv(root / "quoted.csv", index=False)
    assert main(["detect", "--model", str(model), str(root / "quoted.csv"), "--strict"]) == 3
    assert "not a number: '1,5' (a decimal comma?" in " ".join(capsys.readouterr().err.split())


def test_extract_flows_given_a_zeek_log_says_it_is_read_directly(tmp_path, capsys):
    from pathlib import Path

    zeek = Path(__file__).parent / "fixtures" / "zeek_conn.log"
    assert main(["extract", "flows", str(zeek), "--out", str(tmp_path / "flows.csv")]) == 3
    assert "read Zeek conn.log files as they are" in capsys.readouterr().err
    assert not (tmp_path / "flows.csv").exists()


def test_a_zeek_model_keeps_its_label_column_and_writes_error_rows_in_place(tmp_path, capsys):
    """Trained on rotated (gzipped) conn logs with a label the user names, a model evaluates
    new logs by that same label, and detect keeps a malformed record as an error row."""
    import gzip

    header, rows = synthetic_zeek_conn(300)
    train = tmp_path / "conn.00:00:00-01:00:00.log.gz"
    train.write_bytes(gzip.compress("\n".join(header + rows[:240]).encode() + b"\n"))
    new = tmp_path / "conn.log"
    new.write_text("\n".join(header + rows[240:250] + ["1767226000\tCbad\t10.0.0.1"] + rows[250:]) + "\n")
    model = tmp_path / "zeek_model"
    assert main(["train", "flows", "--data", str(train), "--out", str(model), "--label-column", "conn_state",
                 "--benign-label", "SF", "--epochs", "3", "--no-onnx"]) == 0
    assert "conn_state" not in json.loads((model / "preprocessing.json").read_text())["input_columns"]
    out = tmp_path / "preds.csv"
    assert main(["detect", "--model", str(model), str(new), "--out", str(out), "--alerts",
                 str(tmp_path / "alerts.jsonl")]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == 61 and frame.loc[10, "id"] == f"line {len(header) + 11}"
    alert = json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[0])
    first = int(frame.index[frame["alert"] == 1][0])
    record = rows[240 + first - (first > 10)].split("\t")  # the malformed line sits at 10
    assert alert["source"] == {"ip": record[2], "port": int(record[3])}  # ECS ports are numbers, not Zeek's text
    assert alert["destination"] == {"ip": record[4], "port": int(record[5])}
    assert frame.loc[10, "error"] == "expected 21 fields, found 3" and frame.loc[10, "score"] == ""
    assert frame.loc[11, "id"] == "C250"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), str(new), "--report", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["binary"]["rows"] == 60 and set(metrics["classes"]["per_class_recall"]) == {"S0", "SF"}


def _zeek_log_and_model(tmp_path):
    """A synthetic conn.log of 3,000 records (header lines, records) and a model trained on its
    first 1,000 (conn_state as the label, SF benign), loaded for scoring."""
    from deepsentry.detection.batch import load_detector

    header, rows = synthetic_zeek_conn(3000)
    train = tmp_path / "train.log"
    train.write_text("\n".join(header + rows[:1000]) + "\n")
    assert main(["train", "flows", "--data", str(train), "--out", str(tmp_path / "m"), "--label-column", "conn_state",
                 "--benign-label", "SF", "--epochs", "2", "--no-onnx"]) == 0
    return header, rows, load_detector(tmp_path / "m")


def test_a_large_zeek_log_is_scored_in_pieces_as_if_read_whole(tmp_path):
    """A Zeek conn.log (a day of a busy network runs to gigabytes) was read whole, a Python dict a
    record; it is cut into pieces, a TSV log's # header lines in front of each, and scored as read
    whole: uids, malformed records named by their line, problems and alerts."""
    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file

    header, rows, detector = _zeek_log_and_model(tmp_path)
    rows[1700] = "1767226000\tCbad\t10.0.0.1"  # a record cut short, in a later piece
    rows[2100] = rows[2100].replace("\t80\t", "\teighty\t", 1).replace("\t443\t", "\teighty\t", 1).replace(
        "\t22\t", "\teighty\t", 1)  # a port that is not a number
    tsv = tmp_path / "conn.log"
    tsv.write_text("\n".join(header + rows + ["#close\t2026-01-02-00-00-00"]) + "\n")
    fields = header[6].split("\t")[1:]
    records = []
    for row in rows:
        values = row.split("\t")
        records.append(json.dumps({k: v for k, v in zip(fields, values) if v != "-"}) if len(values) == len(fields)
                       else row)
    as_json = tmp_path / "conn.json.log"
    as_json.write_text("\n".join(records) + "\n")
    for path, line_of_bad in ((tsv, len(header) + 1701), (as_json, 1701)):
        whole_frame, whole = detect_file(detector, path, tmp_path / "whole.csv", piece_bytes=10**9)
        none, pieces = detect_file(detector, path, tmp_path / "pieces.csv", piece_bytes=20_000)
        assert whole_frame is not None and none is None and path.stat().st_size > 10 * 20_000
        a, b = (pd.read_csv(tmp_path / name, keep_default_na=False) for name in ("whole.csv", "pieces.csv"))
        assert len(b) == 3000 and b["id"].iat[1700] == f"line {line_of_bad}" and b["id"].iat[2999] == "C2999"
        for column in ("id", "alert", "predicted", "error"):
            assert a[column].tolist() == b[column].tolist(), (path.name, column)
        np.testing.assert_allclose(pd.to_numeric(a["score"]), pd.to_numeric(b["score"]), rtol=1e-5)
        assert whole.malformed_rows == pieces.malformed_rows == 1 and whole.bad_values == pieces.bad_values != {}
        assert (whole.rows, whole.scored, whole.alerts) == (pieces.rows, pieces.scored, pieces.alerts)
        assert sorted(whole.examples) == sorted(pieces.examples)
        assert any(e.startswith(f"{path}, line {line_of_bad}: ") for e in pieces.examples), pieces.examples
        with pytest.raises(InputError, match=rf"{path.name}, line {line_of_bad}: "):
            detect_file(detector, path, tmp_path / "strict.csv", strict=True, piece_bytes=20_000)


def test_a_large_compressed_log_cut_short_keeps_its_records_in_pieces_as_read_whole(tmp_path):
    """A gzip-compressed Zeek log or JSON-lines table cut short (a rotated log copied while it was
    written) keeps its records before the cut, read whole, and the cut is one malformed record. In
    pieces the whole run failed ("cannot decompress"), scoring nothing; it now ends as read whole,
    also where the cut falls right after a piece's last line. With --strict it is the same error."""
    import gzip
    import zlib

    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file
    from deepsentry.flows.readers import table_pieces

    header, rows, detector = _zeek_log_and_model(tmp_path)
    text = ("\n".join(header + rows) + "\n").encode()
    fields = header[6].split("\t")[1:]
    as_json = "".join(json.dumps(dict(zip(fields, row.split("\t")))) + "\n" for row in rows).encode()
    plain = tmp_path / "plain.log"
    plain.write_bytes(text)
    # the first three pieces of the log exactly, then a stream that stops (no end marker)
    head = ("\n".join(header) + "\n").encode()  # in front of each piece
    at_piece_end = head + b"".join(piece.text[len(head):] for piece in list(table_pieces(plain, None, 20_000))[:3])
    flushed = zlib.compressobj(wbits=31)
    cuts = {"cut.log.gz": gzip.compress(text)[:-30_000], "cut.json.log.gz": gzip.compress(as_json)[:-9_000],
            "at_piece_end.log.gz": flushed.compress(at_piece_end) + flushed.flush(zlib.Z_FULL_FLUSH)}
    for name, blob in cuts.items():
        path = tmp_path / name
        path.write_bytes(blob)
        # (a cut gzip's last four bytes, its size when whole, are any number: 10**15 is beyond them)
        whole_frame, whole = detect_file(detector, path, tmp_path / "whole.csv", piece_bytes=10**15)
        none, pieces = detect_file(detector, path, tmp_path / "pieces.csv", piece_bytes=20_000)
        assert whole_frame is not None and none is None  # in pieces indeed
        a, b = (pd.read_csv(tmp_path / out, keep_default_na=False) for out in ("whole.csv", "pieces.csv"))
        assert 500 < len(b) < 3000 and b["error"].iat[-1].startswith("file ends early or is corrupt (")
        assert (b["error"] != "").sum() == 1 and b["error"].iat[-1].endswith("; records before kept")
        for column in ("id", "alert", "predicted", "error"):
            assert a[column].tolist() == b[column].tolist(), (name, column)
        assert (whole.rows, whole.scored, whole.alerts, whole.malformed_rows) == (
            pieces.rows, pieces.scored, pieces.alerts, pieces.malformed_rows)
        assert whole.examples == pieces.examples and "ends early" in pieces.examples[-1]
        with pytest.raises(InputError) as strict_whole:
            detect_file(detector, path, tmp_path / "strict.csv", strict=True, piece_bytes=10**15)
        with pytest.raises(InputError) as strict_pieces:
            detect_file(detector, path, tmp_path / "strict.csv", strict=True, piece_bytes=20_000)
        assert str(strict_whole.value) == str(strict_pieces.value) and "ends early" in str(strict_pieces.value)


def test_a_gzipped_csv_cut_short_keeps_its_records_read_whole_and_in_pieces(tmp_path):
    """pyarrow refused a gzipped CSV cut short whole ("Truncated compressed stream"), and the
    pieces reader too: a download cut off lost every record. Its whole lines are read now, the
    cut one malformed record after them, whole and in pieces alike; --strict names it."""
    import gzip

    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector
    from deepsentry.flows.readers import ReadOptions, read_flows

    rng = np.random.default_rng(3)
    attack = rng.random(4000) < 0.3
    frame = pd.DataFrame({"dur": rng.exponential(2, 4000) + 5 * attack, "pkts": rng.integers(1, 90, 4000),
                          "proto": rng.choice(["tcp", "udp"], 4000), "label": np.where(attack, "scan", "benign")})
    frame.iloc[:1000].to_csv(tmp_path / "train.csv", index=False)
    assert main(["train", "flows", "--data", str(tmp_path / "train.csv"), "--label-column", "label",
                 "--benign-label", "benign", "--out", str(tmp_path / "m"), "--epochs", "2", "--no-onnx"]) == 0
    detector = load_detector(tmp_path / "m")
    cut = tmp_path / "flows.csv.gz"
    cut.write_bytes(gzip.compress(frame.to_csv(index=False).encode())[:-20_000])
    data = read_flows(cut, ReadOptions(label_column="label"))
    assert 1000 < len(data) < 4000 and data.total_rows == len(data) + 1 == data.report.malformed_rows + len(data)
    assert data.report.examples[-1].row == len(data) + 2  # the line after the last whole one
    assert data.report.examples[-1].reason.startswith("file ends early or is corrupt (")
    with pytest.raises(InputError, match=rf"flows.csv.gz, line {len(data) + 2}: file ends early or is corrupt"):
        read_flows(cut, ReadOptions(label_column="label", strict=True))
    _, whole = detect_file(detector, cut, tmp_path / "whole.csv", piece_bytes=10**15)
    _, pieces = detect_file(detector, cut, tmp_path / "pieces.csv", piece_bytes=10_000)
    a, b = (pd.read_csv(tmp_path / out, keep_default_na=False) for out in ("whole.csv", "pieces.csv"))
    assert len(b) == len(data) + 1 and b["id"].iat[-1] == len(data) and b["error"].iat[-1].startswith("file ends")
    for column in ("id", "alert", "predicted", "error"):
        assert a[column].tolist() == b[column].tolist(), column
    assert whole.examples == pieces.examples and (whole.scored, whole.alerts) == (pieces.scored, pieces.alerts)


def test_columns_kept_at_training_are_read_as_features_when_scoring(tmp_path):
    """--keep-column makes an identifier (src_port) or a label's name (type: here a message type)
    a feature; the model then scores its own training file. Scoring dropped src_port again and
    failed with 'missing column(s) the model was trained on'."""
    rng = np.random.default_rng(7)
    attack = rng.random(300) < 0.3
    frame = pd.DataFrame({"x": rng.normal(size=300), "src_port": np.where(attack, 4444, rng.integers(1024, 65000, 300)),
                          "type": np.where(attack, "probe", rng.choice(["get", "put"], 300)),
                          "label": attack.astype(int)})
    frame.to_csv(tmp_path / "flows.csv", index=False)
    model = tmp_path / "kept"
    assert main(["train", "flows", "--data", str(tmp_path / "flows.csv"), "--label-column", "label", "--keep-column",
                 "src_port", "--keep-column", "type", "--out", str(model), "--epochs", "2", "--no-onnx"]) == 0
    assert json.loads((model / "preprocessing.json").read_text())["input_columns"] == ["x", "src_port", "type"]
    assert main(["detect", "--model", str(model), str(tmp_path / "flows.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 300


def test_data_with_nothing_to_learn_is_a_clear_error_not_an_abort(tmp_path, capsys):
    """Only identifier columns (dropped when read) left a network with no inputs, and oneDNN
    aborted the process; rows that de-duplicate to a handful, and folds no class can fill, got
    sklearn's or an empty label list's messages."""
    ids = tmp_path / "ids.csv"
    ids.write_text("src_ip,label\n" + "".join(f"10.0.0.{i},{i % 2}\n" for i in range(1, 60)))
    constant = tmp_path / "constant.csv"
    constant.write_text("x,label\n" + "".join(f"5,{i % 2}\n" for i in range(60)))
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("x,label\n" + "".join(f"{i % 3},{i % 2}\n" for i in range(30)))
    for data, message in [(ids, f"{ids}: no feature to learn from: the data has no feature columns"),
                          (constant, f"{constant}: no feature to learn from: every column has one value only (x)"),
                          (repeated, f"{repeated}: too few training rows after de-duplication (6 of 30")]:
        assert main(["train", "flows", "--data", str(data), "--out", str(tmp_path / "m")]) == 3
        assert message in " ".join(capsys.readouterr().err.split())
    assert main(["cv", "--data", str(ids), "--report", str(tmp_path / "r")]) == 3
    assert "no feature to learn from" in capsys.readouterr().err
    assert main(["cv", "--data", str(repeated), "--folds", "5", "--report", str(tmp_path / "r")]) == 3
    assert "too few records for 5 folds after de-duplication (24 duplicates removed): class '0' 3, class '1' 3" \
        in " ".join(capsys.readouterr().err.split())


def test_ecs_alerts_name_the_endpoints_of_flow_tool_exports():
    """nfdump (sa, sp, da, dp, pr) and Argus (SrcAddr, Sport, Dport; ICMP's type and code as hex
    ports) records give ECS source, destination and transport fields, ports as numbers."""
    from deepsentry.detection.alerts import ecs_alert

    nfdump = ecs_alert(model="m", kind="flows", score=2.0, threshold=0.0, predicted="attack",
                       record={"sa": "10.0.0.5", "sp": 40001.0, "da": "10.0.1.9", "dp": 22.0, "pr": "TCP"})
    assert nfdump["source"] == {"ip": "10.0.0.5", "port": 40001}
    assert nfdump["destination"] == {"ip": "10.0.1.9", "port": 22} and nfdump["network"] == {"transport": "TCP"}
    argus = ecs_alert(model="m", kind="flows", score=2.0, threshold=0.0, predicted="Botnet",
                      record={"SrcAddr": "147.32.84.165", "Sport": "0x0008", "DstAddr": "8.8.8.8", "Dport": 771.0})
    assert argus["source"] == {"ip": "147.32.84.165", "port": 8} and argus["destination"]["port"] == 771


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_large_table_is_scored_in_pieces_as_if_read_whole(trained, tmp_path, suffix):
    """detect reads a table larger than its piece size piece by piece (bounded memory); the
    predictions, row numbers, malformed rows, problem counts and line numbers are the whole file's."""
    from deepsentry.detection.batch import detect_file, load_detector

    root, model = trained
    frame = synthetic_flows(n=3000, seed=9).astype({"duration": object})
    frame.loc[1200, "duration"] = "lots"
    lines = frame.to_csv(index=False).splitlines()
    lines[700] = "10.0.0.1,80,tcp"  # a short row
    lines[2301] = lines[0]  # the header again, mid-file
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    detector = load_detector(model)
    read = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".jsonl": lambda p: pd.read_json(p, lines=True)}[suffix]
    whole_frame, whole = detect_file(detector, path, tmp_path / f"whole{suffix}", piece_bytes=10**9)
    none, pieces = detect_file(detector, path, tmp_path / f"pieces{suffix}", piece_bytes=20_000)
    assert whole_frame is not None and none is None and path.stat().st_size > 5 * 20_000
    a, b = read(tmp_path / f"whole{suffix}"), read(tmp_path / f"pieces{suffix}")
    assert len(b) == 3000 and list(b["id"]) == list(range(3000))
    for column in ("id", "alert", "predicted", "error"):
        assert a[column].fillna("").tolist() == b[column].fillna("").tolist(), column
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5)
    assert whole.malformed_rows == pieces.malformed_rows == 2 and whole.bad_values == pieces.bad_values
    assert (whole.rows, whole.scored, whole.alerts) == (pieces.rows, pieces.scored, pieces.alerts)
    assert list(whole.predicted_counts.items()) == list(pieces.predicted_counts.items())  # in the same order
    assert sorted(whole.examples) == sorted(pieces.examples)
    assert any("big.csv, line 1202, column duration" in e for e in pieces.examples)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.csv", f"whole{suffix}", f"pieces{suffix}"])


def test_a_large_json_lines_table_is_scored_in_pieces_as_if_read_whole(trained, tmp_path):
    """JSON lines were read whole, each record a Python dict (a peak of 6.8 times the file, BENCHMARKS.md);
    they are cut into pieces as delimited tables are. A key that every record of a piece leaves
    out is a missing value there, as read whole; one no record has is the whole file's error."""
    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector

    root, model = trained
    frame = synthetic_flows(n=3000, seed=9).astype({"duration": object})
    frame.loc[1200, "duration"] = "lots"
    records = [json.loads(line) for line in frame.to_json(orient="records", lines=True).splitlines()]
    for record in records[1500:2200]:  # whole pieces of records without the key
        del record["bytes"]
    lines = [json.dumps(record) for record in records]
    lines[700] = "[1, 2]"  # not an object
    lines[2600] = lines[2600][:30]  # cut short
    lines.insert(1000, "")
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    detector = load_detector(model)
    whole_frame, whole = detect_file(detector, path, tmp_path / "whole.csv", piece_bytes=10**9)
    none, pieces = detect_file(detector, path, tmp_path / "pieces.csv", piece_bytes=20_000)
    assert whole_frame is not None and none is None and path.stat().st_size > 10 * 20_000
    a, b = (pd.read_csv(tmp_path / name, keep_default_na=False) for name in ("whole.csv", "pieces.csv"))
    assert len(b) == 3000 and list(b["id"]) == list(range(3000))
    for column in ("id", "alert", "predicted", "error"):
        assert a[column].tolist() == b[column].tolist(), column
    np.testing.assert_allclose(pd.to_numeric(a["score"]), pd.to_numeric(b["score"]), rtol=1e-5)
    assert whole.missing_values == pieces.missing_values and pieces.missing_values["bytes"] >= 700
    assert whole.malformed_rows == pieces.malformed_rows == 2 and whole.bad_values == pieces.bad_values
    assert (whole.rows, whole.scored, whole.alerts) == (pieces.rows, pieces.scored, pieces.alerts)
    assert sorted(whole.examples) == sorted(pieces.examples)
    assert f"{path}, line 701: not a JSON object (list)" in pieces.examples
    assert any(e.startswith(f"{path}, line 2602: not JSON") for e in pieces.examples), pieces.examples
    lines[700] = json.dumps(records[700])  # with --strict, the first malformed record (in a later piece) stops it
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"big.jsonl, line 1202, column duration: not a number: 'lots'"):
        detect_file(detector, path, tmp_path / "strict.csv", strict=True, piece_bytes=20_000)
    # a key that no record has: the error of the file read whole, and no output
    for record in records:
        record.pop("bytes", None)
    path.write_text("\n".join(map(json.dumps, records)) + "\n")
    for piece_bytes in (10**9, 20_000):
        with pytest.raises(InputError, match=r"big.jsonl: missing column\(s\) the model was trained on: bytes"):
            detect_file(detector, path, tmp_path / "none.csv", piece_bytes=piece_bytes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "pieces.csv", "whole.csv"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_large_table_is_evaluated_in_pieces_as_if_read_whole(trained, tmp_path, suffix, monkeypatch):
    """evaluate reads a large flow table piece by piece, as detect does, keeping only scores and
    labels: its metrics, problem counts and examples are those of the file read whole."""
    from deepsentry.detection import batch
    from deepsentry.detection.batch import evaluate_file, load_detector

    scored = []
    pieces_of = batch._scored_pieces

    def counted(*args, **kwargs):
        for piece in pieces_of(*args, **kwargs):
            scored.append(piece)
            yield piece

    monkeypatch.setattr(batch, "_scored_pieces", counted)

    root, model = trained
    frame = synthetic_flows(n=3000, seed=9).astype({"duration": object, "label": object})
    frame.loc[1200, "duration"] = "lots"
    frame.loc[1700, "label"] = ""  # a record without a label: left out of the metrics, reported
    frame.loc[2400:, "label"] = frame.loc[2400:, "label"].str.upper()  # other spellings, in later pieces only
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        lines = frame.to_csv(index=False).splitlines()
        lines[700] = "10.0.0.1,80,tcp"  # a short row
        path.write_text("\n".join(lines) + "\n")
    else:
        frame.to_json(path, orient="records", lines=True)
    detector = load_detector(model)
    whole = evaluate_file(detector, path, tmp_path / "whole", piece_bytes=10**9)
    pieces = evaluate_file(detector, path, tmp_path / "pieces", piece_bytes=20_000)
    assert path.stat().st_size > 5 * 20_000 and len(scored) > 5
    for report in (whole["read_report"], pieces["read_report"], whole["detect_summary"], pieces["detect_summary"]):
        report["examples"].sort()  # the whole file's are in the order the reader finds them, by kind
    assert pieces["read_report"] == whole["read_report"]
    assert pieces["per_label_detection"] == whole["per_label_detection"]
    assert pieces["detect_summary"] == whole["detect_summary"]
    assert pieces["classes"]["confusion_matrix"] == whole["classes"]["confusion_matrix"]
    assert pieces["classes"]["classes"] == whole["classes"]["classes"] == ["flood", "normal", "scan"]
    assert pieces["classes"]["macro_f1"] == pytest.approx(whole["classes"]["macro_f1"])
    assert set(pieces["per_label_detection"]) == {"flood", "normal", "scan", "FLOOD", "NORMAL", "SCAN"}
    assert pieces["binary"]["rows"] == whole["binary"]["rows"] == 3000 - 1 - (suffix == ".csv")
    for name, value in whole["binary"].items():
        assert pieces["binary"][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    assert (tmp_path / "pieces" / "report.html").exists()


def test_problems_after_blank_lines_name_the_line_in_the_file(trained, tmp_path):
    """Readers skip blank lines without counting them (pyarrow does): messages named the record's
    count, two lines early after two blank lines; read whole and in pieces, they name the line."""
    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector

    root, model = trained
    frame = synthetic_flows(n=3000, seed=9).astype({"duration": object})
    frame.loc[1200, "duration"] = "lots"  # line 1202 before the blank lines are added, 1205 after
    lines = frame.to_csv(index=False).splitlines()
    lines[700] = "10.0.0.1,80,tcp"  # a short row
    lines[2500] = "10.0.0.2,80,tcp"
    for at in (2400, 900, 300, 0):  # blank lines, one before the header
        lines.insert(at, "")
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines) + "\n")
    shown = path.read_text().splitlines()
    assert shown[703 - 1] == "10.0.0.1,80,tcp" and shown[2505 - 1] == "10.0.0.2,80,tcp"
    assert ",lots," in shown[1205 - 1]
    detector = load_detector(model)
    for piece_bytes in (10**9, 20_000):
        _, summary = detect_file(detector, path, tmp_path / "out.csv", piece_bytes=piece_bytes)
        assert summary.rows == 3000 and summary.malformed_rows == 2
        assert any("blank.csv, line 1205, column duration" in e for e in summary.examples), summary.examples
        assert sorted(e for e in summary.examples if "expected" in e) == [
            f"{path}, line 2505: expected 8 fields, found 3", f"{path}, line 703: expected 8 fields, found 3"]
        out = pd.read_csv(tmp_path / "out.csv")
        assert list(out["id"]) == list(range(3000)) and out["error"].notna().sum() == 2
        with pytest.raises(InputError, match=r"blank.csv, line 703: expected 8 fields, found 3$"):
            detect_file(detector, path, tmp_path / "strict.csv", strict=True, piece_bytes=piece_bytes)
    # JSON lines: a line of spaces is blank too; a record that is not an object is named by its line
    jsonl = tmp_path / "blank.jsonl"
    records = frame.head(50).to_json(orient="records", lines=True).splitlines()
    records[20] = "[1, 2]"
    jsonl.write_text("\n".join(records[:10] + ["", "   "] + records[10:]) + "\n")
    _, summary = detect_file(detector, jsonl, tmp_path / "out.jsonl")
    assert summary.examples == [f"{jsonl}, line 23: not a JSON object (list)"]
    with pytest.raises(InputError, match=r"blank.jsonl, line 23: not a JSON object \(list\)$"):
        detect_file(detector, jsonl, tmp_path / "strict.jsonl", strict=True)


def test_a_table_scored_in_pieces_names_the_line_of_a_strict_error_and_leaves_no_output(trained, tmp_path):
    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector

    root, model = trained
    lines = synthetic_flows(n=3000, seed=9).to_csv(index=False).splitlines()
    lines[2500] = "10.0.0.1,80,tcp"
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"big.csv, line 2501: expected 8 fields, found 3$"):
        detect_file(load_detector(model), path, tmp_path / "out.csv", strict=True, piece_bytes=20_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_a_table_with_record_ids_keeps_them_when_scored_in_pieces(tmp_path, capsys):
    """UNSW-NB15 numbers its records in 'id': detect writes those (and no longer warns that it
    dropped them); a malformed record, which has no id it can trust, gets its row number in the
    whole file."""
    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector

    flows = synthetic_flows(n=2000, seed=11)
    unsw = pd.DataFrame({"id": np.arange(2000) * 10 + 7, "dur": flows["duration"], "proto": flows["proto"],
                         "sttl": np.where(flows["label"] == "normal", 31, 254), "sbytes": flows["bytes"],
                         "attack_cat": flows["label"].map({"normal": "Normal", "scan": "Reconnaissance",
                                                           "flood": "DoS"}),
                         "label": (flows["label"] != "normal").astype(int)})
    unsw.to_csv(tmp_path / "train.csv", index=False)
    assert main(["train", "flows", "--data", str(tmp_path / "train.csv"), "--out", str(tmp_path / "m"),
                 "--epochs", "1", "--no-onnx"]) == 0
    capsys.readouterr()
    lines = unsw.to_csv(index=False).splitlines()
    lines[1500] = "1,2,3"
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    detector = load_detector(tmp_path / "m")
    detect_file(detector, tmp_path / "test.csv", tmp_path / "whole.csv", piece_bytes=10**9)
    detect_file(detector, tmp_path / "test.csv", tmp_path / "pieces.csv", piece_bytes=10_000)
    whole, pieces = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "pieces.csv")
    assert "dropped identifier" not in capsys.readouterr().err
    assert list(pieces["id"]) == list(whole["id"]) and pieces["id"].iat[1499] == 1499
    assert pieces["id"].iat[0] == 7 and pieces["id"].iat[1999] == 19997
    # a corrupt id in a later piece: a malformed record there as in the whole file, not a crash
    lines[1800] = "x" + lines[1800]
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    detect_file(detector, tmp_path / "test.csv", tmp_path / "whole.csv", piece_bytes=10**9)
    detect_file(detector, tmp_path / "test.csv", tmp_path / "pieces.csv", piece_bytes=10_000)
    whole, pieces = (pd.read_csv(tmp_path / name, keep_default_na=False) for name in ("whole.csv", "pieces.csv"))
    assert whole[["id", "error"]].equals(pieces[["id", "error"]]) and pieces["id"].iat[1799] == 1799
    assert "record id 'x17997' is not an integer" in pieces["error"].iat[1799]
    # a piece with no integer id at all where those before had them: an error that says where
    lines[1700:1800] = ["x" + line for line in lines[1700:1800]]
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"test.csv: the record ids change kind: on lines \d+-\d+ they are text"):
        detect_file(detector, tmp_path / "test.csv", tmp_path / "pieces.csv", piece_bytes=2_000)


def test_a_header_less_table_never_opens_a_piece_with_a_line_that_could_not_open_the_file(tmp_path):
    """A piece of a header-less table (NSL-KDD) is read as a file of its own, whose first record sets
    the format. A comment, a short record, a line that starts like UTF-16 text or a blank line at a
    piece's start stays with the piece before, where it is one malformed record, as read whole; a
    NUL run in a record and a label the format does not know do not stop the run either."""
    from deepsentry.detection.batch import detect_file, load_detector
    from deepsentry.flows.readers import _cut

    kdd = dataset_path("network", "nsl-kdd", "KDDTest+.txt").read_bytes().splitlines(keepends=True)
    (tmp_path / "train.txt").write_bytes(b"".join(kdd[:1500]))
    assert main(["train", "flows", "--data", str(tmp_path / "train.txt"), "--out", str(tmp_path / "m"),
                 "--model", "seed", "--epochs", "1", "--no-onnx"]) == 0
    lines = kdd[2000:3200]
    lines[40] = lines[40].replace(b",0.00,", b",0.\x00\x00\x00,", 1)
    lines[90] = lines[90].replace(b"normal", b"zeroday").replace(b"neptune", b"zeroday")
    path = tmp_path / "big.txt"
    for bad in (b"# a comment\n", b"0,tcp,http\n", b"\xff\xfe0,tcp\n", b"\n"):
        path.write_bytes(b"".join(lines))
        # the old cut: insert the line where the next piece would begin
        opening = sum(piece.text.count(b"\n") for piece in list(_cut(path, False, 20_000))[:2])
        lines.insert(opening, bad)
    path.write_bytes(b"".join(lines))
    detector = load_detector(tmp_path / "m")
    _, whole = detect_file(detector, path, tmp_path / "whole.csv", piece_bytes=10**9)
    none, pieces = detect_file(detector, path, tmp_path / "pieces.csv", piece_bytes=20_000)
    assert none is None
    a, b = (pd.read_csv(tmp_path / name, keep_default_na=False) for name in ("whole.csv", "pieces.csv"))
    assert len(b) == 1203 and whole.malformed_rows == pieces.malformed_rows == 3  # the blank line is no record
    for column in ("id", "alert", "predicted", "error"):
        assert a[column].tolist() == b[column].tolist(), column
    assert sorted(whole.examples) == sorted(pieces.examples)
    # the same records with a header (Kaggle's copies of NSL-KDD): the header leads every piece
    from deepsentry.flows.formats import NSL_KDD_COLUMNS

    clean = kdd[2000:3200]
    (tmp_path / "plain.txt").write_bytes(b"".join(clean))
    (tmp_path / "headed.csv").write_bytes(",".join([*NSL_KDD_COLUMNS, "attack", "level"]).encode() + b"\n"
                                          + b"".join(clean))
    detect_file(detector, tmp_path / "plain.txt", tmp_path / "plain.csv", piece_bytes=10**9)
    detect_file(detector, tmp_path / "headed.csv", tmp_path / "headed_pieces.csv", piece_bytes=20_000)
    assert (tmp_path / "plain.csv").read_text() == (tmp_path / "headed_pieces.csv").read_text()


def test_a_compressed_table_is_cut_into_pieces_as_it_is_decompressed(trained, tmp_path):
    import gzip

    from deepsentry.core.errors import InputError
    from deepsentry.detection.batch import detect_file, load_detector

    root, model = trained
    text = synthetic_flows(n=3000, seed=9).to_csv(index=False).encode()
    (tmp_path / "big.csv").write_bytes(text)
    (tmp_path / "big.csv.gz").write_bytes(gzip.compress(text))
    detector = load_detector(model)
    detect_file(detector, tmp_path / "big.csv", tmp_path / "plain.csv", piece_bytes=10**9)
    assert (tmp_path / "big.csv.gz").stat().st_size < 60_000 < len(text)
    frame, _ = detect_file(detector, tmp_path / "big.csv.gz", tmp_path / "pieces.csv", piece_bytes=60_000)
    assert frame is None  # read in pieces, though the compressed file is smaller than one
    plain, pieces = pd.read_csv(tmp_path / "plain.csv"), pd.read_csv(tmp_path / "pieces.csv")
    assert list(pieces["id"]) == list(range(3000)) and list(pieces["alert"]) == list(plain["alert"])
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(text)[:15_000])  # its records before the cut are kept
    _, summary = detect_file(detector, tmp_path / "cut.csv.gz", tmp_path / "cut.csv", piece_bytes=20_000)
    cut = pd.read_csv(tmp_path / "cut.csv", keep_default_na=False)
    assert 0 < len(cut) - 1 < 3000 and list(cut["id"]) == list(range(len(cut))) and summary.malformed_rows == 1
    assert list(cut["alert"][:-1]) == list(plain["alert"][:len(cut) - 1])
    assert cut["error"].iat[-1].startswith("file ends early or is corrupt")
    (tmp_path / "head.csv.gz").write_bytes(gzip.compress(text)[:12])  # not one whole line: refused
    with pytest.raises(InputError, match="head.csv.gz: cannot"):
        detect_file(detector, tmp_path / "head.csv.gz", tmp_path / "head.csv", piece_bytes=20_000)
    assert not (tmp_path / "head.csv").exists()


def test_a_library_caller_without_logging_set_up_sees_the_file_named_once(trained, tmp_path):
    """With no logging handler (a library caller's script), warnings go through logging's last
    resort: they too name the file, not the temporary piece, and only the first piece's are shown."""
    root, model = trained
    synthetic_flows(n=3000, seed=9).to_csv(tmp_path / "big.csv", index=False)
    code = ("from deepsentry.detection.batch import detect_file, load_detector; "
            f"detect_file(load_detector({str(model)!r}), {str(tmp_path / 'big.csv')!r}, "
            f"{str(tmp_path / 'out.csv')!r}, piece_bytes=20_000)")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "deepsentry-piece-" not in err
    assert err.count(f"{tmp_path / 'big.csv'}: dropped identifier column(s) src_ip") == 1


@pytest.fixture(scope="module")
def eve_model(tmp_path_factory):
    """(events, eve.json, model): an autoencoder trained on eve.json's flow events."""
    from test_readers import eve_training_lines

    events = eve_training_lines()
    folder = tmp_path_factory.mktemp("eve")
    eve = folder / "eve.json"
    eve.write_text("\n".join(events) + "\n")
    model = folder / "model"
    assert main(["train", "flows", "--data", str(eve), "--model", "autoencoder", "--epochs", "2",
                 "--out", str(model)]) == 0
    return events, eve, model


def test_suricata_eve_json_trains_and_scores_its_flow_events(eve_model, tmp_path, capsys):
    """An autoencoder learns eve.json's flows; detect writes one row per event (the others with
    why they were not scored), ids are Suricata's flow_id, and alerts name the flow's endpoints
    from src_ip/dest_ip (dest_ip was not an ECS field); a file without TCP flows scores too."""
    events, eve, model = eve_model
    assert json.loads((model / "manifest.json").read_text())["flow_format"] == "suricata-eve"
    out, alerts = tmp_path / "p.csv", tmp_path / "alerts.jsonl"
    assert main(["detect", "--model", str(model), str(eve), "--out", str(out), "--alerts", str(alerts)]) == 0
    predictions = pd.read_csv(out, keep_default_na=False)
    assert len(predictions) == len(events)
    assert predictions["error"].iloc[2] == "a dns event, not a flow record (event_type is not 'flow')"
    assert predictions["id"].iloc[0] == 1001 and predictions["score"].iloc[2] == ""
    written = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert written and all(a["destination"]["ip"] == "192.0.2.1" and a["destination"]["port"] in (53, 443)
                           and a["source"]["ip"].startswith("10.0.0.") for a in written)
    udp = tmp_path / "udp.json"
    udp.write_text("\n".join(e for e in events if '"proto": "UDP"' in e and '"flow"' in e) + "\n")
    capsys.readouterr()
    assert main(["detect", "--model", str(model), str(udp), "--out", str(tmp_path / "u.csv")]) == 0
    assert "read as missing values" in " ".join(capsys.readouterr().err.split())
    # watch flows follows eve.json as Suricata writes it: the same alerts as detect's, in order
    watched = tmp_path / "watched.jsonl"
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(watched), str(eve), "--once"]) == 0
    assert f"flows {len(predictions) - 80}, alerts {len(written)}, not scored 80" in capsys.readouterr().err
    again = [json.loads(line) for line in watched.read_text().splitlines()]
    assert [a["deepsentry"]["record_id"] for a in again] == [a["deepsentry"]["record_id"] for a in written]
    np.testing.assert_allclose([a["deepsentry"]["score"] for a in again],
                               [a["deepsentry"]["score"] for a in written], rtol=1e-5)
    assert again[0]["destination"] == written[0]["destination"]
    # --from-end: only what is written from now on (here: nothing, so no alert)
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "none.jsonl"), str(eve),
                 "--from-end", "--max-seconds", "0"]) == 0
    assert "flows 0, alerts 0" in capsys.readouterr().err


def test_watch_flows_on_a_flow_log_survives_restarts_kills_and_rotation(eve_model, tmp_path, capsys):
    """A restart goes on from the checkpoint: the records already scored are not scored again,
    the row ids go on; alerts written after the checkpoint (a kill before it was saved) are not
    written twice; lines written to a log rotated while no one watched are read from the
    rotated file first. The alerts equal those of one detect over all the lines."""
    import shutil

    from deepsentry.core.errors import ConfigError
    from deepsentry.detection.batch import load_detector
    from deepsentry.detection.watch_flows import watch_flow_log, watch_flows

    events, training, model = eve_model
    expected = tmp_path / "expected.jsonl"
    assert main(["detect", "--model", str(model), str(training), "--alerts", str(expected),
                 "--out", str(tmp_path / "p.csv")]) == 0
    expected_ids = [json.loads(line)["deepsentry"]["record_id"] for line in expected.read_text().splitlines()]
    assert len(expected_ids) > 3
    detector = load_detector(model, keras_model=False)
    log, alerts, state = tmp_path / "eve.json", tmp_path / "alerts.jsonl", tmp_path / "state"
    # four parts with alerts in each (the flows of the autoencoder's tail)
    alerted = [i for i, e in enumerate(events) if json.loads(e).get("flow_id") in set(expected_ids)
               and json.loads(e)["event_type"] == "flow"]
    cuts = [alerted[0] + 1, alerted[len(alerted) // 2] + 1, alerted[-1]]
    parts = [events[:cuts[0]], events[cuts[0]:cuts[1]], events[cuts[1]:cuts[2]], events[cuts[2]:]]

    def watch():
        return watch_flow_log(detector, log, alerts=alerts, state_dir=state, max_seconds=0, poll_s=0.01)

    log.write_text("\n".join(parts[0]) + "\n")
    first = watch()
    with log.open("a") as handle:
        handle.write("\n".join(parts[1]) + "\n")
    checkpoint = (state / "watch-flows-state.json").read_text()
    second = watch()
    assert first["flows"] + second["flows"] == sum('"event_type": "flow"' in e for e in events[:cuts[1]])
    # a kill after the second look's alerts were written, before its checkpoint was: it is read
    # again, and its alerts are not written twice
    (state / "watch-flows-state.json").write_text(checkpoint)
    again = watch()
    assert again["flows"] == second["flows"] and again["alerts"] == 0
    assert second["alerts"] > 0 and again.get("repeats skipped", 0) == second["alerts"]
    # rotated and grown while no one watched: the rest of the old file comes first
    with log.open("a") as handle:
        handle.write("\n".join(parts[2]) + "\n")
    shutil.move(log, tmp_path / "eve.json.1")
    log.write_text("\n".join(parts[3]) + "\n")
    watch()
    got = [json.loads(line)["deepsentry"]["record_id"] for line in alerts.read_text().splitlines()]
    assert got == expected_ids
    # the CLI keeps a checkpoint beside an alerts file by default: a second run has nothing new
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "cli.jsonl"), str(log),
                 "--once"]) == 0
    assert (tmp_path / "cli.state" / "watch-flows-state.json").exists()
    capsys.readouterr()
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "cli.jsonl"), str(log),
                 "--once"]) == 0
    assert "flows 0, alerts 0" in capsys.readouterr().err
    # a checkpoint folder given for a capture is refused (traffic is metered from its first packet)
    capture = tmp_path / "c.pcap"
    capture.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    with pytest.raises(ConfigError, match="checkpoint folder applies to flow logs"):
        watch_flows(detector, str(capture), alerts=alerts, state_dir=state, once=True)
