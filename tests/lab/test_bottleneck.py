"""The bottleneck page names each run with its decoder and its vocabulary."""

import pytest

from kerasnlp_lab.lab import bottleneck


@pytest.mark.parametrize(
    "label, tokenizer, name",
    [
        (
            "attention_nmt/bahdanau",
            "wordpiece",
            "GRU + additive attention, Bahdanau's order (WordPiece)",
        ),
        (
            "attention_nmt/luong_additive",
            "words",
            "GRU + additive attention, Luong's order (words)",
        ),
        ("attention_nmt/none", "words", "GRU encoder-decoder, no attention (words)"),
        ("my_run", "wordpiece", "my_run (WordPiece)"),
    ],
)
def test_run_names_say_the_order_and_the_vocabulary(label, tokenizer, name):
    assert bottleneck.run_name({"label": label, "tokenizer": tokenizer}) == name


def test_runs_are_ordered_as_named_then_the_others():
    runs = {
        label: {"label": label}
        for label in (
            "other",
            "transformer_translator",
            "attention_nmt/bahdanau",
            "attention_nmt/none",
        )
    }
    assert [run["label"] for run in bottleneck.ordered_runs(runs)] == [
        "attention_nmt/none",
        "attention_nmt/bahdanau",
        "transformer_translator",
        "other",
    ]
