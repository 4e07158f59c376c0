"""Scaled dot-product multi-head attention, with one-position decoding steps and caches."""

import math

import keras
import tensorflow as tf
from keras import ops

from kerasnlp_lab.layers.resumable_dropout import ResumableDropout
from kerasnlp_lab.numerics import LARGE_NEGATIVE


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention (Vaswani et al. 2017).

    `softmax(Q Kᵀ / sqrt(key_dim)) V` in `num_heads` heads, then an output
    projection back to the query's width. Self-attention when no `context` is
    given, cross-attention over `context` otherwise. The scores and softmax
    run in float32 under mixed precision.

    The weights have the shapes of `keras.layers.MultiHeadAttention` (value_dim
    = key_dim) and come in the same order, so `set_weights(mha.get_weights())`
    copies weights either way: query/key/value kernels `(D, H, K)` with biases
    `(H, K)`, output kernel `(H, K, D)` with bias `(D,)`.

    Decoding, one position per step (`decode_self_attention`,
    `decode_cross_attention`): 2-D inputs `(N, D)`, 2-D matmuls, weights prepared
    once per search by `decoding_weights` (the self-attention's query, key and
    value kernels side by side in one `(D, 3*H*K)` matmul, the 1/sqrt(key_dim)
    scale folded into the query part), core TF ops only. A cache is a pair
    `(keys, values)`, both `(B, H, S, K)`:
    - self-attention: `empty_cache(batch_size)` holds no position; each step
      appends its key and value, so a step attends to what the prefix holds and
      costs what the prefix costs (the cache's length axis grows in a
      `tf.while_loop`);
    - cross-attention: `compute_cache(context)` once per source. The N queries
      of a step may be G hypotheses per source (beam search, N = B * G): they are
      grouped per source and attend to one copy of its keys/values, so the
      cross cache is never repeated nor reordered.

    Masks: a key position is attended only where `context_mask` is True; a query
    row with `query_mask` False (or every key masked) gets zero attention
    weights, so its output is the output bias (`keras.layers.MultiHeadAttention`
    spreads such rows uniformly instead; unmasked rows are identical). Pass
    masks explicitly: Keras fills `query_mask` / `context_mask` from masks
    attached to `query` / `context` only when the call has two tensor inputs.

    Args:
        num_heads: number of attention heads H.
        key_dim: size K of each head's queries, keys and values.
        dropout: dropout rate on the attention weights (training only).
        use_bias: whether the four projections have biases.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        seed: seed of the dropout.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        query: `(B, T, D)`.
        context: `(B, S, Dc)` for cross-attention; None for self-attention.
        query_mask: boolean `(B, T)`, False at padded query steps.
        context_mask: boolean `(B, S)` over the key positions: the context's
            steps, or the query's steps in self-attention (defaults to
            `query_mask` there).
        use_causal_mask: query step t attends only to key positions <= t.
        return_attention_scores: also return the attention weights.
        training: enables dropout.

    Returns:
        `output` `(B, T, D)`, followed by the float32 attention weights
        `(B, H, T, S)` if `return_attention_scores`.

    Example:
    ```python
    attention = MultiHeadSelfAttention(num_heads=8, key_dim=16)
    y = attention(x, query_mask=x_mask, use_causal_mask=True)      # training
    weights = attention.decoding_weights(self_attention=True)      # decoding
    cache = attention.empty_cache(batch_size)
    y_t, cache = attention.decode_self_attention(x_t, weights, cache)  # x_t (B, D)
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017,
        https://arxiv.org/abs/1706.03762 (section 3.2)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.supports_masking = True

    def build(self, query_shape, context_shape=None):
        model_dim = query_shape[-1]
        context_dim = model_dim if context_shape is None else context_shape[-1]
        heads = (self.num_heads, self.key_dim)
        self.query_kernel, self.query_bias = self._projection("query", (model_dim,), heads)
        self.key_kernel, self.key_bias = self._projection("key", (context_dim,), heads)
        self.value_kernel, self.value_bias = self._projection("value", (context_dim,), heads)
        self.output_kernel, self.output_bias = self._projection("output", heads, (model_dim,))
        self._dropout_layer = ResumableDropout(
            self.dropout, seed=self.seed, dtype=self.dtype_policy, name="dropout"
        )

    def _projection(self, name, input_dims, output_dims):
        """A kernel `input_dims + output_dims` and a bias `output_dims` (or None)."""
        kernel = self.add_weight(
            name=f"{name}_kernel",
            shape=input_dims + output_dims,
            initializer=self.kernel_initializer,
        )
        bias = None
        if self.use_bias:
            bias = self.add_weight(
                name=f"{name}_bias", shape=output_dims, initializer=self.bias_initializer
            )
        return kernel, bias

    def _project_heads(self, inputs, kernel, bias):
        """Inputs `(B, S, D)` projected to heads `(B, H, S, K)`."""
        outputs = ops.einsum(
            "bsd,dhk->bhsk",
            ops.cast(inputs, self.compute_dtype),
            ops.cast(kernel, self.compute_dtype),
        )
        if bias is not None:
            outputs = outputs + ops.expand_dims(ops.cast(bias, self.compute_dtype), 1)
        return outputs

    def compute_cache(self, context):
        """Projected keys and values `(B, H, S, K)` of `context` `(B, S, Dc)`.

        Called once per source, it is the static cross-attention cache.
        """
        return (
            self._project_heads(context, self.key_kernel, self.key_bias),
            self._project_heads(context, self.value_kernel, self.value_bias),
        )

    def empty_cache(self, batch_size):
        """A self-attention cache of no position: keys and values `(B, H, 0, K)`."""
        shape = (batch_size, self.num_heads, 0, self.key_dim)
        return (ops.zeros(shape, self.compute_dtype), ops.zeros(shape, self.compute_dtype))

    def call(
        self,
        query,
        context=None,
        *,
        query_mask=None,
        context_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        if context is None:
            context = query
            if context_mask is None:
                context_mask = query_mask
        keys, values = self.compute_cache(context)  # (B, H, S, K) each
        queries = self._project_heads(query, self.query_kernel, self.query_bias)  # (B, H, T, K)
        queries = queries * ops.cast(1.0 / math.sqrt(self.key_dim), queries.dtype)
        scores = ops.matmul(queries, ops.swapaxes(keys, 2, 3))  # (B, H, T, S)
        scores = ops.cast(scores, "float32")

        mask = self._attention_mask(
            query_mask, context_mask, ops.shape(queries)[2], ops.shape(keys)[2], use_causal_mask
        )
        if mask is None:
            weights = ops.softmax(scores, axis=-1)
        else:
            mask = ops.expand_dims(mask, 1)  # (B or 1, 1, T, S)
            weights = ops.softmax(ops.where(mask, scores, LARGE_NEGATIVE), axis=-1)
            weights = ops.where(mask, weights, 0.0)  # (B, H, T, S)

        dropped = self._dropout_layer(weights, training=training)
        attended = ops.matmul(ops.cast(dropped, values.dtype), values)  # (B, H, T, K)
        output = ops.einsum(
            "bhtk,hkd->btd", attended, ops.cast(self.output_kernel, self.compute_dtype)
        )  # (B, T, D)
        if self.output_bias is not None:
            output = output + ops.cast(self.output_bias, self.compute_dtype)
        return (output, weights) if return_attention_scores else output

    def decoding_weights(self, self_attention):
        """The projections of one decoding position as 2-D matrices, made once per search.

        `input_kernel` `(D, P*H*K)` (and `input_bias`): the query part scaled by
        1/sqrt(key_dim), followed by the key and value parts for self-attention (P = 3;
        P = 1 for cross-attention, whose keys and values are in the cross cache);
        `output_kernel` `(H*K, D)` (and `output_bias`).
        """
        width = self.num_heads * self.key_dim
        scale = 1.0 / math.sqrt(self.key_dim)
        names = ("query", "key", "value") if self_attention else ("query",)

        def cast(weight, shape):
            return tf.reshape(tf.cast(weight, self.compute_dtype), shape)

        kernels = [cast(getattr(self, f"{name}_kernel"), (-1, width)) for name in names]
        weights = {
            "input_kernel": tf.concat([kernels[0] * scale] + kernels[1:], axis=1),
            "output_kernel": cast(self.output_kernel, (width, -1)),
        }
        if self.use_bias:
            biases = [cast(getattr(self, f"{name}_bias"), (width,)) for name in names]
            weights["input_bias"] = tf.concat([biases[0] * scale] + biases[1:], axis=0)
            weights["output_bias"] = cast(self.output_bias, (-1,))
        return weights

    def _dense(self, inputs, weights, part):
        outputs = tf.matmul(inputs, weights[f"{part}_kernel"])
        bias = weights.get(f"{part}_bias")
        return outputs if bias is None else tf.nn.bias_add(outputs, bias)

    @staticmethod
    def _batch_matmul(x, y, adj_y=False):
        """`x @ y` over leading batch axes: `BatchMatMulV3` (Eigen) where the CPU kernel
        has the dtype (float32, bfloat16), else `tf.matmul`."""
        if x.dtype in (tf.float32, tf.bfloat16):
            return tf.raw_ops.BatchMatMulV3(x=x, y=y, Tout=x.dtype, adj_y=adj_y)
        return tf.matmul(x, y, adjoint_b=adj_y)

    def _attend(self, queries, keys, values, bias=None):
        """Weighted values `(B, H, G, K)` of queries `(B, H, G, K)` over keys/values
        `(B, H, S, K)`; `bias` (broadcast to the scores `(B, H, G, S)`) adds masks.

        Written for one decoding position: `BatchMatMulV3` and a softmax of elementwise
        ops, both run by Eigen, since TensorFlow's oneDNN rewrites of `BatchMatMulV2` and
        `Softmax` cost ~30 us a call at these sizes (5-7 us here).
        """
        scores = self._batch_matmul(queries, keys, adj_y=True)  # (B, H, G, S)
        scores = tf.cast(scores, tf.float32)  # softmax in float32 under mixed precision
        if bias is not None:
            scores += bias
        weights = tf.exp(scores - tf.reduce_max(scores, axis=-1, keepdims=True))
        weights = tf.cast(weights / tf.reduce_sum(weights, axis=-1, keepdims=True), values.dtype)
        return self._batch_matmul(weights, values)  # (B, H, G, K)

    def decode_self_attention(self, query, weights, cache):
        """One causal self-attention step: `query` `(N, D)` -> (output `(N, D)`, cache).

        `weights` from `decoding_weights(self_attention=True)`; the step's key and value
        are appended to `cache` `(N, H, S, K)`, and the query attends to all S + 1.
        """
        projected = self._dense(tf.cast(query, self.compute_dtype), weights, "input")
        projected = tf.reshape(
            projected, (-1, 3 * self.num_heads, 1, self.key_dim)
        )  # (N, 3H, 1, K)
        queries, keys, values = tf.split(projected, 3, axis=1)  # (N, H, 1, K) each
        keys = tf.concat([cache[0], keys], axis=2)  # (N, H, S + 1, K)
        values = tf.concat([cache[1], values], axis=2)
        attended = self._attend(queries, keys, values)  # (N, H, 1, K)
        attended = tf.reshape(attended, (-1, self.num_heads * self.key_dim))  # (N, H*K)
        return self._dense(attended, weights, "output"), (keys, values)  # (N, D)

    def decode_cross_attention(self, query, weights, cache, bias, group=1):
        """One cross-attention step: `query` `(N, D)` -> output `(N, D)`.

        `weights` from `decoding_weights(self_attention=False)`, `cache` from
        `compute_cache` `(B, H, S, K)`, `bias` float32 `(B, 1, 1, S)`: 0 where a source
        position is attended, `LARGE_NEGATIVE` where it is padding. N = B * `group` (a
        Python int): rows n * group ... n * group + group - 1 of `query` are the
        hypotheses of source n, which attend to its one copy of the cache.
        """
        width = self.num_heads * self.key_dim
        queries = self._dense(tf.cast(query, self.compute_dtype), weights, "input")
        if group == 1:
            queries = tf.reshape(queries, (-1, self.num_heads, 1, self.key_dim))  # (B, H, 1, K)
            attended = self._attend(queries, cache[0], cache[1], bias)  # (B, H, 1, K)
            return self._dense(tf.reshape(attended, (-1, width)), weights, "output")
        queries = tf.reshape(queries, (-1, group, self.num_heads, self.key_dim))  # (B, G, H, K)
        queries = tf.transpose(queries, (0, 2, 1, 3))  # (B, H, G, K)
        attended = self._attend(queries, cache[0], cache[1], bias)  # (B, H, G, K)
        attended = tf.reshape(tf.transpose(attended, (0, 2, 1, 3)), (-1, width))  # (N, H*K)
        return self._dense(attended, weights, "output")

    @staticmethod
    def _attention_mask(query_mask, context_mask, query_length, key_length, causal):
        """Boolean `(B or 1, T, S)` mask, or None when nothing is masked.

        With `causal`, query step t sees key positions <= t.
        """
        mask = None
        if query_mask is not None:
            mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, T, 1)
        if context_mask is not None:
            keep = ops.expand_dims(ops.cast(context_mask, "bool"), 1)  # (B, 1, S)
            mask = keep if mask is None else ops.logical_and(mask, keep)
        if causal:
            query_positions = ops.arange(query_length, dtype="int32")  # (T,)
            key_positions = ops.arange(key_length, dtype="int32")  # (S,)
            causal = ops.expand_dims(
                ops.expand_dims(key_positions, 0) <= ops.expand_dims(query_positions, 1),
                0,
            )  # (1, T, S)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config
