"""One generic check suite, run on every learnable component (river-style)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import synthetic_flows
from deepsentry.core.errors import ConfigError, InputError, NotFittedError
from deepsentry.core.tabular import DetectorConfig, TabularDetector
from deepsentry.flows import FlowDetector

CONFIGS = {
    "seed": DetectorConfig(model="seed", epochs=8),
    "mlp": DetectorConfig(model="mlp", epochs=8),
    "autoencoder": DetectorConfig(model="autoencoder", epochs=15),
    "hybrid": DetectorConfig(model="hybrid", epochs=8, ae_epochs=10),
}


@pytest.fixture(scope="module")
def data():
    frame = synthetic_flows(n=900, seed=1)
    test = synthetic_flows(n=400, seed=2)
    return (frame.drop(columns=["label", "src_ip"]), frame["label"].to_numpy(),
            test.drop(columns=["label", "src_ip"]), test["label"].to_numpy())


_FITTED: dict[str, TabularDetector] = {}  # each configuration is trained once per test session


def tabular_training(name: str, data) -> tuple:
    X, y, _, _ = data
    cfg = CONFIGS[name]
    if cfg.model == "autoencoder":
        return X[y == "normal"], None
    return X, y


def fit_tabular(name: str, data) -> TabularDetector:
    if name not in _FITTED:
        detector = TabularDetector(CONFIGS[name])
        assert detector.fit(*tabular_training(name, data)) is detector  # fit returns self
        _FITTED[name] = detector
    return _FITTED[name]


@pytest.fixture(scope="module", params=list(CONFIGS))
def fitted(request, data):
    return fit_tabular(request.param, data)


# -- the checks every learnable component passes, whatever its domain -------------------------------
LOG_MODELS = {"deeplog": 15, "autoencoder": 60, "classifier": 15}  # model: epochs


def log_sequences(n: int, seed: int) -> tuple[list[list[str]], np.ndarray]:
    """Normal sessions (open, reads, writes, close) and three kinds of anomaly, labelled 1."""
    rng = np.random.default_rng(seed)
    normal = [["open"] + ["read"] * int(rng.integers(1, 5)) + ["write"] * int(rng.integers(0, 3)) + ["close"]
              for _ in range(n)]
    anomalous = [["open", "read", "crash"], ["open", "close", "close", "close"], ["open"] + ["write"] * 6]
    anomalous = anomalous * (n // 30)
    return normal + anomalous, np.r_[np.zeros(len(normal)), np.ones(len(anomalous))].astype(int)


@pytest.fixture(scope="module", params=[f"tabular-{name}" for name in CONFIGS] + [f"logs-{name}" for name in LOG_MODELS])
def any_fitted(request, data):
    """(a factory of unfitted copies, the fitted detector, its training inputs and labels, test
    inputs, test labels as booleans) for every component."""
    from deepsentry.logs.detector import LogConfig, LogSequenceDetector

    domain, name = request.param.split("-", 1)
    if domain == "tabular":
        *_, Xt, yt = data
        return (lambda: TabularDetector(CONFIGS[name]), fit_tabular(name, data), *tabular_training(name, data),
                Xt, yt != "normal")
    X, y = log_sequences(300, seed=0)
    Xt, yt = log_sequences(120, seed=1)
    if name != "classifier":
        X, y = [s for s, label in zip(X, y) if label == 0], None
    make = lambda: LogSequenceDetector(LogConfig(model=name, epochs=LOG_MODELS[name], window=4,  # noqa: E731
                                                 max_length=16, target_fpr=0.02))
    detector = make()
    assert detector.fit(X, y) is detector  # fit returns self
    return make, detector, X, y, Xt, yt.astype(bool)


def test_every_component_keeps_learned_state_in_underscore_attributes(any_fitted):
    _, detector, *_ = any_fitted
    assert "threshold_" in vars(detector)
    assert set(vars(detector)) - {"config"} == {k for k in vars(detector) if k.endswith("_")}


def test_every_component_ranks_attacks_above_benign(any_fitted):
    *_, Xt, truth = any_fitted
    scores = any_fitted[1].score_samples(Xt)
    assert scores.shape == (len(Xt),) and np.isfinite(scores).all()
    assert roc_auc_score(truth, scores) > 0.9


def test_every_component_predicts_score_above_threshold(any_fitted):
    _, detector, *_, Xt, _ = any_fitted
    np.testing.assert_array_equal(detector.predict(Xt),
                                  (detector.score_samples(Xt) > detector.threshold_.threshold).astype(int))


def test_every_component_threshold_meets_its_rule_on_validation(any_fitted):
    choice = any_fitted[1].threshold_
    if choice.rule == "target_fpr":
        assert choice.validation_fpr <= choice.target_fpr + 1e-9
    else:  # a rule that needs anomalies among the validation rows found some, and alerts on them
        assert choice.validation_detection_rate is not None and choice.validation_detection_rate > 0.5


def test_every_component_round_trips_through_its_bundle(any_fitted, tmp_path):
    _, detector, *_, Xt, _ = any_fitted
    path = detector.save(tmp_path / "bundle")
    again = type(detector).load(path)
    np.testing.assert_allclose(again.score_samples(Xt), detector.score_samples(Xt), rtol=1e-5, atol=1e-5)
    assert again.threshold_ == detector.threshold_


def test_every_component_refuses_to_score_unfitted(any_fitted):
    make, *_, Xt, _ = any_fitted
    with pytest.raises(NotFittedError, match="not fitted"):
        make().score_samples(Xt)


def test_every_component_same_seed_same_scores(any_fitted):
    make, detector, X, y, Xt, _ = any_fitted
    np.testing.assert_allclose(make().fit(X, y).score_samples(Xt), detector.score_samples(Xt), atol=1e-5)


def test_learned_state_ends_in_underscore(fitted):
    assert {"threshold_", "preprocessor_", "network_", "classes_"} <= set(vars(fitted))


def assert_same_scoring(got: dict, expected: dict, threshold: float) -> None:
    """Scores of the same rows run through the network in other batches: equal to float32
    rounding, not bit for bit. TensorFlow's CPU matrix product sums in an order that depends on the
    batch size on some processors (Eigen on AMD EPYC: differences of 2e-7); alerts and classes
    are then equal wherever the score is not within that rounding of the threshold."""
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5, atol=1e-5)
    clear = np.abs(expected["score"] - threshold) > 1e-4
    for key in set(expected) - {"score"}:
        assert got[key].dtype == expected[key].dtype
        np.testing.assert_array_equal(got[key][clear], expected[key][clear])


def test_blockwise_scoring_equals_one_pass(fitted, data):
    """detect preprocesses block i+1 while block i is scored; the result must not depend on it."""
    from deepsentry.core.preprocessing import PreprocessingReport
    from deepsentry.detection.batch import transform_and_score

    _, _, Xt, _ = data
    Xt = Xt.copy()
    if "proto" in Xt:  # an unseen category must be counted once per row, across blocks too
        Xt.loc[Xt.index[::50], "proto"] = "never-seen"
    whole_report, block_report = PreprocessingReport(), PreprocessingReport()
    whole = fitted.score_features(fitted.transform(Xt, whole_report))
    blocks = transform_and_score(fitted, Xt, block_report, block_rows=37)
    assert_same_scoring(blocks, whole, fitted.threshold_.threshold)
    assert block_report.unseen_categories == whole_report.unseen_categories
    assert block_report.rows == whole_report.rows == len(Xt)


def test_few_rows_path_equals_array_path(fitted, data):
    """Up to FEW_ROWS rows are scored in plain Python (service latency); same numbers as numpy."""
    from deepsentry.core.tabular import FEW_ROWS

    _, _, Xt, _ = data
    features = fitted.transform(Xt)
    raw = fitted.raw_outputs(features)
    whole = fitted.score_features(features)
    for start in range(0, 120, FEW_ROWS):
        rows = slice(start, start + FEW_ROWS)
        # the same network outputs, turned into scores in Python: the array path's numbers
        few = fitted._score_few({name: value[rows] for name, value in raw.items()})
        assert few.keys() == whole.keys()
        np.testing.assert_allclose(few["score"], whole["score"][rows], rtol=1e-9, atol=1e-9)
        for key in set(whole) - {"score"}:
            np.testing.assert_array_equal(few[key], whole[key][rows])
            assert few[key].dtype == whole[key].dtype
        # and end to end, where the network runs on these rows alone
        assert_same_scoring(fitted.score_features(features[rows]), {k: v[rows] for k, v in whole.items()},
                            fitted.threshold_.threshold)


def test_threshold_meets_target_fpr_on_validation(fitted):
    assert fitted.threshold_.rule == "target_fpr"
    assert fitted.threshold_.validation_fpr <= fitted.config.target_fpr + 1e-9


def test_save_load_round_trip_gives_identical_scores(fitted, data, tmp_path):
    _, _, Xt, _ = data
    path = fitted.save(tmp_path / "bundle")
    again = TabularDetector.load(path)
    np.testing.assert_allclose(again.score_samples(Xt), fitted.score_samples(Xt), rtol=0, atol=1e-6)
    assert again.threshold_ == fitted.threshold_
    assert again.classes_ == fitted.classes_


def test_unfitted_detector_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        TabularDetector().predict(synthetic_flows(20))


def test_seed_architecture_is_the_original_design():
    from deepsentry.core.networks import build_seed
    import keras

    net = build_seed(10)
    dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.activation.__name__) for d in dense] == [(64, "relu"), (64, "relu"), (1, "linear")]
    assert isinstance(net.loss, keras.losses.BinaryCrossentropy) and net.loss.from_logits
    assert isinstance(net.optimizer, keras.optimizers.Adam)
    accuracy = [m for m in net.metrics if m.name == "compile_metrics"] or net.metrics
    # accuracy on logits: a logit of 0.1 (p > 0.5) is a positive prediction
    metric = keras.metrics.BinaryAccuracy(threshold=0.0)
    metric.update_state(np.array([[1.0], [0.0]]), np.array([[0.1], [-0.1]]))
    assert float(metric.result()) == 1.0
    assert accuracy


def test_multiclass_predictions_are_consistent_with_alerts(data):
    X, y, Xt, _ = data
    detector = TabularDetector(CONFIGS["hybrid"]).fit(X, y)
    assert detector.classes_ == ["flood", "normal", "scan"]
    out = detector.score_features(detector.transform(Xt))
    assert set(out["predicted"][out["alert"] == 1]) <= {"flood", "scan"}
    assert set(out["predicted"][out["alert"] == 0]) == {"normal"}


def test_benign_classes_become_one_named_by_the_first_benign_label_given(data):
    """CTU-13 has normal and background traffic, both benign (format benign labels: normal, then
    background): their one class is Normal, whatever the sorted order of the names."""
    X, y, _, _ = data
    y = np.where(y == "normal", np.where(np.arange(len(y)) % 2 == 0, "Normal", "Background"), y)
    for benign, expected in ((("normal", "background"), "Normal"), (("background", "normal"), "Background")):
        detector = TabularDetector(DetectorConfig(model="mlp", epochs=1)).fit(X, y, benign_labels=benign)
        assert detector.benign_class_ == expected
        assert sorted(detector.classes_) == sorted([expected, "flood", "scan"])
        assert detector.summary_.class_counts[expected] == int(np.isin(y, ["Normal", "Background"]).sum())


def test_parameter_errors_are_clear():
    with pytest.raises(ConfigError, match="model must be one of"):
        DetectorConfig(model="transformer")
    with pytest.raises(ConfigError, match=r"target_fpr must be in \[0.0, 1.0\)"):
        DetectorConfig(target_fpr=1.0)
    with pytest.raises(ConfigError, match=r"target_fpr must be in \[0.0, 1.0\); got nan"):
        DetectorConfig(target_fpr=float("nan"))  # NaN passes every comparison: checked before training
    with pytest.raises(ConfigError, match=r"max_categories must be in \[1, 10000\]; got 0"):
        DetectorConfig(max_categories=0)
    with pytest.raises(InputError, match="needs both benign and malicious"):
        TabularDetector(DetectorConfig(model="mlp", epochs=1)).fit(
            synthetic_flows(50).drop(columns=["label", "src_ip"]), np.array(["normal"] * 50))
    with pytest.raises(InputError, match=r"none is benign \(labels: 'Benign Traffic', 'DoS'\).*--benign-label"):
        TabularDetector(DetectorConfig(model="mlp", epochs=1)).fit(
            synthetic_flows(50).drop(columns=["label", "src_ip"]), np.array(["Benign Traffic", "DoS"] * 25))


@pytest.mark.parametrize("config_class, field, value, message", [
    (DetectorConfig, "epochs", 1.5, "epochs must be an integer; got 1.5"),
    (DetectorConfig, "batch_size", "256", "batch_size must be an integer"),
    (DetectorConfig, "dedupe", "false", "dedupe must be true or false"),  # a truthy string
    (DetectorConfig, "learning_rate", True, "learning_rate must be a number"),
    (DetectorConfig, "hidden", (64, "x"), "hidden must be a list of integers"),
    (DetectorConfig, "ae_hidden", (), "ae_hidden must list one or more layer widths"),
    ("deepsentry.logs.detector.LogConfig", "window", 2.5, "window must be an integer"),
    ("deepsentry.logs.detector.LogConfig", "counts", "yes", "counts must be true or false"),
    ("deepsentry.evaluation.splits.SplitConfig", "group_column", 3, "group_column must be a string; got 3"),
    ("deepsentry.evaluation.tuning.SearchConfig", "trials", 2.0, "trials must be an integer"),
    # seeds numpy's legacy seeding refuses (Keras and scikit-learn use it) fail here, not mid-run
    (DetectorConfig, "seed", -1, r"seed must be in \[0, 2147483647\]; got -1"),
    ("deepsentry.logs.detector.LogConfig", "seed", 2**32, "seed must be in"),
    ("deepsentry.evaluation.splits.SplitConfig", "seed", -5, "seed must be in"),
    ("deepsentry.evaluation.tuning.SearchConfig", "seed", 2**31, "seed must be in"),
])
def test_every_config_checks_the_types_of_its_fields(config_class, field, value, message):
    if isinstance(config_class, str):
        import importlib

        module, _, name = config_class.rpartition(".")
        config_class = getattr(importlib.import_module(module), name)
    with pytest.raises(ConfigError, match=message):
        config_class(**{field: value})
    config_class()  # the defaults pass their own check


def test_flow_detector_bundle_kind(data, tmp_path):
    X, y, _, _ = data
    from deepsentry.core.errors import BundleError

    path = TabularDetector(DetectorConfig(model="seed", epochs=1)).fit(X, y).save(tmp_path / "t")
    with pytest.raises(BundleError, match="expected 'flows'"):
        FlowDetector.load(path)
