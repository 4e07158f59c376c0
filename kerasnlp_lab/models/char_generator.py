"""The character generator: chars -> Embedding -> GRU -> wide-and-deep head -> next-char logits.

The model reads two aligned id sequences, `chars` (B, T) and `previous_chars` (B, T): the
character at each position and the one before it. The GRU output feeds the deep path of
the head; the two ids (and their hashed cross) feed its wide path. `previous_chars` is an
input rather than a shift of `chars` so that a text fed in chunks sees the same previous
character at a chunk boundary as in one pass.

Two builds share one set of weights (same layers, same names, same order):
- `build_training_model`: any batch size, a fresh GRU state per sequence, compiled;
- `build_generation_model`: a fixed batch size and a stateful GRU that carries its state
  from call to call until `reset_states(model)` (Keras 3 resets each stateful layer).
"""

import dataclasses

import keras
from keras import ops

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.layers.resumable_dropout import ResumableDropout
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead
from kerasnlp_lab.models.presets import preset_config

MODEL_NAME = "char_generator"
SEQUENCE_LENGTH = 100
HEADS = ("wide_and_deep", "dense")


@dataclasses.dataclass(frozen=True)
class CharGeneratorConfig:
    """Sizes and training settings of the character generator.

    `head` is "wide_and_deep" (`WideAndDeepHead` over the GRU output and the ids of the
    current and previous characters) or "dense" (one Dense layer over the GRU output, as in
    the classic tutorial). With `deep_units=()` the deep path of the wide-and-deep head is
    exactly that Dense layer, so the two heads differ only by the wide path.

    Training only: `dropout` drops that fraction of the embeddings and of the GRU outputs;
    `lr_plateau_factor` < 1 multiplies the learning rate by it after an epoch whose
    validation loss did not improve; with `early_stopping_patience` set, training stops
    after that many epochs without improvement and keeps the best epoch's weights (None:
    every epoch runs and the last one's weights are kept).
    """

    embedding_dim: int = 256
    gru_units: int = 1024
    head: str = "wide_and_deep"
    deep_units: tuple = ()
    num_hash_bins: int = 8192  # >= vocabulary size squared: a collision-free bigram cross
    max_vocab_size: int | None = None  # None: every character of the training text
    sequence_length: int = SEQUENCE_LENGTH
    batch_size: int = 64
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training sequences
    learning_rate: float = 1e-3
    dropout: float = 0.0
    lr_plateau_factor: float = 1.0
    early_stopping_patience: int | None = None
    train_chars: int | None = None  # None: the whole training split
    eval_chars: int | None = None  # None: the whole validation / test split
    jit_compile: bool = False


PRESETS = {
    # Seconds on 2 CPU cores: for tests and the demo.
    "tiny": CharGeneratorConfig(
        embedding_dim=16,
        gru_units=64,
        num_hash_bins=2048,
        max_vocab_size=40,
        batch_size=32,
        epochs=2,
        steps_per_epoch=20,
        learning_rate=1e-2,
        train_chars=100_000,
        eval_chars=20_000,
    ),
    # Minutes to an hour on a laptop CPU.
    "small": CharGeneratorConfig(
        embedding_dim=64,
        gru_units=256,
        batch_size=64,
        epochs=10,
        steps_per_epoch=200,
        eval_chars=200_000,
    ),
    # `small` with the classic plain Dense head: the comparison for the wide path.
    "small_dense": CharGeneratorConfig(
        embedding_dim=64,
        gru_units=256,
        head="dense",
        batch_size=64,
        epochs=10,
        steps_per_epoch=200,
        eval_chars=200_000,
    ),
    # The release model (presets/char_generator): twice `small`'s sizes, 4,000 steps.
    "release": CharGeneratorConfig(
        embedding_dim=128,
        gru_units=512,
        batch_size=64,
        epochs=20,
        steps_per_epoch=200,
        eval_chars=200_000,
    ),
    # The classic size (TensorFlow's text generation tutorial): embedding 256, GRU 1024.
    "full": CharGeneratorConfig(),
    "full_dense": CharGeneratorConfig(head="dense"),
}
DEFAULT_PRESET = "small"


def get_config(preset=None, **overrides):
    """Returns the named preset (default `small`) with `overrides` applied."""
    config = preset_config(MODEL_NAME, PRESETS, DEFAULT_PRESET, preset, **overrides)
    if config.head not in HEADS:
        raise UserError(f"Unknown head {config.head!r}: expected one of {', '.join(HEADS)}.")
    return config


def config_from_dict(values):
    """The config stored in a run description (JSON turns tuples into lists)."""
    return CharGeneratorConfig(**{**values, "deep_units": tuple(values["deep_units"])})


def _build(config, vocab_size, batch_size, stateful):
    if stateful:
        chars = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="chars")
        previous = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="previous_chars")
    else:
        chars = keras.Input(shape=(None,), dtype="int32", name="chars")
        previous = keras.Input(shape=(None,), dtype="int32", name="previous_chars")
    embedded = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(chars)
    if config.dropout:
        embedded = ResumableDropout(config.dropout, name="embedding_dropout")(embedded)
    outputs = keras.layers.GRU(
        config.gru_units, return_sequences=True, stateful=stateful, name="gru"
    )(embedded)  # (B, T, gru_units)
    if config.dropout:
        outputs = ResumableDropout(config.dropout, name="gru_dropout")(outputs)
    if config.head == "dense":
        head = keras.layers.Dense(vocab_size, dtype="float32", name="head")
        logits = head(outputs)
    else:
        head = WideAndDeepHead(
            units=vocab_size,
            num_ids=vocab_size,
            num_hash_bins=config.num_hash_bins,
            deep_units=config.deep_units,
            name="head",
        )
        logits = head(outputs, wide_ids(chars, previous))
    return keras.Model({"chars": chars, "previous_chars": previous}, logits, name=MODEL_NAME)


def wide_ids(chars, previous_chars):
    """The wide columns of the head: (current, previous) ids, (..., 2)."""
    return ops.stack([chars, previous_chars], axis=-1)  # (..., 2)


def build_training_model(config, vocab_size):
    """The model trained on (B, T) sequences, compiled with a next-character loss."""
    model = _build(config, vocab_size, batch_size=None, stateful=False)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
    )
    return model


def build_generation_model(config, vocab_size, batch_size=1, weights_from=None):
    """The stateful model for step-by-step generation, with the weights of `weights_from`."""
    model = _build(config, vocab_size, batch_size=batch_size, stateful=True)
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    return model


def reset_states(model):
    """Zeroes the state of every stateful layer (a Keras 3 Functional model has no reset_states)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def vocab_size_of(model):
    """The number of character ids the model reads and predicts."""
    return model.get_layer("embedding").input_dim


def head_logits(model, outputs, chars, previous_chars):
    """Logits (..., V) of the model's head for GRU outputs (..., units) and their ids."""
    head = model.get_layer("head")
    if isinstance(head, WideAndDeepHead):
        return head(outputs, wide_ids(chars, previous_chars))
    return head(outputs)
