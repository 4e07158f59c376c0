"""Greedy search, beam search and seeded sampling, written once with core TF ops.

The search functions run eagerly and inside a `tf.function` exported in a SavedModel that
stock TF Serving loads: a `tf.while_loop` over loop variables of fixed shapes (but for the
batch axis and axes that grow from size 0), no `Xla*` op.

The model side is one callback, called once per step:

    next_token_fn(tokens, step, state) -> (logits, new_state)

- `tokens` int32 (N, 1 + max_length): column 0 holds `start_id`, column i + 1 the token
  chosen at step i; columns after `step` hold `pad_id`. The last known token is
  `tokens[:, step]`: a recurrent or cached decoder reads only that one, an uncached
  decoder reads the prefix `tokens[:, : step + 1]`.
- `step` int32 scalar, from 0.
- `state` a nested structure of tensors whose first axis is the batch (N rows): decoder
  states, caches, encoder outputs, or per-step outputs to keep (e.g. attention weights
  written into a (N, max_length, S) buffer with `write_at`). Shapes must not change from
  step to step, except the batch axis which may be unknown, and axes of size 0 in the
  initial state, which may grow (a key/value cache with one more position per step).
- `logits` float (N, V): the scores of the token at column `step + 1`.

N is the batch size for greedy search and batch size * beam size for beam search.
"""

from kerasnlp_lab.decoding.beam import beam_search, beam_search_nbest, length_penalty
from kerasnlp_lab.decoding.buffers import write_at
from kerasnlp_lab.decoding.greedy import greedy_search
from kerasnlp_lab.decoding.sampling import sample_categorical

__all__ = [
    "beam_search",
    "beam_search_nbest",
    "greedy_search",
    "length_penalty",
    "sample_categorical",
    "write_at",
]
