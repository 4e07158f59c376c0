"""Datasets: offline corpora as TFDS builders, and the catalog that chooses and loads them.

Import ``kerasnlp_lab.data.catalog`` to register the builders (local_fashion_mnist,
sword_text, sword_parallel) with TFDS.
"""
