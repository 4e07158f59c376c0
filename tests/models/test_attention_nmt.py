"""The attention NMT model: shapes, masks, step-by-step decoding, loss and accuracy, save/load."""

import dataclasses
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.translator import TranslatorServing
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.metrics import MaskedAccuracy
from kerasnlp_lab.models import attention_nmt, transformer
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


@pytest.fixture(scope="module")
def luong_model():
    keras.utils.set_random_seed(1)
    return attention_nmt.build_model(dataclasses.replace(CONFIG, attention="luong_additive"))


def logits_of(model, source, target_in):
    return model({"source": source, "target_in": target_in}).numpy()


def test_logits_shape_and_dtype(model):
    logits = model({"source": SOURCE, "target_in": TARGET_IN})
    assert logits.shape == (2, 4, VOCAB_SIZE)
    assert logits.dtype == "float32"


def test_presets_have_the_documented_sizes():
    small, full = attention_nmt.get_config("small"), attention_nmt.get_config("full")
    assert (small.units, small.embedding_dim) == (256, 128)
    # The same data settings as the Transformer's release preset.
    release = transformer.get_config("small")
    assert (small.tokenizer, small.source_vocab_size, small.target_vocab_size) == (
        release.tokenizer,
        release.source_vocab_size,
        release.target_vocab_size,
    )
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


@pytest.mark.parametrize("order", ["bahdanau", "luong_additive"])
def test_decode_steps_equal_teacher_forcing(model, luong_model, order):
    model = model if order == "bahdanau" else luong_model
    translator = attention_nmt.AttentionTranslator(model)
    expected = logits_of(model, SOURCE, TARGET_IN)
    encoded = translator.encode(SOURCE)
    state = translator.initial_decoder_state(encoded)
    tokens = np.pad(TARGET_IN, [(0, 0), (0, 2)])
    for step in range(TARGET_IN.shape[1]):
        logits, state = translator.decode_step(tokens, step, state, encoded)
        np.testing.assert_allclose(logits.numpy(), expected[:, step], atol=1e-5)


def reference_logits(model, source, target_in, attend_first):
    """Teacher-forced logits (B, T, V), the papers' equations written out over the layers.

    attend_first: Bahdanau's order (c_t from s_{t-1}, then s_t from [e_t; c_t]); else
    Luong's (s_t from [e_t; c_{t-1}], then c_t from s_t). The output reads [s_t; c_t],
    and e_t too when the model's output layer is that wide (Bahdanau's).
    """
    translator = attention_nmt.AttentionTranslator(model)
    decoder = model.get_layer("decoder")
    reads_embedding = translator.output_layer.kernel.shape[0] > 3 * CONFIG.units
    encoded = translator.encode(source)
    outputs, keys, mask = encoded["outputs"], encoded["keys"], encoded["mask"]
    state = encoded["state"]  # s_0 (B, U)
    context = tf.zeros_like(outputs[:, 0])  # c_0 (B, 2U)
    logits = []
    for step in range(target_in.shape[1]):
        embedded = translator.target_embedding(target_in[:, step])  # e_t (B, E)
        if attend_first:
            context, _ = decoder.attention(state, outputs, mask=mask, processed_values=keys)
        state = decoder.cell(tf.concat([embedded, context], -1), [state])[0]
        if not attend_first:
            context, _ = decoder.attention(state, outputs, mask=mask, processed_values=keys)
        features = [state, context] + ([embedded] if reads_embedding else [])
        logits.append(translator.output_layer(tf.concat(features, -1)))
    return np.stack([step_logits.numpy() for step_logits in logits], axis=1)


@pytest.mark.parametrize("order", ["bahdanau", "luong_additive"])
def test_each_order_computes_its_papers_equations(model, luong_model, order):
    model = model if order == "bahdanau" else luong_model
    logits = logits_of(model, SOURCE, TARGET_IN)
    attend_first = order == "bahdanau"
    np.testing.assert_allclose(
        logits, reference_logits(model, SOURCE, TARGET_IN, attend_first), atol=1e-5
    )
    # The other order over the same weights gives other logits.
    other = reference_logits(model, SOURCE, TARGET_IN, not attend_first)
    assert np.abs(other - logits).max() > 1e-3


def test_the_output_layer_reads_the_previous_word_in_bahdanaus_order_only(model, luong_model):
    """GRU input [e_t; c] in both orders; output [s_t; c_t; e_t] (Bahdanau) or [s_t; c_t]."""
    for built in (model, luong_model):
        assert built.get_layer("decoder").cell.kernel.shape[0] == (
            CONFIG.embedding_dim + 2 * CONFIG.units
        )
    assert model.get_layer("logits").kernel.shape[0] == 3 * CONFIG.units + CONFIG.embedding_dim
    assert luong_model.get_layer("logits").kernel.shape[0] == 3 * CONFIG.units


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
    assert not np.isin(generated[:, 0], [0, 1, 2]).any()
    for row in range(2):
        prefix = [START_ID]
        for _ in range(6):
            logits = logits_of(model, SOURCE[row : row + 1], np.array([prefix], np.int32))
            logits[0, -1, list(vectorizer.banned_ids)] = -np.inf  # padding, [UNK], [START]
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


def test_without_attention_fewer_weights_and_a_keras_round_trip(
    luong_model, bottleneck_model, tmp_path
):
    attention = luong_model.get_layer("decoder").attention
    assert bottleneck_model.count_params() == luong_model.count_params() - attention.count_params()
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
        ValueError,
        match="attention must be one of bahdanau, luong_additive, none; received 'luong'",
    ):
        attention_nmt.build_model(dataclasses.replace(CONFIG, attention="luong"))


def test_a_keras_file_of_the_old_input_feeding_decoder_loads_in_luongs_order(luong_model, tmp_path):
    """Runs saved before the two orders name `InputFeedingDecoder` with `use_attention`."""
    path = tmp_path / "model.keras"
    luong_model.save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    decoder = next(
        layer for layer in config["config"]["layers"] if layer["config"]["name"] == "decoder"
    )
    decoder["class_name"] = "InputFeedingDecoder"
    decoder["registered_name"] = "kerasnlp_lab>InputFeedingDecoder"
    del decoder["config"]["attention"]
    decoder["config"]["use_attention"] = True
    files["config.json"] = json.dumps(config).encode()
    weights = tmp_path / "model.weights.h5"  # old files keep the decoder's weights under its name
    weights.write_bytes(files["model.weights.h5"])
    with h5py.File(weights, "r+") as file:
        file.move("layers/attention_decoder", "layers/input_feeding_decoder")
    files["model.weights.h5"] = weights.read_bytes()
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    reloaded = keras.saving.load_model(old)
    assert reloaded.get_layer("decoder").attention_kind == "luong_additive"
    np.testing.assert_allclose(
        logits_of(reloaded, SOURCE, TARGET_IN),
        logits_of(luong_model, SOURCE, TARGET_IN),
        atol=1e-6,
    )
