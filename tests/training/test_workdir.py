"""What holds a run, what --overwrite deletes, and who checks or deletes in a cluster."""

import json
import os
import time
import types

import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.training import checkpoints, distribute
from kerasnlp_lab.training import workdir as workdir_lib


def fake_run(folder, *, finished=True, unfinished_mark=False):
    """The files a char_generator run leaves (empty stand-ins), and a file that is not one."""
    for name in ("run.json", "history.csv", "vocabulary.json", "logs/train/events", "notes.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "epoch-0002.keras").write_text("x")
    if finished:
        (folder / "model.keras").write_text("x")
    if unfinished_mark:
        (folder / "checkpoints" / checkpoints.UNFINISHED_FILE).write_text("{}")
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_a_folder_holds_a_run_when_it_holds_trained_weights(tmp_path):
    assert workdir_lib.trained_files(tmp_path / "missing") == []
    (tmp_path / "run.json").write_text("{}")  # stopped before its first epoch ended
    assert workdir_lib.trained_files(tmp_path) == []
    workdir_lib.check_no_run(tmp_path)
    (tmp_path / "epoch_weights").mkdir()
    (tmp_path / "epoch_weights" / "epoch-0001.weights.h5").write_text("x")
    assert workdir_lib.trained_files(tmp_path) == ["epoch_weights/"]
    fake_run(tmp_path)
    assert workdir_lib.trained_files(tmp_path) == [
        "model.keras",
        "checkpoints/epoch-0002.keras",
        "epoch_weights/",
    ]
    with pytest.raises(UserError) as error:
        workdir_lib.check_no_run(tmp_path)
    assert str(error.value) == (
        f"{tmp_path} already holds a run (model.keras, checkpoints/epoch-0002.keras, "
        "epoch_weights/): continue it with --resume, or delete it and start afresh with "
        "--overwrite."
    )


def test_delete_run_deletes_what_training_wrote_and_says_so(tmp_path, capsys):
    fake_run(tmp_path)
    workdir_lib.delete_run(tmp_path, "char_generator")
    assert capsys.readouterr().out == (
        f"--overwrite: deleting the earlier run in {tmp_path}: run.json, model.keras, "
        "checkpoints/, history.csv, logs/, vocabulary.json.\n"
    )
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    workdir_lib.delete_run(tmp_path, "char_generator")  # nothing left to delete: silent
    assert capsys.readouterr().out == ""


def start_run_as(monkeypatch, workdir, *, is_chief, resume=False, overwrite=False):
    """`distribute.start_run` in a worker of a two-worker cluster (no TensorFlow cluster)."""
    cluster = distribute.Cluster(
        "multi_worker",
        types.SimpleNamespace(num_replicas_in_sync=2),
        ("worker", 0 if is_chief else 1),
        is_chief,
    )
    monkeypatch.setattr(distribute, "start", lambda name: cluster)
    return distribute.start_run(
        "multi_worker",
        str(workdir),
        resume,
        overwrite,
        model=char_generator,
        kind="text",
        preset="tiny",
        dataset="auto",
        epochs=None,
        seed=None,
    )


def test_in_a_cluster_every_worker_refuses_and_only_the_chief_deletes(
    monkeypatch, tmp_path, capsys
):
    before = fake_run(tmp_path)
    for is_chief in (True, False):
        with pytest.raises(UserError, match="already holds a run"):
            start_run_as(monkeypatch, tmp_path, is_chief=is_chief)
    _, output, resume, _ = start_run_as(monkeypatch, tmp_path, is_chief=False, overwrite=True)
    assert not resume and output != str(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    _, output, resume, _ = start_run_as(monkeypatch, tmp_path, is_chief=True, overwrite=True)
    assert (output, resume) == (str(tmp_path), False)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    assert "--overwrite: deleting the earlier run" in capsys.readouterr().out


def test_a_restarted_cluster_continues_its_unfinished_run_even_with_overwrite(
    monkeypatch, tmp_path, capsys
):
    before = fake_run(tmp_path, finished=False, unfinished_mark=True)
    workdir_lib.save_run_description(
        tmp_path,
        model_name="char_generator",
        preset="tiny",
        dataset="d",
        config=char_generator.get_config("tiny"),
        seed=0,
    )
    for is_chief in (False, True):
        _, _, resume, (preset, dataset, _, _) = start_run_as(
            monkeypatch, tmp_path, is_chief=is_chief, overwrite=True
        )
        assert (resume, preset, dataset) == (True, "tiny", "d")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert f"Continuing the unfinished multi-worker run in {tmp_path}" in capsys.readouterr().out


def test_an_interrupted_run_is_refused_too(tmp_path):
    # A run killed after an epoch holds a checkpoint (or kept epoch weights), no model.keras.
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch-0002.keras").write_text("x")
    with pytest.raises(UserError) as error:
        workdir_lib.check_no_run(tmp_path)
    assert str(error.value) == (
        f"{tmp_path} already holds a run (checkpoints/epoch-0002.keras): continue it with "
        "--resume, or delete it and start afresh with --overwrite."
    )
    (tmp_path / "checkpoints" / "epoch-0002.keras").unlink()
    (tmp_path / "epoch_weights").mkdir()
    (tmp_path / "epoch_weights" / "epoch-0001.weights.h5").write_text("x")
    with pytest.raises(UserError, match=r"already holds a run \(epoch_weights/\)"):
        workdir_lib.check_no_run(tmp_path)


def resume_with_seed(workdir, seed):
    """The seed `resolve_run` gives a resumed char_generator run when --seed is `seed`."""
    return workdir_lib.resolve_run(
        str(workdir),
        model=char_generator,
        kind="text",
        preset=None,
        dataset=None,
        epochs=None,
        resume=True,
        seed=seed,
    )[3]


@pytest.mark.parametrize("stored, given", [(0, 4), (3, 0)])
def test_resume_refuses_another_seed_even_seed_0(tmp_path, stored, given):
    workdir_lib.save_run_description(
        tmp_path,
        model_name="char_generator",
        preset="tiny",
        dataset="d",
        config=char_generator.get_config("tiny"),
        seed=stored,
    )
    with pytest.raises(UserError) as error:
        resume_with_seed(tmp_path, given)
    assert str(error.value) == (
        f"--resume continues the run in {tmp_path} with seed {stored}; got --seed {given}."
    )
    assert resume_with_seed(tmp_path, None) == resume_with_seed(tmp_path, stored) == stored


def tiny_run_description():
    """The keyword arguments of `save_run_description` for a tiny char generator run."""
    return dict(
        model_name="char_generator",
        preset="tiny",
        dataset="d",
        config=char_generator.get_config("tiny"),
        seed=0,
    )


def test_a_resumed_run_keeps_its_first_start_and_a_new_run_does_not(tmp_path):
    describe = tiny_run_description()
    workdir_lib.save_run_description(tmp_path, **describe)
    first = workdir_lib.load_run_description(tmp_path)
    first["started"] = "2026-01-02T03:04:05+00:00"  # as if written long ago
    (tmp_path / workdir_lib.RUN_FILE).write_text(json.dumps(first))
    workdir_lib.save_run_description(tmp_path, **describe, resume=True)
    assert workdir_lib.load_run_description(tmp_path)["started"] == "2026-01-02T03:04:05+00:00"
    workdir_lib.save_run_description(tmp_path, **describe)
    assert workdir_lib.load_run_description(tmp_path)["started"] > "2026-12"


def test_a_resume_records_how_long_the_run_stood_still_since_its_last_checkpoint(tmp_path):
    describe = tiny_run_description()
    workdir_lib.save_run_description(tmp_path, **describe)
    assert workdir_lib.load_run_description(tmp_path)[workdir_lib.PAUSED_MINUTES] == 0.0
    checkpoint = tmp_path / checkpoints.CHECKPOINT_DIR / "epoch-0003.keras"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(checkpoint, (an_hour_ago, an_hour_ago))
    workdir_lib.save_run_description(tmp_path, **describe, resume=True)
    assert workdir_lib.load_run_description(tmp_path)[workdir_lib.PAUSED_MINUTES] == 60.0
    workdir_lib.save_run_description(tmp_path, **describe, resume=True)  # a second pause adds
    assert workdir_lib.load_run_description(tmp_path)[workdir_lib.PAUSED_MINUTES] == 120.0
    workdir_lib.save_run_description(tmp_path, **describe)  # a new run starts at zero
    assert workdir_lib.load_run_description(tmp_path)[workdir_lib.PAUSED_MINUTES] == 0.0
