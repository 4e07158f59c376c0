"""The shared translation pipeline: vocabularies, ids, bucketing, padding cost, seeded epochs.

`write_toy_tsv` (a small made-up Spanish->English corpus) is shared by the attention NMT tests.
"""

import random

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text.vectorizer import END_ID, START_ID

TOY_WORDS = {
    "el": "the",
    "perro": "dog",
    "gato": "cat",
    "come": "eats",
    "ve": "sees",
    "pan": "bread",
    "agua": "water",
    "hombre": "man",
    "niño": "child",
    "grande": "big",
    "y": "and",
    "rey": "king",
    "casa": "house",
    "bebe": "drinks",
    "pequeño": "small",
}


def toy_pairs(count, seed=0):
    """`count` (Spanish, English) pairs of 1 to 12 words translated word by word."""
    rng = random.Random(seed)
    words = sorted(TOY_WORDS)
    pairs = []
    for _ in range(count):
        spanish = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        english = [TOY_WORDS[word] for word in spanish]
        pairs.append((" ".join(spanish).capitalize() + ".", " ".join(english).capitalize() + "."))
    return pairs


def write_toy_tsv(path, count=400, seed=0):
    """Writes toy pairs as a `tsv:` dataset file; returns the dataset name `tsv:PATH`."""
    with open(path, "w", encoding="utf-8") as file:
        for spanish, english in toy_pairs(count, seed):
            file.write(f"{spanish}\t{english}\n")
    return f"tsv:{path}"


def as_dataset(pairs):
    sources = tf.constant([source for source, _ in pairs])
    targets = tf.constant([target for _, target in pairs])
    return tf.data.Dataset.from_tensor_slices((sources, targets))


def id_examples(lengths):
    """(source, target) examples of non-zero ids with the given (source, target) lengths."""
    return tf.data.Dataset.from_generator(
        lambda: (
            (np.arange(1, s + 1, dtype=np.int32), np.arange(1, t + 1, dtype=np.int32))
            for s, t in lengths
        ),
        output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)),
    )


@pytest.fixture(scope="module")
def vectorizers():
    return pipeline.learn_vectorizers(as_dataset(toy_pairs(200)), 100, 100, "words")


def test_vocabularies_come_from_the_training_pairs_only(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=400)
    train = pipeline.load_pairs(dataset, "train")
    source, target = pipeline.learn_vectorizers(train, 100, 100, "words")
    test_only = {"xilófono"}
    assert "perro" in source.vocabulary and "dog" in target.vocabulary
    assert not test_only & set(source.vocabulary)
    assert source.vocab_size == 4 + len(TOY_WORDS) + 1  # reserved + words + "."
    pipeline.save_vectorizers(tmp_path, source, target)
    reloaded_source, reloaded_target = pipeline.load_vectorizers(tmp_path)
    assert reloaded_source.vocabulary == source.vocabulary
    assert reloaded_target.vocabulary == target.vocabulary
    # Sources are lower-cased; targets keep case (sentences start with a capital here).
    assert (source.lowercase, target.lowercase) == (True, False)
    assert (reloaded_source.lowercase, reloaded_target.lowercase) == (True, False)
    capitalized = {word.capitalize() for word in TOY_WORDS.values()}
    assert capitalized & set(target.vocabulary)
    assert not {word.capitalize() for word in TOY_WORDS} & set(source.vocabulary)


def test_missing_vocabulary_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="vocabulary file not found"):
        pipeline.load_vectorizers(tmp_path)


def test_vectorized_pairs_have_start_and_end_and_are_cut(vectorizers):
    pairs = as_dataset(
        [("El perro come pan.", "The dog eats bread."), ("El gato " * 10, "The cat " * 10)]
    )
    examples = list(pipeline.vectorize_pairs(pairs, *vectorizers, 8, 7).as_numpy_iterator())
    source, target = examples[0]
    assert len(source) == 7 and len(target) == 7  # [START] 4 words . [END]
    assert source[0] == START_ID and source[-1] == END_ID and target[0] == START_ID
    assert vectorizers[1].detokenize(target).numpy().decode() == "The dog eats bread."
    long_source, long_target = examples[1]
    assert (len(long_source), len(long_target)) == (8, 7)
    assert long_source[-1] == END_ID and long_target[-1] == END_ID


def test_model_inputs_shift_the_target_by_one():
    inputs, target_out = pipeline.as_model_inputs(
        tf.constant([[2, 5, 3]]), tf.constant([[2, 7, 8, 3]])
    )
    assert inputs["source"].numpy().tolist() == [[2, 5, 3]]
    assert inputs["target_in"].numpy().tolist() == [[2, 7, 8]]
    assert target_out.numpy().tolist() == [[7, 8, 3]]


def test_bucketed_batches_group_similar_lengths_and_keep_every_example():
    rng = np.random.default_rng(0)
    lengths = [(int(s), int(t)) for s, t in rng.integers(1, 40, size=(300, 2))]
    batches = list(pipeline.bucketed_batches(id_examples(lengths), 16, 40, 8).as_numpy_iterator())
    assert sum(len(source) for source, _ in batches) == 300
    for source, target in batches:
        longer = np.maximum((source != 0).sum(1), (target != 0).sum(1))
        assert longer.max() - longer.min() < 8  # one bucket of width 8
        assert max(source.shape[1], target.shape[1]) == longer.max()  # padded to the batch max
    assert pipeline.bucket_boundaries(40, 8) == [9, 17, 25, 33]


def test_token_efficiency_of_the_three_batchings():
    lengths = [(2, 2), (4, 4), (2, 2), (4, 4)]
    examples = id_examples(lengths)
    # Random batches of 2 in this order: each pads 2 -> 4: 12 real of 16 slots per side pair.
    assert pipeline.token_efficiency(pipeline.random_batches(examples, 2)) == pytest.approx(24 / 32)
    # Buckets of width 2: (2, 2) together and (4, 4) together: no padding at all.
    assert pipeline.token_efficiency(pipeline.bucketed_batches(examples, 2, 8, 2)) == 1.0
    fixed = pipeline.fixed_length_batches(examples, 2)
    assert next(iter(fixed))[0].shape == (2, 128)
    assert pipeline.token_efficiency(fixed) == pytest.approx(24 / (4 * 2 * 128))


def test_seeded_epochs_replay_exactly_from_any_epoch():
    lengths = [(n % 13 + 1, n % 7 + 1) for n in range(100)]
    examples = id_examples(lengths).cache()

    def epochs(first_epoch, seed=0):
        stream = pipeline.seeded_bucketed_epochs(
            examples,
            num_examples=100,
            batch_size=8,
            max_length=16,
            bucket_width=4,
            seed=seed,
            first_epoch=first_epoch,
            epochs=3,
        )
        return [inputs["source"].tolist() for inputs, _ in stream.as_numpy_iterator()]

    steps = pipeline.count_batches(pipeline.bucketed_batches(examples, 8, 16, 4))
    full = epochs(0)
    assert len(full) == 3 * steps
    assert epochs(1) == full[steps:]
    assert full[:steps] != full[steps : 2 * steps]  # each epoch has its own order
    assert epochs(0, seed=1) != full


def test_vocabularies_refuse_a_too_small_size():
    with pytest.raises(UserError, match="vocab_size must be at least 5"):
        pipeline.learn_vectorizers(as_dataset(toy_pairs(5)), 3, 100, "words")
