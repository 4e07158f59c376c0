"""What the two Transformer translators share (ours and keras_hub's): sizes, head, config.

A subclass makes its embeddings and blocks, then calls `_make_head()` (the embedding
dropout, the final layer norms of pre-norm stacks and the logits layer), and implements
`encode`, `decode`, `source_state`, `empty_self_caches` and `decode_step` (and
`beam_source_state` / `per_source_state` when beam hypotheses can share the source state or
it holds more than per-source tensors).
"""

import keras
from keras import ops

from kerasnlp_lab.decoding.beam import repeat_beams
from kerasnlp_lab.layers.resumable_dropout import ResumableDropout
from kerasnlp_lab.layers.transformer_block import LAYER_NORM_EPSILON


class EncoderDecoderTranslator(keras.Model):
    """An encoder-decoder over token ids: `{"source", "target_in"}` -> logits `(B, T, V)`.

    Args:
        source_vocab_size, target_vocab_size: the id ranges (0 is padding).
        num_layers: encoder layers and decoder layers (each).
        model_dim: the width D; `num_heads` must divide it.
        num_heads: attention heads.
        feed_forward_dim: inner width of the feed-forward networks.
        dropout: dropout rate (embeddings, sub-layer outputs, attention weights).
        norm_first: pre-norm (True) or post-norm (False).
        max_length: the most positions a source or a target may have.
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        num_layers,
        model_dim,
        num_heads,
        feed_forward_dim,
        dropout=0.0,
        norm_first=True,
        max_length=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.num_layers = num_layers
        self.model_dim = model_dim
        self.num_heads = num_heads
        self.feed_forward_dim = feed_forward_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.max_length = max_length

    def _make_head(self):
        """The embedding dropout, the final norms (pre-norm only) and the logits layer."""
        self.embedding_dropout = ResumableDropout(self.dropout, name="embedding_dropout")
        self.encoder_norm = self.decoder_norm = None
        if self.norm_first:  # pre-norm stacks end with a layer norm
            self.encoder_norm = keras.layers.LayerNormalization(
                epsilon=LAYER_NORM_EPSILON, name="encoder_norm"
            )
            self.decoder_norm = keras.layers.LayerNormalization(
                epsilon=LAYER_NORM_EPSILON, name="decoder_norm"
            )
        self.logits_dense = keras.layers.Dense(
            self.target_vocab_size, dtype="float32", name="logits"
        )

    def _build_head(self, width):
        if self.norm_first:
            self.encoder_norm.build(width)
            self.decoder_norm.build(width)
        self.logits_dense.build(width)

    def call(self, inputs, training=None):
        encoder_outputs, source_mask = self.encode(inputs["source"], training=training)
        return self.decode(inputs["target_in"], encoder_outputs, source_mask, training=training)

    def beam_source_state(self, source_state, beam_size):
        """`source_state` for `beam_size` hypotheses per source: each row repeated."""
        return repeat_beams(source_state, beam_size)

    def per_source_state(self, source_state):
        """The entries of `source_state` with one row per source: all of them."""
        return source_state

    def initial_decoding_state(self, encoder_outputs, source_mask, max_length=None):
        """The decoding state for `max_length` steps (default the model's max_length)."""
        batch_size = ops.shape(encoder_outputs)[0]
        return {
            **self.source_state(encoder_outputs, source_mask),
            "self_caches": self.empty_self_caches(batch_size, max_length or self.max_length),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocab_size": self.source_vocab_size,
                "target_vocab_size": self.target_vocab_size,
                "num_layers": self.num_layers,
                "model_dim": self.model_dim,
                "num_heads": self.num_heads,
                "feed_forward_dim": self.feed_forward_dim,
                "dropout": self.dropout,
                "norm_first": self.norm_first,
                "max_length": self.max_length,
            }
        )
        return config
