"""Read SWORD zText Bible modules fast, and clean their OSIS markup into plain text.

pysword gives us the module conf files and the versification (which book, chapter and
verse each entry of the verse index belongs to). Its verse reader decompresses a whole
book again for every verse, so the verse index (``.bzv``), block index (``.bzs``) and
compressed text (``.bzz``) are read here directly and each block is decompressed once.

Modules are looked up in the directories of ``$SWORD_PATH`` (``os.pathsep``-separated)
when it is set, else in ``~/.sword`` and ``/usr/share/sword`` (where Debian's
``sword-text-*`` packages install them).
"""

import bz2
import dataclasses
import html
import lzma
import os
import re
import struct
import zlib

from pysword.books import BibleStructure
from pysword.modules import SwordModules

from kerasnlp_lab.errors import DataUnavailableError

SWORD_PATH_ENV = "SWORD_PATH"
DEFAULT_SWORD_PATHS = ("~/.sword", "/usr/share/sword")

# The Debian package that installs each module we use.
DEBIAN_PACKAGES = {
    "engKJV2006eb": "sword-text-kjv",
    "engWEB2015eb": "sword-text-web",
    "spaRV1909eb": "sword-text-sparv",
}

# Verse index record (block number, start in block, length) per module driver.
_VERSE_RECORD_FORMATS = {"ztext": "<IIH", "ztext4": "<III"}
# Block index record: (offset in .bzz, compressed size, uncompressed size).
_BLOCK_RECORD_FORMAT = "<III"
_DECOMPRESSORS = {"ZIP": zlib.decompress, "BZIP2": bz2.decompress, "XZ": lzma.decompress}


@dataclasses.dataclass(frozen=True)
class Verse:
    """One verse of cleaned text: book is the OSIS id ("Gen"), book_name the full name."""

    book: str
    book_name: str
    chapter: int
    verse: int
    text: str

    @property
    def reference(self):
        """The reference as "Gen 1:1"."""
        return f"{self.book} {self.chapter}:{self.verse}"


def sword_search_path():
    """The SWORD library folders searched for modules, in order."""
    override = os.environ.get(SWORD_PATH_ENV)
    if override is not None:
        folders = [folder for folder in override.split(os.pathsep) if folder]
    else:
        folders = list(DEFAULT_SWORD_PATHS)
    return [os.path.expanduser(folder) for folder in folders]


def find_module(module_name):
    """The SWORD library folder holding ``module_name``, or None when no folder has it.

    A folder holds a module when ``mods.d/`` has a conf file naming it and the conf's
    DataPath exists.
    """
    for folder in sword_search_path():
        conf_folder = os.path.join(folder, "mods.d")
        if not os.path.isdir(conf_folder):
            continue
        modules = SwordModules(folder).parse_modules()
        conf = modules.get(module_name)
        if conf is not None and os.path.isdir(os.path.join(folder, conf["datapath"])):
            return folder
    return None


def missing_module_message(module_name):
    """One sentence saying the module is missing and which package installs it."""
    package = DEBIAN_PACKAGES.get(module_name)
    searched = ", ".join(sword_search_path()) or "(nothing: $SWORD_PATH is empty)"
    message = f"The SWORD module {module_name} was not found in {searched}."
    if package:
        message += f" Install it with: sudo apt-get install {package}"
    return message


def read_verses(module_name):
    """All non-empty verses of a zText Bible module, cleaned, in canonical order.

    Raises:
        DataUnavailableError: the module is not installed in any searched folder.
    """
    for book, chapter, verse, raw in _raw_verses(module_name):
        text = clean_osis(raw)
        if text:
            yield Verse(book.osis_name, book.name, chapter, verse, text)


def _raw_verses(module_name):
    """(pysword BookStructure, chapter, verse, OSIS text) of every stored verse, in canonical
    order."""
    folder = find_module(module_name)
    if folder is None:
        raise DataUnavailableError(missing_module_message(module_name))
    conf = SwordModules(folder).parse_modules()[module_name]
    driver = conf["moddrv"].lower()
    compress_type = conf.get("compresstype", "ZIP").upper()
    if driver not in _VERSE_RECORD_FORMATS or compress_type not in _DECOMPRESSORS:
        raise DataUnavailableError(
            f"SWORD module {module_name}: expected a zText or zText4 module compressed with ZIP, "
            f"BZIP2 or XZ, got ModDrv={conf['moddrv']}, CompressType={compress_type}."
        )
    decompress = _DECOMPRESSORS[compress_type]
    # SWORD's default encoding is Latin-1; our modules say UTF-8.
    encoding = "utf-8" if conf.get("encoding", "").upper() == "UTF-8" else "latin-1"
    data_path = os.path.join(folder, conf["datapath"])
    testaments = [
        name for name in ("ot", "nt") if os.path.isfile(os.path.join(data_path, f"{name}.bzv"))
    ]
    structure = BibleStructure(conf.get("versification", "KJV").lower(), testaments)

    for testament, books in structure.get_books().items():
        verse_records, block_records, compressed = _read_testament_files(
            data_path, testament, _VERSE_RECORD_FORMATS[driver]
        )
        blocks = {}  # block number -> decompressed bytes: each block is decompressed once
        for book in books:
            for chapter in range(1, book.num_chapters + 1):
                indices = structure.ref_to_indicies(books=book.osis_name, chapters=chapter)[
                    testament
                ]
                for verse, index in enumerate(indices, start=1):
                    if index >= len(verse_records):
                        continue
                    block_number, start, length = verse_records[index]
                    if length == 0:
                        continue
                    if block_number not in blocks:
                        offset, size, _ = block_records[block_number]
                        blocks[block_number] = decompress(compressed[offset : offset + size])
                    yield (
                        book,
                        chapter,
                        verse,
                        blocks[block_number][start : start + length].decode(encoding),
                    )


def _read_testament_files(data_path, testament, verse_record_format):
    """Verse records, block records and compressed bytes of one testament ("ot" or "nt")."""

    def read(extension):
        with open(os.path.join(data_path, f"{testament}.{extension}"), "rb") as file:
            return file.read()

    verse_records = list(struct.iter_unpack(verse_record_format, read("bzv")))
    block_records = list(struct.iter_unpack(_BLOCK_RECORD_FORMAT, read("bzs")))
    return verse_records, block_records, read("bzz")


# Everything after a book's closing <div type="book" eID=.../> is not verse text
# (WEB attaches its whole glossary to Rev 22:21).
_BOOK_END = re.compile(r'<div\b(?=[^>]*\beID=)(?=[^>]*\btype="book")[^>]*/>.*', re.DOTALL)
# Elements whose content is not verse text: footnotes and cross references, speaker labels,
# and titles that are not canonical (section headings, acrostic letters of Psalm 119).
_DROPPED_ELEMENTS = re.compile(
    r"<note\b.*?</note>|<speaker\b.*?</speaker>|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>",
    re.DOTALL,
)
# A pronoun the translators added (<transChange>) right after a verb is an enclitic of that
# verb (RV1909: oyéndo + lo = oyéndolo); after these function words it stays a word of its own.
_ENCLITIC = re.compile(
    r"(\w+)</w><transChange\b[^>]*>(lo|la|le|los|las|les|me|te|se|nos|os)</transChange>"
)
_NOT_VERBS = frozenset({"como", "cuánto", "ellos", "no", "os", "que", "y"})
# Two word elements with nothing between them are two words (RV1909 has ~580 such joints).
_ADJACENT_WORDS = re.compile(r"</(w|transChange)>(?=<(?:w|transChange)\b)")
# Inline tags wrap words or parts of words (Strong's numbers, added words, divine names,
# quotes): removing them must not split a word. Every other tag becomes a space.
_INLINE_TAGS = re.compile(
    r"</?(?:w|transChange|divineName|q|foreign|seg|rdg|name|hi|catchWord)\b[^>]*>"
)
_ANY_TAG = re.compile(r"<[^>]*>")
# Leftover SWORD/USFM character codes inside the text (the KJV's "the \\nd LORD", a closing
# "\\nd*"), and braces of markup: never verse text.
_MARKUP_CODES = re.compile(r"\\[A-Za-z]+[0-9]*\*?|[{}]")
# A dropped footnote right before closing punctuation leaves a space that was never there.
_SPACE_BEFORE_CLOSING = re.compile(r" (?=[,.;:!?)\]”’])")
_WHITESPACE = re.compile(r"\s+")


def _join_enclitic(match):
    word, pronoun = match.group(1), match.group(2)
    if word.lower() in _NOT_VERBS:
        return f"{word}</w> <transChange>{pronoun}</transChange>"
    return f"{word}{pronoun}</w>"


def clean_osis(raw):
    """Plain text of one OSIS verse.

    Footnotes and cross references become a space (pysword's clean=True glues the words
    around them), non-canonical titles, speaker labels and milestones are dropped,
    canonical Psalm titles are kept as text, pilcrows (¶), backslash codes (`\\nd`) and
    braces are removed, entities are unescaped and whitespace is folded.
    """
    text = _BOOK_END.sub(" ", raw)
    text = _DROPPED_ELEMENTS.sub(" ", text)
    text = _ENCLITIC.sub(_join_enclitic, text)
    text = _ADJACENT_WORDS.sub(r"</\1> ", text)
    text = _INLINE_TAGS.sub("", text)
    text = _ANY_TAG.sub(" ", text)
    text = html.unescape(text).replace("¶", " ")
    text = _MARKUP_CODES.sub(" ", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _SPACE_BEFORE_CLOSING.sub("", text)
