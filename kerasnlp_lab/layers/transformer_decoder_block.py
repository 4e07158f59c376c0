"""One Transformer decoder layer, with key/value caches for incremental decoding."""

import keras

from kerasnlp_lab.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class TransformerDecoderBlock(TransformerBlock):
    """One decoder layer: causal self-attention, cross-attention and a feed-forward.

    Each sub-layer is residual + norm, as in `keras_hub.layers.TransformerDecoder`
    (activation "relu", `normalize_first=norm_first`). Teacher forcing runs on the whole
    target; incremental decoding feeds T new steps (usually 1) with the caches of
    `MultiHeadSelfAttention`: a self cache of L positions from `empty_self_cache`,
    written at `cache_index`, and a cross cache from `compute_cross_cache`, once per
    source. Cached steps give the outputs of teacher forcing.

    Args:
        num_heads: attention heads; the width D must be a multiple of it.
        feed_forward_dim: the inner width of the feed-forward network.
        dropout: dropout on each sub-layer's output, inside the feed-forward network and
            on the attention weights.
        norm_first: pre-norm (True) or the paper's post-norm (False).
        layer_norm_epsilon: epsilon of the layer norms.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        inputs: `(B, T, D)` target states.
        encoder_outputs: `(B, S, D)`; None when `cross_cache` is given.
        padding_mask: boolean `(B, T)` over the target steps (teacher forcing only).
        encoder_padding_mask: boolean `(B, S)`, False at source padding.
        self_cache: self-attention cache `(keys (B, H, K, L), values (B, H, L, K))`: the
            new steps' keys/values are written at `cache_index` and each step attends to
            the positions up to its own.
        cache_index: scalar int, the position of the first of the T new steps.
        cross_cache: `(keys (B, H, K, S), values (B, H, S, K))` of the encoder outputs.
        return_attention_scores: also return the cross-attention weights `(B, H, T, S)`.
        training: enables dropout.

    Returns:
        `(B, T, D)`, then the float32 cross-attention weights if asked, then the new self
        cache if `self_cache` was given.

    Example:
    ```python
    y = block(x, encoder_outputs, padding_mask=m, encoder_padding_mask=source_mask)
    cross = block.compute_cross_cache(encoder_outputs)             # once per source
    cache = block.empty_self_cache(batch_size, max_length)
    y_t, cache = block(x_t, encoder_padding_mask=source_mask, self_cache=cache,
                       cache_index=t, cross_cache=cross)            # one decoding step
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762
        (section 3.1); pre-norm: Xiong et al., 2020, https://arxiv.org/abs/2002.04745
    """

    def build(self, inputs_shape):
        self.self_attention = self._attention("self_attention", inputs_shape)
        self.self_attention_norm = self._norm("self_attention_norm", inputs_shape)
        self.cross_attention = self._attention("cross_attention", inputs_shape)
        self.cross_attention_norm = self._norm("cross_attention_norm", inputs_shape)
        self._build_feed_forward(inputs_shape)

    def empty_self_cache(self, batch_size, max_length):
        """An all-zero self cache: keys `(B, H, K, L)` and values `(B, H, L, K)`."""
        return self.self_attention.empty_cache(batch_size, max_length)

    def compute_cross_cache(self, encoder_outputs):
        """The cross cache of `encoder_outputs` `(B, S, D)`: keys `(B, H, K, S)`, values
        `(B, H, S, K)`."""
        return self.cross_attention.compute_cache(encoder_outputs)

    def call(
        self,
        inputs,
        encoder_outputs=None,
        *,
        padding_mask=None,
        encoder_padding_mask=None,
        self_cache=None,
        cache_index=None,
        cross_cache=None,
        return_attention_scores=False,
        training=None,
    ):
        if self_cache is not None and cache_index is None:
            raise ValueError(
                "TransformerDecoderBlock: expected a cache_index with the self_cache, "
                "received cache_index=None."
            )
        h = self._sublayer_input(inputs, self.self_attention_norm)
        if self_cache is None:
            h = self.self_attention(
                h, query_mask=padding_mask, use_causal_mask=True, training=training
            )
        else:
            h, self_cache = self.self_attention(
                h, cache=self_cache, cache_index=cache_index, training=training
            )
        x = self._residual(inputs, h, self.self_attention_norm, training)

        h = self._sublayer_input(x, self.cross_attention_norm)
        h, scores = self.cross_attention(
            h,
            encoder_outputs,
            query_mask=padding_mask,
            context_mask=encoder_padding_mask,
            cache=cross_cache,
            return_attention_scores=True,
            training=training,
        )[:2]  # (the static cross cache comes back unchanged)
        x = self._residual(x, h, self.cross_attention_norm, training)
        x = self._feed_forward_sublayer(x, training)

        results = (x,) + ((scores,) if return_attention_scores else ())
        results += (self_cache,) if self_cache is not None else ()
        return results[0] if len(results) == 1 else results
