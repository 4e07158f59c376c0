"""The char_generator SavedModel: signature, core ops, fresh-process equality, odd inputs."""

import os

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.export import warmup
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.text import chars
from tests import export_checks

VOCABULARY = chars.CharVocabulary(list(" etaoinshrdlu\n.,é"))
OOV = chars.OOV_CHAR


def request(prompts, num_chars, temperature=1.0, seed=0):
    count = len(prompts)
    return {
        "prompt": tf.constant(
            np.array([p.encode("utf-8") if isinstance(p, str) else p for p in prompts], np.bytes_)
        ),
        "num_chars": tf.constant(np.broadcast_to(num_chars, [count]), tf.int32),
        "temperature": tf.constant(np.broadcast_to(temperature, [count]), tf.float32),
        "seed": tf.constant(np.broadcast_to(seed, [count]), tf.int64),
    }


def as_numpy(inputs):
    """Request tensors as NumPy arrays (strings as fixed-width bytes, as np.savez needs)."""
    arrays = {name: value.numpy() for name, value in inputs.items()}
    return {
        name: value.astype(np.bytes_) if value.dtype == object else value
        for name, value in arrays.items()
    }


def texts(outputs):
    return [value.decode("utf-8") for value in np.asarray(outputs["text"])]


@pytest.fixture(scope="module")
def model():
    model = char_generator.build_training_model(
        char_generator.get_config("tiny"), VOCABULARY.vocab_size
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def serving(model):
    return exporter.CharGeneratorServing(model, VOCABULARY)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    saved_models = str(tmp_path_factory.mktemp("saved_models"))
    return exporter.export_model(model, VOCABULARY, saved_models)


def keras_greedy(model, prompt, num_chars):
    """Greedy continuation by the stateful Keras model, one char per call."""
    ids = VOCABULARY.encode("\n" + prompt).numpy().tolist()
    previous = [ids[0]] + ids[:-1]
    generator = char_generator.build_generation_model(
        char_generator.get_config("tiny"), VOCABULARY.vocab_size, weights_from=model
    )
    logits = generator(
        {"chars": np.array([ids], np.int32), "previous_chars": np.array([previous], np.int32)}
    )
    text = ""
    for _ in range(num_chars):
        scores = np.array(logits)[0, -1]
        scores[[chars.PAD_ID, chars.OOV_ID]] = -np.inf  # never sampled
        next_id = int(np.argmax(scores))
        text += VOCABULARY.chars[next_id - chars.NUM_RESERVED_IDS]
        logits = generator(
            {
                "chars": np.array([[next_id]], np.int32),
                "previous_chars": np.array([[ids[-1]]], np.int32),
            }
        )
        ids.append(next_id)
    return text


def test_greedy_generation_matches_the_stateful_keras_model(serving, model):
    for prompt in ("the sea", "", "xyz?"):
        [text] = texts(serving.generate(**request([prompt], 25, temperature=0.0)))
        assert text == keras_greedy(model, prompt, 25)


def test_same_request_same_text_and_rows_independent_of_the_batch(serving):
    batch = request(["in the", "", "a"], [40, 17, 3], temperature=[1.0, 0.7, 2.0], seed=[5, 6, 7])
    first, again = texts(serving.generate(**batch)), texts(serving.generate(**batch))
    assert first == again
    assert [len(text) for text in first] == [40, 17, 3]
    alone = texts(serving.generate(**request(["in the"], 40, seed=5)))
    assert alone == first[:1]
    other_seed = texts(serving.generate(**request(["in the"], 40, seed=99)))
    assert other_seed != alone


def test_lengths_zero_negative_and_above_the_cap(serving):
    outputs = texts(
        serving.generate(**request(["a", "b", "c"], [0, -5, exporter.MAX_NUM_CHARS + 500]))
    )
    assert outputs[:2] == ["", ""]
    assert len(outputs[2]) == exporter.MAX_NUM_CHARS
    assert texts(serving.generate(**request([], 10))) == []


def test_padding_and_oov_are_never_sampled_even_when_the_model_prefers_it(model):
    rng = np.random.default_rng(1)
    weights = model.get_weights()
    favoured = char_generator.build_training_model(
        char_generator.get_config("tiny"), VOCABULARY.vocab_size
    )
    favoured.set_weights(weights)
    favoured.get_layer("head").logits_bias.assign(
        np.where(np.arange(VOCABULARY.vocab_size) < chars.NUM_RESERVED_IDS, 50.0, 0.0)
    )
    serving = exporter.CharGeneratorServing(favoured, VOCABULARY)
    [text] = texts(
        serving.generate(**request(["é"], 300, temperature=3.0, seed=int(rng.integers(1000))))
    )
    assert len(text) == 300 and OOV not in text and set(text) <= set(VOCABULARY.chars)


def test_unknown_chars_and_invalid_utf8_read_as_oov(serving):
    invalid = b"the \xff\xfe"
    as_oov = "the " + OOV  # U+FFFD, then one more U+FFFD: both outside the vocabulary
    unknown = "the ZQ"
    outputs = texts(
        serving.generate(**request([invalid, as_oov + OOV, unknown], 30, temperature=0.0))
    )
    assert outputs[0] == outputs[1] == outputs[2]


def test_mismatched_batch_sizes_are_an_invalid_argument(serving):
    bad = request(["a", "b"], 5)
    bad["seed"] = tf.constant([1], tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Expected one seed per prompt"):
        serving.generate(**bad)


def test_export_uses_core_tensorflow_ops_only(exported):
    op_types = export_checks.assert_core_ops_only(exported)
    assert {"While", "LookupTableFindV2", "UnicodeDecode", "BitwiseXor"} <= op_types  # (sampling)


def test_fresh_tensorflow_process_gives_the_same_texts(exported, serving):
    calls = [
        ("serving_default", as_numpy(request(["in the"], 50, temperature=0.8, seed=1))),
        (
            "serving_default",
            as_numpy(
                request(
                    ["", "hello é", b"\xff bad bytes"],
                    [10, 30, 0],
                    temperature=[1.0, 0.0, 1.0],
                    seed=[3, 4, 5],
                )
            ),
        ),
    ]
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported, calls)
    for (_, inputs), result in zip(calls, outputs, strict=True):
        expected = texts(serving.generate(**{k: tf.constant(v) for k, v in inputs.items()}))
        assert [value.decode("utf-8") for value in result["text"]] == expected
    assert [len(value.decode("utf-8")) for value in outputs[1]["text"]] == [10, 30, 0]


def test_signature_of_design(exported):
    signature = tf.saved_model.load(exported).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert {name: (spec.dtype, spec.shape.as_list()) for name, spec in inputs.items()} == {
        "prompt": (tf.string, [None]),
        "num_chars": (tf.int32, [None]),
        "temperature": (tf.float32, [None]),
        "seed": (tf.int64, [None]),
    }
    outputs = signature.structured_outputs
    assert {name: (spec.dtype, spec.shape.as_list()) for name, spec in outputs.items()} == {
        "text": (tf.string, [None])
    }


def test_warmup_requests_and_models_config(exported):
    requests = warmup.read_warmup_requests(exported)
    assert [r.model_spec.name for r in requests] == ["char_generator"] * 4
    assert [
        (r.model_spec.signature_name, next(iter(r.inputs.values())).tensor_shape.dim[0].size)
        for r in requests
    ] == [("serving_default", 1), ("serving_default", 3), ("next_chars", 1), ("next_chars", 3)]
    with open(os.path.join(os.path.dirname(os.path.dirname(exported)), "models.config")) as file:
        assert 'name: "char_generator"' in file.read()


def test_vocabulary_of_another_run_is_refused(model):
    with pytest.raises(UserError, match="The model reads 19 ids but the vocabulary has 5"):
        exporter.CharGeneratorServing(model, chars.CharVocabulary(list("abc")))


def test_small_temperatures_approach_greedy(serving):
    greedy = texts(serving.generate(**request(["the sea"], 40, temperature=0.0)))
    assert texts(serving.generate(**request(["the sea"], 40, temperature=1e-4, seed=3))) == greedy
    assert texts(serving.generate(**request(["the sea"], 40, temperature=1.5, seed=3))) != greedy


def test_the_embedded_server_gives_the_same_texts_over_rest_and_grpc(exported, serving):
    from kerasnlp_lab.serving.client import ServingClient
    from kerasnlp_lab.serving.server import ModelServer

    inputs = as_numpy(
        request(["in the", "", "é"], [30, 12, 0], temperature=[0.9, 1.0, 0.0], seed=[1, 2, 3])
    )
    expected = texts(
        serving.generate(**{name: tf.constant(value) for name, value in inputs.items()})
    )
    saved_models = os.path.dirname(os.path.dirname(exported))
    with ModelServer(saved_models, rest_port=0, grpc_port=0) as server:
        for url in (f"http://127.0.0.1:{server.rest_port}", f"grpc://127.0.0.1:{server.grpc_port}"):
            with ServingClient(url) as client:
                assert texts(client.predict("char_generator", inputs)) == expected, url


def test_the_graph_reads_only_the_last_characters_of_a_long_prompt(serving):
    tail = "in the beginning " * 70  # 1,190 characters
    long_prompt = "x" * 300_000 + tail
    cut = tail[-exporter.MAX_PROMPT_CHARS :]
    [from_long, from_cut] = texts(serving.generate(**request([long_prompt, cut], 30, 0.8, 3)))
    assert from_long == from_cut


def test_next_chars_gives_the_top_5_next_characters_at_each_position(exported, serving):
    texts_in = ["in the", "", "hello é"]
    calls = [
        ("next_chars", {"text": np.array([b"in the"])}),
        ("next_chars", {"text": np.array([text.encode("utf-8") for text in texts_in])}),
    ]
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported, calls)
    for (_, inputs), result in zip(calls, outputs, strict=True):
        expected = serving.next_chars(tf.constant(inputs["text"]))
        np.testing.assert_array_equal(result["top_chars"], expected["top_chars"].numpy())
        np.testing.assert_allclose(result["top_probs"], expected["top_probs"].numpy(), atol=1e-6)
    top_chars, top_probs = outputs[1]["top_chars"], outputs[1]["top_probs"]
    assert top_chars.shape == top_probs.shape == (3, len("hello é"), exporter.TOP_K)
    for row, text in enumerate(texts_in):
        # Past the text: nothing. Within: probabilities sorted, and the first one is what greedy
        # generation writes after text[: i + 1].
        assert (top_chars[row, len(text) :] == b"").all() and (
            top_probs[row, len(text) :] == 0
        ).all()
        probabilities = top_probs[row, : len(text)]
        assert (np.diff(probabilities, axis=-1) <= 0).all() and (
            probabilities.sum(-1) <= 1.0001
        ).all()
        for position in range(len(text)):
            greedy = texts(serving.generate(**request([text[: position + 1]], 1, temperature=0.0)))
            assert top_chars[row, position, 0].decode("utf-8") == greedy[0]
