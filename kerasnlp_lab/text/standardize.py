"""Text standardization for word vocabularies, with core TensorFlow string ops only.

`standardize` is the `standardize=` callable of our `TextVectorization`: it runs inside
tf.data pipelines and inside exported SavedModels that stock TF Serving loads, so it uses
no tensorflow_text op. Steps, in order:

1. invalid UTF-8 bytes become U+FFFD (`unicode_transcode(errors="replace")`), so no input
   can make the graph fail;
2. Unicode lower-casing (`tf.strings.lower(..., encoding="utf-8")`: the default encoding
   lowers ASCII only and would turn "ÁRBOL" into "Árbol"), unless `lowercase=False`
   (`standardize_cased`, for a target vocabulary that keeps case: "In the beginning God");
3. composition of decomposed accents: core TensorFlow has no Unicode normalization op
   (`normalize_utf8` lives in tensorflow_text), so NFKC is not available. Instead a base
   letter followed by a combining grave, acute, circumflex, tilde, diaeresis or cedilla
   ("a" + U+0301) is composed into the precomposed letter ("á"), for the bases of Spanish,
   Portuguese and French (`_ACCENT_BASES`). Other compatibility forms are left as they are;
4. punctuation and symbols (Unicode classes P and S: `¿ ¡ « » “ ” , . ; : ! ? ( )` ...)
   become tokens of their own, except the connectors `'`, `’` and `-` between two letters
   or digits, which stay inside their word ("don't", "burnt-offering"), and `.` and `,`
   between two digits ("3.5", "1,000");
5. every run of whitespace (ASCII or Unicode separators such as U+00A0) becomes one space,
   and the ends are stripped.

Example: "¿Quién es?" -> "¿ quién es ?"; "«Sí», dijo-él" -> "« sí » , dijo-él".
"""

import unicodedata

import tensorflow as tf

# Base letters whose decomposed accented forms are composed (both cases: cased text is
# composed too), and the combining marks that are composed.
_ACCENT_BASES = "aeioucnyAEIOUCNY"
_COMBINING_MARKS = "\u0300\u0301\u0302\u0303\u0308\u0327"


def _accent_compositions():
    """(decomposed, composed) pairs for every base + mark that has a precomposed letter."""
    pairs = []
    for base in _ACCENT_BASES:
        for mark in _COMBINING_MARKS:
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1:
                pairs.append((base + mark, composed))
    return tuple(pairs)


_ACCENT_COMPOSITIONS = _accent_compositions()
_HAS_COMBINING_MARK = ".*[" + _COMBINING_MARKS + "].*"
# Punctuation (P) except the connectors, and symbols (S). `[^\P{P}'’\-.,]` is "P minus the
# connectors": a character that is neither non-punctuation nor a connector.
_SPLIT_ALWAYS = r"([^\P{P}'’\-.,]|\p{S})"
# Word connectors stay between two letters or digits; number connectors between two digits.
_WORD_CONNECTOR = "['’-]"
_NOT_WORD_CHAR = r"[^\p{L}\p{N}]"
_NUMBER_CONNECTOR = "[.,]"
_NOT_DIGIT = r"[^\p{N}]"


def compose_accents(text):
    """Composes the decomposed accents of `_ACCENT_BASES` ("a" + U+0301 -> "á").

    The replacements run only when some string of the batch holds a combining mark.
    """
    text = tf.convert_to_tensor(text, dtype=tf.string)

    def compose():
        composed = text
        for decomposed, precomposed in _ACCENT_COMPOSITIONS:
            composed = tf.strings.regex_replace(composed, decomposed, precomposed)
        return composed

    has_mark = tf.reduce_any(tf.strings.regex_full_match(text, _HAS_COMBINING_MARK))
    return tf.cond(has_mark, compose, lambda: text)


def _split_connector(text, connector, outside):
    """Splits off each `connector` that has an `outside` character on either side."""
    # The first pass also splits a connector that follows another connector; the second
    # catches connectors that the first pass left glued to the word before them.
    text = tf.strings.regex_replace(text, f"({outside})({connector})", r"\1 \2 ")
    return tf.strings.regex_replace(text, f"({connector})({outside})", r" \1 \2")


def split_punctuation(text):
    """Surrounds punctuation and symbols with spaces, except connectors inside words.

    `'`, `’` and `-` between two letters or digits ("don't", "dijo-él") and `.` and `,`
    between two digits ("3.5", "1,000", as sacreBLEU's 13a tokenizer keeps them) stay.
    """
    text = tf.strings.regex_replace(text, _SPLIT_ALWAYS, r" \1 ")
    # Pad the ends so a connector at the start or end of the text is split off too.
    text = tf.strings.join([" ", text, " "])
    text = _split_connector(text, _WORD_CONNECTOR, _NOT_WORD_CHAR)
    return _split_connector(text, _NUMBER_CONNECTOR, _NOT_DIGIT)


def fold_whitespace(text):
    """Replaces every run of whitespace by one space and strips both ends."""
    text = tf.strings.regex_replace(text, r"[\s\p{Z}]+", " ")
    return tf.strings.strip(text)


def standardize(text, lowercase=True):
    """Lower-cased, accent-composed text with punctuation split off as separate tokens.

    Args:
        text: string tensor of any shape (UTF-8; invalid bytes become U+FFFD).
        lowercase: False keeps the case of every letter.

    Returns:
        A string tensor of the same shape whose space-separated pieces are the tokens.
    """
    text = tf.convert_to_tensor(text, dtype=tf.string)
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    text = compose_accents(text)
    text = split_punctuation(text)
    return fold_whitespace(text)


def standardize_cased(text):
    """`standardize` without lower-casing: "In the beginning, God" -> "In the beginning , God"."""
    return standardize(text, lowercase=False)
