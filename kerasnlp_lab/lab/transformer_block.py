"""docs/transformer_block.md: the Transformer block's training recipe, one ingredient at a time.

The same small Transformer is trained from the same seed, on the same batches, for the same
number of steps, under four settings: the release recipe (pre-norm, warm-up, label smoothing
0.1) and three that change one ingredient each (post-norm; no warm-up; no label smoothing).
`run_experiment` records the unsmoothed training cross-entropy every few steps, the
validation cross-entropy now and then, and at the end the validation cross-entropy, token
accuracy and calibration (`kerasnlp-lab transformer-block`, `make transformer-block`) into
docs/transformer_block.json. The page's figures and table are drawn from that file, so
`make figures` needs no training; in the tests' quick mode `make` runs the experiment for a
few steps on the tiny data instead.
"""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
from keras import ops

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.lab.context import markdown_table, run_description
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.metrics import MaskedAccuracy
from kerasnlp_lab.models import transformer
from kerasnlp_lab.schedules import TransformerSchedule
from kerasnlp_lab.text.vectorizer import PAD_ID
from kerasnlp_lab.training import translation
from kerasnlp_lab.training import workdir as workdir_lib

RESULTS_FILE = "transformer_block.json"
SCHEDULE_PNG = "transformer_block_schedule.png"
CURVES_PNG = "transformer_block_curves.png"
CALIBRATION_PNG = "transformer_block_calibration.png"
DATASET = "sword_parallel/spa_eng"
SEED = 0
CALIBRATION_BINS = 10
# {name: (label, `setting_config` arguments)}: each changes the release recipe in one place,
# but the last, which changes two (not run by default).
SETTINGS = {
    "release": ("release recipe", {}),
    "post_norm": ("post-norm", {"norm_first": False}),
    "no_warmup": ("no warm-up", {"warmup": False}),
    "no_smoothing": ("no label smoothing", {"label_smoothing": 0.0}),
    "post_norm_no_warmup": ("post-norm, no warm-up", {"norm_first": False, "warmup": False}),
}
DEFAULT_SETTINGS = ("release", "post_norm", "no_warmup", "no_smoothing")
# The settings of the calibration figure: the same recipe with and without smoothing.
CALIBRATION_PAIR = ("release", "no_smoothing")
# The experiment: a 2-layer Transformer on the first pairs of the training split; the
# vocabularies are learned from those pairs. Steps are counted in batches of 64 pairs.
EXPERIMENT = {
    "num_layers": 2,
    "model_dim": 64,
    "feed_forward_dim": 256,
    "num_heads": 4,
    "dropout": 0.1,
    "warmup_steps": 100,
    "label_smoothing": 0.1,
    "source_vocab_size": 4000,
    "target_vocab_size": 3000,
    "max_source_length": 64,
    "max_target_length": 64,
    "batch_size": 64,
    "train_examples": 8000,
    "eval_examples": 500,
}
STEPS, RECORD_EVERY, VALIDATE_EVERY = 300, 10, 50
QUICK_EXPERIMENT = {
    **EXPERIMENT,
    "num_layers": 1,
    "model_dim": 16,
    "feed_forward_dim": 32,
    "num_heads": 2,
    "warmup_steps": 2,
    "source_vocab_size": 300,
    "target_vocab_size": 300,
    "max_source_length": 24,
    "max_target_length": 24,
    "batch_size": 16,
    "train_examples": 200,
    "eval_examples": 32,
}
QUICK_STEPS, QUICK_RECORD_EVERY, QUICK_VALIDATE_EVERY = 4, 2, 2
QUICK_SETTINGS = ("release", "no_warmup")


class ScheduleWithoutWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`TransformerSchedule` without its ramp: the peak rate from the first step, then the
    same inverse-square-root decay (the schedule read at max(step, warmup_steps - 1))."""

    def __init__(self, model_dim, warmup_steps):
        self.schedule = TransformerSchedule(model_dim, warmup_steps)

    def __call__(self, step):
        return self.schedule(ops.maximum(ops.cast(step, "float32"), self.schedule.warmup_steps - 1))


def make_schedule(model_dim, warmup_steps, warmup=True):
    """The release recipe's schedule, or (warmup=False) the same without its ramp."""
    return (TransformerSchedule if warmup else ScheduleWithoutWarmup)(model_dim, warmup_steps)


def learning_rates(model_dim, warmup_steps, steps, warmup=True):
    """The learning rate of each of the first `steps` optimizer steps: (steps,) float32."""
    schedule = make_schedule(model_dim, warmup_steps, warmup)
    return np.asarray(schedule(np.arange(steps)), "float32")


class MaskedCrossEntropy(keras.metrics.Metric):
    """The plain (unsmoothed) cross-entropy of the non-pad target tokens, in nats per token:
    comparable between settings with and without label smoothing."""

    def __init__(self, pad_id=PAD_ID, name="cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)  # (B, T, V)
        true_log_probs = ops.take_along_axis(log_probs, y_true[..., None], axis=-1)[..., 0]
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")  # (B, T)
        self.total.assign_add(-ops.sum(true_log_probs * mask))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class Recorder(keras.callbacks.Callback):
    """Keeps the logs of every `fit` epoch of `record_every` steps, with the step reached;
    stops the training at the first loss that is not finite (a diverged run)."""

    def __init__(self, record_every):
        super().__init__()
        self.record_every = record_every
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"step": (epoch + 1) * self.record_every, **(logs or {})})
        if not math.isfinite(logs["loss"]):
            self.model.stop_training = True


def reliability_bins(confidences, correct, num_bins=CALIBRATION_BINS):
    """Tokens grouped by the probability of the predicted token, in `num_bins` equal bins of
    [0, 1]: [{low, high, tokens, confidence, accuracy}] (the means are None in an empty bin)."""
    confidences, correct = np.asarray(confidences, "float64"), np.asarray(correct, "float64")
    index = np.minimum((confidences * num_bins).astype(int), num_bins - 1)
    bins = []
    for number in range(num_bins):
        chosen = index == number
        count = int(chosen.sum())
        bins.append(
            {
                "low": number / num_bins,
                "high": (number + 1) / num_bins,
                "tokens": count,
                "confidence": float(confidences[chosen].mean()) if count else None,
                "accuracy": float(correct[chosen].mean()) if count else None,
            }
        )
    return bins


def expected_calibration_error(bins):
    """Σ over bins of (tokens in the bin / all tokens) · |accuracy − confidence|."""
    total = sum(entry["tokens"] for entry in bins)
    return sum(
        entry["tokens"] / total * abs(entry["accuracy"] - entry["confidence"])
        for entry in bins
        if entry["tokens"]
    )


def token_statistics(log_probs, targets):
    """Per non-pad token of logits' log-softmax `(B, T, V)` and targets `(B, T)`: the log
    probability of the target, the probability of the argmax and whether it is the target."""
    mask = targets != PAD_ID
    true_log_probs = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return {
        "true_log_prob": true_log_probs[mask],
        "confidence": np.exp(log_probs.max(axis=-1))[mask],
        "correct": (log_probs.argmax(axis=-1) == targets)[mask],
    }


def evaluate(model, batches):
    """{cross_entropy, accuracy, mean_confidence, ece, bins} over the tokens of `batches`
    (teacher forcing, no dropout)."""
    parts = []
    for inputs, targets in batches:
        log_probs = ops.convert_to_numpy(ops.log_softmax(model(inputs, training=False), axis=-1))
        parts.append(token_statistics(log_probs, ops.convert_to_numpy(targets)))
    tokens = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    bins = reliability_bins(tokens["confidence"], tokens["correct"])
    return {
        "tokens": len(tokens["correct"]),
        "cross_entropy": float(-tokens["true_log_prob"].mean()),
        "accuracy": float(tokens["correct"].mean()),
        "mean_confidence": float(tokens["confidence"].mean()),
        "ece": expected_calibration_error(bins),
        "bins": bins,
    }


def setting_config(base, norm_first=True, warmup=True, label_smoothing=None):
    """(TransformerConfig, warm-up or not) of one setting: `base` changed as asked."""
    if label_smoothing is None:
        label_smoothing = base.label_smoothing
    return dataclasses.replace(base, norm_first=norm_first, label_smoothing=label_smoothing), warmup


def prepare_data(config, dataset):
    """(vocabulary sizes, training examples, their count, validation batches) of the first
    `config.train_examples` training pairs (vocabularies learned from them) and the first
    `config.eval_examples` validation pairs."""
    train_pairs = pipeline.load_pairs(dataset, "train", config.train_examples).cache()
    vectorizers = pipeline.learn_vectorizers(
        train_pairs, config.source_vocab_size, config.target_vocab_size, config.tokenizer
    )
    examples = pipeline.vectorize_pairs(
        train_pairs, *vectorizers, config.max_source_length, config.max_target_length
    ).cache()
    count = pipeline.count_batches(examples)
    validation = translation.split_examples(
        dataset, "validation", vectorizers, config, config.eval_examples
    )
    sizes = [vectorizer.vocab_size for vectorizer in vectorizers]
    return sizes, examples, count, translation.evaluation_batches(validation, config)


def training_batches(examples, count, config, steps, seed):
    """`steps` bucketed batches, epochs of the examples each shuffled by (seed, epoch): the
    same batches for every setting."""
    max_length = transformer.max_positions(config)
    per_epoch = pipeline.count_batches(
        pipeline.bucketed_batches(examples, config.batch_size, max_length, config.bucket_width)
    )
    epochs = math.ceil(steps / per_epoch)
    return pipeline.seeded_bucketed_epochs(
        examples,
        num_examples=count,
        batch_size=config.batch_size,
        max_length=max_length,
        bucket_width=config.bucket_width,
        seed=seed,
        first_epoch=0,
        epochs=epochs,
    ).take(steps)


def train_setting(config, warmup, data, steps, record_every, validate_every, seed=SEED):
    """Trains one setting from `seed`; returns its curves, final validation and seconds."""
    sizes, examples, count, validation = data
    keras.utils.set_random_seed(seed)
    model = transformer.build_model(config, *sizes)
    model.compile(  # as build_model, with the setting's schedule and the plain cross-entropy
        optimizer=keras.optimizers.Adam(
            make_schedule(config.model_dim, config.warmup_steps, warmup),
            beta_1=transformer.ADAM_BETA_1,
            beta_2=transformer.ADAM_BETA_2,
            epsilon=transformer.ADAM_EPSILON,
        ),
        loss=MaskedSparseCrossentropy(config.label_smoothing),
        metrics=[MaskedCrossEntropy(), MaskedAccuracy()],
    )
    recorder = Recorder(record_every)
    start = time.perf_counter()
    model.fit(
        training_batches(examples, count, config, steps, seed),
        epochs=steps // record_every,
        steps_per_epoch=record_every,
        validation_data=validation,
        validation_freq=validate_every // record_every,
        callbacks=[recorder],
        verbose=0,
    )
    seconds = time.perf_counter() - start
    validated = [row for row in recorder.rows if "val_cross_entropy" in row]
    return {
        "norm_first": config.norm_first,
        "warmup": warmup,
        "label_smoothing": config.label_smoothing,
        "steps": [row["step"] for row in recorder.rows],
        "train_loss": [round(row["loss"], 4) for row in recorder.rows],
        "train_cross_entropy": [round(row["cross_entropy"], 4) for row in recorder.rows],
        "validation_steps": [row["step"] for row in validated],
        "validation_cross_entropy": [round(row["val_cross_entropy"], 4) for row in validated],
        "final": evaluate(model, validation),
        "seconds": round(seconds, 1),
    }


def run_experiment(dataset=DATASET, quick=False, steps=None, seed=SEED, settings=None):
    """The `settings` (names of SETTINGS; default DEFAULT_SETTINGS, QUICK_SETTINGS when
    `quick`) trained on the same data and batches; the results as docs/transformer_block.json
    holds them."""
    overrides = QUICK_EXPERIMENT if quick else EXPERIMENT
    steps = steps or (QUICK_STEPS if quick else STEPS)
    record_every = QUICK_RECORD_EVERY if quick else RECORD_EVERY
    validate_every = QUICK_VALIDATE_EVERY if quick else VALIDATE_EVERY
    if steps % validate_every or validate_every % record_every:
        raise UserError(
            f"Expected steps as a multiple of {validate_every} (the validation interval); "
            f"received {steps}."
        )
    base = transformer.get_config("small", **overrides)
    start = time.perf_counter()
    data = prepare_data(base, dataset)
    runs = {}
    for name in settings or (QUICK_SETTINGS if quick else DEFAULT_SETTINGS):
        label, changes = SETTINGS[name]
        config, warmup = setting_config(base, **changes)
        run = train_setting(config, warmup, data, steps, record_every, validate_every, seed)
        runs[name] = {"label": label, **run}
    return {
        "dataset": dataset,
        "seed": seed,
        "steps": steps,
        "record_every": record_every,
        "validate_every": validate_every,
        "config": {key: overrides[key] for key in EXPERIMENT},
        "vocabulary_sizes": data[0],
        "train_pairs": data[2],
        "validation_tokens": next(iter(runs.values()))["final"]["tokens"],
        "cpu_count": os.cpu_count(),
        "settings": runs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def write_results(results, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1)
        file.write("\n")


def read_results(path):
    """The experiment's results (UserError if the file is missing)."""
    if not os.path.exists(path):
        raise UserError(f"No results in {path}: run `make transformer-block` first.")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def results_section(results):
    """Markdown: one row per setting (last training cross-entropy, validation cross-entropy,
    token accuracy, confidence, ECE, seconds), then what was trained on what."""
    rows = []
    for run in results["settings"].values():
        final = run["final"]
        rows.append(
            (
                run["label"],
                "pre" if run["norm_first"] else "post",
                "yes" if run["warmup"] else "no",
                run["label_smoothing"],
                f"{run['train_cross_entropy'][-1]:.3f}",
                f"{final['cross_entropy']:.3f}",
                f"{final['accuracy']:.3f}",
                f"{final['mean_confidence']:.3f}",
                f"{final['ece']:.3f}",
                f"{run['seconds']:.0f}",
            )
        )
    header = (
        "setting",
        "norm",
        "warm-up",
        "smoothing",
        f"train CE, steps {results['steps'] - results['record_every'] + 1}–{results['steps']}",
        "validation CE",
        "validation accuracy",
        "mean confidence",
        "ECE",
        "training seconds",
    )
    config = results["config"]
    return (
        f"{markdown_table(header, rows)}\n\n"
        f"CE: the plain cross-entropy of the target tokens, nats per token (without smoothing "
        f"in every row). Validation: teacher forcing on the first {config['eval_examples']} "
        f"validation pairs ({results['validation_tokens']:,} target tokens), no dropout. ECE "
        f"over {CALIBRATION_BINS} equal bins of the predicted token's probability. Each "
        f"setting: {results['steps']} steps of {config['batch_size']} pairs from seed "
        f"{results['seed']}, the same batches, on the first {results['train_pairs']:,} "
        f"training pairs of {results['dataset']} (vocabularies of "
        f"{results['vocabulary_sizes'][0]:,} / {results['vocabulary_sizes'][1]:,} words "
        f"learned from them); num_layers {config['num_layers']}, model_dim "
        f"{config['model_dim']}, feed_forward_dim {config['feed_forward_dim']}, num_heads "
        f"{config['num_heads']}, dropout {config['dropout']}, warm-up "
        f"{config['warmup_steps']} steps. The whole experiment "
        f"took {results['seconds'] / 60:.1f} minutes on {results['cpu_count']} CPU cores."
    )


def plot_schedule(release, experiment, path):
    """Left: the release model's learning rate over its training; right: the experiment's,
    with and without warm-up. `release`: {model_dim, warmup_steps, steps}; `experiment`: the
    results."""
    figure, (left, right) = plots.plt.subplots(1, 2, figsize=(8.8, 3.6), layout="constrained")
    rates = learning_rates(release["model_dim"], release["warmup_steps"], release["steps"])
    left.plot(np.arange(1, len(rates) + 1), rates * 1e3)
    peak = release["warmup_steps"]
    left.axvline(peak, color="gray", linestyle=":")
    left.annotate(
        f"peak {rates[peak - 1] * 1e3:.2f}e-3\nat step {peak:,}",
        (peak, rates[peak - 1] * 1e3),
        xytext=(peak * 2, rates[peak - 1] * 1e3 * 0.9),
        fontsize=9,
    )
    left.set_title(
        f"release: D {release['model_dim']}, warm-up {release['warmup_steps']:,}", fontsize=10
    )
    config = experiment["config"]
    steps = np.arange(1, experiment["steps"] + 1)
    for warmup, style in ((True, "-"), (False, "--")):
        rates = learning_rates(config["model_dim"], config["warmup_steps"], len(steps), warmup)
        right.plot(steps, rates * 1e3, style, label="warm-up" if warmup else "no warm-up")
    right.legend(fontsize=9)
    right.set_title(
        f"this experiment: D {config['model_dim']}, warm-up {config['warmup_steps']}", fontsize=10
    )
    for axes in (left, right):
        axes.set_xlabel("training step")
        axes.set_ylabel("learning rate (× 1e-3)")
        axes.grid(alpha=0.3)
    return plots.save_figure(figure, path)


def plot_curves(results, path):
    """Training cross-entropy every few steps (left) and validation cross-entropy (right),
    one line per setting."""
    figure, (left, right) = plots.plt.subplots(1, 2, figsize=(8.8, 4), layout="constrained")
    for run in results["settings"].values():
        (line,) = left.plot(run["steps"], run["train_cross_entropy"], label=run["label"])
        right.plot(
            run["validation_steps"],
            run["validation_cross_entropy"],
            marker="o",
            color=line.get_color(),
            label=run["label"],
        )
    left.set_title(f"training (mean of every {results['record_every']} steps)", fontsize=10)
    right.set_title("validation", fontsize=10)
    for axes in (left, right):
        axes.set_xlabel("training step")
        axes.set_ylabel("cross-entropy (nats per token)")
        axes.grid(alpha=0.3)
    left.legend(fontsize=9)
    return plots.save_figure(figure, path)


def plot_calibration(results, path):
    """Reliability diagram of the CALIBRATION_PAIR settings (those in `results`): the accuracy
    of the tokens of each confidence bin against their mean confidence, and the tokens per
    bin below."""
    figure, (top, bottom) = plots.plt.subplots(
        2, 1, figsize=(6, 6), height_ratios=(3, 1), sharex=True, layout="constrained"
    )
    top.plot([0, 1], [0, 1], color="gray", linestyle=":", label="perfect calibration")
    width = 1 / CALIBRATION_BINS
    for offset, name in zip((-0.2, 0.2), CALIBRATION_PAIR, strict=True):
        if name not in results["settings"]:
            continue
        run = results["settings"][name]
        final = run["final"]
        shown = [entry for entry in final["bins"] if entry["tokens"]]
        (line,) = top.plot(
            [entry["confidence"] for entry in shown],
            [entry["accuracy"] for entry in shown],
            marker="o",
            label=f"{run['label']} (ECE {final['ece']:.3f})",
        )
        bottom.bar(
            [(entry["low"] + entry["high"]) / 2 + offset * width for entry in final["bins"]],
            [entry["tokens"] for entry in final["bins"]],
            width=0.4 * width,
            color=line.get_color(),
        )
    top.set_ylabel("accuracy of the bin's tokens")
    top.set_title("validation tokens by the probability of the predicted token", fontsize=10)
    top.legend(fontsize=9)
    top.grid(alpha=0.3)
    bottom.set_xlabel("probability of the predicted token (bin mean on the line)")
    bottom.set_ylabel("tokens")
    bottom.set_xlim(0, 1)
    bottom.grid(alpha=0.3)
    return plots.save_figure(figure, path)


def release_schedule(lab):
    """{model_dim, warmup_steps, steps} of the Transformer of `lab` (steps: the release
    metadata's, else ten warm-ups)."""
    folder = lab.folders[transformer.MODEL_NAME]
    config = run_description(folder)["config"]
    steps = 10 * config["warmup_steps"]
    metadata = os.path.join(folder, workdir_lib.PRESET_METADATA_FILE)
    if os.path.exists(metadata):
        with open(metadata, encoding="utf-8") as file:
            steps = json.load(file)["training"]["steps"]
    return {key: config[key] for key in ("model_dim", "warmup_steps")} | {"steps": steps}


def make(lab):
    """The schedule, the curves and the calibration figure and the results table, from
    docs/transformer_block.json (quick mode: from a few steps on the Transformer's data)."""
    if lab.quick:
        dataset = run_description(lab.folders[transformer.MODEL_NAME])["dataset"]
        results = run_experiment(dataset, quick=True)
    else:
        results = read_results(os.path.join(lab.docs_dir, RESULTS_FILE))
    figures = [
        plot_schedule(release_schedule(lab), results, lab.figure(SCHEDULE_PNG)),
        plot_curves(results, lab.figure(CURVES_PNG)),
        plot_calibration(results, lab.figure(CALIBRATION_PNG)),
    ]
    return figures, {"results": results_section(results)}
