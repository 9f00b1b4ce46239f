"""Readers and the detector on the real shared datasets (skipped when absent; fail under CI=true)."""

import numpy as np
import pytest

from conftest import dataset_path
from deepsentry.core.tabular import DetectorConfig
from deepsentry.evaluation.metrics import binary_metrics
from deepsentry.flows import FlowDetector, read_flows

pytestmark = pytest.mark.dataset


def test_nsl_kdd_files():
    train = read_flows(dataset_path("network", "nsl-kdd", "KDDTrain+.txt"))
    test = read_flows(dataset_path("network", "nsl-kdd", "KDDTest+.txt"))
    assert (len(train), len(test)) == (125973, 22544)
    assert set(test.labels) == {"normal", "DoS", "Probe", "R2L", "U2R"}
    novel = set(test.raw_labels) - set(train.raw_labels)
    assert len(novel) == 17  # every test-only attack name maps to a class
    assert train.report.problems == 0


def test_unsw_nb15_file():
    data = read_flows(dataset_path("network", "unsw-nb15", "UNSW_NB15_dev.csv"))
    assert data.format == "unsw-nb15" and len(data) == 57632
    assert "id" not in data.features.columns and "label" not in data.features.columns
    assert len(set(data.labels)) == 10


def test_cicids2017_directory():
    data = read_flows(dataset_path("network", "cicids2017-improved-sample"))
    assert data.format == "cic-ids2017"
    assert {"Flow ID", "Src IP", "Dst IP", "Timestamp", "id"} <= set(data.report.identifier_columns)
    assert not {"Flow ID", "Src IP", "Timestamp", "Attempted Category"} & set(data.features.columns)
    assert "BENIGN" in set(data.labels)


@pytest.mark.slow
def test_nsl_kdd_small_training_generalises_to_test_plus(tmp_path):
    train = read_flows(dataset_path("network", "nsl-kdd", "KDDTrain+_20Percent.txt"))
    test = read_flows(dataset_path("network", "nsl-kdd", "KDDTest+.txt"))
    detector = FlowDetector(DetectorConfig(epochs=4, ae_epochs=6)).fit_flows(train)
    detector = FlowDetector.load(detector.save(tmp_path / "nsl"))
    scores = detector.score_samples(test.features)
    metrics = binary_metrics(test.is_malicious, scores, detector.threshold_.threshold)
    # the seed MLP reaches 0.794 accuracy here; the hybrid must beat it on held-out attack types
    assert metrics["roc_auc"] > 0.93
    assert metrics["accuracy"] > 0.80
    novel = np.isin(test.raw_labels, ["mscan", "apache2", "processtable", "saint", "snmpguess"])
    assert (scores[novel] > detector.threshold_.threshold).mean() > 0.5
