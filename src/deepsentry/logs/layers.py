"""Keras layers of the log models, registered so bundles load with ``safe_mode=True``."""

from __future__ import annotations

from ..core.backend import import_keras, prime_boolean_ops

keras = import_keras()
ops = keras.ops
prime_boolean_ops()  # the LSTMs' masks are boolean


@keras.saving.register_keras_serializable(package="deepsentry")
class AttentionPooling(keras.layers.Layer):
    """Attention-weighted mean over time steps (masked steps get no weight)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.score = keras.layers.Dense(1, name="score")
        self.score.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, mask=None):
        logits = ops.squeeze(self.score(inputs), axis=-1)
        if mask is not None:
            logits = ops.where(mask, logits, ops.full_like(logits, -1e9))
        weights = ops.softmax(logits, axis=-1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
