"""Toy next-token functions with known answers, shared by the decoding tests."""

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.decoding import write_at

PAD, START, END, A, B, C = range(6)
VOCAB_SIZE = 6
LOW = -30.0  # logit of a token the toy functions (almost) never want

# P(next | previous) of a Markov chain where greedy is not optimal: greedy takes A (0.5)
# then C (0.3) then END (0.6): 0.09; the best sequence is B then END: 0.4 * 0.9 = 0.36.
_TRANSITIONS = {
    START: {A: 0.5, B: 0.4, C: 0.1},
    A: {A: 0.25, B: 0.25, C: 0.3, END: 0.2},
    B: {A: 0.05, C: 0.05, END: 0.9},
    C: {A: 0.2, B: 0.2, END: 0.6},
}
GREEDY_SEQUENCE = [A, C, END]
BEST_SEQUENCE = [B, END]


def _markov_logits():
    """(V, V) logits: row = previous token, column = next token."""
    logits = np.full((VOCAB_SIZE, VOCAB_SIZE), LOW, np.float32)
    for previous, nexts in _TRANSITIONS.items():
        for token, probability in nexts.items():
            logits[previous, token] = np.log(probability)
    # After END (or padding) only padding follows, with probability 1.
    logits[END, :] = logits[PAD, :] = -1e9
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    return logits


MARKOV_LOGITS = _markov_logits()


def markov_log_prob(logits, sequence):
    """Sum of log-probabilities of `sequence` (no start id) under Markov `logits`."""
    log_probs = tf.nn.log_softmax(logits).numpy()
    previous, total = START, 0.0
    for token in sequence:
        total += log_probs[previous, token]
        previous = token
    return total


def random_markov_logits(seed, vocab_size=VOCAB_SIZE, scale=2.0):
    """(V, V) random Markov logits with the toy rules: START and PAD (almost) never chosen
    while alive, only PAD (probability 1) after END or PAD."""
    logits = np.random.default_rng(seed).normal(0.0, scale, (vocab_size, vocab_size))
    logits = logits.astype(np.float32)
    logits[:, END] -= scale  # longer sequences than END right away
    logits[:, [PAD, START]] = LOW
    logits[END, :] = logits[PAD, :] = -1e9
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    return logits


def markov_fn(logits):
    """A next-token function reading `logits[previous token]`; the state passes through."""
    table = tf.constant(logits)

    def next_token(tokens, step, state):
        return tf.gather(table, tf.gather(tokens, step, axis=1)), state

    return next_token


def per_row_markov_fn(tables):
    """Like `markov_fn` with one table per row: tables (R, V, V), state int32 (N,) table ids."""
    tables = tf.constant(np.asarray(tables, np.float32))

    def next_token(tokens, step, table_ids):
        previous = tf.gather(tokens, step, axis=1)  # (N,)
        return tf.gather_nd(tables, tf.stack([table_ids, previous], axis=1)), table_ids

    return next_token


def countdown_next_token(tokens, step, state):
    """Emits A while step < state["length"] (per row), then END.

    state: {"length": int32 (N,)}.
    """
    want_end = step >= state["length"]  # (N,)
    logits = tf.where(
        want_end[:, None],
        tf.one_hot(END, VOCAB_SIZE, on_value=5.0, off_value=0.0),
        tf.one_hot(A, VOCAB_SIZE, on_value=5.0, off_value=0.0),
    )  # (N, V)
    return logits, state


def recording(next_token_fn):
    """`next_token_fn` whose state also records the last known token of every step.

    The state becomes {"inner": the inner state, "history": int32 (N, T)}, and
    history[:, step] receives tokens[:, step]: after decoding it holds the start id and
    the chosen tokens, which checks that the state follows its hypothesis.
    """

    def next_token(tokens, step, state):
        logits, inner = next_token_fn(tokens, step, state["inner"])
        history = write_at(state["history"], step, tf.gather(tokens, step, axis=1))
        return logits, {"inner": inner, "history": history}

    return next_token


@pytest.fixture
def op_types():
    """A function: every op type of a traced concrete function and its function library."""

    def collect(concrete_function):
        graph_def = concrete_function.graph.as_graph_def()
        types = {node.op for node in graph_def.node}
        for function in graph_def.library.function:
            types.update(node.op for node in function.node_def)
        return types

    return collect
