"""The character generator's SavedModel: `serving_default` prompt -> continuation.

Signature (README, "SavedModel contract"): `prompt` string [-1], `num_chars` int32 [-1],
`temperature` float32 [-1], `seed` int64 [-1] -> `text` string [-1], the generated continuation of
each prompt.
Serving is stateless: the GRU state lives only inside one call.

`next_chars` (for the playground): `text` string [-1] -> `top_chars` string [-1, -1, TOP_K] and
`top_probs` float32 [-1, -1, TOP_K]: at position i of each text (its first MAX_TEXT_CHARS
characters, read after START_TEXT as a prompt is), the TOP_K most likely next characters after
text[: i + 1] and their probabilities (softmax of the logits at temperature 1, the padding and OOV
ids excluded as in sampling). Positions past a row's length hold "" and 0.

How a row is generated:
1. The prompt is read after a newline (`START_TEXT`), as at the start of a line: an empty
   prompt generates from the beginning of a line. Its UTF-8 characters become ids through
   the vocabulary's lookup table; characters outside the vocabulary get the OOV id, and
   bytes that are not valid UTF-8 are replaced by U+FFFD first (so they read as OOV too).
   No prompt is an error.
2. The GRU layer runs over the prompt from a zero state (explicit initial state); the state
   after all but the last prompt character starts the loop.
3. A `tf.while_loop` steps the GRU cell one character at a time, carrying the state, the
   current and the previous character. The cell's step is written with core ops on weights
   prepared once per call (`step_weights`: the embedding table times the input kernel, so a
   character's input projection is one gathered row). The head gives logits, the padding
   and OOV ids are masked out, and the next character is drawn from softmax(logits /
   temperature) with noise seeded by (seed, step): the same request always gives the same
   text, row by row, whatever else is in the batch. `temperature` <= 0 means greedy.
4. Rows may ask for different lengths: the loop runs to the largest `num_chars` of the
   batch and each row is cut to its own. `num_chars` <= 0 gives "", and `num_chars` above
   `MAX_NUM_CHARS` is clamped to it (`kerasnlp-lab predict` refuses it with a message).
   Inputs of different batch sizes are an InvalidArgument error.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.decoding import sampling
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.saved_model import write_version
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.text import chars
from kerasnlp_lab.text.truncate import keep_last_chars
from kerasnlp_lab.training import char_generator as training
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = char_generator.MODEL_NAME
START_TEXT = training.DOCUMENT_SEPARATOR
MAX_NUM_CHARS = 2000
# The GRU reads at most the last MAX_PROMPT_CHARS characters of a prompt (its state forgets
# much sooner): no prompt makes the graph work in proportion to its size.
MAX_PROMPT_CHARS = 1000
# next_chars reads at most this many characters of a text (a prompt and its longest continuation).
MAX_TEXT_CHARS = MAX_PROMPT_CHARS + MAX_NUM_CHARS
TOP_K = 5
TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
NEVER_SAMPLED = (chars.PAD_ID, chars.OOV_ID)
SIGNATURE = [
    tf.TensorSpec([None], tf.string, name="prompt"),
    tf.TensorSpec([None], tf.int32, name="num_chars"),
    tf.TensorSpec([None], tf.float32, name="temperature"),
    tf.TensorSpec([None], tf.int64, name="seed"),
]


class CharGeneratorServing(tf.Module):
    """Generation functions over a trained character generator and its vocabulary."""

    def __init__(self, model, vocabulary):
        super().__init__(name="char_generator_serving")
        if vocabulary.vocab_size != char_generator.vocab_size_of(model):
            raise UserError(
                f"The model reads {char_generator.vocab_size_of(model)} ids but the "
                f"vocabulary has {vocabulary.vocab_size}: they come from different runs."
            )
        self.model = model
        self.vocabulary = vocabulary
        self.embedding = model.get_layer("embedding")
        self.gru = model.get_layer("gru")
        self.units = self.gru.cell.units
        cell = self.gru.cell
        if (
            not (cell.reset_after and cell.use_bias)
            or cell.activation is not keras.activations.tanh
        ):
            raise UserError(
                "Expected the GRU of build_training_model (reset_after, biases, tanh); "
                f"received reset_after={cell.reset_after}, use_bias={cell.use_bias}."
            )
        self.generate = tf.function(self._generate, input_signature=SIGNATURE)
        self.next_chars = tf.function(self._next_chars, input_signature=[TEXT_SPEC])
        self.warm_up = tf.function(self._warm_up)
        self.step = tf.function(self._step)

    def _prompt_ids(self, prompt, keep_first=False):
        """Ids (B, P) of START_TEXT + the prompt's last MAX_PROMPT_CHARS characters (its first
        MAX_TEXT_CHARS with `keep_first`), right-padded, and their lengths (B,) >= 1."""
        if keep_first:
            prompt = tf.strings.substr(prompt, 0, MAX_TEXT_CHARS, unit="UTF8_CHAR")
        else:
            prompt = keep_last_chars(prompt, MAX_PROMPT_CHARS)
        ids = self.vocabulary.encode(tf.strings.join([START_TEXT, prompt]))  # (B, None) ragged
        # One more padding column, so that even an empty batch has a time step for the GRU.
        padded = tf.pad(ids.to_tensor(chars.PAD_ID), [[0, 0], [0, 1]])  # (B, P)
        return padded, tf.cast(ids.row_lengths(), tf.int32)

    def _warm_up(self, prompt):
        """(last char (B,), the char before it (B,), GRU state (B, units) before the last char)."""
        ids, lengths = self._prompt_ids(prompt)  # (B, P), (B,)
        previous = tf.concat([ids[:, :1], ids[:, :-1]], axis=1)  # (B, P): start char before itself
        initial = tf.zeros([tf.shape(ids)[0], self.units])  # (B, units)
        outputs = self.gru(self.embedding(ids), initial_state=[initial])  # (B, P, units)
        states = tf.concat([initial[:, tf.newaxis], outputs], axis=1)  # (B, P + 1, units)
        last = lengths - 1  # (B,)
        return (
            tf.gather(ids, last, batch_dims=1),
            tf.gather(previous, last, batch_dims=1),
            tf.gather(states, last, batch_dims=1),
        )

    def step_weights(self):
        """The GRU cell's weights for `_step`, made once per generation: the input
        projection of every character `(V, 3U)` (embedding @ kernel + input bias), the
        recurrent kernel `(U, 3U)` and the recurrent bias `(3U,)`."""
        cell = self.gru.cell
        input_bias, recurrent_bias = tf.unstack(tf.convert_to_tensor(cell.bias))  # (3U,) each
        table = tf.matmul(tf.convert_to_tensor(self.embedding.embeddings), cell.kernel)
        return table + input_bias, tf.convert_to_tensor(cell.recurrent_kernel), recurrent_bias

    def _step(self, char, previous, state, temperature, seed, step, weights):
        """One character: reads `char` (B,) after `previous` (B,); returns (next char, state).

        Keras' GRU cell (reset gate after the recurrent matmul) on `step_weights`."""
        table, recurrent_kernel, recurrent_bias = weights
        inputs = tf.split(tf.gather(table, char), [2 * self.units, self.units], axis=1)
        inner = tf.nn.bias_add(tf.matmul(state, recurrent_kernel), recurrent_bias)  # (B, 3U)
        inner = tf.split(inner, [2 * self.units, self.units], axis=1)
        update, reset = tf.split(tf.sigmoid(inputs[0] + inner[0]), 2, axis=1)  # (B, U) each
        candidate = tf.tanh(inputs[1] + reset * inner[1])  # (B, U)
        state = update * state + (1 - update) * candidate  # (B, U)
        logits = char_generator.head_logits(self.model, state, char, previous)  # (B, V)
        next_char = sampling.sample_categorical(
            logits, temperature, seed, step, forbidden_ids=NEVER_SAMPLED
        )
        return next_char, state

    def _generate(self, prompt, num_chars, temperature, seed):
        batch = tf.shape(prompt)[0]
        for name, value in (("num_chars", num_chars), ("temperature", temperature), ("seed", seed)):
            tf.debugging.assert_equal(
                tf.shape(value)[0],
                batch,
                message=f"Expected one {name} per prompt (the same batch size as prompt)",
            )
        num_chars = tf.clip_by_value(num_chars, 0, MAX_NUM_CHARS)  # (B,)
        char, previous, state = self._warm_up(prompt)
        weights = self.step_weights()
        steps = tf.reduce_max(tf.concat([num_chars, [0]], axis=0))
        # At least one step, so the TensorArray is never stacked empty; cut to `steps` below.
        loop_steps = tf.maximum(steps, 1)

        def body(step, char, previous, state, generated):
            next_char, state = self._step(char, previous, state, temperature, seed, step, weights)
            return step + 1, next_char, char, state, generated.write(step, next_char)

        _, _, _, _, generated = tf.while_loop(
            lambda step, *_: step < loop_steps,
            body,
            (tf.constant(0), char, previous, state, tf.TensorArray(tf.int32, size=loop_steps)),
        )
        ids = tf.transpose(generated.stack())[:, :steps]  # (B, steps)
        kept = tf.sequence_mask(num_chars, steps)  # (B, steps)
        return {"text": self.vocabulary.decode(tf.where(kept, ids, chars.PAD_ID))}

    def _next_chars(self, text):
        ids, lengths = self._prompt_ids(text, keep_first=True)  # (B, P), (B,)
        previous = tf.concat([ids[:, :1], ids[:, :-1]], axis=1)  # (B, P)
        initial = tf.zeros([tf.shape(ids)[0], self.units])
        outputs = self.gru(self.embedding(ids), initial_state=[initial])  # (B, P, units)
        logits = char_generator.head_logits(self.model, outputs, ids, previous)  # (B, P, V)
        never = tf.reduce_any(
            tf.equal(tf.range(tf.shape(logits)[-1])[:, tf.newaxis], list(NEVER_SAMPLED)), axis=1
        )  # (V,)
        logits = tf.where(never, tf.constant(-1e9, logits.dtype), logits)
        probabilities, top_ids = tf.math.top_k(tf.nn.softmax(logits), k=TOP_K)  # (B, P, K)
        # Position i of the text is id i + 1 (id 0 is START_TEXT); the last column is padding.
        kept = tf.sequence_mask(lengths - 1, tf.shape(ids)[1] - 2)[:, :, tf.newaxis]
        return {
            "top_chars": tf.where(kept, self.vocabulary.ids_to_chars(top_ids[:, 1:-1]), ""),
            "top_probs": tf.where(kept, probabilities[:, 1:-1], 0.0),
        }

    def signatures(self):
        return {
            "serving_default": self.generate.get_concrete_function(),
            "next_chars": self.next_chars.get_concrete_function(),
        }


def warmup_requests():
    """Realistic requests of both signatures (batch sizes 1 and 3, mixed lengths) for TF
    Serving's warmup."""
    return [
        (
            "serving_default",
            {
                "prompt": np.array([b"In the beginning"]),
                "num_chars": np.array([20], np.int32),
                "temperature": np.array([0.8], np.float32),
                "seed": np.array([1], np.int64),
            },
        ),
        (
            "serving_default",
            {
                "prompt": np.array([b"And God said", b"", b"The LORD is my shepherd"]),
                "num_chars": np.array([10, 0, 30], np.int32),
                "temperature": np.array([1.0, 0.5, 0.0], np.float32),
                "seed": np.array([0, 7, 42], np.int64),
            },
        ),
        ("next_chars", {"text": np.array([b"In the beginning"])}),
        ("next_chars", {"text": np.array([b"And God said", b"", b"The LORD is my shepherd"])}),
    ]


def export_model(model, vocabulary, saved_models, version=None):
    """Writes saved_models/char_generator/<version>/ for a trained model and its vocabulary."""
    serving = CharGeneratorServing(model, vocabulary)
    return write_version(
        serving,
        serving.signatures(),
        saved_models=saved_models,
        name=MODEL_NAME,
        version=version,
        warmup_requests=warmup_requests(),
    )


def load_serving(workdir):
    """(run description, generation module) of the trained run in `workdir`, in-process."""
    run, model = workdir_lib.load_run(workdir, MODEL_NAME)
    return run, CharGeneratorServing(model, training.load_vocabulary(workdir))


def export(workdir="runs/char_generator", saved_models="saved_models", version=None):
    """`kerasnlp-lab export char_generator`: the trained run of `workdir` as a SavedModel."""
    _, serving = load_serving(workdir)
    return export_model(serving.model, serving.vocabulary, saved_models, version)


def predict_inputs(inputs, num_chars=200, temperature=1.0, seed=0):
    """`kerasnlp-lab predict char_generator PROMPT...`: one row per prompt, same settings."""
    if num_chars > MAX_NUM_CHARS:
        raise UserError(f"Expected --num-chars of at most {MAX_NUM_CHARS}, got {num_chars}.")
    count = len(inputs)
    return {
        "prompt": np.array(
            [text.encode("utf-8", errors="surrogateescape") for text in inputs], object
        ),
        "num_chars": np.full([count], num_chars, np.int32),
        "temperature": np.full([count], temperature, np.float32),
        "seed": np.full([count], seed, np.int64),
    }


def format_outputs(outputs):
    """Each continuation on its own, separated by a blank line when there are several."""
    texts = [
        value.decode("utf-8") if isinstance(value, bytes) else str(value)
        for value in np.asarray(outputs["text"]).reshape(-1)
    ]
    return "\n\n".join(texts)
