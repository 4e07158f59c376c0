"""The four models of kerasnlp_lab, by their TF Serving names."""

from kerasnlp_lab.errors import UserError

# TF Serving name -> module name under kerasnlp_lab/models (and training/, export/, ...).
MODEL_MODULES = {
    "autoencoder": "autoencoder",
    "char_generator": "char_generator",
    "attention_nmt": "attention_nmt",
    "transformer_translator": "transformer",
}
MODEL_NAMES = tuple(MODEL_MODULES)


def canonical_model_name(name):
    """Returns the TF Serving name for `name` (dashes accepted), or raises UserError."""
    canonical = name.strip().lower().replace("-", "_")
    if canonical not in MODEL_MODULES:
        raise UserError(f"Unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}.")
    return canonical
