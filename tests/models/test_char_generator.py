"""The character generator model: shapes, heads, stateful chunks = one pass, save/load."""

import keras
import numpy as np
import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead
from kerasnlp_lab.models import char_generator

VOCAB = 23


def randomize(model, seed=0):
    """Random weights everywhere (the wide tables start at zero and would hide bugs)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def text_ids(batch, length, seed=1):
    rng = np.random.default_rng(seed)
    chars = rng.integers(0, VOCAB, (batch, length + 1)).astype(np.int32)
    return {"chars": chars[:, 1:], "previous_chars": chars[:, :-1]}


@pytest.fixture(scope="module")
def trained():
    return randomize(char_generator.build_training_model(char_generator.get_config("tiny"), VOCAB))


def test_presets_and_their_sizes():
    assert set(char_generator.PRESETS) == {
        "tiny",
        "small",
        "small_dense",
        "release",
        "full",
        "full_dense",
    }
    release = char_generator.get_config("release")
    assert (release.embedding_dim, release.gru_units, release.epochs * release.steps_per_epoch) == (
        128,
        512,
        4000,
    )
    full = char_generator.get_config("full")
    assert (full.embedding_dim, full.gru_units, full.sequence_length) == (256, 1024, 100)
    assert char_generator.get_config("tiny").gru_units == 64
    assert char_generator.get_config("small_dense").head == "dense"
    assert char_generator.get_config("tiny", epochs=5, batch_size=None).epochs == 5


def test_unknown_preset_and_head_are_user_errors():
    with pytest.raises(
        UserError, match="Unknown char_generator preset 'huge': expected one of tiny"
    ):
        char_generator.get_config("huge")
    with pytest.raises(UserError, match="Unknown head 'cnn': expected one of wide_and_deep, dense"):
        char_generator.get_config("tiny", head="cnn")


def test_logits_shape_and_heads(trained):
    logits = trained(text_ids(3, 17))
    assert logits.shape == (3, 17, VOCAB)
    assert isinstance(trained.get_layer("head"), WideAndDeepHead)
    dense = char_generator.build_training_model(
        char_generator.get_config("small_dense", gru_units=8), VOCAB
    )
    assert isinstance(dense.get_layer("head"), keras.layers.Dense)
    assert dense(text_ids(2, 5)).shape == (2, 5, VOCAB)
    assert char_generator.vocab_size_of(dense) == VOCAB


def test_wide_path_reads_the_previous_char(trained):
    inputs = text_ids(1, 12)
    other = dict(inputs, previous_chars=(inputs["previous_chars"] + 1) % VOCAB)
    logits, changed = np.asarray(trained(inputs)), np.asarray(trained(other))
    # Only the head sees previous_chars: every position changes, none by a GRU effect.
    assert np.all(np.abs(logits - changed).max(axis=-1) > 1e-4)


def test_deep_path_of_head_without_hidden_layers_equals_a_dense_layer(trained):
    head = trained.get_layer("head")
    features = np.random.default_rng(2).normal(size=(4, 64)).astype(np.float32)
    kernel, bias = head.logits_kernel.numpy(), head.logits_bias.numpy()
    np.testing.assert_allclose(head.deep_logits(features), features @ kernel + bias, atol=1e-5)


def test_stateful_chunks_give_the_logits_of_one_pass(trained):
    config = char_generator.get_config("tiny")
    inputs = text_ids(2, 60, seed=5)
    one_pass = np.asarray(trained(inputs))
    generator = char_generator.build_generation_model(
        config, VOCAB, batch_size=2, weights_from=trained
    )
    chunks = []
    for start, stop in [(0, 1), (1, 25), (25, 26), (26, 60)]:
        chunk = {name: value[:, start:stop] for name, value in inputs.items()}
        chunks.append(np.asarray(generator(chunk)))
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), one_pass, atol=1e-5)
    # Without a reset the state carries on; after one, the stateful model starts afresh.
    again = np.asarray(generator({name: value[:, :10] for name, value in inputs.items()}))
    assert np.abs(again - one_pass[:, :10]).max() > 1e-3
    char_generator.reset_states(generator)
    again = np.asarray(generator({name: value[:, :10] for name, value in inputs.items()}))
    np.testing.assert_allclose(again, one_pass[:, :10], atol=1e-5)


def test_one_char_at_a_time_matches_one_pass_with_batch_of_one(trained):
    config = char_generator.get_config("tiny")
    inputs = text_ids(1, 20, seed=9)
    generator = char_generator.build_generation_model(config, VOCAB, weights_from=trained)
    steps = [
        np.asarray(generator({n: v[:, t : t + 1] for n, v in inputs.items()})) for t in range(20)
    ]
    np.testing.assert_allclose(
        np.concatenate(steps, axis=1), np.asarray(trained(inputs)), atol=1e-5
    )


def test_keras_file_round_trip(trained, tmp_path):
    path = str(tmp_path / "model.keras")
    trained.save(path)
    loaded = keras.saving.load_model(path)
    inputs = text_ids(2, 9)
    np.testing.assert_allclose(loaded(inputs), trained(inputs), atol=1e-6)
    assert loaded.get_layer("head").num_hash_bins == 2048


def test_training_lowers_the_loss_on_a_repeated_pattern():
    config = char_generator.get_config("tiny", learning_rate=1e-2)
    model = char_generator.build_training_model(config, VOCAB)
    text = np.tile(np.arange(6, dtype=np.int32), 40)[None, :]  # (1, 240)
    inputs = {"chars": text[:, 1:-1], "previous_chars": text[:, :-2]}
    targets = text[:, 2:]
    before = model.evaluate(inputs, targets, verbose=0)[0]
    model.fit(inputs, targets, epochs=30, verbose=0)
    loss, accuracy = model.evaluate(inputs, targets, verbose=0)
    assert before > 2.5 and loss < 0.2 and accuracy == 1.0
