"""keep_first_chars / keep_last_chars: exact strings, UTF-8 characters, bad bytes, shapes."""

import tensorflow as tf

from kerasnlp_lab.text.truncate import keep_first_chars, keep_last_chars


def strings(tensor):
    return [value.decode("utf-8") for value in tensor.numpy().tolist()]


def test_first_and_last_characters_count_utf8_characters():
    text = tf.constant(["¿Quién es él?", "ab", ""])
    assert strings(keep_first_chars(text, 3)) == ["¿Qu", "ab", ""]
    assert strings(keep_last_chars(text, 3)) == ["él?", "ab", ""]


def test_long_strings_are_cut_whatever_their_size():
    text = tf.constant(["é" * 100_000 + "fin", "x" * 5])
    assert strings(keep_first_chars(text, 4)) == ["éééé", "xxxx"]
    assert strings(keep_last_chars(text, 4)) == ["éfin", "xxxx"]


def test_invalid_bytes_become_replacement_characters():
    text = tf.constant([b"ab\xffcd", b"\xc3"])
    assert strings(keep_first_chars(text, 4)) == ["ab\ufffdc", "\ufffd"]
    assert strings(keep_last_chars(text, 4)) == ["b\ufffdcd", "\ufffd"]


def test_a_multibyte_character_split_by_the_byte_cut_is_dropped():
    # 3 characters of 2 bytes + "abc": the last 4 characters within the last 16 bytes.
    text = tf.constant(["é" * 20 + "abc"])
    assert strings(keep_last_chars(text, 4)) == ["éabc"]
    assert strings(keep_first_chars(text, 4)) == ["éééé"]
