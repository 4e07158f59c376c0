"""Greedy or beam-search decoding of source ids through the translator interface.

The interface (what a translation model plugs in; see `kerasnlp_lab.export.translator`):
`translator.encode(source_ids) -> encoded`, `translator.initial_decoder_state(encoded)`,
`translator.encoded_for_beams(encoded, beam_size) -> encoded` and
`translator.decode_step(tokens, step, decoder_state, encoded) -> (logits, decoder_state)`.
Only the decoder state is a search state: the encoded source (encoder outputs, cross-attention
caches) is computed once and never reordered, since the beams of a row share their source
(`encoded_for_beams` repeats it per beam, or leaves it shared when `decode_step` groups the
beams of a source itself).
"""

import tensorflow as tf

from kerasnlp_lab.decoding.beam import beam_search
from kerasnlp_lab.decoding.greedy import greedy_search
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
    banned_id=None,
):
    """Generated ids (B, max_length) of source ids (B, S): greedy for beam_size 1, else beam.

    Each row holds the generated ids, the end id included, then `pad_id`. `banned_id`
    (e.g. the [UNK] id) gets a logit of `BANNED_LOGIT`: it is never generated.
    """
    encoded = translator.encode(source_ids)
    decoder_state = translator.initial_decoder_state(encoded)
    if beam_size > 1:
        encoded = translator.encoded_for_beams(encoded, beam_size)

    def next_token_fn(tokens, step, decoder_state):
        logits, decoder_state = translator.decode_step(tokens, step, decoder_state, encoded)
        if banned_id is not None:
            banned = tf.equal(tf.range(tf.shape(logits)[1]), banned_id)  # (V,)
            logits = tf.where(banned[tf.newaxis, :], tf.cast(BANNED_LOGIT, logits.dtype), logits)
        return logits, decoder_state

    search = dict(
        batch_size=tf.shape(source_ids)[0],
        start_id=start_id,
        end_id=end_id,
        max_length=max_length,
        pad_id=pad_id,
    )
    if beam_size == 1:
        return greedy_search(next_token_fn, decoder_state, **search)
    tokens, _ = beam_search(
        next_token_fn,
        decoder_state,
        beam_size=beam_size,
        length_penalty_alpha=length_penalty_alpha,
        **search,
    )
    return tokens
