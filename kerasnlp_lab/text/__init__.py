"""In-graph text processing with core TF ops: standardization, word and character vocabularies.

Everything here runs in tf.data pipelines and inside exported SavedModels that stock TF
Serving loads (no tensorflow_text op).
"""

from kerasnlp_lab.text.chars import CharVocabulary
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.text.vectorizer import WordVectorizer

__all__ = ["CharVocabulary", "WordVectorizer", "standardize"]
