"""The benchmarks' own machinery: what they time must be what they claim to time."""

import importlib.util
import os

import numpy as np
import tensorflow as tf

from kerasnlp_lab.decoding.translation import translate
from kerasnlp_lab.models import transformer
from kerasnlp_lab.text.vectorizer import OOV_ID, PAD_ID, START_ID

TOKENS = 5


def load_benchmark(name):
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ctranslate2_comparison_times_a_saved_export_that_decodes_as_in_process(tmp_path):
    bench = load_benchmark("transformer")
    config, model = bench.small_model(TOKENS)
    searches = bench.exported_searches(model, TOKENS, 0.0, str(tmp_path))
    source_ids = tf.constant(bench.random_sources(config, 3))
    expected = translate(
        transformer.Translator(model, TOKENS),
        source_ids,
        start_id=START_ID,
        end_id=bench.NEVER_ID,
        max_length=TOKENS,
        pad_id=PAD_ID,
        banned_ids=(PAD_ID, OOV_ID, START_ID),
    ).numpy()
    greedy = searches["greedy"](source_ids).numpy()
    assert greedy.shape == (3, TOKENS)
    np.testing.assert_array_equal(greedy, expected)
    assert not np.isin(greedy, (PAD_ID, OOV_ID, START_ID)).any()
    assert searches["beam"](source_ids).numpy().shape == (3, TOKENS)
