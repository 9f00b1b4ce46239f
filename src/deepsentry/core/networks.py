"""Keras network builders shared by every domain, written with ``keras.ops`` only (backend-neutral).

* ``seed``: the original design, exactly: Dense(64, relu) -> Dense(64, relu) -> Dense(1), Adam,
  ``BinaryCrossentropy(from_logits=True)``, accuracy on logits (threshold 0).
* ``mlp``: deeper and regularised (L2, dropout); softmax logits when there are classes.
* ``autoencoder``: trained on benign rows only; its output is the per-row reconstruction error.

>>> net = build_seed(8)
>>> [layer.units for layer in net.layers if hasattr(layer, "units")]
[64, 64, 1]
"""

from __future__ import annotations

import numpy as np

from .backend import import_keras

keras = import_keras()
ops = keras.ops

NETWORKS_VERSION = 2  # 2: with binned (PLE) features the autoencoder sees the unbinned columns only
# Training steps per call into the backend: the same updates in the same order, with less Python
# per step. On this project's 2-core machine an epoch of the default classifier went from 1.2 s to
# 0.8 s, of the autoencoder from 0.6 s to 0.35 s (identical losses).
STEPS_PER_EXECUTION = 32


@keras.saving.register_keras_serializable(package="deepsentry")
class ReconstructionError(keras.layers.Layer):
    """Mean squared difference between two tensors along the last axis: one error per row."""

    def call(self, inputs):
        original, reconstruction = inputs
        return ops.mean(ops.square(original - reconstruction), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[0][:-1]


@keras.saving.register_keras_serializable(package="deepsentry")
class SelectColumns(keras.layers.Layer):
    """The given feature columns, in order (the autoencoder's view of a row without its binned copies)."""

    def __init__(self, columns: list[int], **kwargs):
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]

    def call(self, inputs):
        return ops.take(inputs, self.columns, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.columns))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}


def build_seed(n_features: int, learning_rate: float = 1e-3, *, name: str = "seed") -> keras.Model:
    """The original design's network, kept exactly for comparison."""
    inputs = keras.Input((n_features,), name="features")
    hidden = keras.layers.Dense(64, activation="relu")(inputs)
    hidden = keras.layers.Dense(64, activation="relu")(hidden)
    logits = keras.layers.Dense(1, name="logits")(hidden)
    model = keras.Model(inputs, logits, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        steps_per_execution=STEPS_PER_EXECUTION,
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        # The network emits logits: a logit of 0 is probability 0.5.
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
    )
    return model


def build_mlp(n_features: int, n_outputs: int, *, hidden: tuple[int, ...] = (256, 128),
              dropout: float = 0.2, l2: float = 1e-5, learning_rate: float = 1e-3,
              name: str = "mlp") -> keras.Model:
    """Regularised classifier; ``n_outputs == 1`` is binary (sigmoid logit), else softmax logits."""
    inputs = keras.Input((n_features,), name="features")
    x = inputs
    for width in hidden:
        x = keras.layers.Dense(width, activation="relu",
                               kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(n_outputs, name="logits")(x)
    model = keras.Model(inputs, logits, name=name)
    if n_outputs == 1:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        metrics = [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics,
                  steps_per_execution=STEPS_PER_EXECUTION)
    return model


def build_autoencoder(n_features: int, *, hidden: tuple[int, ...] = (64, 16),
                      learning_rate: float = 1e-3) -> keras.Model:
    """Symmetric dense autoencoder trained to reproduce its input (benign rows only)."""
    inputs = keras.Input((n_features,), name="features")
    x = inputs
    for width in hidden:
        x = keras.layers.Dense(width, activation="relu")(x)
    for width in reversed(hidden[:-1]):
        x = keras.layers.Dense(width, activation="relu")(x)
    outputs = keras.layers.Dense(n_features, name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                  steps_per_execution=STEPS_PER_EXECUTION)
    return model


def inference_model(n_features: int, classifier: keras.Model | list[keras.Model] | None,
                    autoencoder: keras.Model | None, *,
                    autoencoder_columns: list[int] | None = None) -> keras.Model:
    """One network for scoring: outputs ``logits`` and/or ``reconstruction_error``.

    A list of classifiers is an ensemble: its logits are averaged. Saving a single model keeps
    the bundle to one ``model.keras`` and one ONNX graph. ``autoencoder_columns``: the feature
    columns the autoencoder was trained on (all when None).
    """
    inputs = keras.Input((n_features,), name="features")
    outputs = {}
    if isinstance(classifier, list):
        outputs["logits"] = (classifier[0](inputs) if len(classifier) == 1 else
                             keras.layers.Average(name="ensemble")([c(inputs) for c in classifier]))
    elif classifier is not None:
        outputs["logits"] = classifier(inputs)
    if autoencoder is not None:
        seen = inputs if autoencoder_columns is None else SelectColumns(autoencoder_columns,
                                                                         name="autoencoder_columns")(inputs)
        outputs["reconstruction_error"] = ReconstructionError(name="reconstruction_error")(
            [seen, autoencoder(seen)])
    return keras.Model(inputs, outputs, name="deepsentry_scorer")


def run_model(model: keras.Model, features: np.ndarray, batch_size: int = 65536) -> dict[str, np.ndarray]:
    """Outputs of an inference model as numpy arrays, in batches (no Keras progress output)."""
    results: dict[str, list[np.ndarray]] = {}
    for start in range(0, max(len(features), 1), batch_size):
        chunk = features[start:start + batch_size]
        out = model(chunk, training=False)
        if not isinstance(out, dict):
            out = {"logits": out}
        for name, value in out.items():
            results.setdefault(name, []).append(ops.convert_to_numpy(value))
    return {name: np.concatenate(parts) for name, parts in results.items()}


def load_model(path: str) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode=True`` (no arbitrary code from the file)."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)
