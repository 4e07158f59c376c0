"""docs/wide_and_deep.md: the ablation of the wide path, as learning curves of a short training.

The character generator is trained twice from the same seed on the same batches, once with
the wide-and-deep head (`small`) and once with the plain Dense head (`small_dense`, the deep
path alone: the same Dense projection of the GRU output, no wide tables), with the
validation loss measured every `steps_per_epoch` steps.
"""

import keras

from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.evaluation.char_generator import bits_per_char
from kerasnlp_lab.lab.context import markdown_table, run_description
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.training import char_generator as training

CURVES_PNG = "wide_and_deep_ablation.png"
HEADS = {"wide & deep": "wide_and_deep", "deep only (Dense)": "dense"}
SEED = 0


def learning_curve(config, dataset, seed=SEED):
    """{steps, train, validation}: bits/char after each epoch of `config` (fresh model)."""
    text = training.read_text(dataset, "train", config.train_chars)
    vocabulary = training.build_vocabulary(text, config.max_vocab_size)
    window_array = training.windows(training.encode(text, vocabulary), config.sequence_length)
    examples, count = training.as_examples(window_array).cache(), len(window_array)
    validation, _ = training.split_examples(
        dataset, "validation", vocabulary, config, config.eval_chars
    )
    keras.utils.set_random_seed(seed)
    model = char_generator.build_training_model(config, vocabulary.vocab_size)
    history = model.fit(
        training.training_batches(
            examples, count, config, seed, 0, config.epochs, config.steps_per_epoch
        ),
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        validation_data=validation.batch(training.EVALUATION_BATCH_SIZE),
        verbose=0,
    ).history
    return {
        "steps": [config.steps_per_epoch * (epoch + 1) for epoch in range(config.epochs)],
        "train": [bits_per_char(loss) for loss in history["loss"]],
        "validation": [bits_per_char(loss) for loss in history["val_loss"]],
    }


def plot(curves, path, title):
    figure, axes = plots.plt.subplots(figsize=(7, 4.2))
    for (name, curve), color in zip(curves.items(), ("tab:blue", "tab:orange"), strict=True):
        axes.plot(
            curve["steps"],
            curve["validation"],
            marker="o",
            color=color,
            label=f"{name}, validation",
        )
        axes.plot(
            curve["steps"], curve["train"], linestyle="--", color=color, label=f"{name}, train"
        )
    axes.set_xlabel("training steps")
    axes.set_ylabel("bits per character")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9)
    axes.set_title(title.replace("`", ""), fontsize=9)  # Markdown's code quotes: not in a plot
    return plots.save_figure(figure, path)


def make(lab):
    """Two short trainings (same seed and batches), their curves and the table."""
    dataset = run_description(lab.folders[char_generator.MODEL_NAME])["dataset"]
    settings = lab.pick(
        {"preset": "small", "steps_per_epoch": 25, "epochs": 16, "eval_chars": 50_000},
        {"preset": "tiny", "steps_per_epoch": 3, "epochs": 2, "eval_chars": 5_000},
    )
    curves = {}
    for name, head in HEADS.items():
        config = char_generator.get_config(
            settings["preset"],
            head=head,
            steps_per_epoch=settings["steps_per_epoch"],
            epochs=settings["epochs"],
            eval_chars=settings["eval_chars"],
        )
        curves[name] = learning_curve(config, dataset)
    title = (
        f"char_generator `{settings['preset']}` on {dataset}, seed {SEED}: validation "
        f"(first {settings['eval_chars']:,} chars) every {settings['steps_per_epoch']} steps"
    )
    wide, deep = curves.values()
    rows = [
        (step, f"{w:.3f}", f"{d:.3f}", f"{d - w:+.3f}")
        for step, w, d in zip(wide["steps"], wide["validation"], deep["validation"], strict=True)
    ]
    table = markdown_table(
        ("steps", *(f"{name}, validation bits/char" for name in HEADS), "deep only − wide & deep"),
        rows,
    )
    return [plot(curves, lab.figure(CURVES_PNG), title)], {"ablation": f"{table}\n\n{title}."}
