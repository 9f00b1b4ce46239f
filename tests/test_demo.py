"""The self-contained demo network (issue 4): reproducible captures, detection, report."""

from __future__ import annotations

import json

import pytest

from deepsentry.cli import main
from deepsentry.flows.demo_network import label_flows, write_day

pytest.importorskip("nfstream")


def test_days_are_reproducible_and_labelled(tmp_path):
    from deepsentry.flows.capture import extract_flows

    truth = write_day(tmp_path / "a.pcap", seed=3, attacks=True, duration_s=600)
    write_day(tmp_path / "b.pcap", seed=3, attacks=True, duration_s=600)
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert {a.attack for a in truth} == {"port scan", "syn flood", "ssh brute force", "dns tunnelling",
                                         "slow http dos"}
    table = extract_flows([tmp_path / "a.pcap"]).table
    labels = label_flows(table, truth)
    counts = {a.attack: int((labels == a.attack).sum()) for a in truth}
    assert counts["port scan"] == 1024 and counts["syn flood"] == 3000 and counts["slow http dos"] == 150
    assert (labels == "").sum() > 500  # benign traffic around the attacks
    assert write_day(tmp_path / "clean.pcap", seed=4, attacks=False, duration_s=300) == []


def test_demo_detects_every_injected_attack(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert all(a["detected"] for a in metrics["per_attack"])
    assert metrics["benign_alert_rate"] <= 0.02
    for name in ("report.html", "alerts_over_time.png", "per_attack_detection.png", "score_histogram.png"):
        assert (out / "report" / name).exists()
    assert json.loads((out / "injected_attacks.json").read_text())[0]["attack"] == "port scan"


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--epochs", "0"]])
def test_demo_refuses_bad_settings_before_generating_anything(tmp_path, option):
    assert main(["demo", "--out", str(tmp_path / "demo"), *option]) == 2
    assert not (tmp_path / "demo").exists()  # no half-written demo folder
