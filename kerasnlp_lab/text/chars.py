"""Character vocabulary for the character generator: text <-> ids with core TF ops only.

Ids: 0 padding (decodes to nothing), 1 out of vocabulary (decodes to U+FFFD, the
replacement character), then the vocabulary's characters in code point order. Text is
split with `tf.strings.unicode_split(errors="replace")`, so invalid UTF-8 bytes become
U+FFFD and then the OOV id (unless U+FFFD itself is in the vocabulary).

`CharVocabulary` is a `tf.Module`: an exporter that keeps it as an attribute tracks its
lookup tables, and `encode` / `decode` run inside exported SavedModels. Its whole state is
the character list: `get_config()` returns {"chars": [...]}, `save` / `load` write and read
it as JSON.
"""

import collections

import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text import vocabulary_files

PAD_ID = 0
OOV_ID = 1
NUM_RESERVED_IDS = 2
OOV_CHAR = "\ufffd"


def count_chars(texts, batch_size=256):
    """{character: count} over a tf.data.Dataset of strings (scalar or batched elements)."""
    if texts.element_spec.dtype != tf.string:
        raise UserError(
            f"expected a tf.data.Dataset of strings, received elements {texts.element_spec}"
        )
    if texts.element_spec.shape.rank == 0:
        texts = texts.batch(batch_size)

    def unique_code_points(batch):
        code_points = tf.strings.unicode_decode(batch, "UTF-8", errors="replace").flat_values
        unique, _, counts = tf.unique_with_counts(code_points)
        return unique, counts

    counts = collections.Counter()
    for unique, batch_counts in texts.map(unique_code_points).as_numpy_iterator():
        counts.update(dict(zip(map(chr, unique.tolist()), batch_counts.tolist(), strict=True)))
    return counts


class CharVocabulary(tf.Module):
    """Characters <-> ids for a fixed set of characters.

    Args:
        chars: the vocabulary's characters (single code points, no repeats), in any order:
            they get ids 2, 3, ... in code point order.

    Example:
        >>> vocabulary = CharVocabulary.from_dataset(
        ...     tf.data.Dataset.from_tensor_slices(["abba", "cab"]))
        >>> vocabulary.encode(["cab", "abz"])   # [[4, 2, 3], [2, 3, 1]]
        >>> vocabulary.decode([[4, 2, 3, 0]])   # [b"cab"]
    """

    pad_id = PAD_ID
    oov_id = OOV_ID

    def __init__(self, chars, name="char_vocabulary"):
        super().__init__(name=name)
        chars = [str(char) for char in chars]
        not_single = [char for char in chars if len(char) != 1]
        if not_single:
            raise UserError(
                f"each vocabulary entry must be one character, received {not_single[:10]}"
            )
        repeated = sorted(char for char, count in collections.Counter(chars).items() if count > 1)
        if repeated:
            raise UserError(
                f"a character vocabulary must not repeat characters, received {repeated}"
            )
        if not chars:
            raise UserError("a character vocabulary needs at least one character, received none")
        self._chars = tuple(sorted(chars))
        ids = tf.range(NUM_RESERVED_IDS, NUM_RESERVED_IDS + len(self._chars), dtype=tf.int64)
        self._char_to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(self._chars), ids),
            default_value=OOV_ID,
        )
        self._id_to_char = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.concat([[PAD_ID, OOV_ID], ids], axis=0),
                tf.constant(["", OOV_CHAR, *self._chars]),
            ),
            default_value=OOV_CHAR,
        )

    @classmethod
    def from_dataset(cls, texts, max_size=None, required_chars=(), name="char_vocabulary"):
        """Learns the characters of `texts` (the training split only).

        Args:
            texts: tf.data.Dataset of strings, scalar or batched.
            max_size: the largest vocabulary, the 2 reserved ids included; the most
                frequent characters are kept (ties: lower code point first). None: all.
            required_chars: characters always kept (e.g. a document separator "\\n").
            name: the module's name.
        """
        counts = count_chars(texts)
        if not counts:
            raise UserError("cannot learn a character vocabulary: the texts are empty")
        required = list(dict.fromkeys(required_chars))
        ranked = sorted(counts, key=lambda char: (-counts[char], char))
        if max_size is not None:
            room = max_size - NUM_RESERVED_IDS - len(required)
            if room < 0:
                raise UserError(
                    f"max_size must leave room for {NUM_RESERVED_IDS} reserved ids and the "
                    f"{len(required)} required characters, received max_size={max_size}"
                )
            ranked = [char for char in ranked if char not in required][:room]
        return cls(list(dict.fromkeys(required + ranked)), name=name)

    @property
    def chars(self):
        """The characters, in id order (their ids start at 2)."""
        return list(self._chars)

    @property
    def vocab_size(self):
        """The number of ids, the 2 reserved ids included."""
        return NUM_RESERVED_IDS + len(self._chars)

    def get_config(self):
        """Everything needed to rebuild this vocabulary: {"chars": [...]}."""
        return {"chars": list(self._chars)}

    @classmethod
    def from_config(cls, config):
        return cls(config["chars"])

    def save(self, path):
        """Writes the config as JSON to `path`."""
        vocabulary_files.save_config(path, self.get_config())

    @classmethod
    def load(cls, path):
        """A vocabulary rebuilt from a file written by `save`."""
        return cls.from_config(vocabulary_files.load_config(path, "chars"))

    def encode(self, texts):
        """Character ids: string [B] -> RaggedTensor int32 [B, None] (a scalar -> [None]).

        Unknown characters get `oov_id`; `.to_tensor()` pads with `pad_id`.
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        chars = tf.strings.unicode_split(texts, "UTF-8", errors="replace")
        return tf.cast(self._char_to_id.lookup(chars), tf.int32)

    def ids_to_chars(self, ids):
        """The character of every id (any shape): "" for padding, U+FFFD for OOV/unknown ids."""
        return self._id_to_char.lookup(tf.cast(ids, tf.int64))

    def decode(self, ids):
        """Text from ids [B, T] (or [T], or a RaggedTensor): string [B] (or a scalar)."""
        return tf.strings.reduce_join(self.ids_to_chars(ids), axis=-1)
