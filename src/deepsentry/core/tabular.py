"""A deep detector for tabular records (flow records, PE-header features), following the contract.

The default ``hybrid`` model pairs a supervised classifier with an autoencoder trained on benign
rows only: the classifier recognises attack types seen in training, the autoencoder flags records
unlike any benign training record, which is where attack types absent from training show up.

Scores: the classifier gives ``p_attack`` (1 - probability of the benign class); the autoencoder's
reconstruction error ``e`` is mapped to ``sigmoid(slope * (log e - log e_q))``, where ``e_q`` is the
``ae_quantile`` of the errors of benign *validation* rows, so it reads 0.5 at that quantile. The
hybrid score is the larger of the two. The operating threshold is then chosen on the validation
rows (carved from the training data) by ``threshold_rule``.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
>>> y = np.where(X["a"] > 1, "attack", "normal")
>>> det = TabularDetector(DetectorConfig(model="mlp", epochs=3, seed=0)).fit(X, y)
>>> det.score_samples(X).shape
(400,)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from .augment import METHODS as AUGMENT_METHODS, augment
from .backend import import_keras
from .base import Detector, config_from_dict, validate_choice, validate_range, validate_seed, validate_types
from .bundle import read_bundle, write_bundle
from .errors import BundleError, ConfigError, InputError, check_is_fitted
from .preprocessing import PreprocessingReport, TabularPreprocessor, one_value_only, require_features
from .progress import epoch_callback
from .thresholds import RULES, ThresholdChoice, choose_threshold

MODELS = ("hybrid", "mlp", "seed", "autoencoder")
CLASS_WEIGHTS = ("none", "sqrt", "balanced")
FEW_ROWS = 8  # up to this many rows are scored in plain Python (see _score_few)
DEFAULT_EPOCHS = {"seed": 10, "mlp": 10, "hybrid": 20, "autoencoder": 20}


@dataclass(frozen=True)
class DetectorConfig:
    """Every knob of :class:`TabularDetector`; the defaults are the documented defaults."""

    model: str = "hybrid"
    epochs: int | None = None  # None: DEFAULT_EPOCHS[model]
    ae_epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.2
    l2: float = 1e-5
    ae_hidden: tuple[int, ...] = (64, 16)
    ae_quantile: float = 0.95
    ae_slope: float = 4.0
    class_weight: str = "sqrt"
    multiclass: bool = True
    validation_fraction: float = 0.2
    threshold_rule: str = "target_fpr"
    target_fpr: float = 0.05
    dedupe: bool = True
    drop_conflicts: bool = False  # also drop feature-identical rows whose labels disagree
    ple_bins: int = 0  # >0: piecewise-linear quantile encoding of numeric features (see preprocessing)
    max_categories: int = 100  # one-hot width of a categorical column: its most frequent values (+ unknown)
    ensemble: int = 1  # classifiers trained with different seeds; their logits are averaged
    augment: str = "none"  # oversampling of minority classes in the training split (see core.augment)
    augment_ratio: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        validate_types(self)
        validate_choice("model", self.model, MODELS)
        validate_choice("class_weight", self.class_weight, CLASS_WEIGHTS)
        validate_seed(self.seed)
        validate_choice("threshold_rule", self.threshold_rule, RULES)
        validate_range("validation_fraction", self.validation_fraction, 0.0, 0.9, low_open=True)
        validate_range("target_fpr", self.target_fpr, 0.0, 1.0, high_open=True)
        validate_range("ae_quantile", self.ae_quantile, 0.5, 1.0, high_open=True)
        validate_range("batch_size", self.batch_size, 1)
        validate_range("learning_rate", self.learning_rate, 0.0, low_open=True)
        validate_range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        validate_range("ple_bins", self.ple_bins, 0, 256)
        validate_range("max_categories", self.max_categories, 1, 10_000)
        validate_range("ensemble", self.ensemble, 1, 32)
        validate_choice("augment", self.augment, AUGMENT_METHODS)
        validate_range("augment_ratio", self.augment_ratio, 0.0, 1.0, low_open=True)
        if self.ple_bins == 1:
            raise ConfigError("ple_bins must be 0 (off) or at least 2, got 1")
        if self.epochs is not None:
            validate_range("epochs", self.epochs, 1)
        for name in ("hidden", "ae_hidden"):
            widths = tuple(int(h) for h in getattr(self, name))
            if not widths or min(widths) < 1:
                raise ConfigError(f"{name} must list one or more layer widths of at least 1; got {getattr(self, name)!r}")
            object.__setattr__(self, name, widths)

    @property
    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.model]


@dataclass
class TrainingSummary:
    """What ``fit`` saw and did, recorded in the bundle manifest."""

    rows: int = 0
    duplicates_removed: int = 0
    conflicting_duplicates: int = 0
    train_rows: int = 0
    validation_rows: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    augmented: dict[str, int] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)


class TabularDetector(Detector):
    """Preprocessing + Keras network(s) + an operating threshold, saved as one bundle."""

    kind = "tabular"
    #: how a user says which labels are benign, for errors about the classes in training
    benign_label_hint = "name the benign label with --benign-label"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None, *, benign_labels: tuple[str, ...] = ("normal", "benign", "0"),
            progress: Any = None) -> Self:
        """Fit on a feature frame ``X`` and labels ``y`` (class names, or 0/1; None = all benign).

        ``y`` may be omitted only for ``model="autoencoder"``; then every row is taken as benign.
        """
        from . import networks
        keras = import_keras()

        started = time.perf_counter()
        cfg = self.config
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X))
            X.columns = [f"f{i}" for i in range(X.shape[1])]
        if len(X) < 10:
            raise InputError(f"too few training rows ({len(X)}); need at least 10")
        require_features(X.columns)
        labels = self._normalise_labels(y, len(X), benign_labels)
        summary = TrainingSummary(rows=len(X))
        if cfg.dedupe:
            X, labels, summary.duplicates_removed, summary.conflicting_duplicates = _dedupe(
                X, labels, drop_conflicts=cfg.drop_conflicts)
            if len(X) < 10:
                if X.nunique(dropna=False).max() <= 1:
                    raise one_value_only(list(X.columns))
                raise InputError(f"too few training rows after de-duplication ({len(X)} of {summary.rows}: "
                                 f"{summary.duplicates_removed} duplicates, {summary.conflicting_duplicates} "
                                 "with conflicting labels); need at least 10")
        malicious = labels != self.benign_class_
        if cfg.model != "autoencoder" and (malicious.all() or not malicious.any()):
            values = sorted(set(labels.tolist()))
            shown = ", ".join(map(repr, values[:8])) + (", ..." if len(values) > 8 else "")
            side = "benign" if malicious.all() else "malicious"
            raise InputError(f"model {cfg.model!r} needs both benign and malicious training rows; "
                             f"none is {side} (labels: {shown})",
                             hint=f"{self.benign_label_hint}, or use --model autoencoder "
                                  "for benign-only data")
        if not (~malicious).any():
            raise InputError("no benign training rows", hint=self.benign_label_hint)
        train_idx, val_idx = _split(labels, cfg.validation_fraction, cfg.seed)
        summary.train_rows, summary.validation_rows = len(train_idx), len(val_idx)
        summary.class_counts = {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}

        keras.utils.set_random_seed(cfg.seed)
        self.preprocessor_ = TabularPreprocessor(ple_bins=cfg.ple_bins, max_categories=cfg.max_categories).fit(X.iloc[train_idx])
        features = self.preprocessor_.transform(X)
        summary.preprocessing = self.preprocessor_.fit_report_.to_dict()
        n_features = features.shape[1]

        classes = sorted(set(labels.tolist()))
        use_classes = cfg.multiclass and cfg.model in ("mlp", "hybrid") and len(classes) > 2
        self.classes_ = classes if use_classes else [self.benign_class_, self.attack_class_]
        self.multiclass_ = use_classes
        target = (np.searchsorted(self.classes_, labels) if use_classes
                  else malicious.astype(np.float32))

        classifier = autoencoder = None
        if cfg.model in ("seed", "mlp", "hybrid"):
            x_train, y_train = features[train_idx], target[train_idx]
            if cfg.augment != "none":
                x_train, y_int, added = augment(x_train, y_train.astype(np.int64), cfg.augment,
                                                ratio=cfg.augment_ratio, seed=cfg.seed,
                                                numeric_columns=len(self.preprocessor_.numeric_columns_))
                y_train = y_int.astype(target.dtype)
                summary.augmented = {str(self.classes_[c]): int(n) for c, n in added.items()}
            weights = _class_weights(y_train, cfg.class_weight) if use_classes or cfg.model != "seed" else None
            classifier = []
            for member in range(cfg.ensemble):
                keras.utils.set_random_seed(cfg.seed + 7919 * member)
                name = cfg.model if member == 0 else f"{cfg.model}_{member}"
                if cfg.model == "seed":
                    network = networks.build_seed(n_features, cfg.learning_rate, name=name)
                else:
                    network = networks.build_mlp(n_features, len(self.classes_) if use_classes else 1,
                                                 hidden=cfg.hidden, dropout=cfg.dropout, l2=cfg.l2,
                                                 learning_rate=cfg.learning_rate, name=name)
                _train(network, x_train, y_train, cfg.resolved_epochs, cfg.batch_size, weights, progress,
                       "classifier" if cfg.ensemble == 1 else f"classifier {member + 1}/{cfg.ensemble}")
                classifier.append(network)
        ae_columns = None
        if cfg.model in ("autoencoder", "hybrid"):
            # Binned (PLE) copies help the classifier tell known classes apart but cost the
            # autoencoder its sense of unusual rows (NSL-KDD leave-attack-types-out folds, BENCHMARKS.md):
            # it reconstructs the unbinned columns only.
            ae_columns = self.preprocessor_.unbinned_columns() if cfg.ple_bins else None
            benign_rows = features[train_idx[~malicious[train_idx]]]
            if ae_columns is not None:
                benign_rows = benign_rows[:, ae_columns]
            autoencoder = networks.build_autoencoder(benign_rows.shape[1], hidden=cfg.ae_hidden,
                                                     learning_rate=cfg.learning_rate)
            epochs = cfg.resolved_epochs if cfg.model == "autoencoder" else cfg.ae_epochs
            _train(autoencoder, benign_rows, benign_rows, epochs, cfg.batch_size, None, progress, "autoencoder")
        self.network_ = networks.inference_model(n_features, classifier, autoencoder,
                                                 autoencoder_columns=ae_columns)

        raw = networks.run_model(self.network_, features[val_idx])
        self.ae_reference_ = None
        if autoencoder is not None:
            benign_errors = raw["reconstruction_error"][~malicious[val_idx]]
            self.ae_reference_ = float(np.quantile(benign_errors, cfg.ae_quantile))
        val_scores = self._scores_from_outputs(raw)
        self.threshold_ = choose_threshold(val_scores, malicious[val_idx], rule=cfg.threshold_rule,
                                           target_fpr=cfg.target_fpr)
        summary.validation_metrics = _validation_metrics(val_scores, malicious[val_idx],
                                                         self.threshold_.threshold)
        summary.seconds = round(time.perf_counter() - started, 2)
        self.summary_ = summary
        return self

    def _normalise_labels(self, y: Any, n: int, benign_labels: tuple[str, ...]) -> np.ndarray:
        # the benign classes become one, named by the first of them the caller lists (CTU-13's
        # normal and background traffic: Normal), not the first in sorted order
        rank: dict[str, int] = {}
        for name in benign_labels:
            rank.setdefault(str(name).lower(), len(rank))
        if y is None:
            if self.config.model != "autoencoder":
                raise InputError(f"model {self.config.model!r} needs labels",
                                 hint="pass labels, or use --model autoencoder on benign-only data")
            labels = np.array(["benign"] * n, dtype=object)
            rank.setdefault("benign", len(rank))  # whatever benign labels the caller named: these rows are benign
        else:
            labels = np.asarray(y).astype(str).astype(object)
            if len(labels) != n:
                raise InputError(f"{len(labels)} labels for {n} rows")
        names = sorted(set(labels.tolist()))
        benign_names = sorted((name for name in names if name.lower() in rank), key=lambda n: rank[n.lower()])
        if len(benign_names) > 1:
            labels = np.where(np.isin(labels, benign_names), benign_names[0], labels).astype(object)
        self.benign_class_ = benign_names[0] if benign_names else "benign"
        attack_names = [name for name in names if name.lower() not in rank]
        self.attack_class_ = attack_names[0] if len(attack_names) == 1 else "attack"
        return labels

    # -- scoring -------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame, report: PreprocessingReport | None = None, *,
                  fill_missing: bool = False) -> np.ndarray:
        check_is_fitted(self, ("preprocessor_",))
        return self.preprocessor_.transform(X, report, fill_missing=fill_missing)

    def numeric_input_columns(self) -> tuple[str, ...]:
        """The input columns the model reads as numbers (none before ``fit``): a reader of new data
        keeps them numeric however many of their values are not numbers."""
        prep = getattr(self, "preprocessor_", None)
        return tuple(prep.numeric_columns_) if prep is not None else ()

    def transform_table(self, table: Any) -> np.ndarray:
        """Features for an Arrow table (a CSV body): columnar, with :meth:`transform_records`'
        rules (absent column or null = missing value; a non-number = an error naming the record)."""
        check_is_fitted(self, ("preprocessor_",))
        return self.preprocessor_.transform_table(table)

    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Features for JSON-like records, without pandas (the service's low-latency path)."""
        check_is_fitted(self, ("preprocessor_",))
        return self.preprocessor_.transform_records(records)

    def score_records(self, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """``score``, ``alert`` and (with classes) ``predicted`` for JSON-like records."""
        return self.score_features(self.transform_records(records))

    def records_not_scored(self, records: list[Any]) -> dict[int, str]:
        """Records of a batch that are not the model's kind of record (events of another kind in a
        mixed log), by position, with why: ``serve`` answers them as skipped. None here."""
        return {}

    def source_field(self, column: str) -> str:
        """The input field a preprocessed column comes from, for explanations (itself here;
        detectors that derive columns from a field map them back)."""
        return column

    def score_function(self) -> Any:
        """features -> scores, for explanations (the same scores ``score_features`` gives)."""
        return lambda features: self._scores_from_outputs(self.raw_outputs(features))

    def raw_outputs(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Network outputs for preprocessed ``features`` (Keras, or ONNX Runtime when attached)."""
        runner = getattr(self, "onnx_session_", None)
        if runner is not None:
            return runner(features)
        from . import networks  # imports Keras: only when there is no ONNX runner

        return networks.run_model(self.network_, features)

    def _scores_from_outputs(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """Scores in log-odds space, so they never saturate and ties at the top stay rare."""
        parts = []
        if "logits" in raw:
            parts.append(self._attack_log_odds(raw["logits"]))
        if "reconstruction_error" in raw:
            err = np.log(np.maximum(raw["reconstruction_error"].astype(np.float64), 1e-12))
            if "logits" in raw:
                parts.append(self.config.ae_slope * (err - np.log(max(self.ae_reference_, 1e-12))))
            else:
                parts.append(err)
        return parts[0] if len(parts) == 1 else np.maximum(parts[0], parts[1])

    def _attack_log_odds(self, logits: np.ndarray) -> np.ndarray:
        """log(p_attack / p_benign): the logit itself for one output, else from the softmax logits."""
        logits = logits.astype(np.float64)
        if logits.ndim == 1 or logits.shape[1] == 1:
            return logits.reshape(-1)
        benign = self.classes_.index(self.benign_class_)
        attack = logits[:, [i for i in range(logits.shape[1]) if i != benign]]
        top = attack.max(axis=1)
        log_sum_attack = top + np.log(np.exp(attack - top[:, None]).sum(axis=1))
        return log_sum_attack - logits[:, benign]

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        return self.score_features(self.transform(X))["score"]

    def score_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """``score``, ``alert`` and (with classes) ``predicted`` for preprocessed features."""
        check_is_fitted(self, ("threshold_",))
        raw = self.raw_outputs(features)
        if len(features) <= FEW_ROWS:
            return self._score_few(raw)
        scores = self._scores_from_outputs(raw)
        alert = scores > self.threshold_.threshold
        out = {"score": scores, "alert": alert.astype(np.int8)}
        if "logits" in raw:
            out["predicted"] = self._predicted_classes(raw["logits"], alert)
        return out

    def _score_few(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`score_features` for a few rows in plain Python floats: for one record (the
        service's case) numpy's per-call overhead was most of the time after the network. Same
        numbers as the array path (tested against it)."""
        logits = raw.get("logits")
        errors = raw.get("reconstruction_error")
        threshold = self.threshold_.threshold
        rows = len(logits) if logits is not None else len(errors)
        multi = logits is not None and logits.ndim == 2 and logits.shape[1] > 1
        if multi:
            benign = self.classes_.index(self.benign_class_)
            attack = [i for i in range(logits.shape[1]) if i != benign]
        if errors is not None and logits is not None:
            slope, reference = self.config.ae_slope, math.log(max(self.ae_reference_, 1e-12))
        scores, alerts, predicted = [], [], []
        for r in range(rows):
            score = attack_index = None
            if logits is not None:
                row = logits[r].tolist() if logits.ndim == 2 else [float(logits[r])]
                if multi:
                    values = [row[i] for i in attack]
                    top = max(values)
                    attack_index = attack[values.index(top)]  # the first maximum, as np.argmax
                    score = top + math.log(sum(math.exp(v - top) for v in values)) - row[benign]
                else:
                    score = row[0]
            if errors is not None:
                error = math.log(max(float(errors[r]), 1e-12))
                score = error if score is None else max(score, slope * (error - reference))
            alert = score > threshold
            scores.append(score)
            alerts.append(alert)
            if logits is not None:
                name = (self.classes_[attack_index] if multi else self.attack_class_) if alert else self.benign_class_
                predicted.append(name)
        out = {"score": np.array(scores, dtype=np.float64), "alert": np.array(alerts, dtype=np.int8)}
        if logits is not None:
            out["predicted"] = np.array(predicted, dtype=object)
        return out

    def _predicted_classes(self, logits: np.ndarray, alert: np.ndarray) -> np.ndarray:
        """Class names consistent with ``alert``: the benign class below the threshold, else the
        most probable attack class (a novel attack flagged by the autoencoder still gets the
        nearest known attack class)."""
        classes = np.asarray(self.classes_, dtype=object)
        benign_index = self.classes_.index(self.benign_class_)
        if logits.ndim == 2 and logits.shape[1] > 1:
            masked = logits.astype(np.float64).copy()
            masked[:, benign_index] = -np.inf
            attack = classes[np.argmax(masked, axis=1)]
        else:
            attack = np.full(len(alert), self.attack_class_, dtype=object)
        return np.where(alert, attack, self.benign_class_)

    def predict_class(self, X: pd.DataFrame) -> np.ndarray:
        out = self.score_features(self.transform(X))
        return out.get("predicted", np.where(out["alert"] == 1, self.attack_class_, self.benign_class_))

    # -- persistence ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        check_is_fitted(self, ("threshold_",))
        return {
            "config": asdict(self.config),
            "classes": self.classes_,
            "benign_class": self.benign_class_,
            "attack_class": self.attack_class_,
            "multiclass": self.multiclass_,
            "ae_reference": self.ae_reference_,
        }

    def manifest_extra(self) -> dict[str, Any]:
        """Manifest entries of a subclass (what it read, its extractor versions); extend it."""
        return {"training_data_sha256": getattr(self, "data_sha256_", None),
                "training_read_report": getattr(self, "read_report_", None)}

    def save(self, path: str | Path, *, manifest_extra: dict[str, Any] | None = None,
             extra_files: dict[str, Any] | None = None) -> Path:
        check_is_fitted(self, ("threshold_",))
        from .preprocessing import PREPROCESSING_VERSION
        from .networks import NETWORKS_VERSION

        manifest = {
            "model": self.config.model,
            "features": self.preprocessor_.feature_names_,
            "input_columns": self.preprocessor_.input_columns_,
            "classes": self.classes_,
            "threshold": self.threshold_.threshold,
            "extractor_versions": {"preprocessing": PREPROCESSING_VERSION, "networks": NETWORKS_VERSION},
            "training": asdict(self.summary_),
            **self.manifest_extra(),
            **(manifest_extra or {}),
        }
        return write_bundle(
            path, kind=self.kind,
            files={"preprocessing.json": self.preprocessor_.to_json(),
                   "thresholds.json": self.threshold_.to_dict(),
                   "detector.json": self.state(), **(extra_files or {})},
            binary_writers={"model.keras": lambda p: self.network_.save(p)},
            manifest_extra=manifest,
        )

    @classmethod
    def load(cls, path: str | Path, *, keras_model: bool = True) -> Self:
        """Load a bundle. With ``keras_model=False`` and a ``model.onnx`` in the bundle, Keras (and
        TensorFlow) are never imported: scoring runs on ONNX Runtime alone (the service does this)."""
        contents = read_bundle(path, kind=cls.kind)
        try:
            state = contents.read_json("detector.json")
            try:
                config = config_from_dict(DetectorConfig, {
                    **state["config"], "hidden": tuple(state["config"]["hidden"]),
                    "ae_hidden": tuple(state["config"]["ae_hidden"])})
                detector = cls(config)
                detector.classes_ = list(state["classes"])
                detector.benign_class_ = state["benign_class"]
                detector.attack_class_ = state["attack_class"]
                detector.multiclass_ = bool(state["multiclass"])
                detector.ae_reference_ = state["ae_reference"]
                detector.threshold_ = ThresholdChoice.from_dict(contents.read_json("thresholds.json"))
                detector.preprocessor_ = TabularPreprocessor.from_json(contents.read_json("preprocessing.json"))
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"bundle state is incomplete or invalid ({exc!r})", path=path) from None
            onnx_file = contents.manifest["files"].get("model.onnx")
            if onnx_file:
                detector.onnx_bytes_ = contents.path("model.onnx").read_bytes()
            detector.network_ = None
            if keras_model or not onnx_file:
                from . import networks

                try:
                    detector.network_ = networks.load_model(str(contents.path("model.keras")))
                except Exception as exc:  # Keras raises many types for a bad file
                    raise BundleError(f"model.keras cannot be loaded ({type(exc).__name__}: {exc})",
                                      path=path) from None
            else:
                from .onnx import attach_onnx

                attach_onnx(detector)
            detector.manifest_ = contents.manifest
            detector.bundle_path_ = Path(path)
        finally:
            contents.close()
        summary = contents.manifest.get("training", {})
        detector.summary_ = TrainingSummary(**{k: v for k, v in summary.items()
                                               if k in TrainingSummary.__dataclass_fields__})
        return detector


# -- helpers -------------------------------------------------------------------------------------
def _dedupe(X: pd.DataFrame, labels: np.ndarray, *, drop_conflicts: bool = False,
            ) -> tuple[pd.DataFrame, np.ndarray, int, int]:
    """Drop exact duplicate (features, label) rows; count feature-identical rows whose labels
    differ (and drop them too with ``drop_conflicts``: no label can be right for all of them)."""
    row_hash = pd.util.hash_pandas_object(X, index=False).to_numpy()
    label_hash = pd.util.hash_array(labels.astype(str).astype(object))
    pair = pd.DataFrame({"row": row_hash, "label": label_hash})
    keep = ~pair.duplicated().to_numpy()
    removed = int((~keep).sum())
    kept_pairs = pair[keep]
    conflicting_mask = kept_pairs["row"].duplicated(keep=False).to_numpy()
    conflicting = int(conflicting_mask.sum())
    if drop_conflicts and conflicting:
        keep[np.flatnonzero(keep)[conflicting_mask]] = False
    return X.iloc[np.flatnonzero(keep)].reset_index(drop=True), labels[keep], removed, conflicting


def _split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation split; classes too small to stratify go to training."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for name in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == name)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction)) if len(idx) >= 2 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _class_weights(target: np.ndarray, mode: str) -> dict[int, float] | None:
    if mode == "none":
        return None
    target = np.asarray(target).astype(np.int64)
    counts = np.bincount(target)
    weights = len(target) / (len(counts) * np.maximum(counts, 1))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    return {i: float(w) for i, w in enumerate(weights)}


def _train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
           class_weight: dict[int, float] | None, progress: Any, name: str) -> None:
    callbacks = [epoch_callback(progress, f"training {name}", epochs)] if progress is not None else []
    model.fit(x, y, epochs=epochs, batch_size=batch_size, class_weight=class_weight, verbose=0,
              shuffle=True, callbacks=callbacks)


def _validation_metrics(scores: np.ndarray, malicious: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    alert = scores > threshold
    metrics = {
        "rows": int(len(scores)),
        "accuracy": float((alert == malicious).mean()),
        "detection_rate": float(alert[malicious].mean()) if malicious.any() else float("nan"),
        "false_positive_rate": float(alert[~malicious].mean()),
    }
    if malicious.any() and (~malicious).any():
        metrics["roc_auc"] = float(roc_auc_score(malicious, scores))
        metrics["pr_auc"] = float(average_precision_score(malicious, scores))
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in metrics.items()}

