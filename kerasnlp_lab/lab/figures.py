"""`kerasnlp-lab figures` (`make figures`): every figure and generated table of docs/.

Each page `docs/<page>.md` has a module `kerasnlp_lab.lab.<page>` whose `make(lab)` draws
the page's figures into docs/figures and returns them with the page's generated sections,
{name: Markdown}; each section replaces the text between `<!-- generated: name -->` and
`<!-- generated: end -->` on the page. Random numbers are seeded, so a second run draws the
same figures (timings aside).

`LAB_PAGES` is the one list of the pages, in reading order, with their short titles: every
page's navigation line (its third line, `_Lab page N of M · [index](README.md) · ..._`) is
`navigation_line(page)`, and every run rewrites the navigation lines of all pages, whichever
pages it draws (no model needed).
"""

import os
import re

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import (
    attention,
    autoencoder,
    bahdanau_attention,
    beam_search,
    bottleneck,
    char_generator,
    multi_head_attention,
    positional_encoding,
    subword_tokenization,
    transformer_block,
    wide_and_deep,
)
from kerasnlp_lab.lab.context import Lab
from kerasnlp_lab.models import MODEL_NAMES
from kerasnlp_lab.paths import DOCS, PRESETS

# (docs/<page>.md, the module drawing it, its title in the other pages' navigation lines), in
# reading order (docs/README.md).
LAB_PAGES = (
    ("autoencoder", autoencoder, "Autoencoders"),
    ("char_generator", char_generator, "The character generator"),
    ("wide_and_deep", wide_and_deep, "Wide & deep"),
    ("bottleneck", bottleneck, "The bottleneck"),
    ("bahdanau_attention", bahdanau_attention, "Bahdanau attention"),
    ("attention", attention, "Query, key and value"),
    ("positional_encoding", positional_encoding, "Positional encoding"),
    ("multi_head_attention", multi_head_attention, "Multi-head attention"),
    ("transformer_block", transformer_block, "The Transformer block"),
    ("subword_tokenization", subword_tokenization, "Subword tokenization"),
    ("beam_search", beam_search, "Beam search and BLEU"),
)
PAGES = {page: module for page, module, _ in LAB_PAGES}
TITLES = {page: title for page, _, title in LAB_PAGES}
SECTION_END = "<!-- generated: end -->"
NAVIGATION = re.compile(r"^_Lab page .*_$", re.M)


def section_start(name):
    return f"<!-- generated: {name} -->"


def replace_section(text, name, body):
    """`text` with the generated section `name` holding `body`; UserError if it has none."""
    pattern = re.compile(re.escape(section_start(name)) + r"\n.*?" + re.escape(SECTION_END), re.S)
    if not pattern.search(text):
        raise UserError(
            f"Expected a section {section_start(name)} ... {SECTION_END} on the page; found none."
        )
    return pattern.sub(lambda _: f"{section_start(name)}\n{body}\n{SECTION_END}", text, count=1)


def navigation_line(page):
    """The navigation line of docs/<page>.md: its place in the reading order, the index, and
    the previous and next pages."""
    order = list(TITLES)
    number = order.index(page) + 1
    parts = [f"Lab page {number} of {len(order)}", "[index](README.md)"]
    if number > 1:
        previous = order[number - 2]
        parts.append(f"previous: [{TITLES[previous]}]({previous}.md)")
    if number < len(order):
        following = order[number]
        parts.append(f"next: [{TITLES[following]}]({following}.md)")
    return f"_{' · '.join(parts)}_"


def replace_navigation(text, page):
    """`text` with its first navigation line (`_Lab page ..._`) made `navigation_line(page)`;
    UserError if it has none."""
    if not NAVIGATION.search(text):
        raise UserError(f"Expected a line _Lab page ..._ on the page of {page}; found none.")
    return NAVIGATION.sub(lambda _: navigation_line(page), text, count=1)


def update_navigation(docs_dir):
    """Rewrites the navigation line of every page of `docs_dir` that is not up to date."""
    for page in PAGES:
        path = page_path(docs_dir, page)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        updated = replace_navigation(text, page)
        if updated != text:
            with open(path, "w", encoding="utf-8") as file:
                file.write(updated)


def page_path(docs_dir, page):
    return os.path.join(docs_dir, f"{page}.md")


def update_page(path, sections):
    """Rewrites the generated sections of one page."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    for name, body in sections.items():
        text = replace_section(text, name, body)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def make_figures(presets_root=PRESETS, docs_dir=DOCS, pages=None, folders=None, quick=False):
    """Draws the figures and tables of `pages` (default: all); returns {page: figure paths}.

    The navigation lines of all pages are rewritten first, whichever `pages` are drawn.

    Models come from `folders` ({model name: run or preset folder}), by default the release
    presets under `presets_root`.
    """
    pages = list(PAGES) if pages is None else pages
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        raise UserError(f"Unknown pages {', '.join(unknown)}: expected some of {', '.join(PAGES)}.")
    if folders is None:
        folders = {name: os.path.join(presets_root, name) for name in MODEL_NAMES}
    update_navigation(docs_dir)
    lab = Lab(folders=folders, docs_dir=docs_dir, quick=quick)
    made = {}
    for page in pages:
        figures, sections = PAGES[page].make(lab)
        update_page(page_path(docs_dir, page), sections)
        made[page] = figures
    return made
