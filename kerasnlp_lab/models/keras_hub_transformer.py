"""The Transformer translator built from keras_hub's layers: the in-process reference.

Same sizes, inputs, outputs and decoding interface as `transformer.TransformerTranslator`,
made of `keras_hub.layers.TokenAndPositionEmbedding` (learned positions),
`TransformerEncoder` and `TransformerDecoder`, through their public API only. Its decoder
cache is written with `keras.ops.slice_update` (an `Xla*` op on the TF backend), so this
model cannot be exported for TF Serving.

keras_hub (and tensorflow_text with it) is imported when the first such model is made,
so code that never builds one does not pay for the import.
"""

import keras
from keras import ops

from kerasnlp_lab.layers.transformer_block import LAYER_NORM_EPSILON
from kerasnlp_lab.models.encoder_decoder import EncoderDecoderTranslator
from kerasnlp_lab.text.vectorizer import PAD_ID


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class KerasHubTransformerTranslator(EncoderDecoderTranslator):
    """The encoder-decoder Transformer of keras_hub layers.

    Args:
        source_vocab_size, target_vocab_size: the id ranges (0 is padding).
        num_layers: encoder layers and decoder layers (each).
        model_dim: the width D; `num_heads` must divide it.
        num_heads: attention heads.
        feed_forward_dim: inner width of the feed-forward networks.
        dropout: dropout rate (embeddings, sub-layer outputs, attention weights).
        norm_first: pre-norm (True) or post-norm (False).
        max_length: the most positions a source or a target may have.

    Call arguments:
        inputs: `{"source": (B, S), "target_in": (B, T)}` int ids.
        training: enables dropout.

    Returns:
        float32 logits `(B, T, target_vocab_size)`.

    Decoding state (`initial_decoding_state`, `decode_step`): `self_caches` and
    `cross_caches`, one keras_hub cache per decoder layer, `(B, 2, L, H, K)` and
    `(B, 2, S, H, K)` (keys and values stacked), plus `source_mask` `(B, S)` and
    `encoder_outputs` `(B, S, D)`, which keras_hub's decoder reads at every step.

    Example:
    ```python
    model = transformer.build_model(transformer.get_config("tiny", backbone="keras_hub"),
                                    source_vocab_size=1000, target_vocab_size=900)
    logits = model({"source": source_ids, "target_in": target_in_ids})
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762
    """

    backbone = "keras_hub"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import keras_hub

        block_args = dict(
            intermediate_dim=self.feed_forward_dim,
            num_heads=self.num_heads,
            dropout=self.dropout,
            normalize_first=self.norm_first,
            layer_norm_epsilon=LAYER_NORM_EPSILON,
        )
        self.source_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            self.source_vocab_size, self.max_length, self.model_dim, name="source_embedding"
        )
        self.target_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            self.target_vocab_size, self.max_length, self.model_dim, name="target_embedding"
        )
        self.encoder_layers = [
            keras_hub.layers.TransformerEncoder(**block_args, name=f"encoder_layer_{i}")
            for i in range(self.num_layers)
        ]
        self.decoder_layers = [
            keras_hub.layers.TransformerDecoder(**block_args, name=f"decoder_layer_{i}")
            for i in range(self.num_layers)
        ]
        self._make_head()

    def build(self, input_shape=None):
        width = (None, None, self.model_dim)
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        for layer in self.encoder_layers:
            layer.build(width)
        for layer in self.decoder_layers:
            layer.build(width, width)
        self._build_head(width)
        self.built = True

    def encode(self, source_ids, training=None):
        """Encoder outputs `(B, S, D)` and the source padding mask `(B, S)`."""
        source_mask = ops.not_equal(source_ids, PAD_ID)  # (B, S)
        x = self.embedding_dropout(self.source_embedding(source_ids), training=training)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=source_mask, training=training)
        if self.norm_first:
            x = self.encoder_norm(x)
        return x, source_mask

    def decode(self, target_ids, encoder_outputs, source_mask, training=None):
        """Logits `(B, T, V)` for target ids `(B, T)` over the encoded source."""
        target_mask = ops.not_equal(target_ids, PAD_ID)  # (B, T)
        x = self.embedding_dropout(self.target_embedding(target_ids), training=training)
        for layer in self.decoder_layers:
            x = layer(
                x,
                encoder_outputs,
                decoder_padding_mask=target_mask,
                encoder_padding_mask=source_mask,
                training=training,
            )
        if self.norm_first:
            x = self.decoder_norm(x)
        return self.logits_dense(x)

    def source_state(self, encoder_outputs, source_mask):
        """The part of the decoding state fixed per source: cross caches, mask, outputs."""
        return {
            "cross_caches": tuple(
                self._cross_cache(layer, encoder_outputs, source_mask)
                for layer in self.decoder_layers
            ),
            "source_mask": source_mask,
            "encoder_outputs": encoder_outputs,
        }

    def empty_self_caches(self, batch_size, max_length):
        """One all-zero self-attention cache of `max_length` positions per decoder layer."""
        return tuple(self._empty_cache(batch_size, max_length) for _ in self.decoder_layers)

    def _empty_cache(self, batch_size, length):
        key_dim = self.model_dim // self.num_heads
        return ops.zeros(
            (batch_size, 2, length, self.num_heads, key_dim), dtype=self.compute_dtype
        )  # (B, 2, L, H, K)

    def _cross_cache(self, layer, encoder_outputs, source_mask):
        """`(B, 2, S, H, K)`: the keys/values a decoder layer computes from the source.

        keras_hub computes them in a call with `cross_attention_cache_update_index=0`,
        here a throwaway step on a zero input.
        """
        batch_size, source_length = ops.shape(encoder_outputs)[0], ops.shape(encoder_outputs)[1]
        _, _, cross_cache = layer(
            ops.zeros((batch_size, 1, self.model_dim), dtype=self.compute_dtype),
            encoder_outputs,
            encoder_padding_mask=source_mask,
            self_attention_cache=self._empty_cache(batch_size, 1),
            self_attention_cache_update_index=0,
            cross_attention_cache=self._empty_cache(batch_size, source_length),
            cross_attention_cache_update_index=0,
        )
        return cross_cache

    def decode_step(self, token_ids, index, state):
        """One decoding step: logits `(B, V)` after the tokens `(B,)` at position `index`.

        The keys/values of position `index` go into the self caches, so the next call
        takes position `index + 1`. Returns (logits, new state).
        """
        x = self.target_embedding(ops.expand_dims(token_ids, 1), start_index=index)  # (B, 1, D)
        x = self.embedding_dropout(x)
        new_caches = []
        for layer, self_cache, cross_cache in zip(
            self.decoder_layers, state["self_caches"], state["cross_caches"], strict=True
        ):
            x, self_cache, _ = layer(
                x,
                state["encoder_outputs"],
                encoder_padding_mask=state["source_mask"],
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
            )
            new_caches.append(self_cache)
        if self.norm_first:
            x = self.decoder_norm(x)
        logits = self.logits_dense(x)[:, 0]  # (B, V)
        return logits, {**state, "self_caches": tuple(new_caches)}
