"""The detection service, explanations and ECS alerts (issue 7)."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import synthetic_flows
from deepsentry.cli import main
from deepsentry.core.errors import ConfigError, InputError
from deepsentry.detection.batch import load_detector
from deepsentry.detection.explain import explain, integrated_gradients
from deepsentry.service.auth import check_listen, load_or_create_token

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("svc")
    synthetic_flows(800, seed=3).to_csv(root / "train.csv", index=False)
    model = root / "flowmodel"
    assert main(["train", "flows", "--data", str(root / "train.csv"), "--out", str(model), "--label-column",
                 "label", "--benign-label", "normal", "--epochs", "4"]) == 0
    assert (model / "model.onnx").exists()
    return model


@pytest.fixture(scope="module")
def client(bundle, tmp_path_factory):
    from fastapi.testclient import TestClient

    from deepsentry.service.app import ServiceConfig, create_app

    sink = tmp_path_factory.mktemp("alerts") / "alerts.jsonl"
    app = create_app(ServiceConfig(models={"nsl": str(bundle)}, token=TOKEN, max_body_bytes=200_000,
                                   alert_sink=str(sink)))
    test_client = TestClient(app)
    test_client.sink = sink
    return test_client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def records(n: int = 20, seed: int = 9) -> list[dict]:
    frame = synthetic_flows(n, seed=seed).drop(columns="label")
    return json.loads(frame.to_json(orient="records"))


# -- REST API --------------------------------------------------------------------------------------
def test_detect_answers_every_record_in_order_like_the_batch_path(client, bundle):
    batch = records(50)
    response = client.post("/v1/models/nsl/detect", json=batch, headers=auth())
    assert response.status_code == 200
    answer = response.json()
    assert len(answer) == 50 and set(answer[0]) >= {"score", "alert", "predicted"}
    detector = load_detector(bundle)
    expected = detector.score_samples(pd.DataFrame(batch))
    np.testing.assert_allclose([a["score"] for a in answer], expected, atol=1e-4)
    csv_body = pd.DataFrame(batch).to_csv(index=False)
    as_csv = client.post("/v1/models/nsl/detect", content=csv_body, headers={**auth(), "Content-Type": "text/csv"})
    assert as_csv.status_code == 200
    np.testing.assert_allclose([a["score"] for a in as_csv.json()], expected, atol=1e-4)
    # delimited as files are: semicolons (a European spreadsheet's CSV), tabs
    for sep, decimal in ((";", "."), ("\t", "."), (";", ",")):  # and decimal commas, as such a sheet writes
        body = pd.DataFrame(batch).to_csv(index=False, sep=sep, decimal=decimal)
        other = client.post("/v1/models/nsl/detect", content=body, headers={**auth(), "Content-Type": "text/csv"})
        assert other.status_code == 200
        np.testing.assert_allclose([a["score"] for a in other.json()], expected, atol=1e-4)
    # a repeated column name: the first one is the feature, as when detect reads the file
    repeated = pd.DataFrame(batch).assign(duration_again=1e6)
    body = repeated.to_csv(index=False).replace("duration_again", "duration", 1)
    twice = client.post("/v1/models/nsl/detect", content=body, headers={**auth(), "Content-Type": "text/csv"})
    np.testing.assert_allclose([a["score"] for a in twice.json()], expected, atol=1e-4)
    # JSON lines, as log shippers' HTTP outputs send them (blank lines between records are no records)
    lines = "\n".join(json.dumps(r) for r in batch[:10]) + "\n\n" + "\n".join(json.dumps(r) for r in batch[10:])
    as_lines = client.post("/v1/models/nsl/detect", content=lines,
                           headers={**auth(), "Content-Type": "application/x-ndjson"})
    assert as_lines.status_code == 200
    np.testing.assert_allclose([a["score"] for a in as_lines.json()], expected, atol=1e-4)
    cut = client.post("/v1/models/nsl/detect", content=lines.replace(json.dumps(batch[11]), '{"dur": '),
                      headers={**auth(), "Content-Type": "application/x-ndjson"})
    assert cut.status_code == 400 and cut.json()["error"]["record"] == 11
    assert cut.json()["error"]["message"].startswith("line 13 is not valid JSON (")
    sent_as_json = client.post("/v1/models/nsl/detect", content=lines, headers={**auth(), "Content-Type": "application/json"})
    assert sent_as_json.status_code == 400 and "application/x-ndjson" in sent_as_json.json()["error"]["hint"]


def test_without_a_sink_the_page_keeps_the_latest_alerts_numbered_from_the_start(bundle):
    from fastapi.testclient import TestClient

    from deepsentry.service.app import ServiceConfig, create_app

    client = TestClient(create_app(ServiceConfig(models={"nsl": str(bundle)}, token=TOKEN, alerts_kept=5)))
    answer = client.post("/v1/models/nsl/detect", json=records(200, seed=21), headers=auth()).json()
    flagged = sum(a["alert"] for a in answer)
    assert flagged > 5
    alerts = client.get("/v1/alerts?since=-1", headers=auth()).json()
    assert len(alerts["alerts"]) == 5 and alerts["last_id"] == flagged - 1
    assert [a["id"] for a in alerts["alerts"]] == list(range(flagged - 5, flagged))
    assert alerts["evicted"] == flagged - 5 and not alerts["more"]  # the gap is said, not hidden
    assert alerts["counts"]["nsl"] == flagged  # the metrics count every alert, kept or not
    # the kept alerts are built when asked for, from the request's records and scores
    rows = [i for i, a in enumerate(answer) if a["alert"]][-5:]
    assert [a["deepsentry"]["record_id"] for a in alerts["alerts"]] == rows
    assert [a["deepsentry"]["score"] for a in alerts["alerts"]] == pytest.approx([answer[i]["score"] for i in rows], abs=1e-5)
    assert [a["deepsentry"]["predicted"] for a in alerts["alerts"]] == [answer[i]["predicted"] for i in rows]
    batch = records(40, seed=22)
    csv = client.post("/v1/models/nsl/detect", content=pd.DataFrame(batch).to_csv(index=False),
                      headers={**auth(), "Content-Type": "text/csv"}).json()
    more = sum(a["alert"] for a in csv)
    after = client.get(f"/v1/alerts?since={alerts['last_id']}", headers=auth()).json()["alerts"]
    assert [a["id"] for a in after] == list(range(flagged + max(more - 5, 0), flagged + more))
    last = max(i for i, a in enumerate(csv) if a["alert"])
    assert after[-1]["deepsentry"]["record_id"] == last and after[-1]["destination"]["port"] == int(batch[last]["dst_port"])


def test_requests_without_a_valid_token_never_reach_a_model(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}):
        for method, url in (("post", "/v1/models/nsl/detect"), ("get", "/v1/models"), ("get", "/v1/alerts"),
                            ("post", "/v1/models/nsl/scan")):
            response = getattr(client, method)(url, headers=headers, **({"json": records(1)} if method == "post" else {}))
            assert response.status_code == 401, (url, headers)
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200  # liveness stays open


def test_a_poller_pages_through_a_burst_of_alerts_without_a_gap(bundle):
    from fastapi.testclient import TestClient

    from deepsentry.service.app import ServiceConfig, create_app

    client = TestClient(create_app(ServiceConfig(models={"nsl": str(bundle)}, token=TOKEN)))
    answer = client.post("/v1/models/nsl/detect", json=records(200, seed=21), headers=auth()).json()
    flagged = sum(a["alert"] for a in answer)
    assert flagged > 7
    seen, since, pages = [], -1, 0
    while True:  # what a SIEM connector does: ask from the last id until nothing more waits
        page = client.get(f"/v1/alerts?since={since}&limit=3", headers=auth()).json()
        seen += [a["id"] for a in page["alerts"]]
        since, pages = page["last_id"], pages + 1
        if not page["more"]:
            break
    assert seen == list(range(flagged)) and pages == -(-flagged // 3) and page["evicted"] == 0
    latest = client.get("/v1/alerts?since=-1&limit=3&tail=true", headers=auth()).json()  # the live page
    assert [a["id"] for a in latest["alerts"]] == list(range(flagged - 3, flagged)) and latest["last_id"] == flagged - 1


@pytest.mark.parametrize("field, value, message", [
    ("max_body_bytes", -1, r"max_body_bytes must be in \[1, inf\); got -1"),
    ("explain", 60, r"explain must be in \[0, 50\]; got 60"),
    ("scan_timeout_s", 0.0, r"scan_timeout_s must be in \(0.0, inf\)"),
    ("alerts_kept", "500", "alerts_kept must be an integer"),
])
def test_service_limits_are_checked_before_serving(field, value, message):
    from deepsentry.core.errors import ConfigError
    from deepsentry.service.app import ServiceConfig

    with pytest.raises(ConfigError, match=message):
        ServiceConfig(models={}, token=None, **{field: value})


def test_invalid_parameters_answer_in_the_service_error_shape(client):
    response = client.post("/v1/models/nsl/detect?explain=-1", json=records(1), headers=auth())
    assert response.status_code == 422
    assert response.json() == {"error": {"type": "InputError", "field": "explain",
                                         "message": "explain: Input should be greater than or equal to 0"}}
    unknown = client.get("/v1/nothing", headers=auth())
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
    wrong = client.get("/v1/models/nsl/detect", headers=auth())
    assert wrong.status_code == 405 and wrong.json()["error"]["message"] == "GET /v1/models/nsl/detect: Method Not Allowed"
    assert "POST" in wrong.headers["allow"]


def test_bad_records_too_large_bodies_and_unknown_models(client):
    bad = records(3)
    bad[2]["bytes"] = "lots"
    response = client.post("/v1/models/nsl/detect", json=bad, headers=auth())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["record"] == 2 and error["field"] == "bytes" and "not a number" in error["message"]
    csv = {**auth(), "Content-Type": "text/csv"}
    bad_csv = client.post("/v1/models/nsl/detect", content=pd.DataFrame(bad).to_csv(index=False), headers=csv)
    assert bad_csv.status_code == 400  # the columnar CSV path names the record and field too
    assert bad_csv.json()["error"]["record"] == 2 and bad_csv.json()["error"]["field"] == "bytes"
    partial = pd.DataFrame(records(3)).drop(columns=["bytes"])
    as_json = client.post("/v1/models/nsl/detect", json=json.loads(partial.to_json(orient="records")), headers=auth())
    as_csv = client.post("/v1/models/nsl/detect", content=partial.to_csv(index=False), headers=csv)
    assert as_json.status_code == as_csv.status_code == 200  # an absent field is a missing value either way
    np.testing.assert_allclose([a["score"] for a in as_csv.json()], [a["score"] for a in as_json.json()], atol=1e-6)
    assert client.post("/v1/models/nsl/detect", content=b"{not json", headers=auth()).status_code == 400
    assert client.post("/v1/models/nsl/detect", json=[1, 2], headers=auth()).status_code == 400
    enveloped = client.post("/v1/models/nsl/detect", json={"records": records(2)}, headers=auth())
    assert enveloped.status_code == 400 and "holding an array under 'records'" in enveloped.json()["error"]["message"]
    one = client.post("/v1/models/nsl/detect", json=records(1)[0], headers=auth())
    assert one.status_code == 200 and len(one.json()) == 1  # a single object is one record
    big = client.post("/v1/models/nsl/detect", json=records(3000), headers=auth())
    assert big.status_code == 413 and big.json()["error"]["type"] == "too_large"
    missing = client.post("/v1/models/nope/detect", json=records(1), headers=auth())
    assert missing.status_code == 404 and missing.json()["error"]["models"] == ["nsl"]


def test_alerts_metrics_models_and_openapi(client):
    batch = records(200, seed=21)
    answer = client.post("/v1/models/nsl/detect?explain=3", json=batch, headers=auth()).json()
    flagged = [a for a in answer if a["alert"]]
    assert flagged and all(len(a["explanation"]) == 3 for a in flagged)
    alerts = client.get("/v1/alerts?since=-1", headers=auth()).json()
    assert alerts["counts"]["nsl"] >= len(flagged) and alerts["alerts"]
    latest = alerts["alerts"][-1]
    assert latest["event"]["kind"] == "alert" and latest["rule"]["name"].startswith("deepsentry/nsl")
    written = [json.loads(line) for line in client.sink.read_text().splitlines()]
    assert len(written) >= len(flagged) and written[-1]["@timestamp"]
    health = client.get("/healthz").json()["alert_sink"]
    assert health["written"] == len(written) and health["undelivered"] == 0 and health["last_error"] is None
    metrics = client.get("/metrics").text
    assert 'deepsentry_requests_total{endpoint="detect",model="nsl",status="200"}' in metrics
    assert "deepsentry_request_seconds_bucket" in metrics and "deepsentry_alerts_total" in metrics
    models = client.get("/v1/models", headers=auth()).json()
    assert models[0]["name"] == "nsl" and models[0]["backend"] == "onnxruntime"
    spec = client.get("/openapi.json").json()
    assert "/v1/models/{name}/detect" in spec["paths"]
    assert "text/csv" in spec["paths"]["/v1/models/{name}/detect"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "/v1/alerts" in page.text


def test_service_runs_without_tensorflow(bundle):
    code = ("import sys; from deepsentry.service.app import ServiceConfig, create_app; "
            f"app = create_app(ServiceConfig(models={{'m': {str(bundle)!r}}}, token=None)); "
            "from fastapi.testclient import TestClient; import json; "
            "r = TestClient(app).post('/v1/models/m/detect', json=[{'bytes': 10}]); "
            "assert r.status_code == 200, r.text; "
            "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# -- token and listening rules ---------------------------------------------------------------------
def test_token_file_is_private_and_stable(tmp_path):
    path = tmp_path / "cfg" / "token"
    token = load_or_create_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_or_create_token(path) == token
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_or_create_token(path)
    with pytest.raises(ConfigError, match="refusing to listen"):
        check_listen("0.0.0.0", None)
    check_listen("127.0.0.1", None)
    check_listen("0.0.0.0", token)
    assert main(["serve", "--model", str(tmp_path), "--host", "0.0.0.0", "--no-auth"]) == 2


def test_served_model_names_are_url_path_segments(tmp_path):
    from deepsentry.service.app import ServiceConfig, model_paths

    assert model_paths(["a=x/m", "x/pe"]) == {"a": "x/m", "pe": "x/pe"}
    odd = tmp_path / "runs=3" / "nsl"
    odd.mkdir(parents=True)
    assert model_paths([str(odd)]) == {"nsl": str(odd)}  # an existing path is taken whole, '=' or not
    with pytest.raises(ConfigError, match="two models are named 'm'"):
        model_paths(["m=a", "m=b"])
    for name in ("", "a b", "../x", "é"):
        with pytest.raises(ConfigError, match="cannot name a URL path"):
            ServiceConfig(models={name: "x"}, token=None)
    assert main(["serve", "--model", "=x", "--no-auth"]) == 2


def test_a_port_in_use_is_refused_before_the_service_says_it_listens(bundle, capsys):
    from deepsentry.service.app import listening_socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--model", str(bundle), "--no-auth", "--port", str(port)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in err and "serving" not in err
    with listening_socket("127.0.0.1", 0) as picked:  # port 0: the one the system picked is known
        assert picked.getsockname()[1] > 0
    with pytest.raises(ConfigError, match="cannot listen on 'no-such-host.invalid'"):
        listening_socket("no-such-host.invalid", 0)


# -- explanations and alerts from detect -----------------------------------------------------------
def test_integrated_gradients_are_complete(bundle):
    detector = load_detector(bundle)
    frame = synthetic_flows(30, seed=4).drop(columns="label")
    features = detector.transform(frame)
    score = detector.score_function()
    baseline = detector.preprocessor_.baseline()
    for row in features[:5]:
        attributions = integrated_gradients(score, row, baseline, steps=64)
        gap = score(row[None, :])[0] - score(baseline[None, :])[0]
        # completeness: attributions sum to the score difference (up to path discretisation)
        assert attributions.sum() == pytest.approx(gap, abs=0.05 * abs(gap) + 0.05)
    told = []

    class Recorder:  # explanations take ~10 ms each: a long detect --explain shows its progress
        def start(self, description, total):
            told.append((description, total))

        def advance(self, **info):
            told.append("row")

        def finish(self):
            told.append("done")

    why = explain(detector, features[:2], frame.iloc[:2].to_dict("records"), top=3, progress=Recorder())
    assert len(why) == 2 and len(why[0]) == 3
    assert {w["field"] for w in why[0]} <= set(frame.columns)
    assert told == [("explaining alerts", 2), "row", "row", "done"]


def test_detect_explain_and_ecs_alerts(bundle, tmp_path):
    frame = synthetic_flows(300, seed=8)  # src_ip is an identifier: dropped from features, kept for alerts
    frame.to_csv(tmp_path / "flows.csv", index=False)
    out, alerts = tmp_path / "preds.jsonl", tmp_path / "alerts.jsonl"
    assert main(["detect", "--model", str(bundle), str(tmp_path / "flows.csv"), "--out", str(out),
                 "--explain", "2", "--alerts", str(alerts)]) == 0
    preds = pd.read_json(out, lines=True)
    flagged = preds[preds["alert"] == 1]
    assert len(flagged) and all(len(json.loads(e)) == 2 for e in flagged["explanation"])
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert len(lines) == len(flagged)
    first = lines[0]
    assert first["event"]["kind"] == "alert" and first["source"]["ip"].startswith("10.0.")
    assert 0 <= first["event"]["risk_score"] <= 100 and first["deepsentry"]["explanation"]


def test_alerts_are_never_appended_to_a_served_bundle(bundle):
    from deepsentry.service.app import ServiceConfig, create_app

    before = (bundle / "manifest.json").read_bytes()
    with pytest.raises(InputError, match="the output is the input file"):
        create_app(ServiceConfig(models={"nsl": str(bundle)}, token=None, alert_sink=str(bundle / "manifest.json")))
    assert (bundle / "manifest.json").read_bytes() == before


# -- the live page in a real browser ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_live_page_shows_alerts_in_headless_chromium(bundle, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    server, port, token = _start(bundle, tmp_path)
    try:
        import httpx

        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                              "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/#token={token}")
            page.wait_for_selector("#status:has-text('live')", timeout=15000)
            assert page.locator("#alerts tr").count() == 0
            batch = records(300, seed=21)
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/nsl/detect?explain=2", json=batch,
                                headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
            n_alerts = sum(a["alert"] for a in answer)
            assert n_alerts > 0
            page.wait_for_function(f"document.querySelectorAll('#alerts tr').length >= {min(n_alerts, 100)}",
                                   timeout=15000)
            assert "nsl" in page.locator("#counts").inner_text()
            # explanations shown (the service explains the first 100 alerts of a request)
            assert page.locator("#alerts td.why", has_text="(").count() >= 1
            assert "#token" not in page.url  # the token leaves the address bar
            page.screenshot(path=str(tmp_path / "page.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode in (0, -15)  # graceful shutdown on SIGTERM


def _start(bundle: Path, tmp_path: Path) -> tuple[subprocess.Popen, int, str]:
    import httpx

    port = _free_port()
    token_file = tmp_path / "token"
    server = subprocess.Popen([sys.executable, "-m", "deepsentry.cli", "serve", "--model", f"nsl={bundle}",
                               "--port", str(port), "--token-file", str(token_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server, port, token_file.read_text().strip()
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise AssertionError("the server did not start")


def test_schemathesis_finds_no_server_errors(bundle, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    if not exe.exists():
        pytest.skip("schemathesis is not installed")
    server, port, token = _start(bundle, tmp_path)
    try:
        result = subprocess.run([str(exe), "run", f"http://127.0.0.1:{port}/openapi.json", "--checks",
                                 "not_a_server_error", "-H", f"Authorization: Bearer {token}",
                                 "--max-examples", "25", "--seed", "1"],
                                capture_output=True, text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "passed" in result.stdout


@pytest.mark.parametrize("config", [dict(model="hybrid"), dict(model="mlp", ensemble=2, ple_bins=8),
                                    dict(model="hybrid", ple_bins=8),
                                    dict(model="seed"), dict(model="autoencoder")])
def test_onnx_outputs_equal_keras_outputs(tmp_path, config):
    from deepsentry.core.onnx import export_onnx, onnx_runner
    from deepsentry.core.tabular import DetectorConfig, TabularDetector

    data = synthetic_flows(400, seed=5)
    labels = data.pop("label").to_numpy()
    detector = TabularDetector(DetectorConfig(epochs=2, seed=0, **config)).fit(data, labels)
    detector.save(tmp_path / "m")
    export_onnx(detector, tmp_path / "m")
    features = detector.transform(synthetic_flows(300, seed=6).drop(columns="label"))
    keras_out = TabularDetector.load(tmp_path / "m").raw_outputs(features)
    onnx_out = onnx_runner((tmp_path / "m" / "model.onnx").read_bytes())(features)
    assert set(keras_out) == set(onnx_out)
    for name in keras_out:
        np.testing.assert_allclose(onnx_out[name], keras_out[name], rtol=1e-5, atol=1e-5)
    # one row runs through bound buffers: same outputs, and each answer is its own array
    runner = onnx_runner((tmp_path / "m" / "model.onnx").read_bytes())
    answers = [runner(features[i:i + 1]) for i in range(5)]
    for i, answer in enumerate(answers):
        for name in onnx_out:
            np.testing.assert_allclose(answer[name], onnx_out[name][i:i + 1], rtol=1e-6, atol=1e-6)


def test_logs_models_answer_sequences_and_refuse_flow_records(tmp_path, bundle):
    from fastapi.testclient import TestClient

    from deepsentry.logs.detector import LogConfig, LogSequenceDetector
    from deepsentry.service.app import ServiceConfig, create_app

    sequences = [["open", "read", "close"]] * 40 + [["open", "write", "close"]] * 40
    LogSequenceDetector(LogConfig(epochs=1, window=2)).fit(sequences).save(tmp_path / "logs")
    app = create_app(ServiceConfig(models={"logs": str(tmp_path / "logs"), "nsl": str(bundle)}, token=None))
    client = TestClient(app)
    response = client.post("/v1/models/logs/detect", json=[{"a": 1}])
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "not a sequence of event ids"
    assert response.json()["error"]["record"] == 0
    answer = client.post("/v1/models/logs/detect", json=[["open", "read", "close"]]).json()
    assert [(a["id"], a["events"], a["predicted"] in ("normal", "anomalous")) for a in answer] == [("0", 3, True)]
    alone = client.post("/v1/models/logs/detect", json={"events": ["open", "read", "close"]})
    assert alone.status_code == 200 and alone.json()[0]["events"] == 3  # one object is one sequence
    enveloped = client.post("/v1/models/logs/detect", json={"sequences": [["open", "read"]]})
    assert enveloped.status_code == 400 and "send the array itself" in enveloped.json()["error"]["hint"]
    assert client.post("/v1/models/nsl/detect", json=records(2)).status_code == 200
    assert [m["kind"] for m in client.get("/v1/models").json()] == ["logs", "flows"]


def test_records_in_another_cicflowmeter_spelling_score_as_in_the_trained_one(tmp_path):
    # trained on CIC-IDS2017 improved names; a client sends CICFlowMeter-V4 names (JSON and CSV)
    from deepsentry.flows import FlowDetector
    from deepsentry.core.tabular import DetectorConfig

    rng = np.random.default_rng(3)
    n = 300
    attack = rng.random(n) < 0.4
    frame = pd.DataFrame({"Flow Duration": rng.lognormal(10, 2, n), "Total Fwd Packet": np.where(attack, 1, 9),
                          "Total Length of Fwd Packet": rng.lognormal(6, 1, n), "SYN Flag Count": attack.astype(int)})
    detector = FlowDetector(DetectorConfig(model="mlp", epochs=2, seed=0)).fit(frame, np.where(attack, "scan", "benign"),
                                                                              benign_labels=("benign",))
    v4 = frame.rename(columns={"Total Fwd Packet": "Tot Fwd Pkts", "Total Length of Fwd Packet": "TotLen Fwd Pkts",
                               "SYN Flag Count": "SYN Flag Cnt"})
    expected = detector.transform(frame)
    np.testing.assert_array_equal(detector.transform_records(v4.to_dict("records")), expected)
    import pyarrow as pa

    np.testing.assert_array_equal(detector.transform_table(pa.Table.from_pandas(v4)), expected)


def test_zeek_records_score_as_the_same_log_read_from_a_file(tmp_path):
    """A Zeek model takes a conn.log's TSV lines as a body, and Zeek's JSON records (which leave
    unset fields out); both score as `detect` scores the same records in a file."""
    from fastapi.testclient import TestClient

    from conftest import ZEEK_FIXTURE, synthetic_zeek_conn
    from deepsentry.detection.batch import score_file
    from deepsentry.service.app import ServiceConfig, create_app

    header, rows = synthetic_zeek_conn(300)
    (tmp_path / "train.log").write_text("\n".join(header + rows) + "\n")
    model = tmp_path / "zeek"
    assert main(["train", "flows", "--data", str(tmp_path / "train.log"), "--out", str(model), "--label-column",
                 "conn_state", "--benign-label", "SF", "--epochs", "2"]) == 0
    lines = ZEEK_FIXTURE.read_text().splitlines()
    whole = tmp_path / "conn.log"
    whole.write_text("\n".join(line for number, line in enumerate(lines, 1) if number != 12) + "\n")
    frame, _, _ = score_file(load_detector(model), whole)
    client = TestClient(create_app(ServiceConfig(models={"zeek": str(model)}, token=TOKEN)))
    answer = client.post("/v1/models/zeek/detect", content=whole.read_bytes(), headers=auth())
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose([a["score"] for a in answer.json()], frame["score"], rtol=1e-4, atol=1e-5)
    fields = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    as_json = [{k: v for k, v in zip(fields, line.split("\t")) if v not in ("-", "(empty)")}
               for line in whole.read_text().splitlines() if not line.startswith("#")]
    answer = client.post("/v1/models/zeek/detect", json=as_json, headers=auth())
    np.testing.assert_allclose([a["score"] for a in answer.json()], frame["score"], rtol=1e-4, atol=1e-5)
    broken = client.post("/v1/models/zeek/detect", content="\n".join(lines).encode(), headers=auth())
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "line 12: expected 21 fields, found 20"


def test_nested_json_records_score_as_the_same_json_lines_file(tmp_path):
    """A model trained on JSON lines with nested objects (read as ``tls.version`` columns) takes
    the same nested records as a request body; they were not flattened, so every nested field
    was scored as missing."""
    from fastapi.testclient import TestClient

    from deepsentry.detection.batch import score_file
    from deepsentry.service.app import ServiceConfig, create_app

    rng = np.random.default_rng(3)
    rows = []
    for _ in range(400):
        packets = int(rng.integers(1, 500))
        rows.append({"dur": float(rng.exponential()), "pkts": packets,
                     "tls": {"version": float(rng.choice([1.2, 1.3])), "sni": str(rng.choice(["a", "b", "c"]))},
                     "label": "attack" if packets > 350 else "normal"})
    (tmp_path / "train.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    model = tmp_path / "nested"
    assert main(["train", "flows", "--data", str(tmp_path / "train.jsonl"), "--out", str(model),
                 "--label-column", "label", "--epochs", "2"]) == 0
    new = [{**row, "tls": {**row["tls"], "version": 1.0 + i % 3 / 10}} for i, row in enumerate(rows[:30])]
    (tmp_path / "new.jsonl").write_text("\n".join(map(json.dumps, new)) + "\n")
    frame, _, _ = score_file(load_detector(model), tmp_path / "new.jsonl")
    client = TestClient(create_app(ServiceConfig(models={"nested": str(model)}, token=TOKEN)))
    answer = client.post("/v1/models/nested/detect", json=new, headers=auth())
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose([a["score"] for a in answer.json()], frame["score"], rtol=1e-4, atol=1e-5)
    flat = [{"dur": r["dur"], "pkts": r["pkts"], "tls.version": r["tls"]["version"], "tls.sni": r["tls"]["sni"]}
            for r in new]
    answer = client.post("/v1/models/nested/detect", json=flat, headers=auth())
    np.testing.assert_allclose([a["score"] for a in answer.json()], frame["score"], rtol=1e-4, atol=1e-5)


def test_suricata_eve_events_score_as_the_same_eve_json_file(tmp_path):
    """Nested eve.json flow events posted to a model trained on eve.json score as the file does;
    an event of another type (dns, as a log shipper forwards eve.json whole) is no flow: answered
    as skipped in its place, not scored as one, and alerts keep the request's record numbers."""
    from fastapi.testclient import TestClient
    from test_readers import eve_training_lines

    from deepsentry.detection.batch import score_file
    from deepsentry.service.app import ServiceConfig, create_app

    lines = eve_training_lines()
    (tmp_path / "eve.json").write_text("\n".join(lines) + "\n")
    model = tmp_path / "eve"
    assert main(["train", "flows", "--data", str(tmp_path / "eve.json"), "--out", str(model),
                 "--model", "autoencoder", "--epochs", "2"]) == 0
    flows = [line for line in lines[:70] if '"event_type": "flow"' in line]
    (tmp_path / "new.json").write_text("\n".join(flows) + "\n")
    frame, _, _ = score_file(load_detector(model), tmp_path / "new.json")
    client = TestClient(create_app(ServiceConfig(models={"eve": str(model)}, token=TOKEN)))
    answer = client.post("/v1/models/eve/detect", json=[json.loads(f) for f in flows], headers=auth())
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose([a["score"] for a in answer.json()], frame["score"], rtol=1e-4, atol=1e-5)
    mixed = [json.loads(line) for line in lines[:70]]  # flow, flow, dns, flow, stats, ...
    answer = client.post("/v1/models/eve/detect", json=mixed, headers=auth())
    assert answer.status_code == 200, answer.text
    items = answer.json()
    assert len(items) == len(mixed)
    assert items[2] == {"score": None, "alert": False, "predicted": None,
                        "skipped": "a dns event, not a flow record (event_type is not 'flow')"}
    flow_items = [item for item, record in zip(items, mixed) if record["event_type"] == "flow"]
    assert all("skipped" not in item for item in flow_items)
    np.testing.assert_allclose([item["score"] for item in flow_items], frame["score"], rtol=1e-4, atol=1e-5)
    # as JSON lines (a log shipper's body), the alerts numbered by the request's records
    ndjson = "\n".join(lines[:70]).encode()
    before = client.get("/v1/alerts", headers=auth()).json()["alerts"]
    client.post("/v1/models/eve/detect", content=ndjson, headers={**auth(), "Content-Type": "application/x-ndjson"})
    after = client.get("/v1/alerts", headers=auth()).json()["alerts"][len(before):]
    alerted = {i for i, item in enumerate(items) if item["alert"]}
    assert alerted and {a["deepsentry"]["record_id"] for a in after} == alerted
    only_other = client.post("/v1/models/eve/detect", json=[mixed[2]], headers=auth())
    assert only_other.status_code == 200 and only_other.json()[0]["skipped"]
