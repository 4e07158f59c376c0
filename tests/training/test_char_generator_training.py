"""Character generator training: windows, vocabulary, seeded epochs, exact resume after a kill."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.text import chars
from kerasnlp_lab.training import char_generator as training
from kerasnlp_lab.training import presets
from kerasnlp_lab.training import workdir as workdir_lib
from tests.training.interrupted import history, kill_and_resume

WORDS = [
    "in",
    "the",
    "beginning",
    "god",
    "created",
    "heaven",
    "and",
    "earth",
    "light",
    "was",
    "good",
    "day",
    "night",
]


def write_corpus(path, lines=600, seed=0):
    """A small deterministic text file of word salad, one sentence a line."""
    rng = np.random.default_rng(seed)
    text = "\n".join(
        " ".join(rng.choice(WORDS, size=rng.integers(4, 12))).capitalize() + "."
        for _ in range(lines)
    )
    path.write_text(text + "\n", encoding="utf-8")
    return f"textfile:{path}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "words.txt")


def test_windows_give_previous_chars_chars_and_targets():
    ids = np.arange(10, 33, dtype=np.int32)  # 23 ids
    window_array = training.windows(ids, sequence_length=5)
    assert window_array.shape == (4, 7)  # (23 - 2) // 5 windows of 5 + 2
    np.testing.assert_array_equal(window_array[1], np.arange(15, 22))
    inputs, targets = next(iter(training.as_examples(window_array).skip(1)))
    np.testing.assert_array_equal(inputs["previous_chars"], [15, 16, 17, 18, 19])
    np.testing.assert_array_equal(inputs["chars"], [16, 17, 18, 19, 20])
    np.testing.assert_array_equal(targets, [17, 18, 19, 20, 21])


def test_text_shorter_than_one_window_is_a_user_error():
    with pytest.raises(UserError, match="at least 102 characters .* got 50"):
        training.windows(np.zeros(50, np.int32), 100)


def test_vocabulary_keeps_the_newline_and_the_most_frequent_chars():
    vocabulary = training.build_vocabulary("aaaa bbbbb cc d\n", max_size=5)
    assert vocabulary.vocab_size == 5
    assert sorted(vocabulary.chars) == ["\n", "a", "b"]
    ids = training.encode("abcd\n", vocabulary)
    assert ids.dtype == np.int32
    assert ids[2] == ids[3] == chars.OOV_ID and len(set(ids.tolist())) == 4


def test_epochs_have_the_steps_asked_and_resumed_streams_replay_exactly():
    config = char_generator.get_config("tiny", batch_size=4)
    examples = tf.data.Dataset.range(10).map(lambda i: (i, i))

    def batches(first):
        return [
            b.numpy().tolist()
            for b, _ in training.training_batches(
                examples, 10, config, seed=3, first_epoch=first, epochs=3, steps=4
            )
        ]

    straight = batches(0)
    assert len(straight) == 12  # 3 epochs of 4 steps, each more than one pass over 10 examples
    assert batches(1) == straight[4:]
    assert sorted(sum(straight[:3], [])) == list(range(10))  # one full pass, then it repeats
    assert straight[:4] != straight[4:8]  # each epoch has its own order


def test_killed_run_resumes_to_the_weights_of_a_straight_run(corpus, tmp_path):
    """Killed mid-epoch 2 of 3 (4 steps an epoch): weights, Adam state and learning rate
    come back to those of the straight run."""
    args = ("char_generator", "--preset", "tiny", "--dataset", corpus, "--epochs", 3, "--seed", 4)
    differences, straight, resumed = kill_and_resume(tmp_path, args, (1, 1), {"steps_per_epoch": 4})
    assert max(differences.values()) <= 1e-6, max(differences.items(), key=lambda i: i[1])
    assert differences["last/learning_rate"] == 0
    assert len([name for name in differences if "/model/" in name]) == 2 * 8

    run = json.loads((straight / "run.json").read_text())
    assert (run["model"], run["preset"], run["dataset"]) == ("char_generator", "tiny", corpus)
    vocabulary = training.load_vocabulary(str(resumed))
    assert vocabulary.chars == sorted(set(training.read_text(corpus, "train")))
    model = keras.saving.load_model(resumed / "model.keras")
    assert char_generator.vocab_size_of(model) == vocabulary.vocab_size
    lines = (resumed / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]
    run, trained = workdir_lib.load_run(str(resumed), "char_generator")
    assert presets.training_record(str(resumed), run, trained)["kept_weights"] == {"final_epoch": 3}


def test_resume_needs_an_earlier_run_of_the_same_preset(corpus, tmp_path):
    with pytest.raises(UserError, match="Nothing to resume in"):
        training.train(preset="tiny", workdir=str(tmp_path), resume=True)
    (tmp_path / "run.json").write_text(json.dumps({"model": "char_generator", "preset": "tiny"}))
    with pytest.raises(UserError, match="--resume continues the 'tiny' run .* got --preset small"):
        training.train(preset="small", workdir=str(tmp_path), resume=True)


def write_unlearnable_validation_corpus(path):
    """Word salad, then (from 90% of the text: validation and test) random letters: the
    validation loss rises as the model learns the words, so epochs miss an improvement."""
    write_corpus(path, lines=900)
    rng = np.random.default_rng(1)
    letters = sorted(set("".join(WORDS)))
    noise = "\n".join("".join(rng.choice(letters, size=60)) for _ in range(200))
    path.write_text(path.read_text(encoding="utf-8") + noise + "\n", encoding="utf-8")
    return f"textfile:{path}"


def test_a_run_with_dropout_plateau_halving_and_early_stopping_resumes_exactly(tmp_path):
    """Killed mid-epoch 3 of 5: the dropout masks, the halvings of the learning rate after
    epochs without a lower validation loss and the kept best epoch come back as in the
    straight run; the final model holds the best epoch's weights."""
    dataset = write_unlearnable_validation_corpus(tmp_path / "words.txt")
    args = ("char_generator", "--preset", "tiny", "--dataset", dataset, "--epochs", 5, "--seed", 2)
    overrides = {
        "steps_per_epoch": 4,
        "dropout": 0.3,
        "lr_plateau_factor": 0.5,
        "early_stopping_patience": 2,
    }
    differences, straight, resumed = kill_and_resume(tmp_path, args, (2, 1), overrides)
    assert max(differences.values()) <= 1e-6, max(differences.items(), key=lambda i: i[1])
    rows = history(straight)
    assert [row["epoch"] for row in history(resumed)] == [row["epoch"] for row in rows]
    rates, losses = [row["learning_rate"] for row in rows], [row["val_loss"] for row in rows]
    for epoch in range(1, len(rows)):
        improved = losses[epoch - 1] < min(losses[: epoch - 1], default=np.inf)
        assert rates[epoch] == pytest.approx(rates[epoch - 1] * (1 if improved else 0.5))
    assert 0.5 in [later / earlier for earlier, later in zip(rates[:-1], rates[1:], strict=True)]
    best = int(np.argmin(losses)) + 1
    model = keras.saving.load_model(resumed / "model.keras")
    assert [layer.name for layer in model.layers if "dropout" in layer.name] == [
        "embedding_dropout",
        "gru_dropout",
    ]
    best_weights = np.load(resumed / "checkpoints" / f"best-{best:04d}.weights.npz")
    np.testing.assert_array_equal(model.weights[0].numpy(), best_weights[best_weights.files[0]])
    run, trained = workdir_lib.load_run(str(resumed), "char_generator")
    assert presets.training_record(str(resumed), run, trained)["kept_weights"] == {
        "best_epoch": best,
        "why": "the best validation loss (early stopping)",
    }
