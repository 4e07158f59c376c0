"""The attention NMT model: shapes, masks, step-by-step decoding, loss and accuracy, save/load."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.translator import TranslatorServing
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.metrics import MaskedAccuracy
from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.text.vectorizer import RESERVED_TOKENS, START_ID, WordVectorizer

VOCAB_SIZE = 20
CONFIG = attention_nmt.get_config(
    "tiny",
    source_vocab_size=VOCAB_SIZE,
    target_vocab_size=VOCAB_SIZE,
    max_source_length=10,
    max_target_length=7,
)
SOURCE = np.array([[2, 5, 6, 7, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]], np.int32)
TARGET_IN = np.array([[2, 13, 14, 15], [2, 16, 0, 0]], np.int32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return attention_nmt.build_model(CONFIG)


def logits_of(model, source, target_in):
    return model({"source": source, "target_in": target_in}).numpy()


def test_logits_shape_and_dtype(model):
    logits = model({"source": SOURCE, "target_in": TARGET_IN})
    assert logits.shape == (2, 4, VOCAB_SIZE)
    assert logits.dtype == "float32"


def test_presets_have_the_documented_sizes():
    small, full = attention_nmt.get_config("small"), attention_nmt.get_config("full")
    assert (small.units, small.embedding_dim) == (256, 128)
    assert (full.units, full.embedding_dim) == (1024, 256)
    with pytest.raises(
        UserError, match="Unknown attention_nmt preset 'huge': expected one of tiny, small, full"
    ):
        attention_nmt.get_config("huge")


def test_source_padding_changes_nothing(model):
    padded = np.pad(SOURCE, [(0, 0), (0, 5)])
    np.testing.assert_allclose(
        logits_of(model, padded, TARGET_IN), logits_of(model, SOURCE, TARGET_IN), atol=1e-5
    )


def test_attention_ignores_padding_and_sums_to_one(model):
    weights = attention_nmt.AttentionTranslator(model).attend(SOURCE, TARGET_IN).numpy()
    assert weights.shape == (2, 4, 7)
    np.testing.assert_array_equal(weights[0, :, 5:], 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_decode_steps_equal_teacher_forcing(model):
    translator = attention_nmt.AttentionTranslator(model)
    expected = logits_of(model, SOURCE, TARGET_IN)
    encoded = translator.encode(SOURCE)
    state = translator.initial_decoder_state(encoded)
    tokens = np.pad(TARGET_IN, [(0, 0), (0, 2)])
    for step in range(TARGET_IN.shape[1]):
        logits, state = translator.decode_step(tokens, step, state, encoded)
        np.testing.assert_allclose(logits.numpy(), expected[:, step], atol=1e-5)


def test_input_feeding_uses_the_previous_context(model):
    """The decoder GRU reads [target embedding; previous context of the 2U encoder outputs]."""
    decoder = model.get_layer("decoder")
    assert decoder.cell.kernel.shape[0] == CONFIG.embedding_dim + 2 * CONFIG.units


def test_greedy_translation_equals_a_naive_loop_over_the_keras_model(model):
    vocabulary = list(RESERVED_TOKENS) + [f"w{index}" for index in range(VOCAB_SIZE - 4)]
    vectorizer = WordVectorizer(vocabulary)
    serving = TranslatorServing(
        attention_nmt.AttentionTranslator(model),
        vectorizer,
        vectorizer,
        max_source_length=CONFIG.max_source_length,
        max_output_length=6,
    )
    generated = serving.translate_ids(tf.constant(SOURCE)).numpy()
    assert vectorizer.oov_id not in generated
    for row in range(2):
        prefix = [START_ID]
        for _ in range(6):
            logits = logits_of(model, SOURCE[row : row + 1], np.array([prefix], np.int32))
            logits[0, -1, vectorizer.oov_id] = -np.inf  # [UNK] is never generated
            prefix.append(int(logits[0, -1].argmax()))
            if prefix[-1] == vectorizer.end_id:
                break
        expected = prefix[1:] + [0] * (generated.shape[1] - len(prefix) + 1)
        assert generated[row].tolist() == expected


def test_masked_loss_and_accuracy_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
    labels = np.array([[1, 4, 0], [2, 0, 0]], np.int32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = [-log_probs[b, t, labels[b, t]] for b, t in [(0, 0), (0, 1), (1, 0)]]
    assert float(MaskedSparseCrossentropy()(labels, logits)) == pytest.approx(
        np.mean(picked), rel=1e-5
    )
    smoothed = [
        0.9 * -log_probs[b, t, labels[b, t]] + 0.1 * -log_probs[b, t].mean()
        for b, t in [(0, 0), (0, 1), (1, 0)]
    ]
    assert float(MaskedSparseCrossentropy(label_smoothing=0.1)(labels, logits)) == pytest.approx(
        np.mean(smoothed), rel=1e-5
    )
    predictions = np.full((2, 3, 5), -1.0, np.float32)
    predictions[0, 0, 1] = predictions[0, 1, 3] = predictions[1, 0, 2] = predictions[1, 1, 0] = 5.0
    accuracy = MaskedAccuracy()
    accuracy.update_state(labels, predictions)
    assert float(accuracy.result()) == pytest.approx(2 / 3)


def test_keras_file_round_trip(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        logits_of(reloaded, SOURCE, TARGET_IN), logits_of(model, SOURCE, TARGET_IN), atol=1e-6
    )
    assert isinstance(reloaded.loss, MaskedSparseCrossentropy)


@pytest.fixture(scope="module")
def bottleneck_model():
    keras.utils.set_random_seed(1)
    return attention_nmt.build_model(dataclasses.replace(CONFIG, attention="none"))


def test_without_attention_the_source_reaches_the_decoder_only_through_final_states(
    bottleneck_model,
):
    """Cho et al.'s encoder-decoder: every step's context is [forward; backward] final state."""
    assert "attention" not in {weight.path.split("/")[1] for weight in bottleneck_model.weights}
    translator = attention_nmt.AttentionTranslator(bottleneck_model)
    encoded = translator.encode(SOURCE)
    final_states = encoded["final_states"].numpy()
    assert final_states.shape == (2, 2 * CONFIG.units)
    state = translator.initial_decoder_state(encoded)
    expected = logits_of(bottleneck_model, SOURCE, TARGET_IN)
    tokens = np.pad(TARGET_IN, [(0, 0), (0, 2)])
    for step in range(TARGET_IN.shape[1]):
        logits, state = translator.decode_step(tokens, step, state, encoded)
        np.testing.assert_array_equal(state["context"].numpy(), final_states)
        np.testing.assert_allclose(logits.numpy(), expected[:, step], atol=1e-5)


def test_without_attention_fewer_weights_and_a_keras_round_trip(model, bottleneck_model, tmp_path):
    attention = model.get_layer("decoder").attention
    assert bottleneck_model.count_params() == model.count_params() - attention.count_params()
    path = str(tmp_path / "bottleneck.keras")
    bottleneck_model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        logits_of(reloaded, SOURCE, TARGET_IN),
        logits_of(bottleneck_model, SOURCE, TARGET_IN),
        atol=1e-6,
    )


def test_unknown_attention_kind_is_refused():
    with pytest.raises(
        ValueError, match="attention must be one of bahdanau, none; received 'luong'"
    ):
        attention_nmt.build_model(dataclasses.replace(CONFIG, attention="luong"))
