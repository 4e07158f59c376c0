"""tf.data for the translation models: vocabularies, ids, length-bucketed batches, padding cost.

Shared by `attention_nmt` and `transformer_translator`, so both see the same ids and batches.

An example is (source ids (S,), target ids (T,)) int32. The source is `[START] words [END]`
and so is the target; the model reads `target[:-1]` (decoder input) and predicts
`target[1:]`. Both are cut to their maximum length (the `[END]` id stays). Id 0 is padding.

Batching: `bucketed_batches` groups examples of similar length (`bucket_by_sequence_length`,
by the longer of the two sides) so a batch wastes little on padding; `random_batches` pads a
random batch to its longest sentence and `fixed_length_batches` pads everything to one
length, the two baselines whose cost `token_efficiency` measures.
"""

import os

import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.data.epochs import chain_epochs, epoch_seed
from kerasnlp_lab.text.tokenizers import VECTORIZERS, load_vectorizer

SOURCE_VOCABULARY_FILE = "source_vocabulary.json"
TARGET_VOCABULARY_FILE = "target_vocabulary.json"
FIXED_LENGTH = 128
VOCABULARY_BATCH_SIZE = 1024


def load_pairs(dataset, split, limit=None):
    """(source, target) string pairs of a split, the first `limit` of them (None: all)."""
    pairs = catalog.load_pairs(dataset, split)
    return pairs if limit is None else pairs.take(limit)


def learn_vectorizers(train_pairs, source_vocab_size, target_vocab_size, tokenizer):
    """(source, target) vectorizers learned from the training pairs only.

    `tokenizer` names the kind (`kerasnlp_lab.text.tokenizers.TOKENIZERS`: words or
    wordpiece). The source is lower-cased (fewer tokens to learn); the target keeps case,
    so the models write "In the beginning God created ..." and are scored by case-sensitive
    BLEU.
    """
    vectorizer_class = VECTORIZERS[tokenizer]
    source = vectorizer_class.from_dataset(
        train_pairs.map(lambda source, target: source),
        source_vocab_size,
        VOCABULARY_BATCH_SIZE,
        name="source_vectorizer",
    )
    target = vectorizer_class.from_dataset(
        train_pairs.map(lambda source, target: target),
        target_vocab_size,
        VOCABULARY_BATCH_SIZE,
        lowercase=False,
        name="target_vectorizer",
    )
    return source, target


def save_vectorizers(workdir, source_vectorizer, target_vectorizer):
    """Writes both vocabularies beside the model in `workdir`."""
    os.makedirs(workdir, exist_ok=True)
    source_vectorizer.save(os.path.join(workdir, SOURCE_VOCABULARY_FILE))
    target_vectorizer.save(os.path.join(workdir, TARGET_VOCABULARY_FILE))


def load_vectorizers(workdir):
    """The (source, target) vectorizers saved by `save_vectorizers` (UserError if missing)."""
    return (
        load_vectorizer(os.path.join(workdir, SOURCE_VOCABULARY_FILE)),
        load_vectorizer(os.path.join(workdir, TARGET_VOCABULARY_FILE)),
    )


def vectorize_pairs(
    pairs, source_vectorizer, target_vectorizer, max_source_length, max_target_length
):
    """String pairs -> (source ids (S,), target ids (T,)) int32, each with [START] and [END]."""

    def vectorize(sources, targets):
        source_ids = source_vectorizer.encode(sources, True, True, max_source_length)
        target_ids = target_vectorizer.encode(targets, True, True, max_target_length)
        return source_ids, target_ids

    return (
        pairs.batch(VOCABULARY_BATCH_SIZE)
        .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
        .rebatch(1)  # ragged rows of one pair
        .map(lambda source, target: (source[0], target[0]))
    )


def as_model_inputs(source, target):
    """A padded batch -> ({"source", "target_in"}, target_out): teacher forcing inputs."""
    return {"source": source, "target_in": target[:, :-1]}, target[:, 1:]


def example_length(source, target):
    """The bucketing length of an example: its longer side."""
    return tf.maximum(tf.shape(source)[0], tf.shape(target)[0])


def bucket_boundaries(max_length, bucket_width):
    """Bucket upper bounds (exclusive) every `bucket_width` tokens up to `max_length`."""
    return list(range(bucket_width + 1, max_length + 1, bucket_width))


def bucketed_batches(examples, batch_size, max_length, bucket_width):
    """Batches of `batch_size` examples of similar length, padded to their batch's longest."""
    boundaries = bucket_boundaries(max_length, bucket_width)
    return examples.bucket_by_sequence_length(
        example_length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=([None], [None]),
    )


def random_batches(examples, batch_size):
    """Baseline: batches in the given order, padded to their longest sentence."""
    return examples.padded_batch(batch_size, padded_shapes=([None], [None]))


def fixed_length_batches(examples, batch_size, length=FIXED_LENGTH):
    """Baseline: every sentence padded (or cut) to `length` ids."""
    cut = examples.map(lambda source, target: (source[:length], target[:length]))
    return cut.padded_batch(batch_size, padded_shapes=([length], [length]))


def token_efficiency(batches):
    """Real tokens / padded slots over both sides of padded (source, target) batches."""
    real, slots = 0, 0
    for source, target in batches.as_numpy_iterator():
        real += int((source != 0).sum() + (target != 0).sum())
        slots += source.size + target.size
    return real / max(slots, 1)


def count_batches(batches):
    """The number of batches a (finite) dataset yields."""
    return int(batches.reduce(0, lambda count, _: count + 1))


def seeded_bucketed_epochs(
    examples, *, num_examples, batch_size, max_length, bucket_width, seed, first_epoch, epochs
):
    """Bucketed batches of epochs first_epoch..epochs-1, each shuffled by (seed, epoch).

    The order depends on (seed, epoch) only, so a resumed run replays exactly. The number
    of batches per epoch does not depend on the order (a bucket's leftover is one batch).
    """

    def one_epoch(epoch):
        shuffled = examples.shuffle(
            num_examples, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False
        )
        return bucketed_batches(shuffled, batch_size, max_length, bucket_width).map(as_model_inputs)

    return chain_epochs(one_epoch, first_epoch, epochs)
