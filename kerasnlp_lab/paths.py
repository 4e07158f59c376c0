"""Default folders, relative to the working directory (the repository root for `make`)."""

SAVED_MODELS = "saved_models"  # TF Serving model base path: <model>/<version>/ + models.config
PRESETS = "presets"  # release presets: <model>/{config.json, model.weights.h5, ...}
DOCS = "docs"  # one page per concept, figures in docs/figures (`kerasnlp-lab figures`)
BOTTLENECK_JSON = "docs/bottleneck.json"  # BLEU per source length (`kerasnlp-lab bleu-by-length`)


def default_workdir(model):
    """Where a model's checkpoints, logs and plots go unless --workdir says otherwise."""
    return f"runs/{model}"
