"""standardize: exact strings for Spanish accents, ¿ ¡, punctuation, whitespace, bad bytes."""

import pytest
import tensorflow as tf

from kerasnlp_lab.text import standardize


def standardized(text):
    return standardize(tf.constant(text)).numpy().decode("utf-8")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ÁRBOL", "árbol"),
        ("ÑANDÚ ÜBER ÇA", "ñandú über ça"),
        ("¿Quién es?", "¿ quién es ?"),
        ("¡Hola, mundo!", "¡ hola , mundo !"),
        ("«Sí», dijo él; luego: (nada).", "« sí » , dijo él ; luego : ( nada ) ."),
        ("“Quoted” ‘text’ [x] {y} a/b", "“ quoted ” ‘ text ’ [ x ] { y } a / b"),
        ("Wait... what?!", "wait . . . what ? !"),
        ("$5 + 3% = #1 & @me", "$ 5 + 3 % = # 1 & @ me"),
    ],
)
def test_lower_cases_unicode_and_splits_punctuation(text, expected):
    assert standardized(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Don't go", "don't go"),
        ("burnt-offering", "burnt-offering"),
        ("the disciples’ feet", "the disciples ’ feet"),
        ("'quoted'", "' quoted '"),
        ("one -- two", "one - - two"),
        ("word--word", "word - - word"),
        ("-dash-", "- dash -"),
        ("3.5 and 1,000 people.", "3.5 and 1,000 people ."),
        ("Verse 3, 4.", "verse 3 , 4 ."),
    ],
)
def test_connectors_stay_inside_words_and_numbers_only(text, expected):
    assert standardized(text) == expected


def test_decomposed_accents_are_composed():
    assert standardized("A\u0301RBOL n\u0303andu\u0301") == "árbol ñandú"
    assert standardized("qui\u0065\u0301n") == standardized("quién")


def test_whitespace_is_folded_and_stripped():
    assert standardized("  uno\t\tdos\u00a0tres\n\u2003cuatro  ") == "uno dos tres cuatro"
    assert standardized("   ") == ""


def test_invalid_utf8_becomes_the_replacement_character():
    # U+FFFD is a symbol (class So), so it is a token of its own.
    assert standardized(b"caf\xc3 bad \xff") == "caf \ufffd bad \ufffd"


def test_keeps_the_shape_of_its_input():
    result = standardize(tf.constant([["Uno.", "DOS"], ["¿Tres?", ""]]))
    assert result.shape == (2, 2)
    assert result.numpy().tolist() == [[b"uno .", b"dos"], ["¿ tres ?".encode(), b""]]
