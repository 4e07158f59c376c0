"""`kerasnlp-lab train transformer_translator`: the shared translator training, the Transformer.

Same pairs, splits, vocabularies (learned from the training split only), length-bucketed
batches, seeded epochs, checkpoints, `--resume` and early stopping on the validation loss
as `attention_nmt` (`kerasnlp_lab.training.translation`), so the two models are compared
on exactly the same ids. The optimizer
is Adam(0.9, 0.98, 1e-9) with the warm-up schedule of the paper, the loss label-smoothed.

Training speed is measured per epoch as real (non-padding) source + target tokens per
second of training (validation excluded) and written to `throughput.json`, so our layers
and `--backbone keras_hub` can be compared at the same settings.
"""

import json
import os
import time

import keras
import numpy as np

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import translation
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = transformer.MODEL_NAME
MODEL = transformer
VOCABULARY_FILES = translation.VOCABULARY_FILES
THROUGHPUT_FILE = "throughput.json"
OUTPUT_FILES = (*translation.OUTPUT_FILES, THROUGHPUT_FILE)


class TokenThroughput(keras.callbacks.Callback):
    """Writes the training tokens/second of every epoch to `path` (a JSON list).

    Args:
        tokens_per_epoch: real source + target tokens the model reads in one epoch.
        path: the JSON file; earlier epochs in it are kept when resuming.
    """

    def __init__(self, tokens_per_epoch, path):
        super().__init__()
        self.tokens_per_epoch = tokens_per_epoch
        self.path = path
        self._start = self._end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None

    def on_test_begin(self, logs=None):  # validation starts: training time ends here
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._end or time.perf_counter()) - self._start
        epochs = read_throughput(os.path.dirname(self.path))
        epochs = [entry for entry in epochs if entry["epoch"] < epoch]
        epochs.append(
            {
                "epoch": epoch,
                "seconds": round(seconds, 2),
                "tokens_per_second": round(self.tokens_per_epoch / seconds, 1),
            }
        )
        with open(self.path, "w") as file:
            json.dump(epochs, file, indent=2)


def read_throughput(workdir):
    """The per-epoch throughput entries of a run (empty if none)."""
    path = os.path.join(workdir, THROUGHPUT_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return json.load(file)


def count_tokens(examples):
    """Real tokens of (source, target) examples, as the model reads them.

    The decoder reads the target without its last token, so target lengths count minus one.
    """
    total = 0
    for source, target in examples.as_numpy_iterator():
        total += int(np.count_nonzero(source)) + int(np.count_nonzero(target)) - 1
    return total


def build_for_run(config, workdir):
    """The compiled model of a run's config, sized by the vocabularies in `workdir`."""
    source, target = pipeline.load_vectorizers(workdir)
    return transformer.build_model(config, source.vocab_size, target.vocab_size)


def throughput_callbacks(config, examples, output, restore_from):
    """[TokenThroughput] writing to `output` (its earlier epochs are read there too)."""
    return [TokenThroughput(count_tokens(examples), os.path.join(output, THROUGHPUT_FILE))]


def train(
    preset=None,
    dataset="auto",
    epochs=None,
    workdir="runs/transformer_translator",
    resume=False,
    seed=None,
    backbone=None,
    strategy="default",
    tokenizer=None,
    source_vocab_size=None,
    target_vocab_size=None,
    average_checkpoints=None,
    overwrite=False,
):
    """Trains the Transformer translator; writes the model, vocabularies, checkpoints, logs.

    `backbone` is "ours" (default) or "keras_hub" (a reference that cannot be exported).
    """
    model, _, output = translation.train_translator(
        transformer,
        build_for_run,
        preset=preset,
        dataset=dataset,
        epochs=epochs,
        workdir=workdir,
        resume=resume,
        seed=seed,
        strategy=strategy,
        overwrite=overwrite,
        options={
            "backbone": backbone,
            "tokenizer": tokenizer,
            "source_vocab_size": source_vocab_size,
            "target_vocab_size": target_vocab_size,
            "average_checkpoints": average_checkpoints,
        },
        callbacks=throughput_callbacks,
    )
    workdir_lib.save_model(output, model)
    return model
