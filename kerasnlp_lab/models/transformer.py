"""The Transformer translator (Vaswani et al. 2017): an encoder-decoder over token ids.

A translator reads `{"source": (B, S), "target_in": (B, T)}` int32 ids (0 is padding;
`target_in` starts with [START]) and returns float32 logits `(B, T, V)` over the target
vocabulary for the next token at every position (teacher forcing).

`TransformerTranslator` is ours: token embeddings scaled by sqrt(model_dim) + our
`PositionalEncoding`, then `TransformerEncoderBlock`s and `TransformerDecoderBlock`s. It
decodes incrementally (`initial_decoding_state` + `decode_step`), one position per step
with 2-D matmuls, core TF ops only, so it also runs inside the exported SavedModel.
`--backbone keras_hub` builds `KerasHubTransformerTranslator` of the same sizes instead
(keras_hub's layers: an in-process reference for quality and speed, never exported).

Decoding state of ours, a dict: `self_caches` (one per decoder layer: keys and values
`(N, H, T, K)` of the T tokens decoded so far; they grow by one position per step, and
beam search reorders them), then what is fixed per source, computed once and never
reordered: `cross_caches` (keys and values `(B, H, S, K)` of the S source positions, shared
by the `group` = N / B hypotheses of a source in beam search), `cross_bias` `(B, 1, 1, S)`
(the source padding as an additive mask), `source_mask` `(B, S)`, and `weights`, the
decoder's weights prepared for one-position steps (fused projections, 2-D kernels, the
pre-norms' scales and offsets folded into the kernels after them, the embedding pre-scaled).
`Translator`, `UncachedTranslator` and `generate` decode with either model.
"""

import dataclasses
import math

import keras
import tensorflow as tf
from keras import ops

from kerasnlp_lab.decoding.beam import repeat_beams
from kerasnlp_lab.decoding.translation import translate
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.layers.positional_encoding import PositionalEncoding
from kerasnlp_lab.layers.transformer_block import LAYER_NORM_EPSILON, fold_norm, standardize
from kerasnlp_lab.layers.transformer_decoder_block import TransformerDecoderBlock
from kerasnlp_lab.layers.transformer_encoder_block import TransformerEncoderBlock
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.metrics import MaskedAccuracy
from kerasnlp_lab.models.encoder_decoder import EncoderDecoderTranslator
from kerasnlp_lab.models.keras_hub_transformer import KerasHubTransformerTranslator
from kerasnlp_lab.models.presets import preset_config
from kerasnlp_lab.numerics import LARGE_NEGATIVE
from kerasnlp_lab.schedules import TransformerSchedule
from kerasnlp_lab.text.vectorizer import PAD_ID, START_ID

MODEL_NAME = "transformer_translator"
BACKBONES = ("ours", "keras_hub")
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.98, 1e-9


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Sizes, vocabulary and training settings of the Transformer translator.

    `norm_first` puts the layer norm before each sub-layer (pre-norm: stable without a
    long warm-up); False is the paper's post-norm. Lengths count tokens including [START]
    and [END]; longer sentences are truncated. The data settings (vocabulary sizes,
    lengths, batches, example caps) are those of the attention NMT preset of the same
    name, so the two models train and are tested on the same ids.
    """

    num_layers: int = 4
    model_dim: int = 128
    feed_forward_dim: int = 512
    num_heads: int = 8
    dropout: float = 0.1
    norm_first: bool = True
    backbone: str = "ours"
    warmup_steps: int = 4000
    label_smoothing: float = 0.1
    tokenizer: str = "words"
    source_vocab_size: int = 12_000
    target_vocab_size: int = 8_000
    max_source_length: int = 128
    max_target_length: int = 128
    batch_size: int = 64
    bucket_width: int = 8
    epochs: int = 15
    early_stopping_patience: int = 2
    average_checkpoints: int = 1  # the final model averages the last N epochs' weights
    beam_size: int = 4
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0  # n > 0: never repeat an n-gram of tokens (0: off)
    train_examples: int | None = None  # None: the whole training split
    eval_examples: int | None = None  # None: the whole validation / test split


PRESETS = {
    # Seconds on 2 CPU cores: for tests and the demo.
    "tiny": TransformerConfig(
        num_layers=1,
        model_dim=32,
        feed_forward_dim=64,
        num_heads=2,
        dropout=0.0,
        warmup_steps=40,
        source_vocab_size=500,
        target_vocab_size=400,
        max_source_length=40,
        max_target_length=40,
        batch_size=32,
        epochs=2,
        train_examples=1000,
        eval_examples=48,
    ),
    # The classic tutorial size, on the data of the attention NMT `small`. This corpus has
    # 462 batches an epoch, so the paper's 4,000 warm-up steps would be ~9 epochs: 1,000
    # warm up in about two. 16 epochs (~1 hour here) fit the attention NMT's time budget.
    # The release model: 20 epochs, the weights of the last 5 averaged, WordPiece with up
    # to 8,000 pieces a side (the best of 2k / 4k / 8k in docs/subword_tokenization.md).
    "small": TransformerConfig(
        warmup_steps=1000,
        epochs=20,
        average_checkpoints=5,
        tokenizer="wordpiece",
        source_vocab_size=8_000,
        target_vocab_size=8_000,
    ),
    # The paper's base model (documented; days on this CPU).
    "base": TransformerConfig(
        num_layers=6,
        model_dim=512,
        feed_forward_dim=2048,
        num_heads=8,
        source_vocab_size=20_000,
        target_vocab_size=15_000,
        epochs=30,
    ),
}
DEFAULT_PRESET = "small"


def get_config(preset=None, **overrides):
    """Returns the named preset (default `small`) with `overrides` applied."""
    config = preset_config(MODEL_NAME, PRESETS, DEFAULT_PRESET, preset, **overrides)
    check_config(config)
    return config


def check_config(config):
    """Raises UserError for a backbone or head count the model cannot use."""
    if config.backbone not in BACKBONES:
        raise UserError(
            f"Unknown backbone {config.backbone!r}: expected one of {', '.join(BACKBONES)}."
        )
    if config.model_dim % config.num_heads:
        raise UserError(
            f"model_dim must be a multiple of num_heads: received model_dim="
            f"{config.model_dim} and num_heads={config.num_heads}."
        )


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class TransformerTranslator(EncoderDecoderTranslator):
    """The encoder-decoder Transformer of our layers (see the module docstring).

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

    Example:
    ```python
    model = build_model(get_config("tiny"), source_vocab_size=1000, target_vocab_size=900)
    logits = model({"source": source_ids, "target_in": target_in_ids})
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762
    """

    backbone = "ours"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        block_args = dict(
            num_heads=self.num_heads,
            feed_forward_dim=self.feed_forward_dim,
            dropout=self.dropout,
            norm_first=self.norm_first,
        )
        self.source_embedding = keras.layers.Embedding(
            self.source_vocab_size, self.model_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            self.target_vocab_size, self.model_dim, name="target_embedding"
        )
        self.source_position = PositionalEncoding(self.max_length, name="source_position")
        self.target_position = PositionalEncoding(self.max_length, name="target_position")
        self.encoder_layers = [
            TransformerEncoderBlock(**block_args, name=f"encoder_layer_{i}")
            for i in range(self.num_layers)
        ]
        self.decoder_layers = [
            TransformerDecoderBlock(**block_args, name=f"decoder_layer_{i}")
            for i in range(self.num_layers)
        ]
        self._make_head()

    @classmethod
    def from_config(cls, config):
        # Until the keras_hub translator had its own class, `.keras` files of both
        # backbones named this class and kept the backbone in its config.
        config = dict(config)
        return MODEL_CLASSES[config.pop("backbone", cls.backbone)](**config)

    def build(self, input_shape=None):
        width = (None, None, self.model_dim)
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.source_position.build(width)
        self.target_position.build(width)
        for layer in self.encoder_layers + self.decoder_layers:
            layer.build(width)
        self._build_head(width)
        self.built = True

    def _embed(self, embedding, position, ids, start_index=0, training=None):
        x = embedding(ids) * ops.cast(math.sqrt(self.model_dim), embedding.compute_dtype)
        return self.embedding_dropout(position(x, start_index=start_index), training=training)

    def encode(self, source_ids, training=None):
        """Encoder outputs `(B, S, D)` and the source padding mask `(B, S)`."""
        source_mask = ops.not_equal(source_ids, PAD_ID)  # (B, S)
        x = self._embed(self.source_embedding, self.source_position, source_ids, training=training)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=source_mask, training=training)
        if self.norm_first:
            x = self.encoder_norm(x)
        return x, source_mask

    def decode(self, target_ids, encoder_outputs, source_mask, training=None):
        """Logits `(B, T, V)` for target ids `(B, T)` over the encoded source."""
        target_mask = ops.not_equal(target_ids, PAD_ID)  # (B, T)
        x = self._embed(self.target_embedding, self.target_position, target_ids, training=training)
        for layer in self.decoder_layers:
            x = layer(
                x,
                encoder_outputs,
                padding_mask=target_mask,
                encoder_padding_mask=source_mask,
                training=training,
            )
        if self.norm_first:
            x = self.decoder_norm(x)
        return self.logits_dense(x)

    def source_state(self, encoder_outputs, source_mask, weights=None):
        """What decoding reads and never changes: cross caches, source mask, weights.

        `weights`: `decoding_weights()` prepared beforehand (None: made now, per search).
        """
        return {
            "cross_caches": tuple(
                layer.compute_cross_cache(encoder_outputs) for layer in self.decoder_layers
            ),
            "cross_bias": tf.where(source_mask, 0.0, LARGE_NEGATIVE)[:, None, None, :],
            "source_mask": source_mask,
            "weights": self.decoding_weights() if weights is None else weights,
        }

    def beam_source_state(self, source_state, beam_size):
        """`source_state` for `beam_size` hypotheses per source: the same tensors (the
        hypotheses of a source share its cross caches), and the group size."""
        return {**source_state, "group": beam_size}

    def per_source_state(self, source_state):
        """The entries of `source_state` with one row per source: all but the weights."""
        return {key: value for key, value in source_state.items() if key != "weights"}

    def decoding_weights(self):
        """The decoder's weights for `decode_step`, made once per search: the embedding
        table times sqrt(model_dim), the position table, each block's `decoding_weights`,
        and the logits kernel (with the final norm folded in, pre-norm)."""
        dtype = self.target_embedding.compute_dtype
        scale = ops.cast(math.sqrt(self.model_dim), dtype)
        logits = (self.logits_dense.kernel, self.logits_dense.bias)
        return {
            "embedding": tf.cast(self.target_embedding.embeddings, dtype) * scale,  # (V, D)
            "positions": tf.constant(self.target_position.table, dtype),  # (L, D)
            "blocks": [layer.decoding_weights() for layer in self.decoder_layers],
            "logits": fold_norm(self.decoder_norm, *logits) if self.norm_first else logits,
        }

    def empty_self_caches(self, batch_size, max_length=None):
        """One self-attention cache of no position per decoder layer (caches grow by one
        position per step, so `max_length`, which keras_hub's model needs, is unused)."""
        return tuple(layer.empty_self_cache(batch_size) for layer in self.decoder_layers)

    def decode_step(self, token_ids, index, state):
        """One decoding step: logits `(N, V)` after the tokens `(N,)` at position `index`.

        Each self cache grows by the keys/values of position `index` (it must hold the
        `index` positions before it). N = B * `state["group"]` (1 if absent) for B
        sources. Returns (logits, new state).
        """
        weights = state["weights"]
        x = tf.gather(weights["embedding"], token_ids) + tf.gather(
            weights["positions"], index
        )  # (N, D)
        new_caches = []
        for layer, layer_weights, self_cache, cross_cache in zip(
            self.decoder_layers,
            weights["blocks"],
            state["self_caches"],
            state["cross_caches"],
            strict=True,
        ):
            x, self_cache = layer.decode_position(
                x,
                layer_weights,
                self_cache,
                cross_cache,
                state["cross_bias"],
                group=state.get("group", 1),
            )
            new_caches.append(self_cache)
        if self.norm_first:
            x = standardize(x, LAYER_NORM_EPSILON)  # the norm's scale and offset: in the kernel
        kernel, bias = weights["logits"]
        logits = tf.nn.bias_add(tf.matmul(tf.cast(x, kernel.dtype), kernel), bias)  # (N, V)
        return logits, {**state, "self_caches": tuple(new_caches)}

    def attention_maps(self, source_ids, target_in_ids):
        """Encoder self-attention and decoder cross-attention weights, per layer.

        Returns two lists (one entry per layer) of float32 `(B, H, S, S)` and
        `(B, H, T, S)`.
        """
        source_mask = ops.not_equal(source_ids, PAD_ID)  # (B, S)
        x = self._embed(self.source_embedding, self.source_position, source_ids)
        encoder_maps = []
        for layer in self.encoder_layers:
            x, weights = layer(x, padding_mask=source_mask, return_attention_scores=True)
            encoder_maps.append(weights)
        if self.norm_first:
            x = self.encoder_norm(x)
        target_mask = ops.not_equal(target_in_ids, PAD_ID)  # (B, T)
        y = self._embed(self.target_embedding, self.target_position, target_in_ids)
        cross_maps = []
        for layer in self.decoder_layers:
            y, weights = layer(
                y,
                x,
                padding_mask=target_mask,
                encoder_padding_mask=source_mask,
                return_attention_scores=True,
            )
            cross_maps.append(weights)
        return encoder_maps, cross_maps


MODEL_CLASSES = {"ours": TransformerTranslator, "keras_hub": KerasHubTransformerTranslator}


def max_positions(config):
    """Positions the model's encodings must hold: the longer of the two sides."""
    return max(config.max_source_length, config.max_target_length)


def build_model(config, source_vocab_size, target_vocab_size):
    """The translator of `config`, built and compiled (Adam + warm-up, smoothed loss)."""
    check_config(config)
    model = MODEL_CLASSES[config.backbone](
        source_vocab_size=source_vocab_size,
        target_vocab_size=target_vocab_size,
        num_layers=config.num_layers,
        model_dim=config.model_dim,
        num_heads=config.num_heads,
        feed_forward_dim=config.feed_forward_dim,
        dropout=config.dropout,
        norm_first=config.norm_first,
        max_length=max_positions(config),
        name=MODEL_NAME,
    )
    model.build()
    model.compile(
        optimizer=keras.optimizers.Adam(
            TransformerSchedule(config.model_dim, config.warmup_steps),
            beta_1=ADAM_BETA_1,
            beta_2=ADAM_BETA_2,
            epsilon=ADAM_EPSILON,
        ),
        loss=MaskedSparseCrossentropy(config.label_smoothing),
        metrics=[MaskedAccuracy()],
    )
    return model


def config_from_dict(values):
    """The config stored in a run description."""
    return TransformerConfig(**values)


class Translator(tf.Module):
    """The translator interface of `kerasnlp_lab.export.translator` over a trained model.

    `encode` runs the encoder and computes the cross-attention caches once per source;
    the decoder state is the self-attention caches alone, so beam search reorders only
    what changes (keras_hub's caches are preallocated to `max_output_length` positions).

    `prepare_weights=True` (our backbone; what the export uses) makes the decoder's
    `decoding_weights` once, as non-trainable variables tracked by this module (a SavedModel
    stores them beside the model's), instead of once per search: a request then pays for
    its encoder and its steps only. They are a snapshot: a model trained further needs a
    new `Translator`.
    """

    def __init__(self, model, max_output_length, prepare_weights=False):
        super().__init__(name="translator")
        self.model = model
        self.max_output_length = max_output_length
        self.prepared_weights = None
        if prepare_weights and model.backbone == "ours":
            self.prepared_weights = tf.nest.map_structure(
                lambda tensor: tf.Variable(tensor, trainable=False), model.decoding_weights()
            )

    def encode(self, source_ids):
        """The model's `source_state`: cross caches, source mask (and more), batch first."""
        encoder_outputs, source_mask = self.model.encode(ops.convert_to_tensor(source_ids, "int32"))
        if self.prepared_weights is None:
            return self.model.source_state(encoder_outputs, source_mask)
        return self.model.source_state(encoder_outputs, source_mask, self.prepared_weights)

    def encoded_for_beams(self, encoded, beam_size):
        """The model's `beam_source_state`: shared as is by ours, repeated by keras_hub."""
        return self.model.beam_source_state(encoded, beam_size)

    def per_row_encoded(self, encoded):
        """The model's `per_source_state`: the entries with one row per source."""
        return self.model.per_source_state(encoded)

    def initial_decoder_state(self, encoded):
        """{self_caches}: the model's empty self caches (one per decoder layer)."""
        batch_size = ops.shape(encoded["source_mask"])[0]
        caches = self.model.empty_self_caches(batch_size, self.max_output_length)
        return {"self_caches": caches}

    def decode_step(self, tokens, step, decoder_state, encoded):
        """Logits `(B, V)` of the token after `tokens[:, step]`, and the new caches."""
        logits, state = self.model.decode_step(tokens[:, step], step, {**encoded, **decoder_state})
        return logits, {"self_caches": state["self_caches"]}


class UncachedTranslator:
    """The translator interface without caches: the whole decoder runs on the prefix.

    The reference for the cached `Translator` (same tokens, same weights) and the
    baseline of the decoding benchmark. The encoder still runs once per source.
    """

    def __init__(self, model):
        self.model = model

    def encode(self, source_ids):
        """{encoder_outputs (B, S, D), source_mask (B, S)}."""
        encoder_outputs, source_mask = self.model.encode(ops.convert_to_tensor(source_ids, "int32"))
        return {"encoder_outputs": encoder_outputs, "source_mask": source_mask}

    def encoded_for_beams(self, encoded, beam_size):
        """Each row repeated `beam_size` times."""
        return repeat_beams(encoded, beam_size)

    def per_row_encoded(self, encoded):
        """All of `encoded`: every entry has one row per source."""
        return encoded

    def initial_decoder_state(self, encoded):
        """No state: every step reads the whole prefix of `tokens`."""
        return {}

    def decode_step(self, tokens, step, decoder_state, encoded):
        """Logits `(B, V)` of the token after the prefix `tokens[:, : step + 1]`."""
        prefix = tokens[:, : step + 1]  # (B, step + 1)
        logits = self.model.decode(prefix, encoded["encoder_outputs"], encoded["source_mask"])
        return logits[:, -1], decoder_state  # (B, V)


def generate(
    model,
    source_ids,
    max_length,
    start_id,
    end_id,
    beam_size=1,
    length_penalty_alpha=0.0,
    cached=True,
):
    """Translations `(B, max_length)` int32 of source ids `(B, S)`: greedy or beam search.

    Each row holds the generated ids, [END] included, then padding. `cached=False`
    decodes with `UncachedTranslator` (the whole decoder on the prefix each step).
    """
    translator = Translator(model, max_length) if cached else UncachedTranslator(model)
    return translate(
        translator,
        source_ids,
        start_id=start_id,
        end_id=end_id,
        max_length=max_length,
        pad_id=PAD_ID,
        beam_size=beam_size,
        length_penalty_alpha=length_penalty_alpha,
        banned_ids=(PAD_ID, START_ID),
    )
