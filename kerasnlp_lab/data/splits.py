"""Deterministic train/validation/test assignment by hashing a stable key."""

import hashlib

SPLIT_BUCKETS = 31  # bucket 0 -> test, 1 -> validation, the other 29 -> train
SPLITS = ("train", "validation", "test")


def hash_split(key):
    """The split of ``key`` (a str such as "Gen 1:1"): about 1/31 test, 1/31 validation.

    Uses SHA-256, so the answer is the same on every machine and Python version.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % SPLIT_BUCKETS
    return {0: "test", 1: "validation"}.get(bucket, "train")
