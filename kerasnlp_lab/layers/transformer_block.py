"""What the Transformer encoder and decoder blocks share: arguments, norms, feed-forward."""

import keras
import tensorflow as tf

from kerasnlp_lab.layers.multi_head_self_attention import MultiHeadSelfAttention

LAYER_NORM_EPSILON = 1e-5


def norm_weights(norm):
    """`(gamma, beta)` of a `keras.layers.LayerNormalization`, in its compute dtype."""
    return tuple(tf.cast(weight, norm.compute_dtype) for weight in (norm.gamma, norm.beta))


def layer_norm(x, weights, epsilon):
    """Layer norm of `x` `(N, D)` over its last axis with `(gamma, beta)`, in core ops.

    Keras' formula (`x * inv + (beta - mean * inv)`, `inv = gamma / sqrt(variance +
    epsilon)`), so it gives `keras.layers.LayerNormalization`'s values.
    """
    gamma, beta = weights
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)  # (N, 1) each
    inv = tf.math.rsqrt(variance + epsilon) * gamma  # (N, D)
    return x * inv + (beta - mean * inv)


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
        self.feed_forward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feed_forward_dropout"
        )
        self.feed_forward_norm = self._norm("feed_forward_norm", inputs_shape)
        self.output_dropout = keras.layers.Dropout(
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

    def _decoding_input(self, x, norm):
        """`_sublayer_input` on one position `(N, D)`, with the norm's `(gamma, beta)`."""
        return layer_norm(x, norm, self.layer_norm_epsilon) if self.norm_first else x

    def _decoding_residual(self, x, output, norm):
        """`_residual` on one position `(N, D)` (no dropout)."""
        x = x + output
        return x if self.norm_first else layer_norm(x, norm, self.layer_norm_epsilon)

    def _decoding_feed_forward(self, x, weights):
        """The feed-forward sub-layer on one position `(N, D)` (weights of `decoding_weights`)."""
        inner_kernel, inner_bias, outer_kernel, outer_bias = weights["feed_forward"]
        h = self._decoding_input(x, weights["feed_forward_norm"])
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, inner_kernel), inner_bias))  # (N, F)
        h = tf.nn.bias_add(tf.matmul(h, outer_kernel), outer_bias)  # (N, D)
        return self._decoding_residual(x, h, weights["feed_forward_norm"])

    def _feed_forward_weights(self):
        """The feed-forward's kernels and biases and its norm, for `_decoding_feed_forward`."""
        dtype = self.compute_dtype
        return {
            "feed_forward": tuple(
                tf.cast(weight, dtype)
                for dense in (self.feed_forward_inner, self.feed_forward_outer)
                for weight in (dense.kernel, dense.bias)
            ),
            "feed_forward_norm": norm_weights(self.feed_forward_norm),
        }

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
