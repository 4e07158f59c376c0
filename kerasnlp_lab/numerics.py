"""Numeric constants shared by attention layers and decoding."""

# A finite "minus infinity" for masked attention scores, banned logits and impossible
# hypotheses: softmax gives it zero weight, and unlike -inf it never makes inf - inf = NaN.
LARGE_NEGATIVE = -1e9
