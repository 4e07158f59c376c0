"""The attention NMT model of Bahdanau et al. (2014): a bidirectional GRU encoder and a GRU
decoder with additive attention.

Encoder: source ids (B, S) -> Embedding -> bidirectional GRU -> outputs h (B, S, 2U); the
last forward and backward states, through a tanh Dense ("bridge"), start the decoder.
Decoder step t (`AttentionDecoder.step`), with e_t = embedding(y_{t-1}), in one of two
orders (`attention`):
- "bahdanau" (the default; Bahdanau et al. 2014, appendix A): attend with the previous
  state, then update the state with the context:
      c_t, a_t = BahdanauAttention(s_{t-1}, h, mask=source ids != 0)
      s_t = GRUCell([e_t; c_t], s_{t-1})
      logits_t = Dense_V([s_t; c_t; e_t])
- "luong_additive" (the order of Luong et al. 2015 with Bahdanau's additive score, and
  Luong's input feeding): update the state with the previous context, then attend with
  the new state:
      s_t = GRUCell([e_t; c_{t-1}], s_{t-1})
      c_t, a_t = BahdanauAttention(s_t, h, mask=source ids != 0)
      logits_t = Dense_V([s_t; c_t])
Training feeds the reference target (teacher forcing) and runs the steps in one
`keras.ops.scan`; translation runs the same step one token at a time (`AttentionTranslator`).
Id 0 is padding on both sides.

With `attention="none"` the decoder is the RNN encoder-decoder of Cho et al. (2014), the
baseline of Bahdanau et al.: no attention, the context is the encoder's final states
[forward; backward] (B, 2U) at every step, so the whole source must pass through one vector
(the "luong_additive" step without its attention).
"""

import dataclasses

import keras
from keras import ops

from kerasnlp_lab.decoding.beam import repeat_beams
from kerasnlp_lab.layers.bahdanau_attention import BahdanauAttention
from kerasnlp_lab.layers.resumable_dropout import ResumableDropout
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.metrics import MaskedAccuracy
from kerasnlp_lab.models.presets import preset_config
from kerasnlp_lab.text.vectorizer import PAD_ID

MODEL_NAME = "attention_nmt"
BAHDANAU, LUONG_ADDITIVE, NO_ATTENTION = "bahdanau", "luong_additive", "none"
ATTENTION_KINDS = (BAHDANAU, LUONG_ADDITIVE, NO_ATTENTION)


@dataclasses.dataclass(frozen=True)
class AttentionNMTConfig:
    """Sizes, vocabulary and training settings of the attention NMT.

    Lengths count tokens including [START] and [END]; longer sentences are truncated.
    `train_examples` / `eval_examples` cap the training pairs and the pairs evaluated per
    split (validation, test): None means the whole split. `dropout` applies to the
    embeddings, the encoder outputs and the decoder features before the output layer
    (training only). `lr_plateau_factor` < 1 multiplies the learning rate by it whenever
    the validation loss did not improve in an epoch (1: a constant learning rate).
    `attention` is "bahdanau" (additive attention in Bahdanau's order), "luong_additive"
    (the same score in Luong's order, with input feeding) or "none" (the decoder sees only
    the encoder's final states: the bottleneck baseline).
    """

    embedding_dim: int = 256
    units: int = 1024
    attention_units: int = 1024
    tokenizer: str = "words"
    source_vocab_size: int = 20_000
    target_vocab_size: int = 15_000
    max_source_length: int = 128
    max_target_length: int = 128
    batch_size: int = 64
    bucket_width: int = 8
    epochs: int = 30
    learning_rate: float = 1e-3
    lr_plateau_factor: float = 1.0
    dropout: float = 0.0
    clipnorm: float = 5.0
    early_stopping_patience: int = 2
    average_checkpoints: int = 1  # the final model averages the last N epochs' weights
    beam_size: int = 4
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0  # n > 0: never repeat an n-gram of tokens (0: off)
    attention: str = BAHDANAU
    train_examples: int | None = None
    eval_examples: int | None = None


PRESETS = {
    # Seconds on 2 CPU cores: for tests and the demo.
    "tiny": AttentionNMTConfig(
        embedding_dim=16,
        units=32,
        attention_units=16,
        source_vocab_size=500,
        target_vocab_size=400,
        max_source_length=40,
        max_target_length=40,
        batch_size=32,
        epochs=2,
        train_examples=1000,
        eval_examples=48,
    ),
    # Units 256, embeddings 128. Without dropout it overfit after 4 epochs (validation
    # loss up from epoch 5): dropout 0.2 and halving the learning rate on a plateau.
    "small": AttentionNMTConfig(
        embedding_dim=128,
        units=256,
        attention_units=256,
        tokenizer="wordpiece",
        source_vocab_size=8_000,
        target_vocab_size=8_000,
        epochs=13,
        dropout=0.2,
        lr_plateau_factor=0.5,
    ),
    # The paper's spirit: units 1024, embeddings 256.
    "full": AttentionNMTConfig(),
}
DEFAULT_PRESET = "small"


def get_config(preset=None, **overrides):
    """Returns the named preset (default `small`) with `overrides` applied."""
    return preset_config(MODEL_NAME, PRESETS, DEFAULT_PRESET, preset, **overrides)


def config_from_dict(values):
    """The config stored in a run description."""
    return AttentionNMTConfig(**values)


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class AttentionDecoder(keras.layers.Layer):
    """A GRU decoder with additive attention, over whole target sequences.

    Args:
        units: GRU state size.
        attention_units: hidden size of the attention score.
        attention: "bahdanau" (attend with s_{t-1}, the context goes into the GRU),
            "luong_additive" (attend with s_t, the previous context goes into the GRU) or
            "none" (Cho et al. 2014: the context stays `initial_context` at every step and
            no attention is built).

    Call arguments:
        embedded_targets: (B, T, E), the embedded decoder inputs ([START] y_1 ... y_{T-1}).
        encoder_outputs: (B, S, D) encoder outputs.
        source_ids: (B, S) int source ids; id 0 (padding) is never attended.
        initial_state: (B, units) first decoder state.
        initial_context: (B, D) first context; zeros when None.

    Returns:
        (states (B, T, units), contexts (B, T, D), attention weights (B, T, S) float32;
        all zeros without attention).
    """

    def __init__(self, units, attention_units, attention=BAHDANAU, **kwargs):
        super().__init__(**kwargs)
        if attention not in ATTENTION_KINDS:
            raise ValueError(
                f"attention must be one of {', '.join(ATTENTION_KINDS)}; received {attention!r}."
            )
        self.units = units
        self.attention_units = attention_units
        self.attention_kind = attention
        self.use_attention = attention != NO_ATTENTION

    def build(
        self,
        embedded_targets_shape,
        encoder_outputs_shape,
        source_ids_shape=None,
        initial_state_shape=None,
        initial_context_shape=None,
    ):
        values_size = encoder_outputs_shape[-1]
        self.cell = keras.layers.GRUCell(self.units, dtype=self.dtype_policy, name="gru_cell")
        self.cell.build((None, embedded_targets_shape[-1] + values_size))
        if self.use_attention:
            self.attention = BahdanauAttention(
                self.attention_units, dtype=self.dtype_policy, name="attention"
            )
            self.attention.build((None, self.units), encoder_outputs_shape)

    def process_values(self, encoder_outputs):
        """The attention keys (B, S, A) of the encoder outputs; None without attention."""
        if not self.use_attention:
            return None
        return self.attention.process_values(encoder_outputs)

    def _attend(self, state, encoder_outputs, keys, source_mask):
        return self.attention(
            state, encoder_outputs, mask=source_mask, processed_values=keys
        )  # (B, D), (B, S)

    def _update(self, embedded_token, context, state):
        inputs = ops.concatenate([embedded_token, ops.cast(context, embedded_token.dtype)], axis=-1)
        return self.cell(inputs, [state])[0]  # (B, U)

    def step(self, embedded_token, state, context, encoder_outputs, keys, source_mask):
        """One decoder step: e_t (B, E), s_{t-1} (B, U), c_{t-1} (B, D) -> s_t, c_t, a_t (B, S).

        In Bahdanau's order c_{t-1} is not read: c_t comes from s_{t-1}.
        """
        if self.attention_kind == BAHDANAU:
            context, weights = self._attend(state, encoder_outputs, keys, source_mask)
            return self._update(embedded_token, context, state), context, weights
        state = self._update(embedded_token, context, state)
        if not self.use_attention:
            return state, context, ops.zeros(ops.shape(source_mask), "float32")
        context, weights = self._attend(state, encoder_outputs, keys, source_mask)
        return state, context, weights

    def call(
        self,
        embedded_targets,
        encoder_outputs,
        source_ids,
        initial_state,
        initial_context=None,
        training=None,
    ):
        source_mask = ops.not_equal(source_ids, PAD_ID)  # (B, S)
        keys = self.process_values(encoder_outputs)  # (B, S, A)
        batch = ops.shape(encoder_outputs)[0]
        if initial_context is None:
            initial_context = ops.zeros((batch, encoder_outputs.shape[-1]), self.compute_dtype)
        carry = (
            ops.cast(initial_state, self.compute_dtype),
            ops.cast(initial_context, self.compute_dtype),
            ops.zeros(ops.shape(source_ids), "float32"),
        )

        def one_step(carry, embedded_token):
            state, context, _ = carry
            new = self.step(embedded_token, state, context, encoder_outputs, keys, source_mask)
            return new, new

        time_major = ops.transpose(embedded_targets, (1, 0, 2))  # (T, B, E)
        _, (states, contexts, weights) = ops.scan(one_step, carry, time_major)
        return (
            ops.transpose(states, (1, 0, 2)),  # (B, T, U)
            ops.transpose(contexts, (1, 0, 2)),  # (B, T, D)
            ops.transpose(weights, (1, 0, 2)),  # (B, T, S)
        )

    def compute_output_shape(
        self,
        embedded_targets_shape,
        encoder_outputs_shape,
        source_ids_shape=None,
        initial_state_shape=None,
        initial_context_shape=None,
    ):
        batch, length = embedded_targets_shape[:2]
        return (
            (batch, length, self.units),
            (batch, length, encoder_outputs_shape[-1]),
            (batch, length, encoder_outputs_shape[1]),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "attention_units": self.attention_units,
            "attention": self.attention_kind,
        }


@keras.saving.register_keras_serializable(package="kerasnlp_lab", name="InputFeedingDecoder")
class InputFeedingDecoder(AttentionDecoder):
    """Reads .keras files saved before the decoder had two orders (their `use_attention`
    decoders were Luong's order with input feeding, or had no attention)."""

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["attention"] = LUONG_ADDITIVE if config.pop("use_attention") else NO_ATTENTION
        return cls(**config)


def build_model(config):
    """The compiled teacher-forcing model: {"source", "target_in"} ids -> logits (B, T, V)."""
    use_attention = config.attention != NO_ATTENTION
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    embedded_source = keras.layers.Embedding(
        config.source_vocab_size, config.embedding_dim, mask_zero=True, name="source_embedding"
    )(source)  # (B, S, E)
    embedded_source = ResumableDropout(config.dropout, name="source_dropout")(embedded_source)
    encoder_outputs, forward_state, backward_state = keras.layers.Bidirectional(
        keras.layers.GRU(config.units, return_sequences=True, return_state=True),
        name="encoder",
    )(embedded_source)  # (B, S, 2U), (B, U), (B, U)
    encoder_outputs = ResumableDropout(config.dropout, name="encoder_dropout")(encoder_outputs)
    final_states = keras.layers.Concatenate(name="final_states")([forward_state, backward_state])
    initial_state = keras.layers.Dense(config.units, activation="tanh", name="bridge")(final_states)
    embedded_target = keras.layers.Embedding(
        config.target_vocab_size, config.embedding_dim, name="target_embedding"
    )(target_in)  # (B, T, E)
    embedded_target = ResumableDropout(config.dropout, name="target_dropout")(embedded_target)
    decoder = AttentionDecoder(
        config.units, config.attention_units, attention=config.attention, name="decoder"
    )
    # Without attention the context is the final states at every step (the bottleneck).
    initial_context = None if use_attention else final_states
    states, contexts, _ = decoder(
        embedded_target, encoder_outputs, source, initial_state, initial_context
    )
    features = [states, contexts]
    if config.attention == BAHDANAU:  # Bahdanau's output also reads the previous target word
        features.append(embedded_target)
    features = keras.layers.Concatenate(name="decoder_features")(features)  # (B, T, 3U[+E])
    features = ResumableDropout(config.dropout, name="features_dropout")(features)
    logits = keras.layers.Dense(config.target_vocab_size, dtype="float32", name="logits")(features)
    model = keras.Model({"source": source, "target_in": target_in}, logits, name=MODEL_NAME)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss=MaskedSparseCrossentropy(),
        metrics=[MaskedAccuracy()],
    )
    return model


class AttentionTranslator:
    """Step-by-step access to a trained model, for decoding (in-process and in the export).

    Implements the translator interface of `kerasnlp_lab.export.translator`: `encode`,
    `initial_decoder_state`, `decode_step`, plus `attend` (teacher-forced attention weights).
    """

    def __init__(self, model):
        self.model = model
        self.source_embedding = model.get_layer("source_embedding")
        self.encoder = model.get_layer("encoder")
        self.bridge = model.get_layer("bridge")
        self.target_embedding = model.get_layer("target_embedding")
        self.decoder = model.get_layer("decoder")
        self.output_layer = model.get_layer("logits")

    def encode(self, source_ids):
        """Source ids (B, S) -> {outputs (B, S, D), keys (B, S, A), mask (B, S), state (B, U)}."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        mask = ops.not_equal(source_ids, PAD_ID)  # (B, S)
        outputs, forward_state, backward_state = self.encoder(
            self.source_embedding(source_ids), mask=mask
        )
        final_states = ops.concatenate([forward_state, backward_state], axis=-1)  # (B, D)
        encoded = {"outputs": outputs, "mask": mask, "state": self.bridge(final_states)}
        if self.decoder.use_attention:
            encoded["keys"] = self.decoder.process_values(outputs)  # (B, S, A)
        else:
            encoded["final_states"] = final_states
        return encoded

    def encoded_for_beams(self, encoded, beam_size):
        """Each row of `encoded` repeated `beam_size` times."""
        return repeat_beams(encoded, beam_size)

    def per_row_encoded(self, encoded):
        """All of `encoded`: every entry has one row per source."""
        return encoded

    def initial_decoder_state(self, encoded):
        """{state (B, U), context (B, D)}: the bridge state and a zero context (without
        attention: the encoder's final states, the context of every step)."""
        if not self.decoder.use_attention:
            return {"state": encoded["state"], "context": encoded["final_states"]}
        outputs = encoded["outputs"]
        context = ops.zeros((ops.shape(outputs)[0], outputs.shape[-1]), outputs.dtype)
        return {"state": encoded["state"], "context": context}

    def step_with_attention(self, token_ids, decoder_state, encoded):
        """Previous tokens (B,) -> (logits (B, V) float32, new decoder state, weights (B, S))."""
        embedded = self.target_embedding(ops.convert_to_tensor(token_ids, "int32"))  # (B, E)
        state, context, weights = self.decoder.step(
            embedded,
            decoder_state["state"],
            decoder_state["context"],
            encoded["outputs"],
            encoded.get("keys"),
            encoded["mask"],
        )
        features = [state, ops.cast(context, state.dtype)]
        if self.decoder.attention_kind == BAHDANAU:
            features.append(ops.cast(embedded, state.dtype))
        logits = self.output_layer(ops.concatenate(features, axis=-1))
        return logits, {"state": state, "context": context}, weights

    def decode_step(self, tokens, step, decoder_state, encoded):
        """Token buffer (B, 1 + L) at `step` -> (logits (B, V) of the next token, new state)."""
        logits, decoder_state, _ = self.step_with_attention(
            ops.take(tokens, step, axis=1), decoder_state, encoded
        )
        return logits, decoder_state

    def attend(self, source_ids, target_in):
        """Teacher-forced attention weights (B, T, S) of decoder inputs `target_in` (B, T)."""
        encoded = self.encode(source_ids)
        _, _, weights = self.decoder(
            self.target_embedding(target_in),
            encoded["outputs"],
            source_ids,
            encoded["state"],
            encoded.get("final_states"),
        )
        return weights
