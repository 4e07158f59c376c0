"""`kerasnlp-lab train attention_nmt`: the shared translator training, with LR halving.

The vocabularies, bucketed batches, resumable epochs and early stopping are those of
`kerasnlp_lab.training.translation` (shared with the Transformer). With
`lr_plateau_factor` < 1 the learning rate is multiplied by it after every epoch whose
validation loss did not improve (`ResumablePlateau`, whose state `--resume` restores).
"""

from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.training import translation
from kerasnlp_lab.training import workdir as workdir_lib
from kerasnlp_lab.training.lr_plateau import on_plateau

MODEL_NAME = attention_nmt.MODEL_NAME
MODEL = attention_nmt
VOCABULARY_FILES = translation.VOCABULARY_FILES
OUTPUT_FILES = translation.OUTPUT_FILES


def build_for_run(config, workdir):
    """The compiled model of a run's config (its vocabulary sizes are in the config)."""
    return attention_nmt.build_model(config)


def plateau_callbacks(config, examples, output, restore_from):
    """ResumablePlateau when the config asks for it."""
    return on_plateau(config.lr_plateau_factor, output, restore_from)


def train(
    preset=None,
    dataset="auto",
    epochs=None,
    workdir="runs/attention_nmt",
    resume=False,
    seed=None,
    attention=None,
    strategy="default",
    tokenizer=None,
    source_vocab_size=None,
    target_vocab_size=None,
    average_checkpoints=None,
    overwrite=False,
):
    """Trains the attention NMT; writes the model, vocabularies, checkpoints and logs.

    `attention` is "bahdanau" (default) or "none" (the bottleneck baseline).
    """
    model, _, output = translation.train_translator(
        attention_nmt,
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
            "attention": attention,
            "tokenizer": tokenizer,
            "source_vocab_size": source_vocab_size,
            "target_vocab_size": target_vocab_size,
            "average_checkpoints": average_checkpoints,
        },
        callbacks=plateau_callbacks,
    )
    workdir_lib.save_model(output, model)
    return model
