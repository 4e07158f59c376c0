"""The SWORD reader: OSIS cleaning rules, exact known verses, and whole-corpus checks."""

import re

import pytest

from kerasnlp_lab.data import sword_reader
from kerasnlp_lab.data.sword_reader import clean_osis
from kerasnlp_lab.errors import DataUnavailableError

GLUED = re.compile(r"[a-z][A-Z]")  # a lowercase letter directly followed by an uppercase one

KNOWN_VERSES = {
    ("engKJV2006eb", "Gen 1:1"): "In the beginning God created the heaven and the earth.",
    ("engKJV2006eb", "John 3:16"): (
        "For God so loved the world, that he gave his only begotten Son, that whosoever believeth "
        "in him should not perish, but have everlasting life."
    ),
    ("engWEB2015eb", "Gen 1:1"): "In the beginning, God created the heavens and the earth.",
    ("engWEB2015eb", "John 3:16"): (
        "For God so loved the world, that he gave his only born Son, that whoever believes in him "
        "should not perish, but have eternal life."
    ),
    ("spaRV1909eb", "Gen 1:1"): "EN el principio crió Dios los cielos y la tierra.",
    ("spaRV1909eb", "John 3:16"): (
        "Porque de tal manera amó Dios al mundo, que ha dado á su Hijo unigénito, para que todo "
        "aquel que en él cree, no se pierda, mas tenga vida eterna."
    ),
}
# Non-empty verses per module; KJV versification has 31,102 verses, WEB adds the deuterocanon.
VERSE_COUNTS = {"engKJV2006eb": 31102, "engWEB2015eb": 37457, "spaRV1909eb": 31084}


@pytest.fixture(scope="module")
def verses(offline_files_present):
    """{module: [Verse, ...]} for the three modules."""
    return {module: list(sword_reader.read_verses(module)) for module in VERSE_COUNTS}


def test_note_becomes_a_space_between_words():
    raw = (
        '<w lemma="strong:H0430">God</w>'
        '<note placement="foot"><reference>1:1 </reference>Elohim</note><w>created</w>'
    )
    assert clean_osis(raw) == "God created"


def test_note_before_closing_punctuation_leaves_no_space():
    assert clean_osis("twenty gerahs<note>a gerah is 0.5 g</note>); half") == "twenty gerahs); half"


def test_titles_speakers_milestones_and_pilcrows_are_dropped():
    raw = (
        '<div type="x-milestone" subType="x-preverse" sID="pv1"/>'
        '<title type="section">A heading</title>'
        '<speaker>Beloved</speaker> <l level="1"/>¶ Let him kiss me<l eID="x"/><l/>with kisses.'
    )
    assert clean_osis(raw) == "Let him kiss me with kisses."


def test_canonical_psalm_title_is_kept_as_text():
    raw = (
        '<title canonical="true" type="psalm">A Psalm of David.</title> '
        "<lg/><l/><divineName>LORD</divineName>, hear."
    )
    assert clean_osis(raw) == "A Psalm of David. LORD, hear."


def test_text_after_the_end_of_the_book_is_dropped():
    raw = (
        'Amen. <chapter eID="Rev.22"/> <div canonical="true" eID="g1" osisID="Rev" type="book"/> '
        "<title>Glossary</title> Abba is..."
    )
    assert clean_osis(raw) == "Amen."


def test_adjacent_word_elements_are_two_words_and_enclitics_join_their_verb():
    raw = (
        '<w>Y</w> <w>oyéndo</w><transChange type="added">lo</transChange><w>Jesús</w>, '
        '<w>no</w><transChange type="added">lo</transChange><w>hizo</w> <w>engendró</w>'
        '<transChange type="added">un</transChange> <w>hijo</w>'
    )
    assert clean_osis(raw) == "Y oyéndolo Jesús, no lo hizo engendró un hijo"


def test_entities_are_unescaped_and_whitespace_folded():
    assert clean_osis("  Salt &amp; light\n\t here ") == "Salt & light here"


def test_known_verses_are_cleaned_exactly(verses):
    texts = {
        (module, verse.reference): verse.text for module, items in verses.items() for verse in items
    }
    for key, expected in KNOWN_VERSES.items():
        assert texts[key] == expected, key


def test_verse_counts_and_no_empty_verse(verses):
    assert {module: len(items) for module, items in verses.items()} == VERSE_COUNTS
    assert all(verse.text.strip() for items in verses.values() for verse in items)


def test_no_glued_words_in_the_whole_web(verses):
    glued = [
        (verse.reference, token)
        for verse in verses["engWEB2015eb"]
        for token in verse.text.split()
        if GLUED.search(token)
    ]
    assert glued == []


def test_no_pilcrow_or_markup_left_in_any_module(verses):
    leftovers = [
        (module, verse.reference)
        for module, items in verses.items()
        for verse in items
        if "¶" in verse.text or "<" in verse.text or ">" in verse.text
    ]
    assert leftovers == []


def test_web_last_verse_has_no_glossary(verses):
    last = verses["engWEB2015eb"][-1]
    assert (last.reference, last.text) == (
        "Rev 22:21",
        "The grace of the Lord Jesus Christ be with all the saints. Amen.",
    )


def test_missing_module_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv(sword_reader.SWORD_PATH_ENV, str(tmp_path))
    assert sword_reader.find_module("engKJV2006eb") is None
    with pytest.raises(DataUnavailableError, match="sudo apt-get install sword-text-kjv"):
        next(sword_reader.read_verses("engKJV2006eb"))
