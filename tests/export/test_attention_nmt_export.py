"""The attention NMT SavedModel: signatures, core ops only, fresh-process equality, warmup."""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.export import translator as translator_lib
from kerasnlp_lab.export import warmup
from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.serving.batching import read_batching_parameters
from tests import export_checks
from tests.data.test_translation_pipeline import as_dataset, toy_pairs

CONFIG = attention_nmt.get_config(
    "tiny", source_vocab_size=40, target_vocab_size=40, max_source_length=12, max_target_length=10
)
TEXTS = [
    "El perro come pan.",
    "El gato grande ve al hombre y el niño bebe agua en la casa del rey.",  # truncated
    "",
    "¿Quién es?",
    "Y el rey",
]


@pytest.fixture(scope="module")
def serving():
    keras.utils.set_random_seed(3)
    vectorizers = pipeline.learn_vectorizers(
        as_dataset(toy_pairs(100)),
        CONFIG.source_vocab_size,
        CONFIG.target_vocab_size,
        CONFIG.tokenizer,
    )
    model = attention_nmt.build_model(CONFIG)
    return exporter.AttentionNMTServing(model, *vectorizers, CONFIG)


@pytest.fixture(scope="module")
def exported(serving, tmp_path_factory):
    saved_models = str(tmp_path_factory.mktemp("saved_models"))
    return exporter.export_serving(serving, saved_models)


def test_export_writes_version_1_and_models_config(exported):
    saved_models = os.path.dirname(os.path.dirname(exported))
    assert exported == os.path.join(saved_models, "attention_nmt", "1")
    with open(os.path.join(saved_models, "models.config")) as file:
        assert 'name: "attention_nmt"' in file.read()


def test_export_carries_a_translators_batching_parameters(exported):
    parameters = read_batching_parameters(os.path.join(exported, "batching_params.pbtxt"))
    assert (
        parameters.max_batch_size,
        parameters.batch_timeout_micros,
        parameters.max_enqueued_batches,
    ) == (32, 10_000, 100)


def test_export_uses_core_tensorflow_ops_only(exported):
    op_types = export_checks.assert_core_ops_only(exported)
    # The decoding loop, beam search, in-graph text standardization and vocabulary lookup.
    assert {"While", "TopKV2", "StaticRegexReplace", "LookupTableFindV2"} <= op_types


def test_signatures_have_the_contract_names_dtypes_and_shapes(exported):
    loaded = tf.saved_model.load(exported)
    assert sorted(loaded.signatures) == [
        "attention",
        "beam_nbest",
        "beam_search",
        "serving_default",
    ]
    for name in ("serving_default", "beam_search", "beam_nbest", "attention"):
        signature = loaded.signatures[name]
        [text_spec] = signature.structured_input_signature[1].values()
        assert (text_spec.name, text_spec.dtype, text_spec.shape.as_list()) == (
            "text",
            tf.string,
            [None],
        )
        outputs = signature.structured_outputs
        if name == "beam_nbest":
            assert {key: (spec.dtype, spec.shape.as_list()) for key, spec in outputs.items()} == {
                "translations": (tf.string, [None, 4]),
                "scores": (tf.float32, [None, 4]),
            }
            continue
        assert outputs["translation"].dtype == tf.string
        assert outputs["translation"].shape.as_list() == [None]
    outputs = loaded.signatures["attention"].structured_outputs
    assert {key: (spec.dtype, spec.shape.as_list()) for key, spec in outputs.items()} == {
        "translation": (tf.string, [None]),
        "attention_weights": (tf.float32, [None, None, None]),
        "source_tokens": (tf.string, [None, None]),
        "target_tokens": (tf.string, [None, None]),
    }


def test_fresh_tensorflow_process_matches_the_keras_model(exported, serving):
    calls = []
    for texts in (TEXTS[:1], TEXTS):
        text = np.array([line.encode("utf-8") for line in texts], dtype=bytes)
        calls += [(name, {"text": text}) for name in exporter.SIGNATURE_NAMES]
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported, calls)
    for (signature, inputs), result in zip(calls, outputs, strict=True):
        texts = [line.decode("utf-8") for line in inputs["text"]]
        if signature == "beam_nbest":
            in_process = serving.nbest(tf.constant(inputs["text"]))
            np.testing.assert_array_equal(result["translations"], in_process["translations"])
            np.testing.assert_allclose(result["scores"], in_process["scores"], atol=1e-5)
            best = [line.decode("utf-8") for line in result["translations"][:, 0]]
            assert best == serving.translate_texts(texts, beam=True)
            continue
        expected = serving.translate_texts(texts, beam=signature == "beam_search")
        assert [line.decode("utf-8") for line in result["translation"]] == expected
        if signature == "attention":
            in_process = serving.attention(tf.constant(inputs["text"]))
            np.testing.assert_allclose(
                result["attention_weights"], in_process["attention_weights"].numpy(), atol=1e-5
            )
            assert result["attention_weights"].shape[0] == len(texts)
            # One label per weight column and row: [START] words [END] and the generated tokens.
            assert result["source_tokens"].shape == result["attention_weights"].shape[::2]
            assert result["target_tokens"].shape == result["attention_weights"].shape[:2]
            assert result["source_tokens"][0, 0] == b"[START]"
            words = [token.decode() for token in result["source_tokens"][0] if token]
            assert words[1:-1] == TEXTS[0].lower().replace(".", " .").split()
            assert words[-1] == "[END]"


def test_long_inputs_are_truncated_with_a_warning(serving):
    words = TEXTS[1].split()
    kept = " ".join(words[: CONFIG.max_source_length - 2])
    with pytest.warns(UserWarning, match="1 of 2 texts are longer than 12 tokens"):
        long, short = serving.translate_texts([TEXTS[1], kept])
    assert long == short


def test_output_never_exceeds_the_maximum_length(serving):
    tokens = serving.translate_ids(serving.source_ids(tf.constant(TEXTS)), beam_size=4)
    assert tokens.shape[1] <= CONFIG.max_target_length - 1


def test_warmup_requests_cover_every_signature_at_two_batch_sizes(exported):
    requests = warmup.read_warmup_requests(exported)
    assert sorted(r.model_spec.signature_name for r in requests) == sorted(
        exporter.SIGNATURE_NAMES * 2
    )
    assert {r.model_spec.name for r in requests} == {"attention_nmt"}
    assert sorted(r.inputs["text"].tensor_shape.dim[0].size for r in requests) == [1] * 4 + [3] * 4


def test_without_attention_the_export_has_no_attention_signature(tmp_path):
    """The bottleneck baseline translates like the other but has no weights to show."""
    config = dataclasses.replace(CONFIG, attention="none")
    keras.utils.set_random_seed(3)
    vectorizers = pipeline.learn_vectorizers(
        as_dataset(toy_pairs(100)),
        config.source_vocab_size,
        config.target_vocab_size,
        config.tokenizer,
    )
    serving = exporter.AttentionNMTServing(attention_nmt.build_model(config), *vectorizers, config)
    exported = exporter.export_serving(serving, str(tmp_path))
    loaded = tf.saved_model.load(exported)
    assert sorted(loaded.signatures) == ["beam_nbest", "beam_search", "serving_default"]
    requests = warmup.read_warmup_requests(exported)
    assert sorted(r.model_spec.signature_name for r in requests) == sorted(
        ("beam_nbest", "beam_search", "serving_default") * 2
    )
    translation = loaded.signatures["serving_default"](text=tf.constant(TEXTS[:2]))["translation"]
    expected = serving.greedy(tf.constant(TEXTS[:2]))["translation"]
    assert translation.numpy().tolist() == expected.numpy().tolist()


def test_predict_prints_translations_and_the_nbest_with_scores():
    assert translator_lib.format_outputs({"translation": [b"One.", "\u00c9.".encode()]}) == (
        "One.\n\u00c9."
    )
    nbest = {
        "translations": [[b"It is.", b"He is."], [b"Who?", b""]],
        "scores": np.array([[-0.25, -1.5], [-0.125, -20.0]], np.float32),
    }
    assert translator_lib.format_outputs(nbest) == (
        "  -0.250  It is.\n  -1.500  He is.\n\n  -0.125  Who?\n -20.000  "
    )
