"""Packet captures: flow extraction, the portable feature set, detection on captures (issue 4)."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import dataset_path
from deepsentry.cli import main
from deepsentry.core.errors import ConfigError, InputError
from deepsentry.flows.capture import IDENTITY, NOT_A_CAPTURE, extract_flows, is_capture, safe_workers
from deepsentry.flows.portable import PORTABLE_FEATURES, portable_from_cic

nfstream = pytest.importorskip("nfstream")


@pytest.fixture(autouse=True)
def _nfstream_temp_files_stay_out_of_the_checkout(nfstream_cwd):
    """See conftest.nfstream_cwd."""


def captures() -> list:
    root = dataset_path("network", "pcaps")
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_every_shared_capture_yields_flows_like_nfstream():
    for path in captures():
        flows = extract_flows([path])
        table = flows.table
        assert list(table.columns[:9]) == IDENTITY and set(PORTABLE_FEATURES) <= set(table.columns)
        # nfstream's own defaults (its workers from a fork server too: Keras threads run in this process)
        reference = safe_workers(nfstream.NFStreamer(source=str(path))).to_pandas()
        assert len(table) == len(reference), path.name
        # both directions together; payload bytes never exceed the packets' link-layer bytes
        assert table["packets"].sum() == reference["bidirectional_packets"].sum()
        assert (table["bytes"].to_numpy() <= reference["bidirectional_bytes"].to_numpy()).all()
        assert (table["fwd_packets"] + table["bwd_packets"] == table["packets"]).all()
        assert (table["last_seen"] >= table["first_seen"]).all()


def test_nfstream_workers_never_fork_a_process_with_model_threads():
    """detect and watch load a model (TensorFlow / ONNX Runtime thread pools) before extracting;
    nfstream's meters must not be forked from that process (a fork can inherit a held lock)."""
    streamer = safe_workers(nfstream.NFStreamer(source=str(captures()[0])))
    assert streamer._mp_context.get_start_method() == "forkserver"
    assert len(streamer.to_pandas()) > 0


def test_bad_and_truncated_captures(tmp_path):
    good = dataset_path("network", "pcaps", "attack", "chrissanders_dosattack.pcap").read_bytes()
    (tmp_path / "notes.txt").write_text("not a capture")
    with pytest.raises(InputError, match="not a pcap"):
        extract_flows([tmp_path / "notes.txt"])
    (tmp_path / "header.pcap").write_bytes(good[:10])
    with pytest.raises(InputError, match="notes|capture|header|truncated"):
        extract_flows([tmp_path / "header.pcap"])
    (tmp_path / "cut.pcap").write_bytes(good[: len(good) // 2 + 7])
    cut = extract_flows([tmp_path / "cut.pcap"])
    full = extract_flows([dataset_path("network", "pcaps", "attack", "chrissanders_dosattack.pcap")])
    assert 0 < cut.table["packets"].sum() < full.table["packets"].sum()
    assert cut.report.malformed_rows == 1 and "ends in the middle" in str(cut.report.examples[0])
    assert is_capture(tmp_path / "cut.pcap") and not is_capture(tmp_path / "notes.txt")


def test_a_capture_piped_in_and_a_folder_without_captures(tmp_path, monkeypatch):
    import io
    import sys

    source = dataset_path("network", "pcaps", "attack", "chrissanders_dosattack.pcap")
    good = source.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(good[: len(good) // 2 + 7])))
    piped = extract_flows(["-"])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(good[: len(good) // 2 + 7])
    from_file = extract_flows([cut])
    pd.testing.assert_frame_equal(piped.features, from_file.features)
    assert piped.report.files == ["<stdin>"] and str(piped.report.examples[0]).startswith("<stdin>: packet")
    assert set(piped.table["capture"]) == {"stdin"}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a capture")))
    with pytest.raises(InputError, match="^<stdin>: not a pcap"):
        extract_flows(["-"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: folder holds no pcap or pcapng capture"):
        extract_flows([tmp_path / "empty"])
    # the other files of a folder are named, not passed over in silence
    (tmp_path / "empty" / "notes.txt").write_text("seen on the wire")
    (tmp_path / "empty" / "day").mkdir()
    (tmp_path / "empty" / "day" / "cut.pcap").write_bytes(cut.read_bytes())
    folder = extract_flows([tmp_path / "empty"])
    assert len(folder.table) == len(from_file.table) and folder.report.bad_values == {NOT_A_CAPTURE: 1}
    assert str(folder.report.examples[0]).endswith("notes.txt: not a pcap or pcapng capture; left out")


def test_gzip_compressed_captures(tmp_path):
    """A .pcap.gz reads as its capture; a cut compressed stream keeps the flows before the cut and
    says where the stream broke; compressed text is still not a capture."""
    import gzip

    source = dataset_path("network", "pcaps", "attack", "chrissanders_dosattack.pcap")
    packed = gzip.compress(source.read_bytes())
    (tmp_path / "dos.pcap.gz").write_bytes(packed)
    plain, compressed = extract_flows([source]), extract_flows([tmp_path / "dos.pcap.gz"])
    columns = [c for c in plain.table.columns if c != "capture"]
    pd.testing.assert_frame_equal(compressed.table[columns], plain.table[columns])
    assert is_capture(tmp_path / "dos.pcap.gz") and compressed.report.malformed_rows == 0
    (tmp_path / "cut.pcap.gz").write_bytes(packed[: len(packed) // 2])
    cut = extract_flows([tmp_path / "cut.pcap.gz"])
    assert 0 < cut.table["packets"].sum() < plain.table["packets"].sum()
    assert any("gzip stream ends early" in str(e) for e in cut.report.examples)
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"not a capture at all"))
    assert not is_capture(tmp_path / "notes.txt.gz")
    with pytest.raises(InputError, match="not a pcap"):
        extract_flows([tmp_path / "notes.txt.gz"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000), linktype=st.sampled_from([1, 101, 113, 228, 147, 0xFFFF]))
def test_fuzz_capture_reader(tmp_path, body, linktype):
    path = tmp_path / "fuzz.pcap"
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    path.write_bytes(header + body)
    try:
        flows = extract_flows([path])
        assert len(flows.table) >= 1 or "no IP flows in this capture" in str(flows.report.examples[-1])
    except InputError:
        pass  # a clear error naming the file; never a crash


def test_portable_features_from_cicflowmeter_columns():
    data = pd.read_csv(next(dataset_path("network", "cicids2017-improved-sample").glob("*Portscan*.csv")))
    portable = portable_from_cic(data)
    assert list(portable.columns) == list(PORTABLE_FEATURES)
    np.testing.assert_allclose(portable["duration"], data["Flow Duration"] / 1e6)
    assert (portable["fwd_packets"] == data["Total Fwd Packet"]).all()
    # the same flows under other releases' spellings ('Tot Fwd Pkts', 'SYN Flag Cnt', ...)
    from deepsentry.flows.formats import CIC_SPELLINGS

    for pick in (1, -1):
        renamed = data.rename(columns={group[0]: group[pick] for group in CIC_SPELLINGS})
        assert (renamed.columns != data.columns).sum() > 40
        pd.testing.assert_frame_equal(portable_from_cic(renamed), portable)


def test_train_portable_and_detect_a_capture(tmp_path):
    model = tmp_path / "cic"
    assert main(["train", "flows", "--data", str(dataset_path("network", "cicids2017-improved-sample")),
                 "--feature-set", "portable", "--epochs", "2", "--out", str(model)]) == 0
    capture = dataset_path("network", "pcaps", "attack", "chrissanders_portscan.pcap")
    out = tmp_path / "alerts.jsonl"
    assert main(["detect", "--model", str(model), str(capture), "--out", str(out)]) == 0
    rows = pd.read_json(out, lines=True)
    assert len(rows) == len(extract_flows([capture]).table)
    assert set(IDENTITY) | {"score", "alert", "predicted"} <= set(rows.columns)
    flows_csv = tmp_path / "flows.csv"
    assert main(["extract", "flows", str(capture), "--out", str(flows_csv)]) == 0
    again = tmp_path / "again.csv"
    assert main(["detect", "--model", str(model), str(flows_csv), "--out", str(again)]) == 0
    np.testing.assert_allclose(pd.read_csv(again)["score"], rows["score"], rtol=1e-4, atol=1e-4)
    native = tmp_path / "native"
    synthetic = tmp_path / "syn.csv"
    from conftest import synthetic_flows

    synthetic_flows(200).to_csv(synthetic, index=False)
    assert main(["train", "flows", "--data", str(synthetic), "--label-column", "label", "--benign-label", "normal",
                 "--epochs", "1", "--no-onnx", "--out", str(native)]) == 0
    assert main(["detect", "--model", str(native), str(capture)]) == 2  # native models cannot read captures


@pytest.fixture(scope="module")
def portable_model(tmp_path_factory):
    model = tmp_path_factory.mktemp("portable") / "cic"
    assert main(["train", "flows", "--data", str(dataset_path("network", "cicids2017-improved-sample")),
                 "--feature-set", "portable", "--epochs", "1", "--out", str(model)]) == 0
    return model


def test_watch_flows_on_a_growing_capture(tmp_path, portable_model, capsys):
    from deepsentry.detection.batch import load_detector
    from deepsentry.flows.demo_network import write_day
    from deepsentry.detection.watch_flows import watch_flows

    model = portable_model
    detector = load_detector(model)
    day = tmp_path / "day.pcap"
    write_day(day, seed=5, attacks=True, duration_s=600)
    data = day.read_bytes()
    growing = tmp_path / "growing.pcap"
    growing.write_bytes(data[: len(data) // 2])  # the first half has been captured so far
    alerts = tmp_path / "alerts.jsonl"
    first = watch_flows(detector, str(growing), alerts=alerts, max_seconds=0)
    total_flows = len(extract_flows([day]).table)
    assert 0 < first["flows"] < total_flows  # only flows past their idle timeout are final
    assert first["open"] > 0  # the others are still open: counted, not scored
    growing.write_bytes(data)  # the capture grew to the whole day
    rest = watch_flows(detector, str(growing), alerts=alerts, once=True)
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert len(lines) == first["alerts"] + rest["alerts"] and lines[0]["event"]["kind"] == "alert"
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "b.jsonl"), str(growing),
                 "--once"]) == 0
    capsys.readouterr()
    assert main(["watch", "flows", "--model", str(model), "--alerts", "-", str(growing), "--once"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == len((tmp_path / "b.jsonl").read_text().splitlines()) > 0  # the same alerts, on stdout
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "c.jsonl")]) == 2
    # --once on a capture that is not there: a typo to report, not an empty watch
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "d.jsonl"),
                 str(tmp_path / "no.pcap"), "--once"]) == 3
    # settings that would spin (no pause between polls) or stop at once are refused
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "d.jsonl"),
                 str(growing), "--max-seconds", "-1"]) == 2
    with pytest.raises(ConfigError, match="poll_s must be in"):
        watch_flows(detector, str(growing), alerts=alerts, poll_s=0)
    assert main(["watch", "flows", "--model", str(model), "--alerts", str(growing), str(growing), "--once"]) == 3
    # a stream has no offset to follow (it used to be waited on for ever, its size always 0)
    os.mkfifo(tmp_path / "fifo")
    for stream in ("-", str(tmp_path / "fifo")):
        assert main(["watch", "flows", "--model", str(model), "--alerts", str(tmp_path / "e.jsonl"), stream,
                     "--max-seconds", "0"]) == 3
        err = capsys.readouterr().err
        assert "is a stream (stdin or a pipe); watch follows a growing file" in err and "waiting" not in err


def test_watch_flows_scores_every_flow_once_when_a_read_meters_at_once(tmp_path, portable_model, monkeypatch):
    """A large read makes the meter hand out final flows from ``add`` itself (here after 5 packets)."""
    from deepsentry.detection import watch_flows as watch
    from deepsentry.detection.batch import load_detector
    from deepsentry.flows import meter
    from deepsentry.flows.synthetic import syn_flood, write_pcap

    monkeypatch.setattr(watch, "FlowMeter", lambda *a: meter.FlowMeter(*a, batch=5))
    packets = syn_flood(50, seed=5)
    packets.time_s = 1_700_000_000 + np.arange(50) * 200.0  # each flow ends before the next begins
    capture = tmp_path / "slow_scan.pcap"
    write_pcap(capture, packets)
    counts = watch.watch_flows(load_detector(portable_model), str(capture), alerts=tmp_path / "a.jsonl", once=True)
    assert counts["flows"] == len(extract_flows([capture]).table) == 50


def test_watch_interface_scores_flows_and_stops_on_time_when_the_interface_goes_quiet(tmp_path, portable_model,
                                                                                      monkeypatch):
    """The live path without capture rights: nfstream is replaced by a streamer that hands out the
    flows of a real capture and then blocks, as nfstream does on a quiet interface."""
    import threading
    import time
    from types import SimpleNamespace

    from deepsentry.detection.batch import load_detector
    from deepsentry.detection.watch_flows import flows_until, watch_flows

    rows = safe_workers(nfstream.NFStreamer(source=str(dataset_path("network", "pcaps", "attack",
                                                                    "chrissanders_portscan.pcap")),
                                            statistical_analysis=True, accounting_mode=3)).to_pandas()
    quiet = threading.Event()

    class QuietInterface:
        def __init__(self, source, **options):
            self.source = source

        def __iter__(self):
            for row in rows.to_dict("records"):
                yield SimpleNamespace(**row)
            quiet.wait(timeout=30)  # a quiet interface: nfstream blocks (bounded: a regression fails, not hangs)

    monkeypatch.setattr(nfstream, "NFStreamer", QuietInterface)
    alerts = tmp_path / "alerts.jsonl"
    started = time.monotonic()
    counts = watch_flows(load_detector(portable_model), "lo", alerts=alerts, interface=True, max_seconds=2,
                         batch=4)
    assert 2 <= time.monotonic() - started < 10
    assert counts["flows"] == len(rows) and counts["alerts"] == len(alerts.read_text().splitlines()) > 0
    by_cli = tmp_path / "cli.jsonl"
    assert main(["watch", "flows", "--model", str(portable_model), "--alerts", str(by_cli), "--interface", "lo",
                 "--max-seconds", "1"]) == 0
    quiet.set()
    assert len(by_cli.read_text().splitlines()) == counts["alerts"]

    def broken():
        yield SimpleNamespace()
        raise ValueError("capture device went away")

    with pytest.raises(ValueError, match="went away"):
        list(flows_until(broken(), time.monotonic() + 5))


def test_evaluate_captures_labelled_by_folder_or_by_option(tmp_path, portable_model):
    import json
    import shutil

    root = tmp_path / "pcaps"
    attack = dataset_path("network", "pcaps", "attack", "chrissanders_portscan.pcap")
    benign = dataset_path("network", "pcaps", "benign", "chrissanders_dns_tcp.pcapng")
    for label, source in (("attack", attack), ("benign", benign)):
        (root / label).mkdir(parents=True)
        shutil.copy(source, root / label / source.name)
    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(portable_model), str(root), "--report", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    flows = {p.name: len(extract_flows([p]).table) for p in (attack, benign)}
    assert metrics["binary"]["rows"] == sum(flows.values())
    # one share of alerted flows per capture; labels 'attack'/'benign' are not the model's classes,
    # so the class metrics (which compare class names) are left out rather than made up
    assert {k: v["rows"] for k, v in metrics["per_label_detection"].items()} == flows
    assert "classes" not in metrics
    # one capture, labelled by option; a capture with no label is an error; the option needs captures
    assert main(["evaluate", "--model", str(portable_model), str(attack), "--label", "attack",
                 "--report", str(tmp_path / "one")]) == 0
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["binary"]["rows"] == flows[attack.name]
    assert main(["evaluate", "--model", str(portable_model), str(attack), "--report", str(tmp_path / "x")]) == 3
    shutil.copy(attack, root / "loose.pcap")
    assert main(["evaluate", "--model", str(portable_model), str(root), "--report", str(tmp_path / "y")]) == 3
    flows_csv = tmp_path / "flows.csv"
    assert main(["extract", "flows", str(attack), "--out", str(flows_csv)]) == 0
    assert main(["evaluate", "--model", str(portable_model), str(flows_csv), "--label", "attack",
                 "--report", str(tmp_path / "z")]) == 2


def test_an_interface_this_machine_lacks_is_named_plainly(portable_model, tmp_path):
    from deepsentry.flows.capture import flow_streamer

    with pytest.raises(ConfigError, match="no network interface named 'nosuchif0'.*this machine has: .*lo"):
        flow_streamer("nosuchif0")
    assert main(["watch", "flows", "--model", str(portable_model), "--alerts", str(tmp_path / "a.jsonl"),
                 "--interface", "nosuchif0", "--max-seconds", "1"]) == ConfigError.exit_code


def test_strict_detection_refuses_a_truncated_capture(tmp_path, portable_model, capsys):
    whole = dataset_path("network", "pcaps", "attack", "chrissanders_portscan.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-37])  # the last packet's record ends early
    out = tmp_path / "p.csv"
    assert main(["detect", "--model", str(portable_model), str(cut), "--out", str(out)]) == 0  # flows up to the cut
    # the broken record has no row of its own: the count says what became of it
    assert "1 malformed packet record(s) (the flows before each are kept)" in capsys.readouterr().err
    assert (pd.read_csv(out, keep_default_na=False)["error"] == "").all()
    assert main(["detect", "--model", str(portable_model), str(cut), "--out", str(tmp_path / "s.csv"),
                 "--strict"]) == InputError.exit_code
    assert "1 malformed packet record(s) (--strict); first: " in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "s.csv").exists()


def test_a_capture_without_ip_flows_gives_an_empty_table_not_an_error(tmp_path, portable_model, capsys):
    """A quiet hour of a network (ARP only) or a capture with no packet: detect and extract write a
    table with its header alone and say why, as for a flow table with no data rows; a pipeline that
    scores each rotated capture goes on."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    arp = bytes.fromhex("ffffffffffff0011223344550806000108000604000100112233445"
                        "5c0a80001000000000000c0a80002")
    frames = b"".join(struct.pack("<IIII", 1_700_000_000 + i, 0, len(arp), len(arp)) + arp for i in range(3))
    (tmp_path / "arp.pcap").write_bytes(header + frames)
    (tmp_path / "quiet.pcap").write_bytes(header)
    for name in ("arp.pcap", "quiet.pcap"):
        assert main(["detect", "--model", str(portable_model), str(tmp_path / name),
                     "--out", str(tmp_path / "out.csv")]) == 0
        out = pd.read_csv(tmp_path / "out.csv")
        assert len(out) == 0 and list(out.columns) == [*IDENTITY, "capture", "id", "score", "alert", "predicted", "error"]
    assert main(["extract", "flows", str(tmp_path / "arp.pcap"), "--out", str(tmp_path / "flows.csv")]) == 0
    flows = pd.read_csv(tmp_path / "flows.csv")
    assert len(flows) == 0 and list(flows.columns) == [*IDENTITY, *PORTABLE_FEATURES, "capture"]
    # the warning wraps where the temporary path's length puts it: compare without the white space
    assert "arp.pcap:noIPflowsinthecapture(s)" in "".join(capsys.readouterr().err.split())


def test_train_on_captures_labelled_by_their_folders_or_on_a_normal_day_without_labels(tmp_path):
    """train flows on packet captures: portable features; labels from the sub-folders that hold
    them (attack/, benign/); an autoencoder learns a normal day without labels. A CTU-13 scenario's
    folder (Argus flows beside the capture) still stands for its flows, in training and detection."""
    import shutil

    from deepsentry.flows.demo_network import write_day

    root = tmp_path / "captures"
    (root / "benign").mkdir(parents=True)
    (root / "attack").mkdir()
    write_day(root / "benign" / "monday.pcap", seed=1, attacks=False, duration_s=300)
    shutil.copy(dataset_path("network", "pcaps", "attack", "esnet_tcp_0_1000_20190821.pcap"), root / "attack")
    assert main(["train", "flows", "--data", str(root), "--epochs", "2", "--out", str(tmp_path / "sup")]) == 0
    manifest = json.loads((tmp_path / "sup" / "manifest.json").read_text())
    assert manifest["flow_feature_set"] == "portable" and manifest["classes"] == ["benign", "attack"]
    assert sorted(manifest["training_data_sha256"]) == ["attack/esnet_tcp_0_1000_20190821.pcap", "benign/monday.pcap"]
    assert main(["detect", "--model", str(tmp_path / "sup"), str(root / "attack"), "--out", str(tmp_path / "a.csv")]) == 0
    assert pd.read_csv(tmp_path / "a.csv")["alert"].mean() > 0.9
    # cv and tune read them alike; the capture is there to split by (--group-column capture)
    from deepsentry.flows import ReadOptions
    from deepsentry.flows.detector import read_training_flows

    grouped = read_training_flows(root, ReadOptions(require_labels=True, keep_columns=("capture",)))
    assert sorted(set(grouped.features["capture"])) == ["esnet_tcp_0_1000_20190821.pcap", "monday.pcap"]
    with pytest.raises(InputError, match="'host' not found.*src_ip, dst_ip"):
        read_training_flows(root, ReadOptions(require_labels=True, keep_columns=("host",)))
    assert main(["train", "flows", "--data", str(root / "benign"), "--model", "autoencoder", "--epochs", "2",
                 "--out", str(tmp_path / "normal")]) == 0
    assert json.loads((tmp_path / "normal" / "manifest.json").read_text())["classes"] == ["benign", "attack"]
    # Argus flows beside their capture: a native model reads the flows, here and when scoring
    scenario = tmp_path / "ctu"
    scenario.mkdir()
    header = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,TotBytes,SrcBytes,Label\n"
    rows = [f"2011/08/10 09:46:{i % 60:02d}.0,{0.1 + i / 1000 if i % 3 else 40.0 + i},{'udp' if i % 3 else 'tcp'},"
            f"147.32.84.{i % 250},{1024 + i},   ->,8.8.8.8,{53 if i % 3 else 80},CON,{2 if i % 3 else 30},"
            f"{120 + i if i % 3 else 9000 + i},60,"
            f"{'flow=From-Botnet-V42-UDP-DNS' if i % 3 else 'flow=From-Normal-V42-Web'}" for i in range(300)]
    (scenario / "capture20110810.binetflow").write_text(header + "\n".join(rows) + "\n")
    shutil.copy(dataset_path("network", "pcaps", "attack", "chrissanders_portscan.pcap"), scenario / "botnet.pcap")
    assert main(["train", "flows", "--data", str(scenario), "--epochs", "1", "--out", str(tmp_path / "ctu13")]) == 0
    assert main(["detect", "--model", str(tmp_path / "ctu13"), str(scenario), "--out", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == 300
