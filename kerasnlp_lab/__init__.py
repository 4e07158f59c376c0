"""kerasnlp_lab: classic sequence models from custom Keras 3 layers, served with TF Serving."""

__version__ = "0.1.0"
