"""WordVectorizer: vocabulary from the given data only, text <-> ids, exact round trips."""

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text import WordVectorizer
from kerasnlp_lab.text.tokenizers import load_vectorizer
from kerasnlp_lab.text.vectorizer import END_ID, OOV_ID, PAD_ID, RESERVED_TOKENS, START_ID

TRAINING_TEXTS = ["¿Quién es?", "Es él.", "¡Él es!", "Es, es... ¿es?"]


@pytest.fixture(scope="module")
def vectorizer():
    return WordVectorizer.from_dataset(tf.data.Dataset.from_tensor_slices(TRAINING_TEXTS), 100)


def decoded(strings):
    return [text.decode("utf-8") for text in strings.numpy().tolist()]


def test_the_vocabulary_is_learned_from_the_given_texts_only(vectorizer):
    # es: 6, ".": 4 ("." once, "..." three times), él ¿ ?: 2, ¡ quién , !: 1; ties in
    # reverse order of their UTF-8 bytes, as TextVectorization sorts them.
    assert vectorizer.vocabulary == list(RESERVED_TOKENS) + [
        "es",
        ".",
        "él",
        "¿",
        "?",
        "¡",
        "quién",
        ",",
        "!",
    ]
    assert vectorizer.vocab_size == 13
    assert (PAD_ID, OOV_ID, START_ID, END_ID) == (0, 1, 2, 3)


def test_vocab_size_keeps_the_most_frequent_words():
    small = WordVectorizer.from_dataset(tf.data.Dataset.from_tensor_slices(TRAINING_TEXTS), 6)
    assert small.vocabulary == list(RESERVED_TOKENS) + ["es", "."]


def test_batched_datasets_give_the_same_vocabulary(vectorizer):
    batched = tf.data.Dataset.from_tensor_slices(TRAINING_TEXTS).batch(3)
    assert WordVectorizer.from_dataset(batched, 100).vocabulary == vectorizer.vocabulary


def test_tokens_ids_and_detokenized_round_trip(vectorizer):
    tokens = vectorizer.tokenize(["¿Quién es?"]).to_list()
    assert tokens == [[t.encode() for t in ["¿", "quién", "es", "?"]]]
    ids = vectorizer.encode(["¿Quién es?", "Es él."], add_start=True, add_end=True)
    assert ids.to_list() == [[2, 7, 10, 4, 8, 3], [2, 4, 6, 5, 3]]
    assert decoded(vectorizer.detokenize(ids.to_tensor())) == ["¿quién es?", "es él."]
    tokens = vectorizer.ids_to_tokens(ids.to_tensor())
    assert tokens.numpy()[1].tolist() == [b"[START]", b"es", "él".encode(), b".", b"[END]", b""]


def test_unknown_words_get_the_oov_id(vectorizer):
    ids = vectorizer.encode(["Quién vive"])
    assert ids.to_list() == [[10, OOV_ID]]
    assert decoded(vectorizer.detokenize(ids.to_tensor())) == ["quién [UNK]"]
    assert vectorizer.ids_to_tokens([500, -1]).numpy().tolist() == [b"[UNK]", b"[UNK]"]


def test_max_length_truncates_and_keeps_start_and_end(vectorizer):
    ids = vectorizer.encode(["Es, es... ¿es?", "es"], add_start=True, add_end=True, max_length=4)
    assert ids.to_list() == [[START_ID, 4, 11, END_ID], [START_ID, 4, END_ID]]
    assert vectorizer.encode(["Es, es"], max_length=2).to_list() == [[4, 11]]
    with pytest.raises(UserError, match="max_length must leave room"):
        vectorizer.encode(["es"], add_start=True, add_end=True, max_length=2)


def test_scalar_text_gives_a_vector(vectorizer):
    ids = vectorizer.encode("¿Quién es?", add_end=True)
    assert isinstance(ids, tf.Tensor) and ids.numpy().tolist() == [7, 10, 4, 8, END_ID]
    assert vectorizer.detokenize(ids).numpy().decode() == "¿quién es?"


def test_detokenize_stops_at_end_and_drops_start_and_padding(vectorizer):
    ids = [
        [START_ID, 9, 6, 4, 12, END_ID, 4, 4],
        [4, 11, 4, 5, 5, 5, PAD_ID, PAD_ID],
        [END_ID, 4, 4, 4, 4, 4, 4, 4],
        [PAD_ID] * 8,
    ]
    assert decoded(vectorizer.detokenize(np.array(ids, np.int64))) == [
        "¡él es!",
        "es, es...",
        "",
        "",
    ]


def test_detokenize_spaces_around_punctuation():
    words = ["«", "hola", "»", ",", "(", "sí", ")", "¡", "!", "-", "’", "5", "%"]
    vectorizer = WordVectorizer(list(RESERVED_TOKENS) + words)
    ids = vectorizer.encode(["«Hola», (sí) ¡hola! - disciples’ 5%"])
    expected = ["«hola», (sí) ¡hola! - [UNK]’ 5%"]
    assert decoded(vectorizer.detokenize(ids.to_tensor())) == expected


def test_config_and_file_round_trip(vectorizer, tmp_path):
    rebuilt = WordVectorizer.from_config(vectorizer.get_config())
    path = tmp_path / "vocabulary.json"
    vectorizer.save(path)
    loaded = load_vectorizer(path)
    texts = ["¿Quién es él?", "Nada."]
    for other in (rebuilt, loaded):
        assert other.vocabulary == vectorizer.vocabulary
        expected = vectorizer.encode(texts, True, True).to_list()
        assert other.encode(texts, True, True).to_list() == expected


@pytest.mark.parametrize(
    "vocabulary, message",
    [
        (["[UNK]", "", "[START]", "[END]", "a"], "must start with"),
        (list(RESERVED_TOKENS) + ["a", "b", "a"], "must not repeat"),
    ],
)
def test_bad_vocabularies_are_user_errors(vocabulary, message):
    with pytest.raises(UserError, match=message):
        WordVectorizer(vocabulary)


def test_bad_learning_inputs_are_user_errors(tmp_path):
    texts = tf.data.Dataset.from_tensor_slices(["a b"])
    with pytest.raises(UserError, match="vocab_size must be at least 5"):
        WordVectorizer.from_dataset(texts, 4)
    with pytest.raises(UserError, match="Dataset of strings"):
        WordVectorizer.from_dataset(tf.data.Dataset.range(3), 10)
    with pytest.raises(UserError, match="no token"):
        WordVectorizer.from_dataset(tf.data.Dataset.from_tensor_slices([" ", ""]), 10)
    with pytest.raises(UserError, match="not found"):
        load_vectorizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"chars": []}')
    with pytest.raises(UserError, match="'vocabulary' key"):
        load_vectorizer(tmp_path / "bad.json")


def test_a_cased_vocabulary_keeps_case_both_ways(tmp_path):
    texts = ["In the beginning God created.", "And God said, Let there be light.", "in God"]
    cased = WordVectorizer.from_dataset(
        tf.data.Dataset.from_tensor_slices(texts), 100, lowercase=False
    )
    assert {"In", "in", "God", "And", "Let"} <= set(cased.vocabulary)
    assert "god" not in cased.vocabulary
    ids = cased.encode(["In the beginning God said."], True, True)
    assert decoded(cased.detokenize(ids.to_tensor())) == ["In the beginning God said."]
    # "GOD" is not "God": a cased vocabulary looks words up as written.
    assert cased.encode(["GOD"]).to_list() == [[OOV_ID]]
    path = tmp_path / "target_vocabulary.json"
    cased.save(path)
    loaded = load_vectorizer(path)
    assert (loaded.lowercase, loaded.vocabulary) == (False, cased.vocabulary)


def test_a_vocabulary_file_without_the_case_flag_is_lower_cased(vectorizer, tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"vocabulary": ' + str(vectorizer.vocabulary).replace("'", '"') + "}")
    loaded = load_vectorizer(path)
    assert loaded.lowercase is True
    assert loaded.encode(["ÉL ES"]).to_list() == vectorizer.encode(["él es"]).to_list()
