"""`kerasnlp-lab figures` (`make figures`): every figure and generated table of docs/.

Each page `docs/<page>.md` has a module `kerasnlp_lab.lab.<page>` whose `make(lab)` draws
the page's figures into docs/figures and returns them with the page's generated sections,
{name: Markdown}; each section replaces the text between `<!-- generated: name -->` and
`<!-- generated: end -->` on the page. Random numbers are seeded, so a second run draws the
same figures (timings aside).
"""

import os
import re

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import (
    attention,
    autoencoder,
    bahdanau_attention,
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

# docs/<page>.md -> the module drawing it, in reading order (docs/README.md).
PAGES = {
    "autoencoder": autoencoder,
    "char_generator": char_generator,
    "wide_and_deep": wide_and_deep,
    "bottleneck": bottleneck,
    "bahdanau_attention": bahdanau_attention,
    "attention": attention,
    "positional_encoding": positional_encoding,
    "multi_head_attention": multi_head_attention,
    "transformer_block": transformer_block,
    "subword_tokenization": subword_tokenization,
}
SECTION_END = "<!-- generated: end -->"


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

    Models come from `folders` ({model name: run or preset folder}), by default the release
    presets under `presets_root`.
    """
    pages = list(PAGES) if pages is None else pages
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        raise UserError(f"Unknown pages {', '.join(unknown)}: expected some of {', '.join(PAGES)}.")
    if folders is None:
        folders = {name: os.path.join(presets_root, name) for name in MODEL_NAMES}
    lab = Lab(folders=folders, docs_dir=docs_dir, quick=quick)
    made = {}
    for page in pages:
        figures, sections = PAGES[page].make(lab)
        update_page(page_path(docs_dir, page), sections)
        made[page] = figures
    return made
