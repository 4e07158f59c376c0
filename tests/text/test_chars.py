"""CharVocabulary: characters from the given texts only, ids round trip, OOV."""

import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text import CharVocabulary
from kerasnlp_lab.text.chars import OOV_CHAR, OOV_ID, PAD_ID, count_chars


def texts(*strings):
    return tf.data.Dataset.from_tensor_slices(list(strings))


def test_characters_of_the_given_texts_in_code_point_order():
    vocabulary = CharVocabulary.from_dataset(texts("baña", "ab\n"))
    assert vocabulary.chars == ["\n", "a", "b", "ñ"]
    assert vocabulary.vocab_size == 6
    assert (PAD_ID, OOV_ID) == (0, 1)


def test_count_chars_over_scalar_and_batched_datasets():
    expected = {"b": 2, "a": 3, "ñ": 1, "\n": 1}
    assert count_chars(texts("baña", "ab\n")) == expected
    assert count_chars(texts("baña", "ab\n").batch(2)) == expected


def test_max_size_keeps_the_most_frequent_and_the_required_characters():
    data = texts("aaaa bbb cc d\n")  # a 4, b 3, space 3, c 2, d 1, newline 1
    assert CharVocabulary.from_dataset(data, max_size=5).chars == [" ", "a", "b"]
    kept = CharVocabulary.from_dataset(data, max_size=5, required_chars="\n")
    assert kept.chars == ["\n", " ", "a"]
    with pytest.raises(UserError, match="max_size must leave room"):
        CharVocabulary.from_dataset(data, max_size=2, required_chars="\n")


def test_ids_round_trip_and_unknown_characters_get_the_oov_id():
    vocabulary = CharVocabulary(["a", "ñ", "b", " "])  # ids: " " 2, a 3, b 4, ñ 5
    ids = vocabulary.encode(["baña b", "abz€"])
    assert ids.dtype == tf.int32
    assert ids.to_list() == [[4, 3, 5, 3, 2, 4], [3, 4, OOV_ID, OOV_ID]]
    text = vocabulary.decode(ids.to_tensor())  # the short row is padded with PAD_ID
    assert [t.decode() for t in text.numpy().tolist()] == ["baña b", "ab" + OOV_CHAR * 2]
    assert vocabulary.decode(ids).numpy().tolist()[0] == "baña b".encode()
    assert vocabulary.ids_to_chars([PAD_ID, 99]).numpy().tolist() == [b"", OOV_CHAR.encode()]


def test_scalar_text_and_invalid_utf8():
    vocabulary = CharVocabulary(["a", "b"])
    assert vocabulary.encode("ab").numpy().tolist() == [2, 3]
    assert vocabulary.decode([2, 3, 0]).numpy() == b"ab"
    assert vocabulary.encode([b"a\xffb"]).to_list() == [[2, OOV_ID, 3]]
    assert vocabulary.encode([""]).to_list() == [[]]


def test_config_and_file_round_trip(tmp_path):
    vocabulary = CharVocabulary.from_dataset(texts("¿Qué?\n", "Sí."))
    path = tmp_path / "chars.json"
    vocabulary.save(path)
    for other in (CharVocabulary.from_config(vocabulary.get_config()), CharVocabulary.load(path)):
        assert other.chars == vocabulary.chars
        assert other.encode(["¿Sí?"]).to_list() == vocabulary.encode(["¿Sí?"]).to_list()


@pytest.mark.parametrize(
    "chars, message",
    [(["ab"], "one character"), (["a", "a"], "must not repeat"), ([], "at least one")],
)
def test_bad_vocabularies_are_user_errors(chars, message):
    with pytest.raises(UserError, match=message):
        CharVocabulary(chars)


def test_bad_learning_inputs_are_user_errors():
    with pytest.raises(UserError, match="the texts are empty"):
        CharVocabulary.from_dataset(texts("", ""))
    with pytest.raises(UserError, match="Dataset of strings"):
        CharVocabulary.from_dataset(tf.data.Dataset.range(3))
