"""Translation as a tf.Module: raw text in, detokenized translation out, greedy or beam.

Shared by `attention_nmt` and `transformer_translator`. The same module serves in-process
(evaluation, apps, demo) and is saved as the SavedModel, so both always agree.

The translator interface (what a model plugs in):

    translator.model
        the Keras model whose variables the export tracks.
    translator.encode(source_ids) -> encoded
        source ids int32 (B, S), 0 = padding -> a nest (dict) of tensors, batch first.
    translator.initial_decoder_state(encoded) -> decoder_state
        a nest of tensors, batch first, whose shapes stay the same at every step, except
        axes of size 0 at the start, which may grow (a KV cache growing by one position
        per step).
    translator.encoded_for_beams(encoded, beam_size) -> encoded
        what `decode_step` reads for `beam_size` hypotheses per row: `encoded` repeated
        per beam, or `encoded` itself if `decode_step` groups the beams of a row.
    translator.per_row_encoded(encoded) -> dict
        the entries of `encoded` (a dict) with one row per source: greedy search drops
        the rows that have ended from them (the other entries, e.g. weights, stay as
        they are).
    translator.decode_step(tokens, step, decoder_state, encoded) -> (logits, decoder_state)
        `tokens` int32 (B, 1 + max_length) and `step` as in `kerasnlp_lab.decoding`: the last
        known token is tokens[:, step]; logits float (B, V) score the next token.

`kerasnlp_lab.decoding.translation.translate` runs greedy or beam search over it.

Signatures (README, "SavedModel contract"): `serving_default` and `beam_search`, both `text` string
[-1] -> `translation` string [-1]; `beam_nbest`, `text` string [-1] -> `translations` string
[-1, beam_size] and `scores` float [-1, beam_size], the beam's hypotheses best first with their
log-probabilities divided by the length penalty (searched until every one of them is decided,
so it may take a few more steps than `beam_search`); a model adds its own by subclassing
`TranslatorServing`.
What the export does with awkward inputs:
- a source longer than `max_source_length` ids ([START] and [END] included) keeps its first
  `max_source_length - 2` words (in-process, `translate_texts` warns when that happens);
- source words the vocabulary cannot cover become [UNK]; padding, [START] and [UNK] are never
  generated (their logits are masked), so a translation holds only real tokens; an empty text
  gives a short (possibly empty) translation;
- a translation has at most `max_output_length` generated tokens ([END] included), then
  stops whether or not the model produced [END].
"""

import warnings

import numpy as np
import tensorflow as tf

from kerasnlp_lab.decoding.translation import translate, translate_nbest
from kerasnlp_lab.export.batching_params import DEFAULT_BATCHING
from kerasnlp_lab.text.truncate import keep_first_chars
from kerasnlp_lab.text.vectorizer import OOV_ID

TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
# Characters of an input text read at most (a verse is a few hundred): what is beyond is
# dropped before tokenization, so no input makes the graph work in proportion to its size.
MAX_SOURCE_CHARS = 2048
DEFAULT_BEAM_SIZE = 4
# batching_params.pbtxt of a translator: a translation takes tens of milliseconds, so a request
# may wait up to 10 ms for others to join its batch (README, Serving: the batching benchmark).
BATCHING_PARAMETERS = {**DEFAULT_BATCHING, "batch_timeout_micros": 10_000}
WARMUP_TEXTS = (
    "En el principio creó Dios los cielos y la tierra.",
    "Y dijo Dios: Sea la luz: y fué la luz.",
    "Jehová es mi pastor; nada me faltará.",
)


def trim_padding(tokens, pad_id=0):
    """Drops the columns of `tokens` (B, L) after the longest row's last non-pad token."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(tokens, pad_id), tf.int32), axis=1)  # (B,)
    return tokens[:, : tf.reduce_max(tf.concat([lengths, [0]], axis=0))]


class TranslatorServing(tf.Module):
    """Greedy and beam-search translation of raw strings, with core TF ops only.

    Args:
        translator: an object with the translator interface above.
        source_vectorizer, target_vectorizer: `kerasnlp_lab.text.vectorizer.WordVectorizer`s.
        max_source_length: most source ids read ([START] and [END] included).
        max_output_length: most target tokens generated ([END] included).
        beam_size: hypotheses kept by `beam_search`.
        length_penalty: alpha of the GNMT length penalty of `beam_search`.
        generate_unknown: let the decoder generate the [UNK] token (default: never; padding
            and [START] are never generated either way).
        no_repeat_ngram_size: n > 0 bans, in every search, a token that would repeat an n-gram
            of its hypothesis (`kerasnlp_lab.decoding.no_repeat`); 0 (default) bans none.
        name: the module's name.
    """

    def __init__(
        self,
        translator,
        source_vectorizer,
        target_vectorizer,
        *,
        max_source_length,
        max_output_length,
        beam_size=DEFAULT_BEAM_SIZE,
        length_penalty=0.0,
        generate_unknown=False,
        no_repeat_ngram_size=0,
        name="translator_serving",
    ):
        super().__init__(name=name)
        self.translator = translator
        self.model = translator.model
        self.source_vectorizer = source_vectorizer
        self.target_vectorizer = target_vectorizer
        self.max_source_length = max_source_length
        self.max_output_length = max_output_length
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        banned = target_vectorizer.banned_ids
        self.banned_ids = tuple(i for i in banned if not generate_unknown or i != OOV_ID)
        self.greedy = tf.function(self._greedy, input_signature=[TEXT_SPEC])
        self.beam = tf.function(self._beam, input_signature=[TEXT_SPEC])
        self.nbest = tf.function(self._nbest, input_signature=[TEXT_SPEC])

    def source_ids(self, text):
        """Source ids (B, S) int32 of raw strings: [START] words [END], cut, zero-padded.

        Only the first MAX_SOURCE_CHARS characters are read, then the first
        `max_source_length` ids kept.
        """
        text = keep_first_chars(text, MAX_SOURCE_CHARS)
        ids = self.source_vectorizer.encode(text, True, True, self.max_source_length)
        return ids.to_tensor()

    def translate_ids(self, source_ids, beam_size=1):
        """Generated ids (B, L) of source ids: greedy for beam_size 1, else beam search."""
        tokens = translate(
            self.translator,
            source_ids,
            beam_size=beam_size,
            length_penalty_alpha=self.length_penalty,
            **self.search_ids(),
        )
        return trim_padding(tokens, self.target_vectorizer.pad_id)

    def search_ids(self):
        """The target ids, banned ids and n-gram ban every search is given."""
        return dict(
            start_id=self.target_vectorizer.start_id,
            end_id=self.target_vectorizer.end_id,
            max_length=self.max_output_length,
            pad_id=self.target_vectorizer.pad_id,
            banned_ids=self.banned_ids,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
        )

    def token_labels(self, source_ids, tokens):
        """{"source_tokens", "target_tokens"}: the strings (B, S) and (B, T) an attention
        heatmap labels its axes with ([START] pieces [END] and the generated tokens, [END]
        included), "" for padding."""
        source_pad = tf.equal(source_ids, self.source_vectorizer.pad_id)
        generated = tf.not_equal(tokens, self.target_vectorizer.pad_id)
        return {
            "source_tokens": tf.where(
                source_pad, "", self.source_vectorizer.ids_to_tokens(source_ids)
            ),
            "target_tokens": tf.where(generated, self.target_vectorizer.ids_to_tokens(tokens), ""),
        }

    def with_decoding(self, **settings):
        """A plain `TranslatorServing` of the same model and vectorizers with other decoding
        `settings` (`beam_size`, `length_penalty`, `no_repeat_ngram_size`, `generate_unknown`:
        False unless given)."""
        kept = dict(
            max_source_length=self.max_source_length,
            max_output_length=self.max_output_length,
            beam_size=self.beam_size,
            length_penalty=self.length_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
        )
        return TranslatorServing(
            self.translator, self.source_vectorizer, self.target_vectorizer, **{**kept, **settings}
        )

    def _greedy(self, text):
        tokens = self.translate_ids(self.source_ids(text))
        return {"translation": self.target_vectorizer.detokenize(tokens)}

    def _beam(self, text):
        tokens = self.translate_ids(self.source_ids(text), self.beam_size)
        return {"translation": self.target_vectorizer.detokenize(tokens)}

    def _nbest(self, text):
        tokens, scores = translate_nbest(
            self.translator,
            self.source_ids(text),
            beam_size=self.beam_size,
            length_penalty_alpha=self.length_penalty,
            **self.search_ids(),
        )  # (B, K, L), (B, K)
        rows = tf.shape(tokens)[0]
        flat = tf.reshape(tokens, [rows * self.beam_size, -1])
        flat = trim_padding(flat, self.target_vectorizer.pad_id)
        texts = self.target_vectorizer.detokenize(flat)
        return {"translations": tf.reshape(texts, [rows, self.beam_size]), "scores": scores}

    def signatures(self):
        """{signature name: concrete function} for `write_version`."""
        return {
            "serving_default": self.greedy.get_concrete_function(),
            "beam_search": self.beam.get_concrete_function(),
            "beam_nbest": self.nbest.get_concrete_function(),
        }

    def count_truncated(self, texts):
        """How many of `texts` are longer than `max_source_length` ids."""
        ids = self.source_vectorizer.encode(tf.constant(texts, tf.string), True, True)
        lengths = ids.row_lengths()
        return int(tf.reduce_sum(tf.cast(lengths > self.max_source_length, tf.int32)))

    def translate_texts(self, texts, beam=False, batch_size=64):
        """In-process translation of a list of strings (warns about truncated inputs)."""
        texts = list(texts)
        truncated = self.count_truncated(texts) if texts else 0
        if truncated:
            warnings.warn(
                f"{truncated} of {len(texts)} texts are longer than {self.max_source_length} "
                f"tokens and were truncated to their first {self.max_source_length - 2} tokens.",
                stacklevel=2,
            )
        function = self.beam if beam else self.greedy
        translations = []
        for start in range(0, len(texts), batch_size):
            batch = tf.constant(texts[start : start + batch_size], tf.string)
            translations += [
                text.decode("utf-8") for text in function(batch)["translation"].numpy()
            ]
        return translations


def warmup_requests(signature_names, texts=WARMUP_TEXTS):
    """TF Serving warmup requests: each signature at batch sizes 1 and len(texts)."""
    requests = []
    for batch in (texts[:1], texts):
        text = np.array([line.encode("utf-8") for line in batch], object)
        requests += [(name, {"text": text}) for name in signature_names]
    return requests


def predict_inputs(inputs, **_):
    """`kerasnlp-lab predict MODEL TEXT...`: one row per text."""
    return {
        "text": np.array(
            [text.encode("utf-8", errors="surrogateescape") for text in inputs], object
        )
    }


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def format_outputs(outputs):
    """One translation per line; for `beam_nbest`, each text's hypotheses as "score  text"
    lines, best first, a blank line between texts."""
    if "translations" in outputs:
        rows = zip(outputs["translations"], outputs["scores"], strict=True)
        return "\n\n".join(
            "\n".join(
                f"{score:8.3f}  {_text(text)}" for text, score in zip(texts, scores, strict=True)
            )
            for texts, scores in rows
        )
    return "\n".join(_text(value) for value in np.asarray(outputs["translation"]).reshape(-1))
