"""Additive (Bahdanau) attention: score(s, h) = vᵀ tanh(W₁h + W₂s + b)."""

import keras
from keras import ops

from kerasnlp_lab.numerics import LARGE_NEGATIVE


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau, Cho & Bengio (2014).

    For a decoder state `s` (the query) and encoder outputs `h_j` (the values):
    `score_j = vᵀ tanh(W₁ h_j + W₂ s + b)`, `weights = softmax(score)` over the
    value positions, `context = Σ_j weights_j h_j`. The softmax runs in float32
    under mixed precision and the weights are returned in float32.

    `W₁ h` does not depend on the decoder step: compute it once per source with
    `process_values(values)` and pass it back as `processed_values` at every
    step of a decoding loop.

    Args:
        units: size of the hidden layer of the score (the rows of W₁, W₂, v).
        kernel_initializer: initializer of W₁, W₂ and v.
        bias_initializer: initializer of b.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        query: decoder states, `(B, Dq)` for one step or `(B, Tq, Dq)`.
        values: encoder outputs, `(B, Tv, Dv)`.
        mask: optional boolean `(B, Tv)`, True where a value may be attended.
            Masked positions get exactly zero weight; a row with every value
            masked gets all-zero weights and a zero context (never NaN).
        processed_values: optional `(B, Tv, units)`, the result of
            `process_values(values)`, to skip recomputing W₁h.
        training: unused (no dropout); accepted for a uniform call signature.

    Returns:
        `(context, weights)`: `(B, Dv)` and `(B, Tv)` float32 for a 2-D query;
        `(B, Tq, Dv)` and `(B, Tq, Tv)` float32 for a 3-D query.

    Example:
    ```python
    attention = BahdanauAttention(units=256)
    keys = attention.process_values(encoder_outputs)      # once per source
    context, weights = attention(decoder_state, encoder_outputs,
                                 mask=source_mask, processed_values=keys)
    ```

    Reference:
        Bahdanau, Cho, Bengio, "Neural Machine Translation by Jointly Learning
        to Align and Translate", 2014, https://arxiv.org/abs/1409.0473
    """

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # Accept `mask` without a Keras warning; compute_mask drops it.
        self.supports_masking = True

    def build(self, query_shape, values_shape):
        self.values_kernel = self.add_weight(  # W₁
            name="values_kernel",
            shape=(values_shape[-1], self.units),
            initializer=self.kernel_initializer,
        )
        self.query_kernel = self.add_weight(  # W₂
            name="query_kernel",
            shape=(query_shape[-1], self.units),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(  # b
            name="bias", shape=(self.units,), initializer=self.bias_initializer
        )
        self.score_vector = self.add_weight(  # v
            name="score_vector",
            shape=(self.units,),
            initializer=self.kernel_initializer,
        )

    def process_values(self, values):
        """W₁·values, `(B, Tv, units)`: the query-independent part of the score."""
        values = ops.cast(values, self.compute_dtype)
        kernel = ops.cast(self.values_kernel, self.compute_dtype)
        return ops.einsum("bvd,du->bvu", values, kernel)  # (B, Tv, U)

    def call(self, query, values, mask=None, processed_values=None, training=None):
        query = ops.cast(query, self.compute_dtype)
        values = ops.cast(values, self.compute_dtype)
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (B, 1, Dq)
        if processed_values is None:
            processed_values = self.process_values(values)
        processed_values = ops.cast(processed_values, self.compute_dtype)
        query_kernel = ops.cast(self.query_kernel, self.compute_dtype)
        processed_query = ops.einsum("bqd,du->bqu", query, query_kernel)  # (B, Tq, U)
        processed_query = processed_query + ops.cast(self.bias, self.compute_dtype)
        hidden = ops.tanh(
            ops.expand_dims(processed_query, 2)  # (B, Tq, 1, U)
            + ops.expand_dims(processed_values, 1)  # (B, 1, Tv, U)
        )
        score_vector = ops.cast(self.score_vector, self.compute_dtype)
        scores = ops.einsum("bqvu,u->bqv", hidden, score_vector)  # (B, Tq, Tv)
        scores = ops.cast(scores, "float32")
        if mask is None:
            weights = ops.softmax(scores, axis=-1)
        else:
            mask = ops.expand_dims(ops.cast(mask, "bool"), 1)  # (B, 1, Tv)
            weights = ops.softmax(ops.where(mask, scores, LARGE_NEGATIVE), axis=-1)
            weights = ops.where(mask, weights, 0.0)
        context = ops.einsum("bqv,bvd->bqd", ops.cast(weights, values.dtype), values)  # (B, Tq, Dv)
        if single_step:
            context = ops.squeeze(context, 1)  # (B, Dv)
            weights = ops.squeeze(weights, 1)  # (B, Tv)
        return context, weights

    def compute_mask(self, inputs, mask=None):
        # `mask` is over the values; the outputs carry no mask.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
