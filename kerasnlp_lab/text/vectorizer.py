"""Text <-> ids for the translation models, with core TF ops only: the shared base and words.

`BaseVectorizer` holds what every tokenizer of the translators shares: the vocabulary and
its four reserved ids, `[START]`/`[END]` framing and cutting (`encode`), ids -> readable
text (`detokenize`) and the vocabulary file. A subclass says how text becomes ids
(`text_ids`) and how tokens join back into words (`join_tokens`):
- `WordVectorizer` (here): one id per word of our `standardize`, through a
  `keras.layers.TextVectorization`; a word outside the vocabulary is `[UNK]`.
- `kerasnlp_lab.text.wordpiece.WordPieceVectorizer`: WordPiece subwords.

A vectorizer is a `tf.Module`, so an exporter that keeps it as an attribute tracks its
tables, and its methods run inside a `tf.function` exported as a SavedModel that stock TF
Serving loads.

Ids: 0 padding, 1 out of vocabulary ("[UNK]"), 2 "[START]", 3 "[END]", then the learned
tokens. "[START]" and "[END]" are never produced from text (`standardize` splits off the
brackets); `encode` adds their ids.

Case: `lowercase=True` (the default, for sources) lower-cases text before lookup;
`lowercase=False` keeps case, so a target vocabulary learns "God" and "In" and the
translations read "In the beginning God created ...".

Saved state: `get_config()` returns {"vocabulary": [...], "lowercase": bool} plus
{"tokenizer": KIND} for other kinds than words (a file without "tokenizer" holds words, one
without "lowercase" is lower-cased); `save` writes it as JSON, and `from_config` / `load`
rebuild an identical vectorizer.
"""

import collections

import keras
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text import vocabulary_files
from kerasnlp_lab.text.standardize import standardize, standardize_cased

PAD_TOKEN = ""
OOV_TOKEN = "[UNK]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
RESERVED_TOKENS = (PAD_TOKEN, OOV_TOKEN, START_TOKEN, END_TOKEN)
PAD_ID, OOV_ID, START_ID, END_ID = range(len(RESERVED_TOKENS))
WORDS = "words"

# Detokenization: no space before closing punctuation, none after opening punctuation.
_NO_SPACE_BEFORE = r" ([,.;:!?)\]}»”’%…])"
_NO_SPACE_AFTER = r"([¿¡(\[{«“‘]) "


class BaseVectorizer(tf.Module):
    """A vocabulary with reserved ids, `encode`, `detokenize` and its vocabulary file.

    A subclass defines `text_ids(texts)`: string [B] -> RaggedTensor int32 [B, None].

    Args:
        vocabulary: list of tokens, starting with the class's `reserved_tokens`; the id
            of a token is its index.
        lowercase: lower-case text before looking tokens up (False: keep case).
        name: the module's name.
    """

    kind = None  # the "tokenizer" value of the vocabulary file
    reserved_tokens = RESERVED_TOKENS
    pad_id = PAD_ID
    oov_id = OOV_ID
    start_id = START_ID
    end_id = END_ID

    def __init__(self, vocabulary, lowercase=True, name="vectorizer"):
        super().__init__(name=name)
        self.lowercase = bool(lowercase)
        vocabulary = [str(token) for token in vocabulary]
        reserved = tuple(self.reserved_tokens)
        if tuple(vocabulary[: len(reserved)]) != reserved:
            raise UserError(
                f"a {self.kind} vocabulary must start with {list(reserved)}, "
                f"received {vocabulary[: len(reserved)]}"
            )
        counts = collections.Counter(vocabulary)
        repeated = sorted(token for token, count in counts.items() if count > 1)
        if repeated:
            raise UserError(
                f"a {self.kind} vocabulary must not repeat tokens, received {repeated[:10]}"
            )
        self._vocabulary = tuple(vocabulary)
        self._id_to_token = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.range(len(vocabulary), dtype=tf.int64), tf.constant(vocabulary)
            ),
            default_value=OOV_TOKEN,
        )

    @staticmethod
    def check_texts(texts):
        """UserError unless `texts` is a tf.data.Dataset of strings."""
        if texts.element_spec.dtype != tf.string:
            raise UserError(
                f"expected a tf.data.Dataset of strings, received elements {texts.element_spec}"
            )

    @property
    def vocabulary(self):
        """The tokens, indexed by id."""
        return list(self._vocabulary)

    @property
    def vocab_size(self):
        return len(self._vocabulary)

    @property
    def banned_ids(self):
        """Ids a decoder must never generate: padding, [UNK] and [START]."""
        return (self.pad_id, self.oov_id, self.start_id)

    def get_config(self):
        """Everything needed to rebuild this vectorizer."""
        config = {"vocabulary": list(self._vocabulary), "lowercase": self.lowercase}
        return config if self.kind == WORDS else {"tokenizer": self.kind, **config}

    @classmethod
    def from_config(cls, config):
        return cls(config["vocabulary"], lowercase=config.get("lowercase", True))

    def save(self, path):
        """Writes the config as JSON to `path`."""
        vocabulary_files.save_config(path, self.get_config())

    def join_tokens(self, tokens):
        """Tokens RaggedTensor string [B, None] -> string [B] of space-separated words."""
        return tf.strings.reduce_join(tokens, axis=1, separator=" ")

    def encode(self, texts, add_start=False, add_end=False, max_length=None):
        """Token ids of `texts`.

        Args:
            texts: string [B] (or a scalar string).
            add_start: put `start_id` first.
            add_end: put `end_id` last.
            max_length: most ids per text, start and end included: longer texts lose
                their last tokens (the end id stays). None: no limit.

        Returns:
            RaggedTensor int32 [B, None] (int32 [None] for a scalar); pad it with
            `.to_tensor()` (zeros are `pad_id`).
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            return self.encode(texts[None], add_start, add_end, max_length)[0]
        num_special = int(add_start) + int(add_end)
        if max_length is not None and max_length <= num_special:
            raise UserError(
                f"max_length must leave room for a token after the {num_special} start/end "
                f"ids, received max_length={max_length}"
            )
        ids = self.text_ids(texts)
        if max_length is not None:
            ids = ids[:, : max_length - num_special]
        batch_size = tf.shape(texts)[0]
        pieces = [ids]
        if add_start:
            pieces.insert(0, tf.RaggedTensor.from_tensor(tf.fill([batch_size, 1], START_ID)))
        if add_end:
            pieces.append(tf.RaggedTensor.from_tensor(tf.fill([batch_size, 1], END_ID)))
        return tf.concat(pieces, axis=1) if len(pieces) > 1 else ids

    def ids_to_tokens(self, ids):
        """The token of every id (any shape); ids outside the vocabulary give "[UNK]"."""
        return self._id_to_token.lookup(tf.cast(ids, tf.int64))

    def detokenize(self, ids):
        """Readable text from ids [B, T] (or [T]): string [B] (or a scalar).

        Tokens up to the first `end_id` are joined into words, padding and start ids are
        dropped, and spaces before closing punctuation (, . ; : ! ? ) » ” ’) and after
        opening punctuation (¿ ¡ ( « “ ‘) are removed: [¿, quién, es, ?] -> "¿quién es?".
        """
        ids = tf.convert_to_tensor(ids)
        if ids.shape.rank == 1:
            return self.detokenize(ids[None])[0]
        ids = tf.cast(ids, tf.int32)
        after_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) > 0
        keep = ~after_end & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
        text = self.join_tokens(tf.ragged.boolean_mask(self.ids_to_tokens(ids), keep))
        text = tf.strings.regex_replace(text, _NO_SPACE_BEFORE, r"\1")
        return tf.strings.regex_replace(text, _NO_SPACE_AFTER, r"\1")


def _standardizer(lowercase):
    return standardize if lowercase else standardize_cased


def _learn_words(texts, max_words, batch_size, lowercase):
    """The words of `texts` (a tf.data.Dataset of strings), most frequent first."""
    BaseVectorizer.check_texts(texts)
    if texts.element_spec.shape.rank == 0:
        texts = texts.batch(batch_size)
    learner = keras.layers.TextVectorization(
        max_tokens=max_words + 2, standardize=_standardizer(lowercase), split="whitespace"
    )
    learner.adapt(texts)
    # The learner's vocabulary starts with its own padding "" and "[UNK]".
    return learner.get_vocabulary()[2:]


class WordVectorizer(BaseVectorizer):
    """Text -> word ids -> text, with `[START]`/`[END]` handling, for a fixed vocabulary.

    Args:
        vocabulary: list of tokens, starting with `RESERVED_TOKENS`
            ("", "[UNK]", "[START]", "[END]"); the id of a token is its index.
        lowercase: lower-case text before looking words up (False: keep case).

    Example:
        >>> vectorizer = WordVectorizer.from_dataset(tf.data.Dataset.from_tensor_slices(
        ...     ["¿Quién es?", "Es él."]), vocab_size=100)
        >>> ids = vectorizer.encode(["¿Quién es?"], add_start=True, add_end=True)
        >>> vectorizer.detokenize(ids.to_tensor())   # [b"\xc2\xbfqui\xc3\xa9n es?"]

    The Keras layer itself is never serialized: a `TextVectorization` with a Python
    `standardize` function would need that function registered to round-trip through a
    .keras file, while the vocabulary list is all that defines this one.
    """

    kind = WORDS

    def __init__(self, vocabulary, lowercase=True, name="word_vectorizer"):
        super().__init__(vocabulary, lowercase=lowercase, name=name)
        self._text_to_ids = keras.layers.TextVectorization(
            standardize=_standardizer(self.lowercase),
            split="whitespace",
            output_mode="int",
            ragged=True,
            vocabulary=self.vocabulary,
            name=f"{name}_text_to_ids",
        )

    @classmethod
    def from_dataset(
        cls, texts, vocab_size, batch_size=1024, lowercase=True, name="word_vectorizer"
    ):
        """Learns the vocabulary from `texts` (the training split only).

        Args:
            texts: tf.data.Dataset of strings, scalar or batched.
            vocab_size: the largest vocabulary, reserved tokens included (at least 5).
            batch_size: batch size used to read scalar elements.
            lowercase: lower-case the texts (False: a cased vocabulary).
            name: the module's name.
        """
        if vocab_size < len(RESERVED_TOKENS) + 1:
            raise UserError(
                f"vocab_size must be at least {len(RESERVED_TOKENS) + 1} (the reserved tokens "
                f"{list(RESERVED_TOKENS)} and one word), received {vocab_size}"
            )
        words = _learn_words(texts, vocab_size - len(RESERVED_TOKENS), batch_size, lowercase)
        if not words:
            raise UserError("cannot learn a word vocabulary: the texts hold no token")
        return cls(list(RESERVED_TOKENS) + words, lowercase=lowercase, name=name)

    def tokenize(self, texts):
        """Standardized tokens: string [B] -> RaggedTensor string [B, None] (scalar -> [None])."""
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        return tf.strings.split(standardize(texts, lowercase=self.lowercase))

    def text_ids(self, texts):
        return tf.cast(self._text_to_ids(texts), tf.int32)
