"""The Transformer translator's SavedModel: core ops, fresh process, greedy and beam, warmup."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.decoding.translation import translate
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.export import translator as translator_lib
from kerasnlp_lab.export import warmup
from kerasnlp_lab.models import transformer
from kerasnlp_lab.serving.batching import read_batching_parameters
from tests import export_checks
from tests.data.test_translation_pipeline import as_dataset, toy_pairs

TEXTS = [
    "El perro come pan.",
    "El rey ve el gato grande y el niño pequeño bebe agua.",
    "¿Quién es?",
]


def make_serving(backbone="ours", fit_steps=True):
    keras.utils.set_random_seed(11)
    config = transformer.get_config(
        "tiny", num_layers=2, max_source_length=16, max_target_length=10, backbone=backbone
    )
    vectorizers = pipeline.learn_vectorizers(as_dataset(toy_pairs(100)), 40, 40, "words")
    model = transformer.build_model(config, vectorizers[0].vocab_size, vectorizers[1].vocab_size)
    if not fit_steps:
        return exporter.make_serving(model, *vectorizers, config)
    # A few steps of training, so the translations are words rather than one repeated id.
    examples = pipeline.vectorize_pairs(as_dataset(toy_pairs(256)), *vectorizers, 16, 10)
    batches = pipeline.random_batches(examples, 32).map(pipeline.as_model_inputs)
    model.fit(batches, epochs=4, verbose=0)
    return exporter.make_serving(model, *vectorizers, config)


@pytest.fixture(scope="module")
def serving():
    return make_serving()


@pytest.fixture(scope="module")
def exported(serving, tmp_path_factory):
    saved_models = str(tmp_path_factory.mktemp("saved_models"))
    return saved_models, exporter.export_serving(serving, saved_models)


def test_export_writes_version_1_and_models_config(exported):
    saved_models, path = exported
    assert path == os.path.join(saved_models, "transformer_translator", "1")
    with open(os.path.join(saved_models, "models.config")) as file:
        config = text_format.Parse(file.read(), model_server_config_pb2.ModelServerConfig())
    assert [(e.name, e.base_path) for e in config.model_config_list.config] == [
        ("transformer_translator", "/models/transformer_translator")
    ]


def test_export_carries_a_translators_batching_parameters(exported):
    parameters = read_batching_parameters(os.path.join(exported[1], "batching_params.pbtxt"))
    assert (
        parameters.max_batch_size,
        parameters.batch_timeout_micros,
        parameters.max_enqueued_batches,
    ) == (32, 10_000, 100)


def test_export_uses_core_tensorflow_ops_only(exported):
    op_types = export_checks.assert_core_ops_only(exported[1])
    assert {"Einsum", "Softmax", "SelectV2", "TopKV2"} <= op_types
    assert not any(op.startswith("Xla") for op in op_types)


def test_fresh_tensorflow_process_matches_in_process_and_uncached_decoding(exported, serving):
    calls = []
    for texts in (TEXTS[:1], TEXTS):
        text = np.array([t.encode("utf-8") for t in texts])
        calls += [(name, {"text": text}) for name in ("serving_default", "beam_search")]
        calls.append(("beam_nbest", {"text": text}))
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported[1], calls)
    for (signature, inputs), result in zip(calls, outputs, strict=True):
        if signature == "beam_nbest":
            in_process = serving.nbest(tf.constant(inputs["text"]))
            assert result["translations"].shape == (len(inputs["text"]), serving.beam_size)
            np.testing.assert_array_equal(result["translations"], in_process["translations"])
            np.testing.assert_allclose(result["scores"], in_process["scores"], atol=1e-5)
            beam = serving.beam(tf.constant(inputs["text"]))["translation"].numpy()
            np.testing.assert_array_equal(result["translations"][:, 0], beam)
            assert np.all(np.diff(result["scores"], axis=1) <= 0)  # best first
            continue
        assert sorted(result) == ["translation"]
        assert result["translation"].shape == (len(inputs["text"]),)
        function = serving.greedy if signature == "serving_default" else serving.beam
        expected = function(tf.constant(inputs["text"]))["translation"].numpy()
        np.testing.assert_array_equal(result["translation"], expected.astype(np.bytes_))
    # The export's cached decoding says what the uncached decoder says, word for word.
    uncached = translator_lib.TranslatorServing(
        transformer.UncachedTranslator(serving.model),
        serving.source_vectorizer,
        serving.target_vectorizer,
        max_source_length=serving.max_source_length,
        max_output_length=serving.max_output_length,
        beam_size=serving.beam_size,
        length_penalty=serving.length_penalty,
    )
    texts = tf.constant(TEXTS)
    np.testing.assert_array_equal(
        outputs[3]["translation"], uncached.greedy(texts)["translation"].numpy().astype(np.bytes_)
    )
    np.testing.assert_array_equal(
        outputs[4]["translation"], uncached.beam(texts)["translation"].numpy().astype(np.bytes_)
    )
    np.testing.assert_array_equal(outputs[5]["translations"], uncached.nbest(texts)["translations"])
    assert len(set(outputs[3]["translation"])) > 1


def test_warmup_requests_cover_every_signature_at_two_batch_sizes(exported):
    requests = warmup.read_warmup_requests(exported[1])
    assert sorted(
        (r.model_spec.signature_name, r.inputs["text"].tensor_shape.dim[0].size) for r in requests
    ) == [
        ("attention", 1),
        ("attention", 3),
        ("beam_nbest", 1),
        ("beam_nbest", 3),
        ("beam_search", 1),
        ("beam_search", 3),
        ("serving_default", 1),
        ("serving_default", 3),
    ]
    assert {r.model_spec.name for r in requests} == {"transformer_translator"}


def test_attention_signature_gives_the_cross_attention_of_every_layer_and_head(exported, serving):
    calls = [
        ("attention", {"text": np.array([t.encode("utf-8") for t in texts])})
        for texts in (TEXTS[:1], TEXTS)
    ]
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported[1], calls)
    for (_, inputs), result in zip(calls, outputs, strict=True):
        expected = serving.attention(tf.constant(inputs["text"]))
        for name in ("translation", "source_tokens", "target_tokens"):
            np.testing.assert_array_equal(result[name], expected[name].numpy().astype(np.bytes_))
        np.testing.assert_allclose(
            result["cross_attention"], expected["cross_attention"].numpy(), atol=1e-5
        )
    result = outputs[1]
    greedy = serving.greedy(tf.constant(TEXTS))["translation"].numpy().astype(np.bytes_)
    np.testing.assert_array_equal(result["translation"], greedy)
    weights = result["cross_attention"]  # (B, layers, heads, T, S)
    assert weights.shape[:3] == (len(TEXTS), 2, weights.shape[2]) and weights.shape[2] >= 1
    source_ids = serving.source_ids(tf.constant(TEXTS)).numpy()
    for row in range(len(TEXTS)):
        generated = result["target_tokens"][row] != b""
        sources = result["source_tokens"][row] != b""
        assert (source_ids[row] != 0).tolist() == sources.tolist()
        assert result["source_tokens"][row][0] == b"[START]"
        # Each generated token's weights are a distribution over the real source tokens.
        mine = weights[row][:, :, generated]
        np.testing.assert_allclose(mine.sum(-1), 1.0, atol=1e-4)
        assert (mine[..., ~sources] < 1e-6).all()
        assert (weights[row][:, :, ~generated] == 0).all()


def test_keras_hub_backbone_cannot_be_exported(tmp_path):
    with pytest.raises(UserError, match="Only the 'ours' backbone.*--backbone keras_hub"):
        exporter.export_serving(make_serving("keras_hub", fit_steps=False), str(tmp_path))
    assert not os.path.exists(tmp_path / "transformer_translator")


def test_the_graph_reads_only_the_first_characters_of_a_long_text(serving):
    head = TEXTS[1] + " "
    long_text = head * 20_000  # about a megabyte
    cut = long_text[: translator_lib.MAX_SOURCE_CHARS]
    np.testing.assert_array_equal(
        serving.source_ids(tf.constant([long_text])).numpy(),
        serving.source_ids(tf.constant([cut])).numpy(),
    )
    translations = serving.greedy(tf.constant([long_text, cut]))["translation"].numpy()
    assert translations[0] == translations[1]


class FavoursSpecialIds:
    """The untrained tiny model's translator, with padding, [UNK] and [START] scored best."""

    def __init__(self, translator):
        self.translator = translator
        self.model = translator.model

    def __getattr__(self, name):
        return getattr(self.translator, name)

    def decode_step(self, tokens, step, decoder_state, encoded):
        logits, decoder_state = self.translator.decode_step(tokens, step, decoder_state, encoded)
        special = tf.one_hot([0, 1, 2], tf.shape(logits)[1], on_value=50.0, dtype=logits.dtype)
        return logits + tf.reduce_sum(special, axis=0)[None, :], decoder_state


def test_decoding_never_emits_padding_unknown_or_start():
    serving = make_serving(fit_steps=False)
    texts = tf.constant(TEXTS)
    banned = translator_lib.TranslatorServing(
        FavoursSpecialIds(serving.translator),
        serving.source_vectorizer,
        serving.target_vectorizer,
        max_source_length=serving.max_source_length,
        max_output_length=6,
    )
    assert banned.banned_ids == (0, 1, 2)
    for beam_size in (1, 4):
        tokens = banned.translate_ids(banned.source_ids(texts), beam_size).numpy()
        assert tokens.shape == (3, 6)  # no [END] either: every step had a real token to give
        assert not np.isin(tokens, [0, 1, 2]).any()
    # Without the ban, the same model emits them.
    free = translate(
        banned.translator, banned.source_ids(texts), start_id=2, end_id=3, max_length=6
    ).numpy()
    assert np.isin(free, [0, 1, 2]).all()


def test_the_export_prepares_the_decoding_weights_once_as_variables(serving):
    prepared = tf.nest.flatten(serving.translator.prepared_weights)
    made_per_search = tf.nest.flatten(serving.model.decoding_weights())
    assert len(prepared) == len(made_per_search) > 10
    assert all(isinstance(weight, tf.Variable) and not weight.trainable for weight in prepared)
    for variable, tensor in zip(prepared, made_per_search, strict=True):
        np.testing.assert_array_equal(variable.numpy(), tensor.numpy())
    tracked = {id(variable) for variable in serving.variables}
    assert all(id(variable) in tracked for variable in prepared)  # saved with the export
    per_search = translator_lib.TranslatorServing(
        transformer.Translator(serving.model, serving.max_output_length),
        serving.source_vectorizer,
        serving.target_vectorizer,
        max_source_length=serving.max_source_length,
        max_output_length=serving.max_output_length,
    )
    texts = tf.constant(TEXTS)
    np.testing.assert_array_equal(
        serving.greedy(texts)["translation"].numpy(),
        per_search.greedy(texts)["translation"].numpy(),
    )


def test_an_ngram_ban_exports_with_core_ops_and_decodes_as_in_process(serving, tmp_path):
    banned = serving.with_decoding(no_repeat_ngram_size=2)
    path = exporter.export_serving(banned, str(tmp_path))
    assert "TensorScatterMax" in export_checks.assert_core_ops_only(path)
    loaded = tf.saved_model.load(path)
    for signature, beam in (("serving_default", False), ("beam_search", True)):
        outputs = loaded.signatures[signature](text=tf.constant(TEXTS))["translation"].numpy()
        translations = [text.decode("utf-8") for text in outputs]
        assert translations == banned.translate_texts(TEXTS, beam=beam)
        for text in translations:  # no word pair twice (the toy vocabulary is words)
            words = text.split()
            pairs = list(zip(words[:-1], words[1:], strict=True))
            assert len(pairs) == len(set(pairs)), text
