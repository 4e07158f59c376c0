"""The Transformer translator's SavedModel: greedy, beam search, its n-best, and attention.

Signatures (README, "SavedModel contract"), batch first: `serving_default`: `text` string [-1] ->
`translation` string [-1], greedy; `beam_search`: `text` -> `translation`, beam of
`beam_size` (4) with the GNMT length penalty of the config; `beam_nbest`: `text` ->
`translations` string [-1, 4] and `scores` float32 [-1, 4], the beam's hypotheses best first
(`kerasnlp_lab.export.translator`). All decode incrementally, one
position per step with 2-D matmuls, with the key/value caches of our `MultiHeadSelfAttention`
(self-attention caches growing by one position per step, cross-attention keys/values computed
once per source and shared by its beams), in a `tf.while_loop` of core TF ops. Sources
longer than `max_source_length` ids keep their first words, and at most
`max_target_length - 1` tokens are generated (see `kerasnlp_lab.export.translator`).

`attention` (for the playground): `text` -> `translation` (greedy), `cross_attention` float32
[-1, layers, heads, -1, -1]: weights[b, l, h, t, s] is the attention of head h of decoder layer l
from generated token t ([END] included) on source token s, the rows past a translation's end
zero; `source_tokens` string [-1, -1] ([START] pieces [END], "" for padding) and `target_tokens`
string [-1, -1] (the generated tokens, [END] included), the heatmap's labels.

Only the "ours" backbone exports: keras_hub's decoder cache is written with
`keras.ops.slice_update`, an `XlaDynamicUpdateSlice` op that stock TF Serving cannot run.
"""

import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import translator as translator_lib
from kerasnlp_lab.export.saved_model import write_version
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = transformer.MODEL_NAME
SIGNATURE_NAMES = ("serving_default", "beam_search", "beam_nbest", "attention")
predict_inputs = translator_lib.predict_inputs
format_outputs = translator_lib.format_outputs


class TransformerServing(translator_lib.TranslatorServing):
    """Greedy and beam translation plus the cross-attention of the greedy translation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attention = tf.function(self._attention, input_signature=[translator_lib.TEXT_SPEC])

    def _attention(self, text):
        source_ids = self.source_ids(text)  # (B, S)
        tokens = self.translate_ids(source_ids)  # (B, T)
        start = tf.fill([tf.shape(tokens)[0], 1], self.target_vectorizer.start_id)
        target_in = tf.concat([start, tokens[:, :-1]], axis=1)  # (B, T)
        _, cross_maps = self.model.attention_maps(source_ids, target_in)  # L x (B, H, T, S)
        weights = tf.stack(cross_maps, axis=1)  # (B, L, H, T, S)
        generated = tf.not_equal(tokens, self.target_vectorizer.pad_id)  # (B, T)
        weights = tf.where(generated[:, tf.newaxis, tf.newaxis, :, tf.newaxis], weights, 0.0)
        return {
            "translation": self.target_vectorizer.detokenize(tokens),
            "cross_attention": weights,
            **self.token_labels(source_ids, tokens),
        }

    def signatures(self):
        signatures = super().signatures()
        if hasattr(self.model, "attention_maps"):
            signatures["attention"] = self.attention.get_concrete_function()
        return signatures


def make_serving(model, source_vectorizer, target_vectorizer, config):
    """The `TransformerServing` of a trained model (used in-process and exported)."""
    max_output_length = config.max_target_length - 1
    return TransformerServing(
        transformer.Translator(model, max_output_length, prepare_weights=True),
        source_vectorizer,
        target_vectorizer,
        max_source_length=config.max_source_length,
        max_output_length=max_output_length,
        beam_size=config.beam_size,
        length_penalty=config.length_penalty,
        no_repeat_ngram_size=config.no_repeat_ngram_size,
        name="transformer_translator_serving",
    )


def load_serving(workdir):
    """(run description, the serving module of the trained run in `workdir`), in-process."""
    run, model = workdir_lib.load_run(workdir, MODEL_NAME)
    source_vectorizer, target_vectorizer = translation_pipeline.load_vectorizers(workdir)
    config = transformer.config_from_dict(run["config"])
    return run, make_serving(model, source_vectorizer, target_vectorizer, config)


def export_serving(serving, saved_models, version=None):
    """Writes saved_models/transformer_translator/<version>/ for a serving module."""
    backbone = serving.model.backbone
    if backbone != "ours":
        raise UserError(
            f"Only the 'ours' backbone can be exported for TF Serving; this model was "
            f"trained with --backbone {backbone}, whose decoder cache needs the "
            f"XlaDynamicUpdateSlice op. Train with --backbone ours to export."
        )
    return write_version(
        serving,
        serving.signatures(),
        saved_models=saved_models,
        name=MODEL_NAME,
        version=version,
        warmup_requests=translator_lib.warmup_requests(SIGNATURE_NAMES),
        batching_parameters=translator_lib.BATCHING_PARAMETERS,
    )


def export(workdir="runs/transformer_translator", saved_models="saved_models", version=None):
    """`kerasnlp-lab export transformer_translator`: the run of `workdir` as a SavedModel."""
    _, serving = load_serving(workdir)
    return export_serving(serving, saved_models, version)
