"""Sequence models for log anomaly detection, following the estimator contract.

``deeplog`` (Du et al., CCS 2017): an LSTM trained on normal sequences only predicts each next event
from the ``window`` before it (and the end of the sequence after the last event). A sequence's score
is its largest surprise ``-log p(event)``; the classic top-g rule is a threshold on rank, this one is
a threshold on probability, chosen on held-out normal sequences at ``target_fpr``. Alerts name the
event that broke the expectation and what the model expected instead.

``autoencoder``: trained on normal sequences only, over event-count vectors (Xu et al., SOSP 2009
count what PCA sees; this reconstructs them): ``log1p`` counts, standardised on the normal training
sequences, through a dense bottleneck. A sequence's score is its squared reconstruction error, so an
event that normal sequences never hold (or hold a different number of times) stands out, whatever
its position; alerts name the events whose counts broke the expectation, with observed and expected
counts.

``classifier``: supervised, when anomalous sequences are given too: event embeddings, a
bidirectional LSTM and attention pooling, beside a dense layer over the sequence's standardised
event-count vector (``counts``), trained with class weights. With anomalies in the
validation sequences (carved from the training data) the threshold maximises F1 there
(``threshold_rule="auto"``); ``target_fpr`` is the rule with normal sequences only, and with
fewer than ``MIN_ANOMALIES_FOR_F1`` anomalous validation sequences, where F1 rests on too few
anomalies to place a threshold (2 of HDFS_5000.log's 13 anomalous blocks gave a validation
false-positive rate of 0.17). The
autoencoder given labelled sequences trains on the normal ones and takes the same max-F1 threshold
from the labelled validation sequences (chosen on a carve of HDFS's training blocks: detection 0.999
and 1.0 at no false positives, against 0.87 and 1.0 with the 0.5% target-FPR rule).

``auto`` (the default): deeplog for normal sequences only; with labelled anomalies, the classifier
and the autoencoder are both fitted on the same split and the one with the higher average precision
on the validation sequences is kept.

>>> det = LogSequenceDetector(LogConfig(epochs=2)).fit([["a", "b", "c"]] * 50)   # doctest: +SKIP
>>> det.score_samples([["a", "b", "c"], ["a", "x"]])                         # doctest: +SKIP
array([0.1, 9.2])
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self, Sequence

import numpy as np

from ..core.backend import import_keras
from ..core.base import Detector, config_from_dict, validate_choice, validate_range, validate_seed, validate_types
from ..core.bundle import read_bundle, write_bundle
from ..core.errors import BundleError, InputError, check_is_fitted
from ..core.progress import epoch_callback
from ..core.thresholds import RULES, ThresholdChoice, choose_threshold

MODELS = ("auto", "deeplog", "classifier", "autoencoder")
PAD, UNKNOWN, END = 0, 1, 2  # reserved event indexes
#: deeplog's score of an event its training never had (at least: a known event may surprise more)
NEVER_SEEN = 50.0
# the autoencoder sees one vector per sequence (not one window per event), so a few hundred normal
# sequences make few gradient steps per epoch; it needs more epochs, and they are cheap
EPOCHS = {"deeplog": 8, "classifier": 8, "autoencoder": 60}
MIN_ANOMALIES_FOR_F1 = 10  # fewer anomalous validation sequences: "auto" takes the target-FPR rule
COUNT_SCALE_FLOOR = 0.25  # in log1p(count) units: about one occurrence more or less of a rare event
LOGS_VERSION = 2  # 2: event-count features (autoencoder, classifier)


@dataclass(frozen=True)
class LogConfig:
    # auto: deeplog with normal sequences only; with both, the classifier or the autoencoder,
    # whichever ranks the validation sequences better (average precision)
    model: str = "auto"
    window: int = 10
    embedding: int = 32
    units: int = 64
    epochs: int | None = None  # None: the model's default (EPOCHS)
    batch_size: int = 256
    learning_rate: float = 2e-3
    max_length: int = 200  # classifier input length (longer sequences keep their last events)
    # classifier: the whole sequence's event-count vector beside the events (order-free evidence,
    # and it sees past max_length)
    counts: bool = True
    validation_fraction: float = 0.2
    target_fpr: float = 0.005
    # auto: with anomalous validation sequences, max_f1 for the classifier and the autoencoder (a
    # 0.5% quantile of a few hundred normal sequences rests on one or two of them); deeplog and
    # normal-only data: target_fpr on normal validation sequences
    threshold_rule: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        validate_types(self)
        validate_choice("model", self.model, MODELS)
        validate_choice("threshold_rule", self.threshold_rule, ("auto", *RULES))
        validate_seed(self.seed)
        validate_range("window", self.window, 1, 1000)
        if self.epochs is not None:
            validate_range("epochs", self.epochs, 1)
        validate_range("validation_fraction", self.validation_fraction, 0.0, 0.9, low_open=True)
        validate_range("target_fpr", self.target_fpr, 0.0, 1.0, high_open=True)


@dataclass
class LogTrainingSummary:
    sequences: int = 0
    anomalous: int = 0
    train_sequences: int = 0
    validation_sequences: int = 0
    vocabulary: int = 0
    seconds: float = 0.0
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class LogSequenceDetector(Detector):
    """Anomaly scores for event sequences (lists of event ids as strings)."""

    kind = "logs"

    def __init__(self, config: LogConfig | None = None) -> None:
        self.config = config or LogConfig()

    def read_raw_logs_with(self, source: Any, miner: Any) -> Self:
        """Keep how raw lines became sequences (a ``LogSource`` and the ``TemplateMiner`` that mined
        the training lines) in the bundle, so ``detect`` and ``watch`` read raw logs the same way."""
        self.log_source_, self.templates_ = source.to_json(), miner.to_json()
        return self

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Sequence[Sequence[str]], y: Any = None, *, progress: Any = None, **_: Any) -> Self:
        """Fit on event sequences; ``y`` (0 normal, 1 anomalous) is optional. ``progress``: a
        reporter of :mod:`deepsentry.core.progress`, told each training epoch."""
        keras = import_keras()

        started = time.perf_counter()
        cfg = self.config
        sequences = [list(map(str, s)) for s in X]
        labels = np.zeros(len(sequences), dtype=np.int8) if y is None else np.asarray(y).astype(np.int8)
        if len(sequences) < 10:
            raise InputError(f"too few training sequences ({len(sequences)}); need at least 10")
        if len(labels) != len(sequences):
            raise InputError(f"{len(labels)} labels for {len(sequences)} sequences")
        if not any(sequences):  # nothing to learn: a model of no events would flag every event
            raise InputError(f"all {len(sequences)} training sequences are empty (no events)",
                             hint="is the sequence column the right one, and are the events in it?")
        model = cfg.model
        if model == "auto" and labels.any() and (labels == 0).any():
            return self._fit_best_supervised(sequences, labels, started, progress)
        if model == "auto":
            model = "deeplog"
        if model == "classifier" and not (labels.any() and (labels == 0).any()):
            raise InputError("the classifier needs normal and anomalous training sequences",
                             hint="give --abnormal sequences, or use --model deeplog")
        if not (labels == 0).any():
            raise InputError("no normal training sequences")
        self.model_ = model
        for stale in ("count_mean_", "count_scale_"):  # a refit without count features must not see them
            self.__dict__.pop(stale, None)
        epochs = cfg.epochs or EPOCHS[model]
        callbacks = [epoch_callback(progress, f"training {model}", epochs)] if progress is not None else []

        def fit_network(x: Any, target: Any, **extra: Any) -> None:
            self.network_.fit(x, target, epochs=epochs, batch_size=cfg.batch_size, verbose=0, shuffle=True,
                              callbacks=callbacks, **extra)

        rng = np.random.default_rng(cfg.seed)
        val_mask = np.zeros(len(sequences), dtype=bool)
        for value in (0, 1):
            idx = np.flatnonzero(labels == value)
            rng.shuffle(idx)
            val_mask[idx[: int(round(len(idx) * cfg.validation_fraction))]] = True
        train_idx, val_idx = np.flatnonzero(~val_mask), np.flatnonzero(val_mask)
        # the vocabulary comes from normal training sequences for deeplog: anything else is unknown
        source = [sequences[i] for i in train_idx if model == "classifier" or labels[i] == 0]
        events = sorted({e for s in source for e in s})
        self.vocabulary_ = {e: i + 3 for i, e in enumerate(events)}
        self.events_ = events
        keras.utils.set_random_seed(cfg.seed)
        if model == "deeplog":
            self.network_ = self._build_deeplog(len(events) + 3)
            normal_train = [sequences[i] for i in train_idx if labels[i] == 0]
            x, t = self._windows(normal_train)
            fit_network(x, t)
        elif model == "autoencoder":
            normal_train = [sequences[i] for i in train_idx if labels[i] == 0]
            counts = self._event_counts(normal_train)
            self._fit_count_scaling(counts)
            z = self._count_features(counts)
            self.network_ = self._build_autoencoder(z.shape[1])
            fit_network(z, z)
        else:
            train = [sequences[i] for i in train_idx]
            if cfg.counts:
                self._fit_count_scaling(self._event_counts(train))
            self.network_ = self._build_classifier(len(events) + 3)
            x = self._classifier_inputs(train)
            t = labels[train_idx].astype(np.float32)
            share = t.mean()
            weights = {0: float(0.5 / (1 - share)), 1: float(0.5 / share)}
            fit_network(x, t, class_weight=weights)
        val_scores = self.score_samples([sequences[i] for i in val_idx])
        val_labels = labels[val_idx].astype(bool)
        rule = cfg.threshold_rule if val_labels.any() else "target_fpr"  # other rules need anomalies
        if rule == "auto":  # deeplog is an anomaly detector: its threshold comes from normal data
            rule = ("max_f1" if model in ("classifier", "autoencoder") and val_labels.sum() >= MIN_ANOMALIES_FOR_F1
                    else "target_fpr")
        self.threshold_ = choose_threshold(val_scores, val_labels, rule=rule, target_fpr=cfg.target_fpr)
        summary = LogTrainingSummary(sequences=len(sequences), anomalous=int(labels.sum()),
                                     train_sequences=len(train_idx), validation_sequences=len(val_idx),
                                     vocabulary=len(events))
        alert = val_scores > self.threshold_.threshold
        if model == "deeplog" and self.threshold_.threshold >= NEVER_SEEN:
            unseen = int(np.count_nonzero(val_scores[~val_labels] >= NEVER_SEEN))
            summary.notes.append(
                f"{unseen} of {int((~val_labels).sum())} normal validation sequences hold events the training part "
                f"never had, more than the target false-positive rate allows: the threshold sits at the score "
                f"of a never-seen event, so a never-seen event alone raises no alert (train on more logs, or "
                f"raise the target false-positive rate)")
        summary.validation_metrics = {
            "false_positive_rate": float(alert[~val_labels].mean()),
            "detection_rate": float(alert[val_labels].mean()) if val_labels.any() else None}
        if val_labels.any():
            from sklearn.metrics import average_precision_score

            summary.validation_metrics["average_precision"] = float(average_precision_score(val_labels, val_scores))
        summary.seconds = round(time.perf_counter() - started, 2)
        self.summary_ = summary
        return self

    def _fit_best_supervised(self, sequences: list[list[str]], labels: np.ndarray, started: float,
                             progress: Any = None) -> Self:
        """``auto`` with labelled anomalies: fit the classifier and the event-count autoencoder on the
        same split and keep the one with the higher average precision on the validation sequences
        (carved from the training data; the classifier on a tie; the autoencoder when the carve holds
        no anomalous sequence). On HDFS blocks the autoencoder wins (its false alarms are rarer than
        the classifier's); on BGL windows the classifier."""
        fitted = {name: LogSequenceDetector(replace(self.config, model=name)).fit(sequences, labels, progress=progress)
                  for name in ("classifier", "autoencoder")}
        precision = {name: det.summary_.validation_metrics.get("average_precision") for name, det in fitted.items()}
        if precision["classifier"] is None:
            # the validation carve holds no anomalous sequence (a handful of them in all): nothing to
            # compare on, and the autoencoder is the one that does not learn from those few labels
            best = "autoencoder"
        else:
            best = "autoencoder" if precision["autoencoder"] > precision["classifier"] else "classifier"
        config = self.config
        self.__dict__.update(fitted[best].__dict__)
        self.config = config
        self.summary_.validation_metrics["auto_average_precision"] = precision
        self.summary_.seconds = round(time.perf_counter() - started, 2)
        return self

    def _build_deeplog(self, vocab: int) -> Any:
        keras = import_keras()

        cfg = self.config
        inputs = keras.Input((cfg.window,), dtype="int32", name="window")
        x = keras.layers.Embedding(vocab, cfg.embedding)(inputs)
        x = keras.layers.LSTM(cfg.units, return_sequences=True)(x)
        x = keras.layers.LSTM(cfg.units)(x)
        logits = keras.layers.Dense(vocab, name="next_event")(x)
        model = keras.Model(inputs, logits, name="deeplog")
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    def _build_classifier(self, vocab: int) -> Any:
        keras = import_keras()

        from .layers import AttentionPooling

        cfg = self.config
        inputs = [keras.Input((cfg.max_length,), dtype="int32", name="events")]
        x = keras.layers.Embedding(vocab, cfg.embedding, mask_zero=True)(inputs[0])
        x = keras.layers.Bidirectional(keras.layers.LSTM(cfg.units, return_sequences=True))(x)
        x = AttentionPooling(name="attention")(x)
        if cfg.counts:
            inputs.append(keras.Input((len(self.count_mean_),), dtype="float32", name="counts"))
            counts = keras.layers.Dense(cfg.units, activation="relu", name="count_features")(inputs[1])
            x = keras.layers.Concatenate()([x, counts])
        logits = keras.layers.Dense(1, name="logit")(x)
        model = keras.Model(inputs, logits, name="log_classifier")
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        return model

    def _build_autoencoder(self, width: int) -> Any:
        keras = import_keras()

        cfg = self.config
        inputs = keras.Input((width,), dtype="float32", name="counts")
        x = keras.layers.Dense(cfg.units, activation="relu")(inputs)
        x = keras.layers.Dense(max(2, cfg.units // 4), activation="relu", name="bottleneck")(x)
        x = keras.layers.Dense(cfg.units, activation="relu")(x)
        outputs = keras.layers.Dense(width, name="reconstruction")(x)
        model = keras.Model(inputs, outputs, name="count_autoencoder")
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
        return model

    # -- encoding ------------------------------------------------------------------------------
    def _encode(self, sequence: Sequence[str]) -> list[int]:
        vocabulary = self.vocabulary_
        return [vocabulary.get(str(e), UNKNOWN) for e in sequence]

    def _windows(self, sequences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Every (previous ``window`` events, next event) pair, the end of sequence included."""
        w = self.config.window
        xs, ts = [], []
        for sequence in sequences:
            codes = [PAD] * w + self._encode(sequence) + [END]
            for t in range(w, len(codes)):
                xs.append(codes[t - w:t])
                ts.append(codes[t])
        return np.asarray(xs, dtype=np.int32).reshape(-1, w), np.asarray(ts, dtype=np.int32)

    def _padded(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        n = self.config.max_length
        out = np.zeros((len(sequences), n), dtype=np.int32)
        for i, sequence in enumerate(sequences):
            codes = self._encode(sequence)[-n:]
            out[i, n - len(codes):] = codes
        return out

    def _event_counts(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """How often each event occurs in each sequence; column 0 counts unknown events."""
        out = np.zeros((len(sequences), len(self.vocabulary_) + 1), dtype=np.float64)
        for i, sequence in enumerate(sequences):
            # vocabulary indexes start at 3 (PAD, UNKNOWN, END); UNKNOWN lands in column 0
            codes = np.asarray(self._encode(sequence), dtype=np.int64) - 2
            codes[codes < 0] = 0
            out[i] = np.bincount(codes, minlength=out.shape[1])
        return out

    def _fit_count_scaling(self, counts: np.ndarray) -> None:
        log_counts = np.log1p(counts)
        self.count_mean_ = log_counts.mean(axis=0)
        # an event the training sequences always hold the same number of times has no spread; the
        # floor makes one extra or missing occurrence of it cost a few standard deviations
        self.count_scale_ = np.maximum(log_counts.std(axis=0), COUNT_SCALE_FLOOR)

    def _classifier_inputs(self, sequences: Sequence[Sequence[str]]) -> Any:
        """The classifier's inputs. Events its training sequences never held are left out (masked,
        and their count zeroed): it learned nothing about them (their embedding and count weights
        keep their random start), so they would move its score at random; it scores the events it
        knows. Novel events are the anomaly detectors' evidence (deeplog, the autoencoder)."""
        padded = self._padded(sequences)
        padded[padded == UNKNOWN] = PAD
        if not hasattr(self, "count_mean_"):
            return padded
        features = self._count_features(self._event_counts(sequences))
        features[:, 0] = 0.0  # the unknown-event count: always 0 in training
        return [padded, features]

    def _count_features(self, counts: np.ndarray) -> np.ndarray:
        """Standardised ``log1p`` of event counts (:meth:`_event_counts`)."""
        return ((np.log1p(counts) - self.count_mean_) / self.count_scale_).astype(np.float32)

    def _count_errors(self, sequences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event: the squared reconstruction error, the reconstructed (expected) count and the
        observed count."""
        check_is_fitted(self, ("network_", "count_mean_"))
        counts = self._event_counts(sequences)
        z = self._count_features(counts)
        reconstruction = self._predict(z).astype(np.float64)
        expected = np.expm1(reconstruction * self.count_scale_ + self.count_mean_).clip(min=0.0)
        return (z - reconstruction) ** 2, expected, counts

    # -- scoring -------------------------------------------------------------------------------
    def _predict(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Network outputs for ``x`` (an array, or one array per input of a multi-input network)."""
        arrays = x if isinstance(x, list) else [x]
        n = len(arrays[0])
        if n == 0:
            return np.zeros((0,) + tuple(self.network_.output_shape[1:]), dtype=np.float32)
        if n > 8192:
            return np.asarray(self.network_.predict(x, batch_size=4096, verbose=0))
        # small batches (streaming): pad to a power of two so the compiled function is reused
        # (eager LSTM calls cost tens of ms; predict() re-plans on every call)
        size = max(64, 1 << (n - 1).bit_length())
        padded = []
        for array in arrays:
            block = np.zeros((size,) + array.shape[1:], dtype=array.dtype)
            block[:n] = array
            padded.append(block)
        return np.asarray(self.network_.predict_on_batch(padded if isinstance(x, list) else padded[0]))[:n]

    def surprises(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """deeplog: ``-log p(event | window)`` for every event of every sequence (and the end)."""
        return self._surprises_and_logits(sequences)[0]

    def _surprises_and_logits(self, sequences: Sequence[Sequence[str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        check_is_fitted(self, ("network_",))
        x, t = self._windows(sequences)
        logits = self._predict(x).astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        surprise = log_norm - logits[np.arange(len(t)), t]
        surprise[t == UNKNOWN] = np.maximum(surprise[t == UNKNOWN], NEVER_SEEN)
        cuts = np.cumsum([len(s) + 1 for s in sequences])[:-1]
        return np.split(surprise, cuts), np.split(logits, cuts)

    def score_and_explain(self, sequences: Sequence[Sequence[str]], top: int = 3) -> tuple[np.ndarray, list[Any]]:
        """Scores and (deeplog) explanations from one pass over the network."""
        sequences = [list(map(str, s)) for s in sequences]
        if self.model_ == "autoencoder":
            return self._count_score_and_explain(sequences, top)
        if self.model_ != "deeplog":
            return self.score_samples(sequences), [None] * len(sequences)
        surprises, logits = self._surprises_and_logits(sequences)
        names = {v: k for k, v in self.vocabulary_.items()} | {END: "<end>", UNKNOWN: "<unknown>", PAD: "<pad>"}
        explanations = []
        for sequence, surprise, rows in zip(sequences, surprises, logits):
            position = int(surprise.argmax())
            expected = [names.get(int(i), str(i)) for i in np.argsort(-rows[position])[:top]]
            explanations.append({"position": position,
                                 "event": sequence[position] if position < len(sequence) else "<end>",
                                 "surprise": round(float(surprise[position]), 3), "expected": expected})
        return np.asarray([float(s.max()) for s in surprises]), explanations

    def _count_score_and_explain(self, sequences: list[list[str]], top: int) -> tuple[np.ndarray, list[Any]]:
        errors, expected, counts = self._count_errors(sequences)
        names = ["<unknown>", *self.events_]
        explanations = []
        for error, wanted, observed in zip(errors, expected, counts):
            worst = np.argsort(-error, kind="stable")[:top]
            explanations.append({"events": [{"event": names[j], "count": int(observed[j]),
                                             "expected": round(float(wanted[j]), 2),
                                             "error": round(float(error[j]), 3)} for j in worst]})
        return errors.sum(axis=1), explanations

    def score_samples(self, X: Sequence[Sequence[str]]) -> np.ndarray:
        check_is_fitted(self, ("network_",))
        sequences = [list(map(str, s)) for s in X]
        if self.model_ == "deeplog":
            return np.asarray([float(s.max()) for s in self.surprises(sequences)])
        if self.model_ == "autoencoder":
            return self._count_errors(sequences)[0].sum(axis=1)
        return self._predict(self._classifier_inputs(sequences)).reshape(-1).astype(np.float64)

    def explain(self, sequence: Sequence[str], top: int = 3) -> dict[str, Any] | None:
        """deeplog: the event that broke the expectation, its position and the expected events."""
        return self.score_and_explain([sequence], top)[1][0]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path, *, extra_files: dict[str, Any] | None = None,
             manifest_extra: dict[str, Any] | None = None) -> Path:
        check_is_fitted(self, ("threshold_",))
        extra_files = dict(extra_files or {})
        if getattr(self, "log_source_", None) is not None:
            extra_files["logs.json"] = self.log_source_
            extra_files["templates.json"] = self.templates_
        state = {"config": asdict(self.config), "model": self.model_, "events": self.events_,
                 "window_lines": getattr(self, "window_lines_", None),
                 "window_seconds": getattr(self, "window_seconds_", None)}
        if hasattr(self, "count_mean_"):
            state["count_scaling"] = {"mean": self.count_mean_.tolist(), "scale": self.count_scale_.tolist()}
        versions = {"logs": LOGS_VERSION}
        if getattr(self, "templates_", None) is not None:  # mined from raw lines: the miner's rules matter
            versions["templates"] = int(self.templates_.get("version", 1))
        manifest = {"model": self.model_, "threshold": self.threshold_.threshold,
                    "extractor_versions": versions,
                    "training": asdict(self.summary_), **(manifest_extra or {})}
        return write_bundle(path, kind=self.kind,
                            files={"detector.json": state, "thresholds.json": self.threshold_.to_dict(),
                                   **(extra_files or {})},
                            binary_writers={"model.keras": lambda p: self.network_.save(p)},
                            manifest_extra=manifest)

    @classmethod
    def load(cls, path: str | Path, **_: Any) -> Self:
        keras = import_keras()

        from . import layers  # noqa: F401  registers AttentionPooling for safe_mode loading

        contents = read_bundle(path, kind=cls.kind)
        try:
            try:
                state = contents.read_json("detector.json")
                detector = cls(config_from_dict(LogConfig, state["config"]))
                detector.model_ = state["model"]
                detector.events_ = list(state["events"])
                detector.window_lines_ = state.get("window_lines")
                detector.window_seconds_ = state.get("window_seconds")
                detector.vocabulary_ = {e: i + 3 for i, e in enumerate(detector.events_)}
                detector.threshold_ = ThresholdChoice.from_dict(contents.read_json("thresholds.json"))
                if detector.model_ == "autoencoder" or "count_scaling" in state:
                    scaling = state["count_scaling"]
                    detector.count_mean_ = np.asarray(scaling["mean"], dtype=np.float64)
                    detector.count_scale_ = np.asarray(scaling["scale"], dtype=np.float64)
                    width = (len(detector.events_) + 1,)
                    if detector.count_mean_.shape != width or detector.count_scale_.shape != width:
                        raise ValueError("count scaling does not match the vocabulary")
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"bundle state is incomplete or invalid ({exc!r})", path=path) from None
            try:
                detector.network_ = keras.saving.load_model(str(contents.path("model.keras")), safe_mode=True)
            except Exception as exc:  # Keras raises many types for a bad file
                raise BundleError(f"model.keras cannot be loaded ({type(exc).__name__}: {exc})", path=path) from None
            detector.manifest_ = contents.manifest
            detector.bundle_path_ = Path(path)
            detector.log_source_ = None
            if "logs.json" in contents.manifest["files"]:
                detector.log_source_ = contents.read_json("logs.json")
                detector.templates_ = contents.read_json("templates.json")
                if not isinstance(detector.log_source_, dict) or "format" not in detector.log_source_ or not (
                        detector.log_source_.get("session") or detector.window_lines_ or detector.window_seconds_):
                    raise BundleError("logs.json names no line format, or neither a session pattern nor a window",
                                      path=path)
        finally:
            contents.close()
        return detector
