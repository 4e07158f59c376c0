"""Our core-op WordPiece against keras_hub's `WordPieceTokenizer` (tensorflow-text's FastWordpiece).

The vocabularies in tests/text/data are what `learn_vectorizers(train pairs, 2000, 2000,
"wordpiece")` learns from the offline corpus's training split (the Debian SWORD packages that
`make setup` installs; learning takes minutes, so the files are kept); the comparison covers
the whole test split of both languages.
"""

import os

import keras_hub
import pytest
import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.text.tokenizers import load_vectorizer
from kerasnlp_lab.text.vectorizer import END_ID, OOV_ID, PAD_ID, START_ID
from kerasnlp_lab.text.wordpiece import (
    MAX_WORD_BYTES,
    RESERVED_TOKENS,
    WordPieceVectorizer,
    learn_vocabulary,
)

VOCABULARIES = os.path.join(os.path.dirname(__file__), "data")
VOCAB_SIZE = 2000
CORPUS = "sword_parallel/spa_eng"
TOY = ["[PAD]", "[UNK]", "[START]", "[END]", "cre", "##ó", "##o", "c", "##r", "dios", "."]
EDGE_CASES = [
    "",
    "a" * 1000,
    "x" * MAX_WORD_BYTES,
    "x" * (MAX_WORD_BYTES + 1),
    "ñ" * 50,
    "ñ" * 51,
    "Dios 😀 creó 🙏🏽 la luz",
    "cre\u0301o\u0308 Jesu\u0301s a\u0300 n\u0303",
    "El 1 de 2024, 3.5 y 1,000 siclos: 12345678901234567890",
    "¿¿¡¡...!!!?? --- «“‘»”’ ((()))",
    "\u00a0 \t\n mixed   whitespace\u2003here ",
    "invalid \xff utf-8",
]


def split_words(texts, lowercase):
    return tf.strings.split(standardize(tf.constant(texts), lowercase=lowercase))


@pytest.fixture(scope="module")
def corpus():
    test = list(catalog.load_pairs(CORPUS, "test").as_numpy_iterator())
    return {"test": [[s.decode() for s, _ in test], [t.decode() for _, t in test]]}


@pytest.fixture(scope="module")
def vectorizers():
    """(source, target): lower-cased and cased vocabularies of VOCAB_SIZE pieces at most."""
    return tuple(
        load_vectorizer(os.path.join(VOCABULARIES, f"{side}_vocabulary.json"))
        for side in ("source", "target")
    )


def test_the_learner_makes_a_wordpiece_vocabulary_of_the_training_texts():
    texts = ["Y dijo Dios: Sea la luz.", "Y fué la luz.", "Y vió Dios que la luz era buena."]
    vectorizer = WordPieceVectorizer.from_dataset(
        tf.data.Dataset.from_tensor_slices(texts * 20), 60, lowercase=True
    )
    vocabulary = vectorizer.vocabulary
    assert tuple(vocabulary[:4]) == RESERVED_TOKENS and len(vocabulary) <= 60
    assert {"luz", "dios", "y", "la", ":", ".", "##z"} <= set(vocabulary)
    assert vectorizer.encode(tf.constant(["Dios vió la luz"])).to_list() == [
        [vocabulary.index(word) for word in ("dios", "vió", "la", "luz")]
    ]


def reference(vectorizer):
    """keras_hub's tokenizer in a tf.function: its tensorflow-text (FastWordpiece) path."""
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vectorizer.vocabulary,
        lowercase=False,
        strip_accents=False,
        split=False,
        oov_token="[UNK]",
        dtype="int32",
    )
    return tf.function(tokenizer)


def assert_same_ids_as_keras_hub(vectorizer, texts):
    """Our ids of every text equal keras_hub's ids of its standardized words, row by row."""
    expected = reference(vectorizer)(split_words(texts, vectorizer.lowercase))  # (B, None)
    ours = vectorizer.encode(tf.constant(texts))
    assert ours.to_list() == expected.to_list()
    return ours


def test_the_learned_vocabularies_are_wordpiece_with_reserved_tokens_first(vectorizers):
    source, target = vectorizers
    for vectorizer in vectorizers:
        vocabulary = vectorizer.vocabulary
        assert tuple(vocabulary[:4]) == RESERVED_TOKENS
        assert VOCAB_SIZE // 2 <= len(vocabulary) <= VOCAB_SIZE  # the learner stays under
        assert any(token.startswith("##") for token in vocabulary)
        assert (vectorizer.pad_id, vectorizer.oov_id) == (PAD_ID, OOV_ID)
        assert (vectorizer.start_id, vectorizer.end_id) == (START_ID, END_ID)
    assert "God" in target.vocabulary and "god" not in source.vocabulary
    assert not any(token != token.lower() for token in source.vocabulary[4:])


@pytest.mark.parametrize("side", [0, 1], ids=["spanish", "english"])
def test_same_ids_as_keras_hub_on_the_whole_test_split(corpus, vectorizers, side):
    texts = corpus["test"][side]
    assert len(texts) > 1000
    ours = assert_same_ids_as_keras_hub(vectorizers[side], texts)
    assert ours.nrows() == len(texts)
    # Subwords: more pieces than words, and every test word is covered (no [UNK]).
    pieces, words = ours.flat_values.shape[0], split_words(texts, side == 0).flat_values.shape[0]
    assert words < pieces < 1.5 * words
    assert int(tf.reduce_sum(tf.cast(ours.flat_values == OOV_ID, tf.int32))) == 0


@pytest.mark.parametrize("side", [0, 1], ids=["spanish", "english"])
def test_detokenize_gives_back_the_standardized_text(corpus, vectorizers, side):
    vectorizer = vectorizers[side]
    texts = corpus["test"][side]
    ids = vectorizer.encode(tf.constant(texts), add_start=True, add_end=True).to_tensor()
    words = WordPieceVectorizer(["[PAD]", "[UNK]", "[START]", "[END]"]).join_tokens(
        split_words(texts, vectorizer.lowercase)
    )
    # The word vocabulary's punctuation rules applied to the standardized words.
    expected = [
        text.decode()
        for text in tf.strings.regex_replace(
            tf.strings.regex_replace(words, r" ([,.;:!?)\]}»”’%…])", r"\1"),
            r"([¿¡(\[{«“‘]) ",
            r"\1",
        ).numpy()
    ]
    detokenized = [text.decode() for text in vectorizer.detokenize(ids).numpy()]
    assert detokenized == expected
    assert detokenized[0] != ""


def test_edge_cases_match_keras_hub(vectorizers):
    for vectorizer in vectorizers:
        assert_same_ids_as_keras_hub(vectorizer, EDGE_CASES)
    ids = vectorizers[0].encode(tf.constant(EDGE_CASES)).to_list()
    assert ids[0] == []  # the empty string has no piece
    assert ids[1] == [OOV_ID]  # a 1,000-character word is one [UNK]
    assert ids[3] == [OOV_ID] and len(ids[2]) > 1  # 101 bytes: [UNK]; 100 bytes: pieces
    assert ids[5] == [OOV_ID] and OOV_ID not in ids[4]  # "ñ" is 2 bytes: 51 of them > 100


def test_greedy_longest_match_first_on_a_toy_vocabulary():
    vectorizer = WordPieceVectorizer(TOY)
    ids = vectorizer.encode(tf.constant(["Creó Dios.", "creo", "crx", "CR", ""])).to_list()
    # cre + ##ó beats c + ##r + ...; "crx" cannot be covered: the whole word is [UNK],
    # not "c ##r [UNK]".
    assert ids == [[4, 5, 9, 10], [4, 6], [OOV_ID], [7, 8], []]
    text = vectorizer.detokenize([[START_ID, 4, 5, 9, 10, END_ID, 9]]).numpy()
    assert text.tolist() == ["creó dios.".encode()]


def test_detokenize_drops_a_leading_continuation_marker_and_stops_at_end():
    vectorizer = WordPieceVectorizer(TOY)
    texts = vectorizer.detokenize([[5, 9, END_ID, 4, 4], [START_ID, 4, 6, PAD_ID, PAD_ID]]).numpy()
    assert texts.tolist() == ["ó dios".encode(), b"creo"]


def test_encode_frames_and_cuts_like_the_word_vectorizer():
    vectorizer = WordPieceVectorizer(TOY)
    ids = vectorizer.encode(tf.constant(["creó dios creo"]), True, True, max_length=4)
    assert ids.to_list() == [[START_ID, 4, 5, END_ID]]
    assert vectorizer.encode(tf.constant("creo"), True, True).numpy().tolist() == [2, 4, 6, 3]


def test_save_and_load_round_trip(tmp_path, vectorizers):
    path = tmp_path / "target_vocabulary.json"
    vectorizers[1].save(path)
    loaded = load_vectorizer(path)
    assert isinstance(loaded, WordPieceVectorizer)
    assert loaded.vocabulary == vectorizers[1].vocabulary and loaded.lowercase is False
    text = tf.constant(["In the beginning God created the heavens and the earth."])
    assert loaded.encode(text).to_list() == vectorizers[1].encode(text).to_list()


def test_bad_vocabularies_are_refused(tmp_path):
    with pytest.raises(UserError, match=r"must start with \['\[PAD\]'"):
        WordPieceVectorizer(["", "[UNK]", "[START]", "[END]", "a"])
    with pytest.raises(UserError, match="must not repeat tokens"):
        WordPieceVectorizer([*RESERVED_TOKENS, "a", "a"])
    with pytest.raises(UserError, match="vocab_size must be at least 5"):
        learn_vocabulary(tf.data.Dataset.from_tensor_slices(["a"]), 4)
    path = tmp_path / "vocabulary.json"
    path.write_text('{"tokenizer": "bpe", "vocabulary": ["a"]}')
    with pytest.raises(
        UserError, match="unknown tokenizer 'bpe', expected one of words, wordpiece"
    ):
        load_vectorizer(path)


def test_encode_runs_in_a_dataset_map_and_a_traced_function(vectorizers):
    source = vectorizers[0]
    texts = ["En el principio creó Dios los cielos y la tierra.", "Y dijo Dios."]
    eager = source.encode(tf.constant(texts)).to_list()
    mapped = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(source.encode)
    assert next(iter(mapped)).to_list() == eager
    traced = tf.function(source.encode, input_signature=[tf.TensorSpec([None], tf.string)])
    assert traced(tf.constant(texts)).to_list() == eager
    # "creó" is modern spelling (the corpus has "crió"): pieces, never [UNK].
    assert OOV_ID not in eager[0]


def test_the_command_line_offers_exactly_the_package_tokenizers():
    from kerasnlp_lab import cli
    from kerasnlp_lab.text import tokenizers

    assert cli.TOKENIZERS == tokenizers.TOKENIZERS == ("words", "wordpiece")
