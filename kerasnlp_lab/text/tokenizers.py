"""The translators' tokenizers by name, and loading a vocabulary file of either kind."""

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.text import vocabulary_files
from kerasnlp_lab.text.vectorizer import WORDS, WordVectorizer
from kerasnlp_lab.text.wordpiece import WordPieceVectorizer

VECTORIZERS = {WORDS: WordVectorizer, WordPieceVectorizer.kind: WordPieceVectorizer}
TOKENIZERS = tuple(VECTORIZERS)


def load_vectorizer(path):
    """The vectorizer saved in `path` (a word or WordPiece vocabulary file)."""
    config = vocabulary_files.load_config(path, "vocabulary")
    kind = config.get("tokenizer", WORDS)
    if kind not in VECTORIZERS:
        raise UserError(
            f"vocabulary file {path}: unknown tokenizer {kind!r}, expected one of "
            f"{', '.join(TOKENIZERS)}"
        )
    return VECTORIZERS[kind].from_config(config)
