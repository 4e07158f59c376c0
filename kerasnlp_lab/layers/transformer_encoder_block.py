"""One Transformer encoder layer: self-attention and a feed-forward, each residual + norm."""

import keras

from kerasnlp_lab.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class TransformerEncoderBlock(TransformerBlock):
    """One encoder layer: self-attention and a ReLU feed-forward, each residual + norm.

    The same computation as `keras_hub.layers.TransformerEncoder` (activation "relu",
    `normalize_first=norm_first`), except that padded query rows get zero attention
    weights (keras_hub spreads them uniformly); the unpadded positions are identical.

    Args:
        num_heads: attention heads; the width D must be a multiple of it.
        feed_forward_dim: the inner width of the feed-forward network.
        dropout: dropout on each sub-layer's output, inside the feed-forward network and
            on the attention weights.
        norm_first: pre-norm (True) or the paper's post-norm (False).
        layer_norm_epsilon: epsilon of the layer norms.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        inputs: `(B, S, D)`.
        padding_mask: boolean `(B, S)`, False at padding.
        return_attention_scores: also return the attention weights `(B, H, S, S)`.
        training: enables dropout.

    Returns:
        `(B, S, D)` (and the float32 attention weights if asked).

    Example:
    ```python
    block = TransformerEncoderBlock(num_heads=8, feed_forward_dim=512)
    y = block(x, padding_mask=source_ids != 0)   # x (B, S, 128) -> y (B, S, 128)
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762
        (section 3.1); pre-norm: Xiong et al., 2020, https://arxiv.org/abs/2002.04745
    """

    def build(self, inputs_shape):
        self.self_attention = self._attention("self_attention", inputs_shape)
        self.self_attention_norm = self._norm("self_attention_norm", inputs_shape)
        self._build_feed_forward(inputs_shape)

    def call(self, inputs, *, padding_mask=None, return_attention_scores=False, training=None):
        h = self._sublayer_input(inputs, self.self_attention_norm)
        h, scores = self.self_attention(
            h, query_mask=padding_mask, return_attention_scores=True, training=training
        )
        x = self._residual(inputs, h, self.self_attention_norm, training)
        x = self._feed_forward_sublayer(x, training)
        return (x, scores) if return_attention_scores else x
