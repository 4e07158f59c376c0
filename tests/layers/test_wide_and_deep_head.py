"""WideAndDeepHead against a hand computation and a linear model on explicit wide features."""

import inspect
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.layers import WideAndDeepHead
from kerasnlp_lab.layers.wide_and_deep_head import cross_indices

ATOL = 1e-5
NUM_IDS, NUM_HASH_BINS, UNITS = 7, 11, 5


def make_head(rng, deep_dim, num_columns, deep_units=(6, 4)):
    head = WideAndDeepHead(
        UNITS, num_ids=NUM_IDS, num_hash_bins=NUM_HASH_BINS, deep_units=deep_units
    )
    head.build((None, None, deep_dim), (None, None, num_columns))
    head.set_weights([rng.normal(size=w.shape).astype("float32") for w in head.get_weights()])
    return head


def python_cross(id_tuple):
    """The hash of one id tuple, written with Python integers."""
    value = 0
    for identifier in id_tuple:
        value = value * NUM_IDS + int(identifier)
    return value % NUM_HASH_BINS


def wide_features(ids):
    """Explicit one-hot wide features `(N, K*num_ids + (K-1)*num_hash_bins)` of ids `(N, K)`."""
    rows, columns = ids.shape
    features = np.zeros((rows, columns * NUM_IDS + (columns - 1) * NUM_HASH_BINS))
    for row, id_tuple in enumerate(ids):
        for column, identifier in enumerate(id_tuple):
            features[row, column * NUM_IDS + identifier] = 1.0
        for order in range(2, columns + 1):
            cross = python_cross(id_tuple[:order])
            features[row, columns * NUM_IDS + (order - 2) * NUM_HASH_BINS + cross] = 1.0
    return features


def hand_logits(head, deep_features, ids):
    """The MLP with ReLU, then the output projection, plus the wide linear model (float64)."""

    def value(variable):
        return np.asarray(variable, np.float64)

    hidden = deep_features.reshape(-1, deep_features.shape[-1]).astype(np.float64)
    for layer in head.hidden_layers:
        hidden = np.maximum(hidden @ value(layer.kernel) + value(layer.bias), 0.0)
    wide_tables = [head.unigram_table] + ([head.cross_table] if ids.shape[-1] > 1 else [])
    wide_table = np.concatenate([value(table) for table in wide_tables], axis=0)
    flat_ids = ids.reshape(-1, ids.shape[-1])
    logits = (
        hidden @ value(head.logits_kernel)
        + value(head.logits_bias)
        + wide_features(flat_ids) @ wide_table
    )
    return logits.reshape(ids.shape[:-1] + (UNITS,))


@pytest.mark.parametrize("num_columns", [1, 2, 3])
@pytest.mark.parametrize("sequence", [False, True])
def test_matches_hand_computation(rng, num_columns, sequence):
    head = make_head(rng, deep_dim=9, num_columns=num_columns)
    prefix = (3, 4) if sequence else (3,)
    deep_features = rng.normal(size=prefix + (9,)).astype("float32")
    ids = rng.integers(0, NUM_IDS, size=prefix + (num_columns,))
    logits = head(deep_features, ids)
    assert logits.shape == prefix + (UNITS,) and logits.dtype == "float32"
    np.testing.assert_allclose(logits, hand_logits(head, deep_features, ids), atol=ATOL)


def test_zeroed_deep_path_is_a_linear_model_on_wide_features(rng):
    head = make_head(rng, deep_dim=8, num_columns=3)
    head.logits_kernel.assign(np.zeros(head.logits_kernel.shape))
    head.logits_bias.assign(np.zeros(head.logits_bias.shape))
    ids = rng.integers(0, NUM_IDS, size=(6, 2, 3))
    deep_features = rng.normal(size=(6, 2, 8)).astype("float32")
    wide_table = np.concatenate([head.unigram_table, head.cross_table], axis=0)
    linear = keras.layers.Dense(UNITS, use_bias=False)
    linear.build((None, wide_table.shape[0]))
    linear.set_weights([wide_table])
    expected = linear(wide_features(ids.reshape(-1, 3)).astype("float32"))
    np.testing.assert_allclose(
        np.reshape(head(deep_features, ids), (-1, UNITS)), expected, atol=ATOL
    )


def test_cross_hash_is_exact_when_the_pairs_fit():
    pairs = np.array(list(itertools.product(range(9), repeat=2)))  # 81 pairs
    hashed = np.asarray(cross_indices(pairs, num_ids=9, num_hash_bins=81))[:, 0]
    assert sorted(hashed.tolist()) == list(range(81))
    triples = np.array([[8, 3, 5], [0, 0, 1]])
    np.testing.assert_array_equal(
        cross_indices(triples, num_ids=9, num_hash_bins=50),
        [[(8 * 9 + 3) % 50, ((8 * 9 + 3) * 9 + 5) % 50], [0, 1]],
    )


def test_each_step_depends_only_on_its_own_features_and_ids(rng):
    head = make_head(rng, deep_dim=4, num_columns=2)
    deep_features = rng.normal(size=(2, 5, 4)).astype("float32")
    ids = rng.integers(0, NUM_IDS, size=(2, 5, 2))
    logits = head(deep_features, ids).numpy()
    for step in range(5):  # one step alone gives the same logits as inside the sequence
        alone = head(deep_features[:, step : step + 1], ids[:, step : step + 1]).numpy()[:, 0]
        np.testing.assert_allclose(logits[:, step], alone, rtol=1e-6, atol=1e-6)
    changed_features, changed_ids = deep_features.copy(), ids.copy()
    changed_features[:, 3:] = 1e3
    changed_ids[:, 3:] = 0
    changed = head(changed_features, changed_ids).numpy()
    np.testing.assert_array_equal(changed[:, :3], logits[:, :3])
    assert np.abs(changed[:, 3:] - logits[:, 3:]).min() > 1.0


def test_config_round_trip_and_every_argument_in_config(rng):
    head = WideAndDeepHead(
        4,
        num_ids=5,
        num_hash_bins=9,
        deep_units=(3,),
        activation="tanh",
        dropout=0.2,
        kernel_initializer="he_normal",
        wide_initializer="ones",
        name="head",
    )
    deep_features = rng.normal(size=(2, 3, 6)).astype("float32")
    ids = rng.integers(0, 5, size=(2, 3, 2))
    logits = head(deep_features, ids)
    config = head.get_config()
    for argument in inspect.signature(WideAndDeepHead.__init__).parameters:
        if argument not in ("self", "kwargs"):
            assert argument in config
    clone = WideAndDeepHead.from_config(config)
    clone(deep_features, ids)
    clone.set_weights(head.get_weights())
    np.testing.assert_array_equal(clone(deep_features, ids), logits)


def test_keras_file_round_trip(rng, tmp_path):
    deep_features = keras.Input((None, 6))
    ids = keras.Input((None, 2), dtype="int32")
    head = WideAndDeepHead(UNITS, num_ids=NUM_IDS, num_hash_bins=NUM_HASH_BINS, deep_units=(4,))
    model = keras.Model([deep_features, ids], head(deep_features, ids))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    inputs = [
        rng.normal(size=(2, 3, 6)).astype("float32"),
        rng.integers(0, NUM_IDS, size=(2, 3, 2)).astype("int32"),
    ]
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model(inputs), loaded(inputs))


def test_mixed_precision_gives_float32_logits(rng, mixed_policy):
    head = WideAndDeepHead(UNITS, num_ids=NUM_IDS, num_hash_bins=NUM_HASH_BINS, deep_units=(8,))
    deep_features = rng.normal(size=(2, 3, 6)).astype("float32")
    ids = rng.integers(0, NUM_IDS, size=(2, 3, 2))
    logits = head(deep_features, ids)
    assert logits.dtype == "float32"
    assert head.hidden_layers[0].compute_dtype == mixed_policy.split("_")[1]
    assert head.unigram_table.dtype == "float32"
    head.set_weights([rng.normal(size=w.shape).astype("float32") for w in head.get_weights()])
    np.testing.assert_allclose(
        head(deep_features, ids), hand_logits(head, deep_features, ids), atol=0.1, rtol=0.05
    )


def test_traces_with_xla_and_unknown_shapes(rng):
    head = make_head(rng, deep_dim=4, num_columns=2, deep_units=())
    deep_features = rng.normal(size=(2, 3, 4)).astype("float32")
    ids = rng.integers(0, NUM_IDS, size=(2, 3, 2)).astype("int32")
    expected = head(deep_features, ids)
    compiled = tf.function(head, jit_compile=True)
    symbolic = tf.function(
        head,
        input_signature=[tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None, 2], tf.int32)],
    )
    for run in (compiled, symbolic):
        np.testing.assert_allclose(run(deep_features, ids), expected, atol=ATOL)
