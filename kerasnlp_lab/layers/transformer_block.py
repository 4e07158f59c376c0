"""What the Transformer encoder and decoder blocks share: arguments, norms, feed-forward."""

import keras
import tensorflow as tf

from kerasnlp_lab.layers.multi_head_self_attention import MultiHeadSelfAttention
from kerasnlp_lab.layers.resumable_dropout import ResumableDropout

LAYER_NORM_EPSILON = 1e-5


def standardize(x, epsilon):
    """`(x - mean) / sqrt(variance + epsilon)` over the last axis of `x` `(N, D)`: a layer
    norm without its scale and offset."""
    centered = x - tf.reduce_mean(x, axis=-1, keepdims=True)  # (N, D)
    variance = tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True)  # (N, 1)
    return centered * tf.math.rsqrt(variance + epsilon)


def fold_norm(norm, kernel, bias):
    """(kernel, bias) that map `standardize(x)` to what `kernel`, `bias` map `norm(x)` to.

    `norm` is a `keras.layers.LayerNormalization` (scale gamma, offset beta), `kernel`
    `(D, O)`, `bias` `(O,)` or None: `(gamma[:, None] * kernel, beta @ kernel + bias)`.
    """
    gamma, beta = (tf.cast(weight, kernel.dtype) for weight in (norm.gamma, norm.beta))
    folded_bias = tf.linalg.matvec(kernel, beta, transpose_a=True)  # (O,)
    return gamma[:, None] * kernel, folded_bias if bias is None else folded_bias + bias


class TransformerBlock(keras.layers.Layer):
    """The base of `TransformerEncoderBlock` and `TransformerDecoderBlock`; not used alone.

    It keeps the constructor arguments, makes the attention and norm sub-layers and the
    feed-forward network `Dense(feed_forward_dim, relu) -> dropout -> Dense(D)`, and
    wraps each sub-layer in its residual connection and layer norm: pre-norm
    `x + dropout(f(norm(x)))` or post-norm `norm(x + dropout(f(x)))`.

    Args:
        num_heads: attention heads; the width D must be a multiple of it.
        feed_forward_dim: the inner width of the feed-forward network.
        dropout: dropout on each sub-layer's output, inside the feed-forward network and
            on the attention weights.
        norm_first: pre-norm (True) or the paper's post-norm (False).
        layer_norm_epsilon: epsilon of the layer norms.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762
        (section 3.1); pre-norm: Xiong et al., 2020, https://arxiv.org/abs/2002.04745
    """

    def __init__(
        self,
        num_heads,
        feed_forward_dim,
        dropout=0.0,
        norm_first=True,
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.feed_forward_dim = feed_forward_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.layer_norm_epsilon = layer_norm_epsilon

    def _attention(self, name, inputs_shape):
        """A built `MultiHeadSelfAttention` over inputs and a context of width D."""
        attention = MultiHeadSelfAttention(
            self.num_heads,
            inputs_shape[-1] // self.num_heads,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name=name,
        )
        attention.build(inputs_shape, inputs_shape)
        return attention

    def _norm(self, name, inputs_shape):
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        norm.build(inputs_shape)
        return norm

    def _build_feed_forward(self, inputs_shape):
        """The feed-forward network, its norm, and the sub-layers' output dropout."""
        self.feed_forward_inner = keras.layers.Dense(
            self.feed_forward_dim,
            activation="relu",
            dtype=self.dtype_policy,
            name="feed_forward_inner",
        )
        self.feed_forward_inner.build(inputs_shape)
        self.feed_forward_outer = keras.layers.Dense(
            inputs_shape[-1], dtype=self.dtype_policy, name="feed_forward_outer"
        )
        self.feed_forward_outer.build(tuple(inputs_shape[:-1]) + (self.feed_forward_dim,))
        self.feed_forward_dropout = ResumableDropout(
            self.dropout, dtype=self.dtype_policy, name="feed_forward_dropout"
        )
        self.feed_forward_norm = self._norm("feed_forward_norm", inputs_shape)
        self.output_dropout = ResumableDropout(
            self.dropout, dtype=self.dtype_policy, name="output_dropout"
        )

    def _sublayer_input(self, x, norm):
        """What a sub-layer reads: `norm(x)` in pre-norm, `x` in post-norm."""
        return norm(x) if self.norm_first else x

    def _residual(self, x, output, norm, training):
        """`x + dropout(output)`, then the norm in post-norm."""
        x = x + self.output_dropout(output, training=training)
        return x if self.norm_first else norm(x)

    def _feed_forward_sublayer(self, x, training):
        h = self._sublayer_input(x, self.feed_forward_norm)
        h = self.feed_forward_dropout(self.feed_forward_inner(h), training=training)
        return self._residual(x, self.feed_forward_outer(h), self.feed_forward_norm, training)

    # One-position decoding `(N, D)`, no dropout. Pre-norm: a sub-layer reads
    # `standardize(x)` and its first kernel has the norm's scale and offset folded in
    # (`_decoding_kernel`); post-norm: the norm follows the residual sum.

    def _decoding_input(self, x):
        return standardize(x, self.layer_norm_epsilon) if self.norm_first else x

    def _decoding_residual(self, x, output, norm):
        x = x + output
        if self.norm_first:
            return x
        gamma, beta = (tf.cast(weight, x.dtype) for weight in (norm.gamma, norm.beta))
        return standardize(x, self.layer_norm_epsilon) * gamma + beta

    def _decoding_kernel(self, norm, kernel, bias):
        """The first (kernel, bias) of a sub-layer, with `norm` folded in for pre-norm."""
        return fold_norm(norm, kernel, bias) if self.norm_first else (kernel, bias)

    def _decoding_feed_forward(self, x, weights):
        """The feed-forward sub-layer on one position `(N, D)`; weights from
        `_feed_forward_weights`."""
        inner_kernel, inner_bias, outer_kernel, outer_bias = weights
        h = tf.matmul(self._decoding_input(x), inner_kernel)  # (N, F)
        h = tf.nn.relu(tf.nn.bias_add(h, inner_bias))
        h = tf.nn.bias_add(tf.matmul(h, outer_kernel), outer_bias)  # (N, D)
        return self._decoding_residual(x, h, self.feed_forward_norm)

    def _feed_forward_weights(self):
        """The feed-forward's kernels and biases, for `_decoding_feed_forward`."""
        inner, outer = (
            [tf.cast(weight, self.compute_dtype) for weight in (dense.kernel, dense.bias)]
            for dense in (self.feed_forward_inner, self.feed_forward_outer)
        )
        return self._decoding_kernel(self.feed_forward_norm, *inner) + tuple(outer)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "feed_forward_dim": self.feed_forward_dim,
                "dropout": self.dropout,
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
