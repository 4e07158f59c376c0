"""Greedy or beam-search decoding of source ids through the translator interface.

The interface (what a translation model plugs in; see `kerasnlp_lab.export.translator`):
`translator.encode(source_ids) -> encoded`, `translator.initial_decoder_state(encoded)`,
`translator.encoded_for_beams(encoded, beam_size) -> encoded`,
`translator.per_row_encoded(encoded) -> dict` and
`translator.decode_step(tokens, step, decoder_state, encoded) -> (logits, decoder_state)`.
The encoded source (encoder outputs, cross-attention caches) is computed once. Beam search
never reorders it, since the beams of a row share their source (`encoded_for_beams` repeats it
per beam, or leaves it shared when `decode_step` groups the beams of a source itself). Greedy
search drops the rows that have ended from the decoder state and from the entries of the encoded
source (a dict) that have one row per source (`per_row_encoded`), so they cost nothing more.
"""

import tensorflow as tf

from kerasnlp_lab.decoding.beam import beam_search, beam_search_nbest, gather_rows
from kerasnlp_lab.decoding.greedy import greedy_search
from kerasnlp_lab.decoding.no_repeat import repeated_ngram_mask
from kerasnlp_lab.numerics import LARGE_NEGATIVE

BANNED_LOGIT = LARGE_NEGATIVE


def translate(
    translator,
    source_ids,
    *,
    start_id,
    end_id,
    max_length,
    pad_id=0,
    beam_size=1,
    length_penalty_alpha=0.0,
    banned_ids=(),
    no_repeat_ngram_size=0,
):
    """Generated ids (B, max_length) of source ids (B, S): greedy for beam_size 1, else beam.

    Each row holds the generated ids, the end id included, then `pad_id`. Each of
    `banned_ids` (e.g. padding, [START] and [UNK]) gets a logit of `BANNED_LOGIT`: it is
    never generated. With `no_repeat_ngram_size` n > 0, neither is a token that would repeat
    an n-gram of its hypothesis (`kerasnlp_lab.decoding.no_repeat`); 0 turns that off.
    """
    ids = dict(start_id=start_id, end_id=end_id, max_length=max_length, pad_id=pad_id)
    scores = _masking(banned_ids, no_repeat_ngram_size)
    if beam_size > 1:
        tokens, _ = _beam(
            beam_search, translator, source_ids, beam_size, length_penalty_alpha, scores, ids
        )
        return tokens
    encoded = translator.encode(source_ids)
    decoder_state = translator.initial_decoder_state(encoded)
    # The per-row source is part of the state: finished rows leave both.
    per_row = translator.per_row_encoded(encoded)
    shared = {key: value for key, value in encoded.items() if key not in per_row}

    def greedy_next_token(tokens, step, state):
        logits, decoder_state = translator.decode_step(
            tokens, step, state["decoder"], {**shared, **state["encoded"]}
        )
        return scores(logits, tokens, step), {"decoder": decoder_state, "encoded": state["encoded"]}

    state = {"decoder": decoder_state, "encoded": per_row}
    batch_size = tf.shape(source_ids)[0]
    return greedy_search(
        greedy_next_token, state, batch_size=batch_size, select_rows=gather_rows, **ids
    )


def translate_nbest(
    translator,
    source_ids,
    *,
    start_id,
    end_id,
    max_length,
    beam_size,
    pad_id=0,
    length_penalty_alpha=0.0,
    banned_ids=(),
    no_repeat_ngram_size=0,
):
    """The beam's `beam_size` best translations of source ids (B, S), best first.

    Arguments as for `translate`. Returns ids int32 (B, beam_size, max_length) and their
    length-penalized log-probabilities float32 (B, beam_size), as `beam_search_nbest`.
    """
    ids = dict(start_id=start_id, end_id=end_id, max_length=max_length, pad_id=pad_id)
    scores = _masking(banned_ids, no_repeat_ngram_size)
    return _beam(
        beam_search_nbest, translator, source_ids, beam_size, length_penalty_alpha, scores, ids
    )


def _masking(banned_ids, no_repeat_ngram_size):
    """(logits (N, V), tokens, step) -> logits with each of `banned_ids`, and each token that
    would repeat an n-gram of its row (n = `no_repeat_ngram_size` > 0), at `BANNED_LOGIT`."""
    banned_ids = tuple(banned_ids)

    def scores(logits, tokens, step):
        banned_logit = tf.cast(BANNED_LOGIT, logits.dtype)
        if banned_ids:
            ids = tf.range(tf.shape(logits)[1])  # (V,)
            banned = tf.reduce_any(ids[None, :] == tf.constant(banned_ids)[:, None], axis=0)
            logits = tf.where(banned[tf.newaxis, :], banned_logit, logits)
        if no_repeat_ngram_size:
            repeats = repeated_ngram_mask(tokens, step, no_repeat_ngram_size, tf.shape(logits)[1])
            logits = tf.where(repeats, banned_logit, logits)
        return logits

    return scores


def _beam(search, translator, source_ids, beam_size, length_penalty_alpha, scores, ids):
    """`search` (beam_search or beam_search_nbest) over the translator's decoder steps, with
    the logits masked by `scores` (of `_masking`)."""
    encoded = translator.encode(source_ids)
    decoder_state = translator.initial_decoder_state(encoded)
    encoded = translator.encoded_for_beams(encoded, beam_size)

    def next_token_fn(tokens, step, decoder_state):
        logits, decoder_state = translator.decode_step(tokens, step, decoder_state, encoded)
        return scores(logits, tokens, step), decoder_state

    return search(
        next_token_fn,
        decoder_state,
        batch_size=tf.shape(source_ids)[0],
        beam_size=beam_size,
        length_penalty_alpha=length_penalty_alpha,
        **ids,
    )
