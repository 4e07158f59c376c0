"""The four models of the playground, small and barely trained, exported by the real exporters
into one saved_models folder (seconds, not the release presets)."""

import keras
import numpy as np

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.export import attention_nmt as attention_nmt_export
from kerasnlp_lab.export import autoencoder as autoencoder_export
from kerasnlp_lab.export import char_generator as char_generator_export
from kerasnlp_lab.export import transformer as transformer_export
from kerasnlp_lab.models import attention_nmt, autoencoder, char_generator, transformer
from kerasnlp_lab.text import chars
from tests.data.test_translation_pipeline import as_dataset, toy_pairs

CHAR_VOCABULARY = chars.CharVocabulary(list(" etaoinshrdlu\n.,<>/=\"'é"))


def _vectorizers(tokenizer):
    return pipeline.learn_vectorizers(as_dataset(toy_pairs(100)), 40, 40, tokenizer)


def export_autoencoder(saved_models: str) -> None:
    keras.utils.set_random_seed(1)
    model = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    autoencoder_export.export_model(model, saved_models)


def export_char_generator(saved_models: str) -> None:
    model = char_generator.build_training_model(
        char_generator.get_config("tiny"), CHAR_VOCABULARY.vocab_size
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    char_generator_export.export_model(model, CHAR_VOCABULARY, saved_models)


def export_attention_nmt(saved_models: str) -> None:
    keras.utils.set_random_seed(3)
    config = attention_nmt.get_config(
        "tiny",
        source_vocab_size=40,
        target_vocab_size=40,
        max_source_length=12,
        max_target_length=10,
    )
    vectorizers = pipeline.learn_vectorizers(as_dataset(toy_pairs(100)), 40, 40, config.tokenizer)
    model = attention_nmt.build_model(config)
    serving = attention_nmt_export.AttentionNMTServing(model, *vectorizers, config)
    attention_nmt_export.export_serving(serving, saved_models)


def export_transformer(saved_models: str) -> None:
    keras.utils.set_random_seed(11)
    config = transformer.get_config(
        "tiny", num_layers=2, max_source_length=16, max_target_length=10
    )
    vectorizers = _vectorizers("words")
    model = transformer.build_model(config, vectorizers[0].vocab_size, vectorizers[1].vocab_size)
    transformer_export.export_serving(
        transformer_export.make_serving(model, *vectorizers, config), saved_models
    )


def export_all(saved_models: str) -> None:
    export_autoencoder(saved_models)
    export_char_generator(saved_models)
    export_attention_nmt(saved_models)
    export_transformer(saved_models)
