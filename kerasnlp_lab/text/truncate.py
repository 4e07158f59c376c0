"""Capping the length of untrusted strings inside a graph, with core TF ops only.

Exported signatures cap their string inputs so that stock TF Serving, which has no
string-length limit of its own, never runs a model over a 30 MB prompt. Lengths count
UTF-8 characters; invalid bytes become U+FFFD first, so no input can make the graph fail.
A byte cut (at most 4 bytes a character) runs before the character cut, so the work
is bounded by the cap, not by the input.
"""

import tensorflow as tf

_MAX_UTF8_BYTES = 4  # bytes of the longest UTF-8 character


def _valid_utf8(text):
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")


def keep_first_chars(text, max_chars):
    """The first `max_chars` UTF-8 characters of each string (any shape)."""
    text = tf.convert_to_tensor(text, tf.string)
    text = tf.strings.substr(text, 0, max_chars * _MAX_UTF8_BYTES, unit="BYTE")
    return tf.strings.substr(_valid_utf8(text), 0, max_chars, unit="UTF8_CHAR")


def keep_last_chars(text, max_chars):
    """The last `max_chars` UTF-8 characters of each string (any shape)."""
    text = tf.convert_to_tensor(text, tf.string)
    max_bytes = max_chars * _MAX_UTF8_BYTES
    start = tf.maximum(tf.strings.length(text) - max_bytes, 0)
    text = _valid_utf8(tf.strings.substr(text, start, tf.fill(tf.shape(start), max_bytes)))
    start = tf.maximum(tf.strings.length(text, unit="UTF8_CHAR") - max_chars, 0)
    return tf.strings.substr(text, start, tf.fill(tf.shape(start), max_chars), unit="UTF8_CHAR")
