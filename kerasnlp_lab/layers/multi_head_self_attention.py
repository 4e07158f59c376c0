"""Scaled dot-product multi-head attention with a fixed-shape decoding cache."""

import math

import keras
from keras import ops

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

    Decoding cache: a pair `(keys, values)`, the projected keys `(B, H, K, S)`
    and values `(B, H, S, K)` of S positions, laid out so that the scores
    `queries @ keys` and the weighted sum `weights @ values` are batched
    matmuls over the cache as it is (no transpose of the cache per step). Its
    shapes never change, so it can be a `tf.while_loop` variable; it is
    updated with core ops only (gather + where, no `XlaDynamicUpdateSlice`).
    - Self-attention: start from `empty_cache(batch_size, max_length)` and call
      with `cache=cache, cache_index=i`; the keys/values of the T new `query`
      steps are written at positions `i .. i+T-1` (the caller keeps
      `i + T <= max_length`) and each query step attends to cached positions up
      to and including its own (causal is implied).
    - Cross-attention: `compute_cache(context)` once per source, then call with
      `cache=cross_cache` (no `cache_index`): the cached keys/values are used
      as they are.

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
            steps, the query's steps in self-attention (defaults to
            `query_mask` there), or the S cache positions when a cache is used.
        use_causal_mask: query step t attends only to key positions <= t.
        cache: `(keys, values)` cache as described above, or None.
        cache_index: int or scalar int tensor: where to write the new
            self-attention keys/values into `cache`; None for a static cache.
        return_attention_scores: also return the attention weights.
        training: enables dropout.

    Returns:
        `output` `(B, T, D)`, followed by the float32 attention weights
        `(B, H, T, S)` if `return_attention_scores`, followed by the new cache
        `(keys, values)` if `cache` was given.

    Example:
    ```python
    attention = MultiHeadSelfAttention(num_heads=8, key_dim=16)
    y = attention(x, query_mask=x_mask, use_causal_mask=True)      # training
    cache = attention.empty_cache(batch_size, max_length)           # decoding
    y_t, cache = attention(x_t, cache=cache, cache_index=t)
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
        self._dropout_layer = keras.layers.Dropout(
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
        """Projected keys `(B, H, K, S)` and values `(B, H, S, K)` of `context` `(B, S, Dc)`.

        Called once per source, it is the static cross-attention cache.
        """
        keys = self._project_heads(context, self.key_kernel, self.key_bias)  # (B, H, S, K)
        return (
            ops.swapaxes(keys, 2, 3),  # (B, H, K, S)
            self._project_heads(context, self.value_kernel, self.value_bias),
        )

    def empty_cache(self, batch_size, max_length):
        """An all-zero self-attention cache: keys `(B, H, K, L)`, values `(B, H, L, K)`."""
        heads = (batch_size, self.num_heads)
        return (
            ops.zeros(heads + (self.key_dim, max_length), dtype=self.compute_dtype),
            ops.zeros(heads + (max_length, self.key_dim), dtype=self.compute_dtype),
        )

    def call(
        self,
        query,
        context=None,
        *,
        query_mask=None,
        context_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_index=None,
        return_attention_scores=False,
        training=None,
    ):
        if cache is None and cache_index is not None:
            raise ValueError(
                f"MultiHeadSelfAttention: expected a cache with cache_index, "
                f"received cache=None and cache_index={cache_index}."
            )
        if cache is not None and context is not None:
            raise ValueError(
                "MultiHeadSelfAttention: expected either a context or a cache, "
                "received both (compute_cache(context) makes the cross cache)."
            )

        query_offset = 0
        if cache is None:
            if context is None:
                context = query
                if context_mask is None:
                    context_mask = query_mask
            keys, values = self.compute_cache(context)  # (B, H, K, S), (B, H, S, K)
        elif cache_index is None:
            keys, values = (ops.cast(part, self.compute_dtype) for part in cache)
        else:
            query_offset = ops.cast(cache_index, "int32")
            keys, values = self._write_cache(cache, self.compute_cache(query), query_offset)
            use_causal_mask = True

        queries = self._project_heads(query, self.query_kernel, self.query_bias)  # (B, H, T, K)
        queries = queries * ops.cast(1.0 / math.sqrt(self.key_dim), queries.dtype)
        scores = ops.matmul(queries, keys)  # (B, H, T, S)
        scores = ops.cast(scores, "float32")

        mask = self._attention_mask(
            query_mask,
            context_mask,
            ops.shape(queries)[2],
            ops.shape(keys)[3],
            query_offset if use_causal_mask else None,
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

        results = (output,)
        if return_attention_scores:
            results += (weights,)
        if cache is not None:
            results += ((keys, values),)
        return results[0] if len(results) == 1 else results

    def _write_cache(self, cache, new, start):
        """`cache` with positions start..start+T-1 set to `new`, both `(keys, values)`.

        Keys are `(B, H, K, S)` (new `(B, H, K, T)`), values `(B, H, S, K)` (new
        `(B, H, T, K)`); position s takes new step s - start when 0 <= s - start < T.
        """
        new_length = ops.shape(new[1])[2]
        source = ops.arange(ops.shape(cache[1])[2], dtype="int32") - start  # (S,)
        written = ops.logical_and(source >= 0, source < new_length)  # (S,)

        def write(part, new_part, axis):  # axis: the positions' axis
            if new_part.shape[axis] != 1:  # several steps: gather each to its position
                new_part = ops.take(new_part, ops.clip(source, 0, new_length - 1), axis=axis)
            # (a single step broadcasts over the positions in the `where`)
            mask = ops.reshape(written, [-1 if i == axis else 1 for i in range(4)])
            return ops.where(mask, new_part, ops.cast(part, self.compute_dtype))

        return write(cache[0], new[0], axis=3), write(cache[1], new[1], axis=2)

    @staticmethod
    def _attention_mask(query_mask, context_mask, query_length, key_length, offset):
        """Boolean `(B or 1, T, S)` mask, or None when nothing is masked.

        `offset` is None for no causal mask; else query step t sits at
        position offset + t and sees key positions <= offset + t.
        """
        mask = None
        if query_mask is not None:
            mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, T, 1)
        if context_mask is not None:
            keep = ops.expand_dims(ops.cast(context_mask, "bool"), 1)  # (B, 1, S)
            mask = keep if mask is None else ops.logical_and(mask, keep)
        if offset is not None:
            query_positions = ops.arange(query_length, dtype="int32") + offset  # (T,)
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
