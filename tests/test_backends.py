"""The networks are backend-neutral Keras (``keras.ops`` only): a bundle trained under
``KERAS_BACKEND=jax`` loads and scores the same under TensorFlow (this process), and a bundle trained
here scores the same under JAX. A backend is chosen when Keras is first imported, so the JAX side
runs in a child process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepsentry.core.tabular import DetectorConfig, TabularDetector
from deepsentry.logs.detector import LogConfig, LogSequenceDetector

# The child builds the same data from the same seed; 'train' fits and saves both models under JAX,
# 'score' loads bundles saved here; either way it prints the JAX backend's scores as JSON.
CHILD = r"""
import json, sys
import keras
from backend_data import flow_table, log_sequences
from deepsentry.core.tabular import DetectorConfig, TabularDetector
from deepsentry.logs.detector import LogConfig, LogSequenceDetector

mode, root = sys.argv[1], sys.argv[2]
X, y = flow_table()
sequences, labels = log_sequences()
if mode == "train":
    flows = TabularDetector(DetectorConfig(epochs=2, ae_epochs=2, seed=0)).fit(X, y)
    logs = LogSequenceDetector(LogConfig(model="classifier", epochs=2, seed=0)).fit(sequences, labels)
    flows.save(root + "/flows"); logs.save(root + "/logs")
flows, logs = TabularDetector.load(root + "/flows"), LogSequenceDetector.load(root + "/logs")
print(json.dumps({"backend": keras.backend.backend(), "flows": flows.score_samples(X).tolist(),
                  "predicted": flows.predict_class(X).tolist(), "logs": logs.score_samples(sequences).tolist()}))
"""


def _jax_available() -> None:
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jax is not installed: it is in requirements.lock (make install)")
        pytest.skip("jax is not installed (make install adds it)")


def _run_under_jax(mode: str, root: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(root)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    return result


def _same_classes(detector: TabularDetector, X, jax: dict) -> None:
    # the threshold is one of the validation scores, so a row can sit on it; rounding apart, the
    # two backends agree on every other row's class
    here = detector.predict_class(X)
    clear = np.abs(np.asarray(jax["flows"]) - detector.threshold_.threshold) > 1e-3
    assert clear.mean() > 0.9
    assert here[clear].tolist() == np.asarray(jax["predicted"], dtype=object)[clear].tolist()


def test_a_bundle_trained_under_jax_scores_the_same_under_tensorflow(tmp_path):
    from backend_data import flow_table, log_sequences

    _jax_available()
    jax = _run_under_jax("train", tmp_path)
    X, y = flow_table()
    sequences, labels = log_sequences()
    flows = TabularDetector.load(tmp_path / "flows")
    assert flows.multiclass_ and len(flows.classes_) == 3
    np.testing.assert_allclose(flows.score_samples(X), jax["flows"], rtol=1e-4, atol=1e-4)
    _same_classes(flows, X, jax)
    logs = LogSequenceDetector.load(tmp_path / "logs")
    np.testing.assert_allclose(logs.score_samples(sequences), jax["logs"], rtol=1e-4, atol=1e-4)
    # the models learned something under JAX: attacks outscore benign rows, anomalies normal ones
    scores = np.asarray(jax["flows"])
    assert scores[y != "normal"].mean() > scores[y == "normal"].mean()
    log_scores = np.asarray(jax["logs"])
    assert log_scores[labels == 1].mean() > log_scores[labels == 0].mean()


def test_a_bundle_trained_under_tensorflow_scores_the_same_under_jax(tmp_path):
    from backend_data import flow_table, log_sequences

    _jax_available()
    X, y = flow_table()
    sequences, labels = log_sequences()
    flows = TabularDetector(DetectorConfig(epochs=2, ae_epochs=2, seed=0)).fit(X, y)
    logs = LogSequenceDetector(LogConfig(model="classifier", epochs=2, seed=0)).fit(sequences, labels)
    flows.save(tmp_path / "flows")
    logs.save(tmp_path / "logs")
    jax = _run_under_jax("score", tmp_path)
    np.testing.assert_allclose(jax["flows"], flows.score_samples(X), rtol=1e-4, atol=1e-4)
    _same_classes(flows, X, jax)
    np.testing.assert_allclose(jax["logs"], logs.score_samples(sequences), rtol=1e-4, atol=1e-4)


def test_onnx_export_outside_tensorflow_is_a_dependency_error(monkeypatch, tmp_path):
    import keras

    from deepsentry.core.errors import DependencyError
    from deepsentry.core.onnx import export_onnx

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(DependencyError, match="TensorFlow backend.*'jax'"):
        export_onnx(object(), tmp_path)



def test_native_start_up_lines_are_filtered_by_the_log_level_and_others_pass():
    from deepsentry.core.backend import keep_native_line

    info = b"I0000 00:00:1795789843.025478   18286 port.cc:153] oneDNN custom operations are on.\n"
    error = b"E0000 00:00:1795789843.025478   18286 cuda.cc:12] failed call to cuInit\n"
    absl = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    assert not keep_native_line(info, 2) and not keep_native_line(absl, 2)
    assert keep_native_line(error, 2) and not keep_native_line(error, 3)
    assert keep_native_line(info, 0) and keep_native_line(absl, 0)  # level 0: everything, as TensorFlow
    assert keep_native_line(b"UserWarning: something Python said\n", 3)


def test_native_stderr_is_replayed_in_order_without_the_filtered_lines(monkeypatch, capfd):
    from deepsentry.core.backend import native_stderr_filtered

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_filtered():
        os.write(2, b"W0000 00:00:1.5   7 x.cc:1] dropped\nkept line\n")
        os.write(2, b"E0000 00:00:1.5   7 x.cc:2] kept error\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept line\nE0000 00:00:1.5   7 x.cc:2] kept error\nafter\n"


def test_importing_the_networks_and_training_a_masked_lstm_print_nothing_on_stderr():
    # TensorFlow 2.21 prints abseil INFO lines at import whatever TF_CPP_MIN_LOG_LEVEL says, and
    # an error-level line at the first boolean op (the LSTM masks) on CPUs without AVX-512
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    code = ("import deepsentry.core.networks\n"
            "from deepsentry.logs.detector import LogConfig, LogSequenceDetector\n"
            "LogSequenceDetector(LogConfig(model='classifier', epochs=1)).fit("
            "[['a', 'b']] * 20 + [['a', 'x', 'y']] * 20, [0] * 20 + [1] * 20)\n")
    child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert child.stderr == ""
