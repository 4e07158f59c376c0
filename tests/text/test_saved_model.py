"""The text modules inside a tf.function with a string signature and a reloaded SavedModel."""

import pytest
import tensorflow as tf

from kerasnlp_lab.text import CharVocabulary, WordVectorizer, standardize
from tests.export_checks import assert_core_ops_only

TEXTS = ["¿Quién es ÉL?", "«Sí», dijo.", "Nadie VIVE aquí!", ""]


class TextModule(tf.Module):
    """Signatures that use every text operation an exporter needs."""

    def __init__(self, words, chars):
        super().__init__()
        self.words = words
        self.chars = chars

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def words_round_trip(self, text):
        ids = self.words.encode(text, add_start=True, add_end=True, max_length=8).to_tensor()
        return {
            "standardized": standardize(text),
            "ids": ids,
            "detokenized": self.words.detokenize(ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def chars_round_trip(self, text):
        ids = self.chars.encode(text).to_tensor()
        return {"ids": ids, "text": self.chars.decode(ids)}


@pytest.fixture(scope="module")
def module():
    training = tf.data.Dataset.from_tensor_slices(["¿Quién es él?", "Sí, dijo él.", "Nadie."])
    return TextModule(
        WordVectorizer.from_dataset(training, 50), CharVocabulary.from_dataset(training)
    )


def eager_outputs(module, text):
    ids = module.words.encode(text, add_start=True, add_end=True, max_length=8).to_tensor()
    char_ids = module.chars.encode(text).to_tensor()
    return {
        "standardized": standardize(text),
        "ids": ids,
        "detokenized": module.words.detokenize(ids),
        "char_ids": char_ids,
        "text": module.chars.decode(char_ids),
    }


def outputs_of(loaded, text):
    words = loaded.words_round_trip(text)
    chars = loaded.chars_round_trip(text)
    return {**words, "char_ids": chars["ids"], "text": chars["text"]}


def as_lists(outputs):
    return {name: value.numpy().tolist() for name, value in outputs.items()}


def test_traced_functions_equal_eager_code(module):
    text = tf.constant(TEXTS)
    outputs = as_lists(outputs_of(module, text))
    assert outputs == as_lists(eager_outputs(module, text))
    assert [t.decode() for t in outputs["detokenized"]] == [
        "¿quién es él?",
        "[UNK] sí [UNK], dijo.",
        "nadie [UNK] [UNK] [UNK]",
        "",
    ]
    expected_text = ["¿Quién es \ufffd\ufffd?", "\ufffdSí\ufffd, dijo."]  # É L « » unknown
    assert outputs["text"][:2] == [t.encode() for t in expected_text]


def test_reloaded_saved_model_gives_the_same_results(module, tmp_path):
    tf.saved_model.save(module, str(tmp_path))
    assert_core_ops_only(str(tmp_path))
    reloaded = tf.saved_model.load(str(tmp_path))
    for batch in (TEXTS, TEXTS[:1]):
        text = tf.constant(batch)
        assert as_lists(outputs_of(reloaded, text)) == as_lists(eager_outputs(module, text))
