"""One Transformer decoder layer, and its one-position step for incremental decoding."""

import keras

from kerasnlp_lab.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class TransformerDecoderBlock(TransformerBlock):
    """One decoder layer: causal self-attention, cross-attention and a feed-forward.

    Each sub-layer is residual + norm, as in `keras_hub.layers.TransformerDecoder`
    (activation "relu", `normalize_first=norm_first`). `call` runs teacher forcing on the
    whole target. Incremental decoding runs `decode_position` on one position `(N, D)`
    per step: 2-D matmuls with the weights of `decoding_weights` (made once per search),
    a self-attention cache that grows by one position per step (`empty_self_cache`) and
    a cross-attention cache made once per source (`compute_cross_cache`), shared by the
    G = N / B hypotheses of a source in beam search. Decoded steps give the outputs of
    teacher forcing.

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
        encoder_outputs: `(B, S, D)`.
        padding_mask: boolean `(B, T)` over the target steps.
        encoder_padding_mask: boolean `(B, S)`, False at source padding.
        return_attention_scores: also return the cross-attention weights `(B, H, T, S)`.
        training: enables dropout.

    Returns:
        `(B, T, D)`, then the float32 cross-attention weights if asked.

    Example:
    ```python
    y = block(x, encoder_outputs, padding_mask=m, encoder_padding_mask=source_mask)
    weights = block.decoding_weights()                             # once per search
    cross = block.compute_cross_cache(encoder_outputs)             # once per source
    cache = block.empty_self_cache(batch_size)
    y_t, cache = block.decode_position(x_t, weights, cache, cross, bias)  # x_t (B, D)
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

    def empty_self_cache(self, batch_size):
        """A self cache of no position: keys and values `(B, H, 0, K)`."""
        return self.self_attention.empty_cache(batch_size)

    def compute_cross_cache(self, encoder_outputs):
        """The cross cache of `encoder_outputs` `(B, S, D)`: keys and values `(B, H, S, K)`."""
        return self.cross_attention.compute_cache(encoder_outputs)

    def decoding_weights(self):
        """Everything `decode_position` reads, as tensors made once per search."""
        weights = {
            "self_attention": self.self_attention.decoding_weights(self_attention=True),
            "cross_attention": self.cross_attention.decoding_weights(self_attention=False),
            "feed_forward": self._feed_forward_weights(),
        }
        for name in ("self_attention", "cross_attention"):
            attention = weights[name]
            attention["input_kernel"], attention["input_bias"] = self._decoding_kernel(
                getattr(self, f"{name}_norm"),
                attention["input_kernel"],
                attention.get("input_bias"),
            )
        return weights

    def decode_position(self, x, weights, self_cache, cross_cache, cross_bias, group=1):
        """One decoding step: `x` `(N, D)` -> (output `(N, D)`, the self cache one longer).

        `weights` from `decoding_weights`, `self_cache` `(N, H, S, K)` pairs (S earlier
        positions), `cross_cache` `(B, H, S_source, K)` pairs and `cross_bias` float32
        `(B, 1, 1, S_source)` (0 where attended, `LARGE_NEGATIVE` at padding), with
        N = B * `group` (rows n * group ... are the hypotheses of source n).
        """
        h, self_cache = self.self_attention.decode_self_attention(
            self._decoding_input(x), weights["self_attention"], self_cache
        )
        x = self._decoding_residual(x, h, self.self_attention_norm)
        h = self.cross_attention.decode_cross_attention(
            self._decoding_input(x), weights["cross_attention"], cross_cache, cross_bias, group
        )
        x = self._decoding_residual(x, h, self.cross_attention_norm)
        return self._decoding_feed_forward(x, weights["feed_forward"]), self_cache

    def call(
        self,
        inputs,
        encoder_outputs,
        *,
        padding_mask=None,
        encoder_padding_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        h = self._sublayer_input(inputs, self.self_attention_norm)
        h = self.self_attention(h, query_mask=padding_mask, use_causal_mask=True, training=training)
        x = self._residual(inputs, h, self.self_attention_norm, training)

        h = self._sublayer_input(x, self.cross_attention_norm)
        h, scores = self.cross_attention(
            h,
            encoder_outputs,
            query_mask=padding_mask,
            context_mask=encoder_padding_mask,
            return_attention_scores=True,
            training=training,
        )
        x = self._residual(x, h, self.cross_attention_norm, training)
        x = self._feed_forward_sublayer(x, training)
        return (x, scores) if return_attention_scores else x
