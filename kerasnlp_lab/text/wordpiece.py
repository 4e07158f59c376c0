"""WordPiece in core TensorFlow ops: greedy longest-match-first subwords (BERT semantics).

A word is cut into the longest vocabulary piece that starts it, then the longest piece
(with the `##` continuation prefix) that starts the rest, and so on; a word that cannot be
covered this way, or that is longer than `MAX_WORD_BYTES`, becomes one `[UNK]`. This is
what tensorflow-text's `FastWordpieceTokenizer` (keras_hub's `WordPieceTokenizer`) computes;
`tests/text/test_wordpiece.py` checks id for id that they agree on the test splits.

The words are those of our `standardize` (punctuation split off, sources lower-cased,
targets cased). Everything is core TF ops (`While`, `Substr`, `UnicodeDecodeWithOffsets`,
`LookupTableFindV2`, ...), so the same `encode` feeds the `tf.data` pipeline and runs
inside the exported SavedModels that stock TF Serving loads, without tensorflow-text.

How: the distinct words of a batch (`tf.unique`) are matched together. At step t every
unfinished word looks up, in one hash-table lookup, its candidate pieces of 1..L characters
from its current position (L: the longest piece of the vocabulary), keeps the longest hit
and moves past it. The loop runs as many steps as the longest word has pieces.

Vocabulary learning (`learn_vocabulary`) uses the field's learner, keras_hub's
`compute_word_piece_vocabulary` (tensorflow-text's BERT vocabulary learner), over the same
standardized words; it runs at training time only.
"""

import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.text.vectorizer import BaseVectorizer

SUFFIX = "##"
RESERVED_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]")
# FastWordpieceTokenizer's default `max_bytes_per_word`: a longer word is one [UNK].
MAX_WORD_BYTES = 100
_NOT_FOUND = -1


def piece_length(token):
    """Characters of a piece without its `##` prefix."""
    return len(token[len(SUFFIX) :] if token.startswith(SUFFIX) else token)


def wordpiece_ids(words, table, max_piece_chars, unknown_id):
    """Greedy longest-match-first piece ids of `words`.

    Args:
        words: string [W], each one word (no space).
        table: a lookup table piece -> id (int64), -1 for a string that is no piece.
        max_piece_chars: the longest piece of the vocabulary, in characters (no `##`).
        unknown_id: the id of a word that cannot be covered.

    Returns:
        RaggedTensor int32 [W, None]: the piece ids of each word.
    """
    unique, index = tf.unique(words)  # (U,), (W,)
    _, char_starts = tf.strings.unicode_decode_with_offsets(unique, "UTF-8", errors="replace")
    num_chars = tf.cast(char_starts.row_lengths(), tf.int32)  # (U,)
    num_bytes = tf.strings.length(unique)  # (U,)
    # Byte offset of every character boundary, the word's end included: (U, 1 + max chars).
    boundaries = tf.concat(
        [tf.cast(char_starts, tf.int32), tf.RaggedTensor.from_tensor(num_bytes[:, None])], axis=1
    ).to_tensor()
    lengths = tf.range(1, max_piece_chars + 1)  # (L,) candidate lengths in characters
    too_long = num_bytes > MAX_WORD_BYTES
    num_unique = tf.shape(unique)[0]

    def step(t, position, done, unknown, pieces):
        end = tf.minimum(position[:, None] + lengths, num_chars[:, None])  # (U, L)
        fits = position[:, None] + lengths <= num_chars[:, None]  # (U, L)
        start_byte = tf.gather(boundaries, position, batch_dims=1)  # (U,)
        end_byte = tf.gather(boundaries, end, batch_dims=1)  # (U, L)
        candidates = tf.strings.substr(
            tf.broadcast_to(unique[:, None], tf.shape(end)),
            tf.broadcast_to(start_byte[:, None], tf.shape(end)),
            end_byte - start_byte[:, None],
        )  # (U, L)
        prefix = tf.where(position > 0, SUFFIX, "")  # (U,)
        candidates = tf.strings.join([tf.broadcast_to(prefix[:, None], tf.shape(end)), candidates])
        ids = tf.cast(table.lookup(candidates), tf.int32)  # (U, L)
        found = fits & (ids != _NOT_FOUND) & ~done[:, None]
        best = tf.reduce_max(tf.where(found, lengths, 0), axis=1)  # (U,) 0: no piece
        piece = tf.gather(ids, tf.maximum(best - 1, 0), batch_dims=1)  # (U,)
        matched = ~done & (best > 0)
        unknown = unknown | (~done & (best == 0))
        position = position + best
        done = done | unknown | (position >= num_chars)
        pieces = pieces.write(t, tf.where(matched, piece, _NOT_FOUND))
        return t + 1, position, done, unknown, pieces

    _, _, _, unknown, pieces = tf.while_loop(
        lambda t, position, done, unknown, pieces: ~tf.reduce_all(done),
        step,
        (
            tf.constant(0),
            tf.zeros([num_unique], tf.int32),
            too_long | (num_chars == 0),
            too_long,
            tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
        ),
    )
    # (U, steps + 1): one spare column, so an [UNK] word has a slot even after 0 steps.
    matrix = tf.concat(
        [tf.transpose(pieces.stack()[:, :num_unique]), tf.fill([num_unique, 1], _NOT_FOUND)],
        axis=1,
    )
    first = tf.equal(tf.range(tf.shape(matrix)[1]), 0)[None, :]  # (1, steps + 1)
    matrix = tf.where(
        unknown[:, None], tf.where(first, unknown_id, _NOT_FOUND), matrix
    )  # (U, steps + 1)
    per_unique = tf.ragged.boolean_mask(matrix, matrix != _NOT_FOUND)  # (U, None)
    return tf.gather(per_unique, index)  # (W, None)


def learn_vocabulary(words, vocab_size):
    """A WordPiece vocabulary of at most `vocab_size` tokens, `RESERVED_TOKENS` first.

    Args:
        words: a tf.data.Dataset of string vectors of standardized words (one per element
            or batched), from the training split only.
        vocab_size: the largest vocabulary; the learner's result is often smaller (it
            searches a count threshold whose vocabulary fits).
    """
    from keras_hub.tokenizers import compute_word_piece_vocabulary

    if vocab_size < len(RESERVED_TOKENS) + 1:
        raise UserError(
            f"vocab_size must be at least {len(RESERVED_TOKENS) + 1} (the reserved tokens "
            f"{list(RESERVED_TOKENS)} and one piece), received {vocab_size}"
        )
    return compute_word_piece_vocabulary(
        words,
        vocab_size,
        reserved_tokens=list(RESERVED_TOKENS),
        lowercase=False,
        strip_accents=False,
        split=False,
        suffix_indicator=SUFFIX,
    )


class WordPieceVectorizer(BaseVectorizer):
    """Text -> WordPiece ids -> text, with `[START]`/`[END]` handling, in core TF ops.

    Args:
        vocabulary: list of pieces, starting with `RESERVED_TOKENS` ("[PAD]", "[UNK]",
            "[START]", "[END]"); continuation pieces start with "##"; the id of a piece
            is its index.
        lowercase: lower-case text before tokenizing (False: keep case, for targets).

    Example:
        >>> vectorizer = WordPieceVectorizer(
        ...     ["[PAD]", "[UNK]", "[START]", "[END]", "cre", "##ó", "dios"])
        >>> vectorizer.encode(["Creó Dios"]).to_list()   # [[4, 5, 6]]
        >>> vectorizer.detokenize([[4, 5, 6]]).numpy()   # [b"creó dios"]

    Reference: Wu et al. 2016, "Google's Neural Machine Translation System" (wordpieces);
    Devlin et al. 2019 (BERT's greedy longest-match-first application).
    """

    kind = "wordpiece"
    reserved_tokens = RESERVED_TOKENS

    def __init__(self, vocabulary, lowercase=True, name="wordpiece_vectorizer"):
        super().__init__(vocabulary, lowercase=lowercase, name=name)
        pieces = self.vocabulary
        self.max_piece_chars = max(piece_length(token) for token in pieces)
        self._piece_to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(pieces), tf.range(len(pieces), dtype=tf.int64)
            ),
            default_value=_NOT_FOUND,
        )

    @classmethod
    def from_dataset(
        cls, texts, vocab_size, batch_size=1024, lowercase=True, name="wordpiece_vectorizer"
    ):
        """Learns the vocabulary from `texts` (a tf.data.Dataset of strings, training split)."""
        cls.check_texts(texts)
        if texts.element_spec.shape.rank == 0:
            texts = texts.batch(batch_size)
        words = texts.map(
            lambda text: tf.strings.split(standardize(text, lowercase=lowercase)).flat_values
        )
        return cls(learn_vocabulary(words, vocab_size), lowercase=lowercase, name=name)

    def text_ids(self, texts):
        """Piece ids of `texts` [B]: RaggedTensor int32 [B, None]."""
        words = tf.strings.split(standardize(texts, lowercase=self.lowercase))  # (B, None)
        ids = wordpiece_ids(
            words.flat_values, self._piece_to_id, self.max_piece_chars, self.oov_id
        )  # (W, None)
        return tf.RaggedTensor.from_row_splits(ids, words.row_splits).merge_dims(1, 2)

    def join_tokens(self, tokens):
        """Pieces [B, None] -> words: "cre ##ó dios" -> "creó dios"."""
        text = tf.strings.reduce_join(tokens, axis=1, separator=" ")
        return tf.strings.regex_replace(text, f"(^| ){SUFFIX}", "")
