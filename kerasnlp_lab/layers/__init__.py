"""Custom Keras layers the models are built from, one per module."""

from kerasnlp_lab.layers.bahdanau_attention import BahdanauAttention
from kerasnlp_lab.layers.multi_head_self_attention import MultiHeadSelfAttention
from kerasnlp_lab.layers.positional_encoding import PositionalEncoding
from kerasnlp_lab.layers.resumable_dropout import ResumableDropout
from kerasnlp_lab.layers.transformer_decoder_block import TransformerDecoderBlock
from kerasnlp_lab.layers.transformer_encoder_block import TransformerEncoderBlock
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead

__all__ = [
    "BahdanauAttention",
    "MultiHeadSelfAttention",
    "PositionalEncoding",
    "ResumableDropout",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "WideAndDeepHead",
]
