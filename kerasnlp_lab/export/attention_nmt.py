"""The attention NMT's SavedModel: greedy, beam search, its n-best, and attention.

Signatures (README, "SavedModel contract"), batch first:
- `serving_default`: `text` string [-1] -> `translation` string [-1], greedy;
- `beam_search`: `text` -> `translation`, beam of 4 (GNMT length penalty, alpha of the config);
- `beam_nbest`: `text` -> `translations` string [-1, 4] and `scores` float32 [-1, 4], the
  beam's hypotheses best first (`kerasnlp_lab.export.translator`);
- `attention`: `text` -> `translation` (greedy) and `attention_weights` float32 [-1, -1, -1]:
  for each row, weights[b, t, s] is the attention of generated token t on source token s,
  where the source tokens are [START] words [END] (as `source_tokens` would show them) and
  t runs over the generated tokens ([END] included); rows padded with zeros; `source_tokens`
  string [-1, -1] and `target_tokens` string [-1, -1], those tokens as strings ("" for padding),
  the heatmap's labels. A model trained with `attention="none"` (the bottleneck baseline) has no
  attention to show: no such signature.
Sources longer than `max_source_length` ids are cut to their first words, and at most
`max_target_length - 1` tokens are generated (see `kerasnlp_lab.export.translator`).
"""

import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline
from kerasnlp_lab.export import translator as translator_lib
from kerasnlp_lab.export.saved_model import write_version
from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = attention_nmt.MODEL_NAME
SIGNATURE_NAMES = ("serving_default", "beam_search", "beam_nbest", "attention")
predict_inputs = translator_lib.predict_inputs
format_outputs = translator_lib.format_outputs


class AttentionNMTServing(translator_lib.TranslatorServing):
    """Greedy and beam translation plus the attention weights of the greedy translation."""

    def __init__(self, model, source_vectorizer, target_vectorizer, config):
        super().__init__(
            attention_nmt.AttentionTranslator(model),
            source_vectorizer,
            target_vectorizer,
            max_source_length=config.max_source_length,
            max_output_length=config.max_target_length - 1,
            beam_size=config.beam_size,
            length_penalty=config.length_penalty,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            name="attention_nmt_serving",
        )
        self.attention = tf.function(self._attention, input_signature=[translator_lib.TEXT_SPEC])

    def attention_weights(self, source_ids, tokens):
        """Weights (B, L, S) of generated tokens (B, L) on their source ids (B, S)."""
        start = tf.fill([tf.shape(tokens)[0], 1], self.target_vectorizer.start_id)  # (B, 1)
        target_in = tf.concat([start, tokens[:, :-1]], axis=1)  # (B, L)
        weights = self.translator.attend(source_ids, target_in)  # (B, L, S)
        generated = tf.not_equal(tokens, self.target_vectorizer.pad_id)  # (B, L)
        return tf.where(generated[:, :, tf.newaxis], weights, 0.0)

    def _attention(self, text):
        source_ids = self.source_ids(text)
        tokens = self.translate_ids(source_ids)
        return {
            "translation": self.target_vectorizer.detokenize(tokens),
            "attention_weights": self.attention_weights(source_ids, tokens),
            **self.token_labels(source_ids, tokens),
        }

    def signatures(self):
        signatures = super().signatures()
        if self.translator.decoder.use_attention:
            signatures["attention"] = self.attention.get_concrete_function()
        return signatures


def load_serving(workdir):
    """(run description, the serving module of the trained run in `workdir`), in-process."""
    run, model = workdir_lib.load_run(workdir, MODEL_NAME)
    source_vectorizer, target_vectorizer = translation_pipeline.load_vectorizers(workdir)
    config = attention_nmt.config_from_dict(run["config"])
    return run, AttentionNMTServing(model, source_vectorizer, target_vectorizer, config)


def export_serving(serving, saved_models, version=None):
    """Writes saved_models/attention_nmt/<version>/ for a serving module."""
    signatures = serving.signatures()
    return write_version(
        serving,
        signatures,
        saved_models=saved_models,
        name=MODEL_NAME,
        version=version,
        warmup_requests=translator_lib.warmup_requests(tuple(signatures)),
        batching_parameters=translator_lib.BATCHING_PARAMETERS,
    )


def export(workdir="runs/attention_nmt", saved_models="saved_models", version=None):
    """`kerasnlp-lab export attention_nmt`: the trained run of `workdir` as a SavedModel."""
    _, serving = load_serving(workdir)
    return export_serving(serving, saved_models, version)
