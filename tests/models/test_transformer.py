"""The Transformer translator: shapes, masks, cached decoding, presets, saved files."""

import collections
import dataclasses
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import transformer
from kerasnlp_lab.models.keras_hub_transformer import KerasHubTransformerTranslator
from kerasnlp_lab.schedules import TransformerSchedule

SOURCE_VOCAB, TARGET_VOCAB = 53, 47
START_ID, END_ID = 2, 3


def tiny_config(**overrides):
    return transformer.get_config(
        "tiny", num_layers=2, max_source_length=12, max_target_length=12, **overrides
    )


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return transformer.build_model(tiny_config(), SOURCE_VOCAB, TARGET_VOCAB)


@pytest.fixture(scope="module")
def hub_model():
    keras.utils.set_random_seed(2)
    return transformer.build_model(tiny_config(backbone="keras_hub"), SOURCE_VOCAB, TARGET_VOCAB)


def random_ids(rng, shape, vocab, lengths=None):
    ids = rng.integers(4, vocab, shape).astype("int32")
    if lengths is not None:
        for row, length in enumerate(lengths):
            ids[row, length:] = 0
    return ids


def test_presets_have_the_documented_sizes():
    small, base = transformer.get_config("small"), transformer.get_config("base")
    assert (
        small.num_layers,
        small.model_dim,
        small.feed_forward_dim,
        small.num_heads,
        small.dropout,
    ) == (4, 128, 512, 8, 0.1)
    # The release vocabulary: WordPiece, the size docs/subword_tokenization.md picked.
    assert (small.tokenizer, small.source_vocab_size, small.target_vocab_size) == (
        "wordpiece",
        8_000,
        8_000,
    )
    assert (base.num_layers, base.model_dim, base.feed_forward_dim, base.num_heads) == (
        6,
        512,
        2048,
        8,
    )
    assert transformer.get_config().backbone == "ours"
    assert transformer.get_config("tiny", epochs=5).epochs == 5


def test_bad_preset_backbone_and_head_count_are_user_errors():
    with pytest.raises(UserError, match="preset 'huge'.*tiny, small, base"):
        transformer.get_config("huge")
    with pytest.raises(UserError, match="backbone 'torch'.*ours, keras_hub"):
        transformer.get_config("tiny", backbone="torch")
    with pytest.raises(UserError, match="multiple of num_heads.*model_dim=32 and num_heads=3"):
        transformer.get_config("tiny", num_heads=3)


@pytest.mark.parametrize("fixture", ["model", "hub_model"])
def test_logits_shape_and_dtype(fixture, request):
    model = request.getfixturevalue(fixture)
    rng = np.random.default_rng(0)
    logits = model(
        {
            "source": random_ids(rng, (3, 9), SOURCE_VOCAB),
            "target_in": random_ids(rng, (3, 7), TARGET_VOCAB),
        }
    )
    assert logits.shape == (3, 7, TARGET_VOCAB)
    assert logits.dtype == tf.float32


def test_same_sizes_for_both_backbones(model, hub_model):
    # keras_hub learns its position embeddings; ours are sinusoids (no weights).
    learned_positions = 2 * 12 * 32
    assert hub_model.count_params() - model.count_params() == learned_positions


def test_source_padding_changes_nothing(model):
    rng = np.random.default_rng(1)
    source = random_ids(rng, (2, 6), SOURCE_VOCAB)
    target = random_ids(rng, (2, 5), TARGET_VOCAB)
    padded = np.concatenate([source, np.zeros((2, 4), "int32")], axis=1)
    np.testing.assert_allclose(
        model({"source": padded, "target_in": target}),
        model({"source": source, "target_in": target}),
        atol=1e-5,
    )


def test_decoder_is_causal_and_ignores_target_padding(model):
    rng = np.random.default_rng(2)
    source = random_ids(rng, (2, 6), SOURCE_VOCAB)
    target = random_ids(rng, (2, 6), TARGET_VOCAB)
    changed = target.copy()
    changed[:, 4:] = random_ids(rng, (2, 2), TARGET_VOCAB)
    before = model({"source": source, "target_in": target}).numpy()
    after = model({"source": source, "target_in": changed}).numpy()
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-5)
    assert np.abs(after[:, 4:] - before[:, 4:]).max() > 1e-3
    padded = np.concatenate([target, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(
        model({"source": source, "target_in": padded})[:, :6], before, atol=1e-5
    )


@pytest.mark.parametrize("fixture", ["model", "hub_model"])
def test_decode_steps_match_teacher_forcing(fixture, request):
    model = request.getfixturevalue(fixture)
    rng = np.random.default_rng(3)
    source = random_ids(rng, (3, 8), SOURCE_VOCAB, lengths=[8, 5, 2])
    target = random_ids(rng, (3, 7), TARGET_VOCAB)
    full = model({"source": source, "target_in": target}).numpy()
    encoder_outputs, source_mask = model.encode(source)
    state = model.initial_decoding_state(encoder_outputs, source_mask, max_length=10)
    steps = []
    for index in range(7):
        logits, state = model.decode_step(tf.constant(target[:, index]), index, state)
        steps.append(logits.numpy())
    shapes = [tuple(part.shape) for part in tf.nest.flatten(state["self_caches"])]
    if fixture == "model":  # keys and values (B, H, T, K) of the T = 7 steps, per layer
        assert shapes == [(3, 2, 7, 16)] * 4
    else:  # keras_hub: (B, 2, L, H, K) per layer
        assert shapes == [(3, 2, 10, 2, 16)] * 2
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-4)


@pytest.mark.parametrize("norm_first", [True, False])
def test_cached_greedy_gives_exactly_the_uncached_tokens(norm_first):
    keras.utils.set_random_seed(4)
    config = tiny_config(norm_first=norm_first)
    model = transformer.build_model(config, SOURCE_VOCAB, TARGET_VOCAB)
    rng = np.random.default_rng(4)
    source = random_ids(rng, (5, 9), SOURCE_VOCAB, lengths=[9, 7, 4, 2, 9])
    decode = tf.function(
        lambda source, cached: transformer.generate(
            model, source, 11, START_ID, END_ID, cached=cached
        ),
        reduce_retracing=True,
    )
    cached = decode(source, True).numpy()
    uncached = decode(source, False).numpy()
    assert cached.shape == (5, 11)
    np.testing.assert_array_equal(cached, uncached)
    assert len(np.unique(cached)) > 3  # the rows say different things


def source_sensitive_model(seed, **overrides):
    """A random tiny model whose translations depend on the source and on the prefix.

    At initialisation the embeddings (uniform +-0.05, times sqrt(model_dim)) are small next
    to the positional encoding, so an untrained model says one token whatever it reads.
    Larger embeddings and cross- and self-attention values make every row say something
    else, and make a hypothesis's cached keys and values matter for its next token.
    """
    keras.utils.set_random_seed(seed)
    model = transformer.build_model(tiny_config(**overrides), SOURCE_VOCAB, TARGET_VOCAB)
    factors = {
        "embeddings": 20.0,
        "cross_attention/value_kernel": 5.0,
        "self_attention/value_kernel": 3.0,
    }
    for weight in model.weights:
        for name, factor in factors.items():
            if weight.path.endswith(name):
                weight.assign(weight * factor)
    return model


@pytest.mark.parametrize("norm_first, seed", [(True, 2), (False, 3)])
def test_cached_beam_search_gives_exactly_the_uncached_tokens(norm_first, seed):
    # The cached search reorders each hypothesis's key/value caches with it; the uncached one
    # rereads the prefix. On a model whose rows and steps differ (the seeds pass the two
    # guards below), a cache left behind or a cross-attention mixing sources gives other tokens.
    model = source_sensitive_model(seed, norm_first=norm_first)
    rng = np.random.default_rng(5)
    source = random_ids(rng, (4, 7), SOURCE_VOCAB, lengths=[7, 3, 5, 6])
    search = dict(beam_size=3, length_penalty_alpha=0.6)
    beams = [
        transformer.generate(model, source, 10, START_ID, END_ID, cached=cached, **search).numpy()
        for cached in (True, False)
    ]
    assert beams[0].shape == (4, 10)
    np.testing.assert_array_equal(beams[0], beams[1])
    assert len(np.unique(beams[0])) > 3  # not one repeated token
    assert len({tuple(row) for row in beams[0]}) == 4  # the rows say different things


def test_build_model_returns_the_class_of_the_backbone(model, hub_model):
    assert (type(model), model.backbone) == (transformer.TransformerTranslator, "ours")
    assert (type(hub_model), hub_model.backbone) == (KerasHubTransformerTranslator, "keras_hub")


def test_keras_round_trip_keeps_weights_backbone_and_optimizer(model, hub_model, tmp_path):
    rng = np.random.default_rng(6)
    inputs = {
        "source": random_ids(rng, (2, 5), SOURCE_VOCAB),
        "target_in": random_ids(rng, (2, 4), TARGET_VOCAB),
    }
    for original in (model, hub_model):
        path = str(tmp_path / f"{original.backbone}.keras")
        original.save(path)
        reloaded = keras.saving.load_model(path)
        assert type(reloaded) is type(original)
        assert reloaded.get_config() == original.get_config()
        np.testing.assert_array_equal(reloaded(inputs), original(inputs))
        schedule = reloaded.optimizer.get_config()["learning_rate"]
        assert schedule["config"] == {"model_dim": 32, "warmup_steps": 40, "scale": 1.0}
        assert (reloaded.optimizer.beta_2, reloaded.optimizer.epsilon) == (0.98, 1e-9)
        assert reloaded.loss.label_smoothing == pytest.approx(0.1)


def as_one_class_keras_file(path, legacy_path, backbone):
    """Rewrites a `.keras` file as the code before keras_hub's translator had its own
    class wrote it: class TransformerTranslator, with `backbone` in its config."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(legacy_path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config.update(
                    module="kerasnlp_lab.models.transformer",
                    class_name="TransformerTranslator",
                    registered_name="kerasnlp_lab>TransformerTranslator",
                )
                config["config"]["backbone"] = backbone
                data = json.dumps(config)
            target.writestr(item, data)


def test_keras_files_of_the_one_class_translator_still_load(model, hub_model, tmp_path):
    rng = np.random.default_rng(9)
    inputs = {
        "source": random_ids(rng, (2, 5), SOURCE_VOCAB),
        "target_in": random_ids(rng, (2, 4), TARGET_VOCAB),
    }
    for original in (model, hub_model):
        path, legacy_path = (str(tmp_path / f"{name}.keras") for name in ("new", "legacy"))
        original.save(path)
        as_one_class_keras_file(path, legacy_path, original.backbone)
        reloaded = keras.saving.load_model(legacy_path)
        assert type(reloaded) is type(original)
        np.testing.assert_array_equal(reloaded(inputs), original(inputs))


def test_weights_file_keeps_the_layout_of_the_release_checkpoints(tmp_path):
    # The paths below are those written before the blocks moved to kerasnlp_lab/layers:
    # release checkpoints and presets load by these paths.
    keras.utils.set_random_seed(10)
    config = dataclasses.replace(tiny_config(), num_layers=1)
    model = transformer.build_model(config, SOURCE_VOCAB, TARGET_VOCAB)
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    datasets = []
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: datasets.append(name) if isinstance(item, h5py.Dataset) else None
        )
    encoder = "encoder_layers/transformer_encoder_block/"
    decoder = "decoder_layers/transformer_decoder_block/"
    blocks = {
        "self_attention": 8,
        "self_attention_norm": 2,
        "feed_forward_inner": 2,
        "feed_forward_outer": 2,
        "feed_forward_norm": 2,
    }
    assert collections.Counter(name.rsplit("/vars/", 1)[0] for name in datasets) == {
        **{encoder + name: count for name, count in blocks.items()},
        **{decoder + name: count for name, count in blocks.items()},
        decoder + "cross_attention": 8,
        decoder + "cross_attention_norm": 2,
        "encoder_norm": 2,
        "decoder_norm": 2,
        # source embedding, target embedding, logits
        "layers/embedding": 1,
        "layers/embedding_1": 1,
        "layers/dense": 2,
        "optimizer": 1,
    }
    keras.utils.set_random_seed(11)
    fresh = transformer.build_model(config, SOURCE_VOCAB, TARGET_VOCAB)
    fresh.load_weights(path)
    rng = np.random.default_rng(10)
    inputs = {
        "source": random_ids(rng, (2, 5), SOURCE_VOCAB),
        "target_in": random_ids(rng, (2, 4), TARGET_VOCAB),
    }
    np.testing.assert_array_equal(fresh(inputs), model(inputs))


def test_training_step_lowers_the_loss():
    keras.utils.set_random_seed(7)
    config = dataclasses.replace(tiny_config(), warmup_steps=5)
    model = transformer.build_model(config, SOURCE_VOCAB, TARGET_VOCAB)
    rng = np.random.default_rng(7)
    source = random_ids(rng, (16, 6), TARGET_VOCAB)  # ids valid on both sides
    target = np.concatenate([np.full((16, 1), START_ID), source[:, ::-1]], 1).astype("int32")
    inputs = {"source": source, "target_in": target[:, :-1]}
    history = model.fit(inputs, target[:, 1:], epochs=20, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert "masked_accuracy" in history.history


def test_attention_maps_shapes_and_rows_sum_to_one(model):
    rng = np.random.default_rng(8)
    source = random_ids(rng, (2, 6), SOURCE_VOCAB, lengths=[6, 4])
    target = random_ids(rng, (2, 5), TARGET_VOCAB)
    encoder_maps, cross_maps = model.attention_maps(source, target)
    assert [tuple(m.shape) for m in encoder_maps] == [(2, 2, 6, 6)] * 2
    assert [tuple(m.shape) for m in cross_maps] == [(2, 2, 5, 6)] * 2
    np.testing.assert_allclose(np.sum(cross_maps[0], axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(encoder_maps[1])[1, :, :4, 4:], 0.0)


def test_warmup_schedule_follows_the_paper():
    schedule = TransformerSchedule(model_dim=128, warmup_steps=100)
    rates = np.array([float(schedule(step)) for step in (0, 49, 99, 399)])
    # The optimizer's iteration counter starts at 0: step n is the (n + 1)-th update.
    expected = 128**-0.5 * np.array([1 * 100**-1.5, 50 * 100**-1.5, 100**-0.5, 400**-0.5])
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    assert TransformerSchedule.from_config(schedule.get_config()).warmup_steps == 100
