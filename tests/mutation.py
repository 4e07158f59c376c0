"""The mutation check (`make mutation`): do the fast tests see realistic bugs?

Each fault below is a named, exact text replacement in one file of the package: a bug that
a person could write. The check copies the repository (its tracked and untracked, not ignored
files, as they are in the working tree) into a temporary folder, and for each fault alone:
writes the mutated file, runs the fault's fast tests there (`python -m pytest -q -x`), and
puts the file back. A fault is caught when a test fails; it SURVIVED when they all pass. A
fault-free run of every named test comes first (the sanity run): it must pass, and a pytest
plugin checks that every run imports the copy's `kerasnlp_lab` and `tests`, never the
checkout's. The exit status is non-zero when a fault survived (or a run could not decide).

    python -m tests.mutation                 # every fault, then the table
    python -m tests.mutation --list          # the faults and their tests, nothing run
    python -m tests.mutation --only NAME...  # these faults only

A fault whose old text is not in its file exactly once, or whose test does not exist, stops
the check before anything runs (and fails tests/test_mutation.py), so faults cannot rot
silently. The check is not part of `make test`: it runs the named tests once per fault,
tens of minutes on 2 CPU cores.

The file lives beside the tests it checks, so that tests/test_mutation.py reads its table as
`tests.mutation`; `make bench` runs every file of benchmarks/, so it is not there.
"""

import argparse
import ast
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Fault:
    """One bug: `old` (found exactly once in `path`) becomes `new`; `tests` should see it."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    bug: str


SEARCH = "tests/decoding/test_search.py::"
SAMPLING = "tests/decoding/test_sampling.py::"
SAMPLING_TEMPERATURE = (
    SAMPLING + "test_temperature_zero_or_below_is_argmax_and_a_tiny_temperature_approaches_it"
)
TRANSLATE = "tests/decoding/test_translation.py::"
WORDPIECE = "tests/text/test_wordpiece.py::"
STANDARDIZE = "tests/text/test_standardize.py::"
VECTORIZER = "tests/text/test_vectorizer.py::"
CODEC = "tests/serving/test_json_codec.py::"
ADMISSION = "tests/serving/test_admission.py::"
BATCHING = "tests/serving/test_batching.py::"
VERSIONS = "tests/serving/test_versions.py::"
EARLY = "tests/training/test_early_stopping.py::"
WORKDIR = "tests/training/test_workdir.py::"

BEAM = "kerasnlp_lab/decoding/beam.py"
GREEDY = "kerasnlp_lab/decoding/greedy.py"
WORDPIECE_PY = "kerasnlp_lab/text/wordpiece.py"
STANDARDIZE_PY = "kerasnlp_lab/text/standardize.py"
VECTORIZER_PY = "kerasnlp_lab/text/vectorizer.py"
CODEC_PY = "kerasnlp_lab/serving/json_codec.py"
MANAGER_PY = "kerasnlp_lab/serving/model_manager.py"
ADMISSION_PY = "kerasnlp_lab/serving/admission.py"
WORKDIR_PY = "kerasnlp_lab/training/workdir.py"
SAMPLING_PY = "kerasnlp_lab/decoding/sampling.py"
TRANSLATE_PY = "kerasnlp_lab/decoding/translation.py"

BEAM_STATE_TESTS = (
    SEARCH + "test_a_state_that_picks_the_next_token_follows_its_hypothesis",
    SEARCH + "test_a_state_hashing_the_whole_prefix_gives_the_answers_of_the_token_buffer",
    SEARCH + "test_beam_state_is_reordered_with_its_hypothesis",
)
RETRY_TESTS = (
    VERSIONS + "test_a_failed_load_is_tried_once_a_poll_up_to_the_retry_limit",
    VERSIONS + "test_the_served_version_outlives_its_folder_until_a_new_one_loads",
)

FAULTS = (
    # ------------------------------------------------------------------------ decoding
    Fault(
        "beam-state-not-reordered",
        BEAM,
        "state = gather_rows(state, tf.reshape(tf.gather(parents, alive, batch_dims=1), [-1]))",
        "state = gather_rows(state, tf.range(flat_size))",
        BEAM_STATE_TESTS,
        "the decoder state stays in its row instead of following the parent hypothesis",
    ),
    Fault(
        "beam-state-reordered-by-candidate",
        BEAM,
        "state = gather_rows(state, tf.reshape(tf.gather(parents, alive, batch_dims=1), [-1]))",
        "state = gather_rows(state, tf.reshape(alive + row_offsets, [-1]))",
        BEAM_STATE_TESTS,
        "the state is gathered by the candidate's rank among the 2K, not by its parent beam",
    ),
    Fault(
        "beam-finished-ranked-without-end-token",
        BEAM,
        "ranking = top_scores / length_penalty(step + 1, length_penalty_alpha)",
        "ranking = top_scores / length_penalty(step, length_penalty_alpha)",
        (
            SEARCH + "test_a_beam_wide_enough_to_keep_every_hypothesis_is_exact",
            SEARCH + "test_length_penalty_favours_longer_hypotheses",
        ),
        "a finished hypothesis's length penalty leaves out its end token",
    ),
    Fault(
        "beam-length-penalty-not-gnmt",
        BEAM,
        "return tf.pow((5.0 + length) / 6.0, tf.cast(alpha, tf.float32))",
        "return tf.pow((5.0 + length) / 5.0, tf.cast(alpha, tf.float32))",
        (
            SEARCH + "test_length_penalty_is_gnmt",
            SEARCH + "test_length_penalty_favours_longer_hypotheses",
        ),
        "the GNMT length penalty divides by 5 instead of (5 + 1)",
    ),
    Fault(
        "beam-finished-pool-forgotten",
        BEAM,
        "tf.concat([finished_ranking, ranking], axis=1)",
        'tf.concat([tf.fill(tf.shape(finished_ranking), -float("inf")), ranking], axis=1)',
        (
            SEARCH + "test_a_finished_hypothesis_is_never_evicted_by_alive_ones",
            SEARCH + "test_beam_search_finds_the_best_sequence_that_greedy_misses",
        ),
        "the finished pool keeps only the hypotheses that end at the current step",
    ),
    Fault(
        "beam-ended-hypotheses-stay-alive",
        BEAM,
        "alive_scores = tf.where(ends, _IMPOSSIBLE + top_scores, top_scores)",
        "alive_scores = top_scores",
        (
            SEARCH + "test_beam_search_agrees_with_keras_hub_beam_sampler",
            SEARCH + "test_a_finished_hypothesis_is_never_evicted_by_alive_ones",
            SEARCH + "test_rows_finish_at_different_steps",
            SEARCH + "test_a_hypothesis_that_ends_leaves_the_alive_pool",
        ),
        "a candidate that ends also takes a place in the alive pool",
    ),
    Fault(
        "beam-parents-mix-rows",
        BEAM,
        "parents = best // vocab_size + row_offsets",
        "parents = best // vocab_size",
        (
            SEARCH + "test_beam_search_agrees_with_keras_hub_beam_sampler",
            SEARCH + "test_rows_finish_at_different_steps",
        ),
        "parent beams are indexed within the row but used as flat rows: rows mix",
    ),
    Fault(
        "beam-stops-too-early",
        BEAM,
        "best_reachable = tf.reduce_max(alive_scores, axis=1) / tf.maximum(",
        "best_reachable = tf.reduce_max(alive_scores, axis=1) / tf.minimum(",
        (SEARCH + "test_search_stops_once_no_alive_hypothesis_can_win",),
        "the early-stop bound takes the smaller length penalty: not an upper bound for alpha > 0",
    ),
    Fault(
        "beam-unfinished-never-compete",
        BEAM,
        "alive_competes = tf.logical_and(step >= max_length, ",
        "alive_competes = tf.logical_and(step > max_length, ",
        (
            SEARCH + "test_output_never_exceeds_max_length",
            SEARCH + "test_a_beam_wide_enough_to_keep_every_hypothesis_is_exact",
        ),
        "hypotheses still alive at max_length never compete with the finished ones",
    ),
    Fault(
        "greedy-keeps-writing-after-end",
        GREEDY,
        "finished = tf.logical_or(finished, tf.equal(next_tokens, end_id))",
        "finished = tf.equal(next_tokens, end_id)",
        (
            SEARCH + "test_rows_finish_at_different_steps",
            SEARCH + "test_greedy_takes_the_locally_best_token",
        ),
        "a row that ended is taken as unfinished again a step later",
    ),
    Fault(
        "greedy-select-rows-keeps-the-ended",
        GREEDY,
        "kept = tf.cast(tf.where(tf.logical_not(ended))[:, 0], tf.int32)",
        "kept = tf.cast(tf.where(ended)[:, 0], tf.int32)",
        (
            SEARCH + "test_rows_that_end_leave_the_greedy_search_with_select_rows",
            TRANSLATE + "test_banned_ids_are_never_generated_greedy_or_beam",
        ),
        "with select_rows, the rows that just ended stay and the others leave",
    ),
    Fault(
        "sampling-temperature-ignored",
        SAMPLING_PY,
        "shifted / safe_temperature[:, None] + gumbel",
        "shifted + gumbel",
        (SAMPLING_TEMPERATURE,),
        "positive temperatures do not scale the logits",
    ),
    Fault(
        "sampling-temperature-zero-samples",
        SAMPLING_PY,
        "return tf.where(temperature > 0.0, sampled, greedy)",
        "return tf.where(temperature >= 0.0, sampled, greedy)",
        (
            SAMPLING_TEMPERATURE,
            SAMPLING + "test_forbidden_ids_are_never_returned",
        ),
        "temperature 0 samples (at temperature 1) instead of taking the argmax",
    ),
    Fault(
        "sampling-forbidden-ids-allowed",
        SAMPLING_PY,
        'logits = tf.where(forbidden[None, :], float("-inf"), logits)',
        "logits = logits",
        (SAMPLING + "test_forbidden_ids_are_never_returned",),
        "the forbidden ids are computed but never masked",
    ),
    Fault(
        "sampling-step-ignored",
        SAMPLING_PY,
        "_mix(tf.bitwise.bitwise_xor(tf.cast(seed, tf.uint64), _mix(tf.cast(step, tf.uint64))))",
        "_mix(tf.cast(seed, tf.uint64))",
        (
            SAMPLING + "test_same_seed_and_step_give_the_same_tokens_different_seeds_do_not",
            SAMPLING + "test_noise_is_uniform_and_independent_of_the_batch",
        ),
        "every step of a row draws the same noise",
    ),
    Fault(
        "translation-beam-ignores-banned-ids",
        TRANSLATE_PY,
        "return scores(logits, tokens, step), decoder_state",
        "return logits, decoder_state",
        (
            TRANSLATE + "test_banned_ids_are_never_generated_greedy_or_beam",
            TRANSLATE + "test_several_banned_ids_leave_the_next_best",
        ),
        "beam search gets the raw logits: banned ids can be generated",
    ),
    Fault(
        "translation-greedy-ignores-banned-ids",
        TRANSLATE_PY,
        'return scores(logits, tokens, step), {"decoder": decoder_state,',
        'return logits, {"decoder": decoder_state,',
        (
            TRANSLATE + "test_banned_ids_are_never_generated_greedy_or_beam",
            TRANSLATE + "test_several_banned_ids_leave_the_next_best",
        ),
        "greedy decoding gets the raw logits: banned ids can be generated",
    ),
    # ------------------------------------------------------------------------ text
    Fault(
        "wordpiece-shortest-match-first",
        WORDPIECE_PY,
        "best = tf.reduce_max(tf.where(found, lengths, 0), axis=1)",
        "best = tf.reduce_min(tf.where(found, lengths, max_piece_chars + 1), axis=1)\n"
        "        best = tf.where(best > max_piece_chars, 0, best)",
        (WORDPIECE + "test_greedy_longest_match_first_on_a_toy_vocabulary",),
        "the shortest matching piece is taken instead of the longest",
    ),
    Fault(
        "wordpiece-continuation-without-prefix",
        WORDPIECE_PY,
        'prefix = tf.where(position > 0, SUFFIX, "")',
        'prefix = tf.where(position > 0, "", "")',
        (
            WORDPIECE + "test_greedy_longest_match_first_on_a_toy_vocabulary",
            WORDPIECE + "test_encode_frames_and_cuts_like_the_word_vectorizer",
        ),
        "pieces after the first are looked up without their ## prefix",
    ),
    Fault(
        "wordpiece-partial-word-kept",
        WORDPIECE_PY,
        "unknown[:, None], tf.where(first",
        "unknown[:, None] & (matrix == _NOT_FOUND), tf.where(first",
        (WORDPIECE + "test_greedy_longest_match_first_on_a_toy_vocabulary",),
        "a word that cannot be covered keeps its first pieces instead of becoming one [UNK]",
    ),
    Fault(
        "wordpiece-word-limit-in-characters",
        WORDPIECE_PY,
        "too_long = num_bytes > MAX_WORD_BYTES",
        "too_long = num_chars > MAX_WORD_BYTES",
        (WORDPIECE + "test_edge_cases_match_keras_hub",),
        "MAX_WORD_BYTES counts characters, not UTF-8 bytes",
    ),
    Fault(
        "wordpiece-word-limit-off-by-one",
        WORDPIECE_PY,
        "too_long = num_bytes > MAX_WORD_BYTES",
        "too_long = num_bytes >= MAX_WORD_BYTES",
        (WORDPIECE + "test_edge_cases_match_keras_hub",),
        "a word of exactly MAX_WORD_BYTES bytes becomes [UNK]",
    ),
    Fault(
        "wordpiece-detokenize-keeps-leading-marker",
        WORDPIECE_PY,
        'return tf.strings.regex_replace(text, f"(^| ){SUFFIX}", "")',
        'return tf.strings.regex_replace(text, f" {SUFFIX}", "")',
        (WORDPIECE + "test_detokenize_drops_a_leading_continuation_marker_and_stops_at_end",),
        "a ## piece at the start of the text keeps its marker",
    ),
    Fault(
        "standardize-ascii-lowercase",
        STANDARDIZE_PY,
        'text = tf.strings.lower(text, encoding="utf-8")',
        "text = tf.strings.lower(text)",
        (STANDARDIZE + "test_lower_cases_unicode_and_splits_punctuation",),
        "lower-casing leaves non-ASCII capitals (Á, Ñ, Ü) as they are",
    ),
    Fault(
        "standardize-typographic-apostrophe-not-a-connector",
        STANDARDIZE_PY,
        '_WORD_CONNECTOR = "[\'’-]"',
        '_WORD_CONNECTOR = "[\'-]"',
        (STANDARDIZE + "test_connectors_stay_inside_words_and_numbers_only",),
        "’ is neither split off nor treated as a connector: it sticks to its word",
    ),
    Fault(
        "standardize-unicode-spaces-kept",
        STANDARDIZE_PY,
        r'text = tf.strings.regex_replace(text, r"[\s\p{Z}]+", " ")',
        r'text = tf.strings.regex_replace(text, r"\s+", " ")',
        (STANDARDIZE + "test_whitespace_is_folded_and_stripped",),
        "U+00A0 and U+2003 are not folded into one space",
    ),
    Fault(
        "vectorizer-cut-ignores-start-and-end",
        VECTORIZER_PY,
        "ids = ids[:, : max_length - num_special]",
        "ids = ids[:, :max_length]",
        (
            VECTORIZER + "test_max_length_truncates_and_keeps_start_and_end",
            WORDPIECE + "test_encode_frames_and_cuts_like_the_word_vectorizer",
        ),
        "max_length cuts the text ids without room for [START] and [END]",
    ),
    Fault(
        "vectorizer-start-id-appended",
        VECTORIZER_PY,
        "pieces.insert(0, tf.RaggedTensor.from_tensor(tf.fill([batch_size, 1], START_ID)))",
        "pieces.append(tf.RaggedTensor.from_tensor(tf.fill([batch_size, 1], START_ID)))",
        (
            VECTORIZER + "test_tokens_ids_and_detokenized_round_trip",
            WORDPIECE + "test_encode_frames_and_cuts_like_the_word_vectorizer",
        ),
        "[START] is put after the text instead of before it",
    ),
    Fault(
        "vectorizer-detokenize-reads-past-end",
        VECTORIZER_PY,
        "keep = ~after_end & ",
        "keep = tf.not_equal(ids, END_ID) & ",
        (
            VECTORIZER + "test_detokenize_stops_at_end_and_drops_start_and_padding",
            WORDPIECE + "test_detokenize_drops_a_leading_continuation_marker_and_stops_at_end",
        ),
        "detokenize drops [END] but keeps the tokens after it",
    ),
    Fault(
        "vectorizer-space-after-opening-punctuation",
        VECTORIZER_PY,
        'return tf.strings.regex_replace(text, _NO_SPACE_AFTER, r"\\1")',
        "return text",
        (
            VECTORIZER + "test_tokens_ids_and_detokenized_round_trip",
            VECTORIZER + "test_detokenize_spaces_around_punctuation",
        ),
        "detokenize keeps the space after ¿ ¡ ( « “",
    ),
    # ------------------------------------------------------------------------ serving
    Fault(
        "json-int32-range-off-by-one",
        CODEC_PY,
        "types_pb2.DT_INT32: (-(2**31), 2**31 - 1),",
        "types_pb2.DT_INT32: (-(2**31), 2**31),",
        (CODEC + "test_decode_rejects_what_tf_serving_rejects",),
        "2**31 passes the int32 range check",
    ),
    Fault(
        "json-float-checked-as-double",
        CODEC_PY,
        "mantissa_bits, largest = _FLOAT_TYPES[dtype], _FLOAT_MAX[dtype]",
        "mantissa_bits, largest = 53, _FLOAT_MAX[dtype]",
        (CODEC + "test_decode_rejects_what_tf_serving_rejects",),
        "integers are checked against a double's mantissa for every float type",
    ),
    Fault(
        "json-base64-object-with-extra-keys",
        CODEC_PY,
        'return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)',
        'return isinstance(value, dict) and isinstance(value.get("b64"), str)',
        (CODEC + "test_decode_rejects_what_tf_serving_rejects",),
        'an object with "b64" and other keys is read as base64',
    ),
    Fault(
        "json-instances-missing-key-accepted",
        CODEC_PY,
        "if set(item) != set(names):",
        "if not set(item) <= set(names):",
        (CODEC + "test_multi_input_request_errors",),
        "a row-format instance may leave out a named input",
    ),
    Fault(
        "json-bytes-outputs-as-text",
        CODEC_PY,
        "name: [encode_tensor(row, name.endswith(BYTES_SUFFIX)) for row in outputs[name]]",
        "name: [encode_tensor(row) for row in outputs[name]]",
        (CODEC + "test_encode_responses_row_and_columnar",),
        'row-format outputs named *_bytes are written as text, not {"b64": ...}',
    ),
    Fault(
        "limits-zero-accepted",
        "kerasnlp_lab/serving/limits.py",
        "elif value < _MINIMUM.get(field.name, 1):",
        "elif value < _MINIMUM.get(field.name, 0):",
        ("tests/serving/test_server_process.py::test_bad_settings_are_user_errors",),
        "limits such as --max-batch-rows accept 0",
    ),
    Fault(
        "limits-only-the-first-string-checked",
        "kerasnlp_lab/serving/servable.py",
        "for index, item in enumerate(array.ravel()):",
        "for index, item in enumerate(array.ravel()[:1]):",
        ("tests/serving/test_hostile.py::test_strings_longer_than_allowed",),
        "max_string_bytes is checked on the first string of an input only",
    ),
    Fault(
        "batching-every-request-gets-the-first-rows",
        "kerasnlp_lab/serving/batching.py",
        "name: array[start : start + task.size] for name, array in outputs.items()",
        "name: array[: task.size] for name, array in outputs.items()",
        (
            BATCHING + "test_concurrent_requests_are_batched_and_split_back_exactly",
            BATCHING + "test_allowed_batch_sizes_pad_and_outputs_are_trimmed",
        ),
        "the batch's outputs are split back as the first rows for every request",
    ),
    Fault(
        "batching-shapes-not-in-the-batch-key",
        "kerasnlp_lab/serving/batching.py",
        "(name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())",
        "(name, array.dtype.str) for name, array in sorted(inputs.items())",
        (BATCHING + "test_mixed_shapes_do_not_share_batches",),
        "requests of different inner shapes are put in one batch",
    ),
    Fault(
        "admission-leave-keeps-the-slot",
        ADMISSION_PY,
        "lane.running -= 1",
        "pass",
        (
            ADMISSION + "test_slots_queue_and_refusal",
            ADMISSION + "test_async_waiters_are_granted_in_order_and_time_out",
        ),
        "a request that leaves with nobody waiting never frees its slot",
    ),
    Fault(
        "admission-queue-one-too-long",
        ADMISSION_PY,
        "if len(lane.waiting) >= self.max_queued:",
        "if len(lane.waiting) > self.max_queued:",
        (ADMISSION + "test_slots_queue_and_refusal",),
        "the queue holds max_queued + 1 requests",
    ),
    Fault(
        "admission-timed-out-waiter-stays-queued",
        ADMISSION_PY,
        "self._lanes[model].waiting.remove(waiter)",
        "pass",
        (
            ADMISSION + "test_a_wait_past_the_timeout_leaves_the_queue",
            ADMISSION + "test_async_waiters_are_granted_in_order_and_time_out",
        ),
        "a request that timed out in the queue keeps its place there",
    ),
    Fault(
        "manager-one-retry-too-few",
        MANAGER_PY,
        "return failures <= self._limits.max_num_load_retries or",
        "return failures < self._limits.max_num_load_retries or",
        RETRY_TESTS,
        "a broken version is retried max_num_load_retries - 1 times",
    ),
    Fault(
        "manager-failures-never-counted",
        MANAGER_PY,
        "failures = failed[1] + 1 if failed is not None and failed[0] == fingerprint else 1",
        "failures = 1",
        RETRY_TESTS,
        "the failed loads of an unchanged version are not counted: retried forever",
    ),
    Fault(
        "manager-retries-within-one-poll",
        MANAGER_PY,
        "if version not in failed_now and self._may_load(name, version, folder)",
        "if self._may_load(name, version, folder)",
        (RETRY_TESTS[0],),
        "a version that failed is tried again in the same poll, until no retries are left",
    ),
    Fault(
        "manager-unloads-the-last-working-version",
        MANAGER_PY,
        "stale = stale[:-1]  # the newest loaded one keeps serving",
        "stale = stale",
        (RETRY_TESTS[1],),
        "when every wanted version fails, the one still serving is unloaded too",
    ),
    Fault(
        "manager-unversioned-request-gets-the-oldest",
        MANAGER_PY,
        "version = max(loaded)",
        "version = min(loaded)",
        ("tests/serving/test_rest.py::test_versions_and_labels_route_to_their_version",),
        "a request without a version goes to the oldest loaded version",
    ),
    Fault(
        "policy-latest-picks-the-oldest",
        "kerasnlp_lab/serving/model_config.py",
        "present = sorted(set(versions), reverse=True)",
        "present = sorted(set(versions))",
        ("tests/serving/test_model_config.py::test_version_policies",),
        "the `latest` version policy serves the oldest versions",
    ),
    # ------------------------------------------------------------------------ training
    Fault(
        "early-stopping-counters-not-restored",
        "kerasnlp_lab/training/early_stopping.py",
        'self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]',
        'self.best_epoch = state["best_epoch"]',
        (EARLY + "test_resumed_run_stops_at_the_same_epoch_with_the_same_best_weights",),
        "a resumed run forgets the best value and the epochs without improvement",
    ),
    Fault(
        "early-stopping-best-weights-not-restored",
        "kerasnlp_lab/training/early_stopping.py",
        'self.best_weights = [arrays[f"w{index}"] for index in range(len(arrays.files))]',
        "self.best_weights = None",
        (EARLY + "test_resumed_run_stops_at_the_same_epoch_with_the_same_best_weights",),
        "a resumed run forgets the best weights it would restore",
    ),
    Fault(
        "checkpoints-earlier-epochs-kept",
        "kerasnlp_lab/training/checkpoints.py",
        "if epochs != completed_epochs:\n            os.remove(path)",
        "if epochs != completed_epochs:\n            pass",
        (EARLY + "test_state_files_follow_the_checkpoints",),
        "saving an epoch checkpoint leaves the earlier ones behind",
    ),
    Fault(
        "workdir-interrupted-run-overwritten",
        WORKDIR_PY,
        "    if found:\n        raise UserError(",
        "    if MODEL_FILE in found:\n        raise UserError(",
        (
            WORKDIR + "test_a_folder_holds_a_run_when_it_holds_trained_weights",
            WORKDIR + "test_an_interrupted_run_is_refused_too",
        ),
        "only a finished run is refused: a new run replaces an interrupted one",
    ),
    Fault(
        "workdir-every-worker-deletes",
        "kerasnlp_lab/training/distribute.py",
        "if overwrite and not resume and cluster.is_chief:",
        "if overwrite and not resume:",
        (WORKDIR + "test_in_a_cluster_every_worker_refuses_and_only_the_chief_deletes",),
        "with --overwrite every worker of a cluster deletes the run, not the chief alone",
    ),
    Fault(
        "resume-seed-zero-not-checked",
        WORKDIR_PY,
        "if seed is not None and stored_seed is not None and seed != stored_seed:",
        "if seed and stored_seed and seed != stored_seed:",
        (
            "tests/training/test_autoencoder_training.py::test_resume_refuses_another_seed",
            WORKDIR + "test_resume_refuses_another_seed_even_seed_0",
        ),
        "--resume accepts another --seed when the run's seed is 0 (the default)",
    ),
)

# A pytest plugin: where the run imported kerasnlp_lab and tests from, or, for a package it did
# not import itself (its tests run the package in a child process, which inherits PYTHONPATH),
# where it would import it from.
_GUARD_PLUGIN = '''"""Records where a mutation check pytest run imports its packages from."""
import importlib.util
import json
import os
import sys


def _origin(name):
    module = sys.modules.get(name)
    if module is not None:
        return module.__file__
    spec = importlib.util.find_spec(name)
    return None if spec is None else spec.origin


def pytest_sessionfinish(session, exitstatus):
    modules = {name: _origin(name) for name in ("kerasnlp_lab", "tests")}
    with open(os.environ["MUTATION_GUARD_REPORT"], "w") as file:
        json.dump(modules, file)
'''


# ----------------------------------------------------------------------------- checks
def node_parts(node: str) -> tuple[str, list[str]]:
    """(file, [class..., function]) of a test node id, without its parameters."""
    path, *names = node.split("::")
    if names:
        names[-1] = names[-1].split("[")[0]
    return path, names


def node_exists(root: Path, node: str) -> bool:
    """Whether the test file of `node` defines its (class and) test function."""
    path, names = node_parts(node)
    file = root / path
    if not names or not file.is_file():
        return False
    scope = ast.parse(file.read_text(encoding="utf-8")).body
    for name in names:
        found = [
            item
            for item in scope
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and item.name == name
        ]
        if not found:
            return False
        scope = found[0].body
    return True


def problems(root: Path, faults=FAULTS) -> list[str]:
    """What is wrong with the fault table against the files under `root` (empty: nothing)."""
    found = []
    names = [fault.name for fault in faults]
    for name in sorted({name for name in names if names.count(name) > 1}):
        found.append(f"{name}: the name is used twice")
    for fault in faults:
        file = root / fault.path
        if not file.is_file():
            found.append(f"{fault.name}: no file {fault.path}")
            continue
        count = file.read_text(encoding="utf-8").count(fault.old)
        if count != 1:
            found.append(f"{fault.name}: the old text occurs {count} times in {fault.path}")
        if fault.old == fault.new:
            found.append(f"{fault.name}: the new text is the old text")
        if not fault.tests:
            found.append(f"{fault.name}: no test")
        for node in fault.tests:
            if not node_exists(root, node):
                found.append(f"{fault.name}: no test {node}")
    return found


# ----------------------------------------------------------------------------- running
def copy_repository(destination: Path) -> None:
    """The tracked and untracked (not ignored) files of the working tree, copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8")
    for relative in sorted(set(filter(None, listed.split("\0")))):
        source = ROOT / relative
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@dataclasses.dataclass
class Outcome:
    status: str  # "caught", "SURVIVED" or "ERROR"
    seconds: float
    detail: str = ""


class Runner:
    """Runs pytest on the copy in `folder`, each run checked to import the copy."""

    def __init__(self, folder: Path, timeout: float, test_timeout: float):
        self.copy = folder / "repository"
        self.plugins = folder / "plugins"
        self.report = folder / "guard.json"
        self.timeout = timeout
        self.test_timeout = test_timeout
        self.plugins.mkdir(parents=True)
        (self.plugins / "_mutation_guard.py").write_text(_GUARD_PLUGIN)
        copy_repository(self.copy)

    def pytest(self, tests) -> tuple[int | None, str, float]:
        """(exit status or None after the timeout, output tail, seconds) of one pytest run."""
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join([str(self.copy), str(self.plugins)]),
            PYTHONDONTWRITEBYTECODE="1",  # no stale .pyc of a mutated file, ever
            TF_CPP_MIN_LOG_LEVEL=env.get("TF_CPP_MIN_LOG_LEVEL", "3"),
            MUTATION_GUARD_REPORT=str(self.report),
        )
        self.report.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-p",
            "_mutation_guard",
            f"--timeout={self.test_timeout:g}",
            *tests,
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=self.copy,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends all of it
        )
        try:
            output, _ = process.communicate(timeout=self.timeout)
            status = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            status = None
        seconds = time.monotonic() - started
        if status is not None:
            self.check_imports(output)
        return status, output[-3000:], seconds

    def check_imports(self, output: str) -> None:
        """Stops the check when pytest imported kerasnlp_lab or tests from outside the copy."""
        if not self.report.exists():
            raise SystemExit(f"mutation: pytest wrote no import report:\n{output[-3000:]}")
        modules = json.loads(self.report.read_text())
        for name, file in modules.items():
            if file is None or not Path(file).resolve().is_relative_to(self.copy.resolve()):
                raise SystemExit(
                    f"mutation: pytest imported {name} from {file}, not from the copy {self.copy}"
                )

    def run_fault(self, fault: Fault) -> Outcome:
        path = self.copy / fault.path
        original = path.read_text(encoding="utf-8")
        if original.count(fault.old) != 1:
            raise SystemExit(f"mutation: {fault.name}: the old text is not in the copy once")
        path.write_text(original.replace(fault.old, fault.new), encoding="utf-8")
        try:
            status, output, seconds = self.pytest(fault.tests)
        finally:
            path.write_text(original, encoding="utf-8")
        if path.read_text(encoding="utf-8") != original:
            raise SystemExit(f"mutation: {fault.name}: could not restore {fault.path}")
        if status is None:
            return Outcome("caught", seconds, f"timeout after {self.timeout:g} s")
        if status == 0:
            return Outcome("SURVIVED", seconds)
        if status in (1, 2):  # tests failed, or collection failed on the mutated module
            return Outcome("caught", seconds, "" if status == 1 else "collection error")
        return Outcome("ERROR", seconds, f"pytest exit status {status}:\n{output}")


def short_tests(tests) -> str:
    """Test node ids, the file said once per run of tests of the same file."""
    parts, previous = [], None
    for node in tests:
        path, _, name = node.partition("::")
        parts.append(name if path == previous else f"{path}::{name}")
        previous = path
    return ", ".join(parts)


def print_table(rows) -> None:
    """rows: (fault, Outcome)."""
    width = max(len(fault.name) for fault, _ in rows)
    file_width = max(len(fault.path) for fault, _ in rows)
    print(f"\n{'fault':<{width}}  {'file':<{file_width}}  {'result':<8}  {'seconds':>7}  tests")
    for fault, outcome in rows:
        result = outcome.status + (f" ({outcome.detail})" if outcome.detail else "")
        if outcome.status == "ERROR":
            result = "ERROR"
        print(
            f"{fault.name:<{width}}  {fault.path:<{file_width}}  {result:<8}  "
            f"{outcome.seconds:7.1f}  {short_tests(fault.tests)}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the faults, run nothing")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these faults only")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds a fault's pytest run may take"
    )
    parser.add_argument(
        "--test-timeout", type=float, default=300, help="seconds one test may take (pytest-timeout)"
    )
    args = parser.parse_args(argv)

    wrong = problems(ROOT)
    if wrong:
        print("mutation: the fault table does not match the files:", file=sys.stderr)
        for line in wrong:
            print("  " + line, file=sys.stderr)
        return 2
    faults = list(FAULTS)
    if args.only:
        unknown = sorted(set(args.only) - {fault.name for fault in FAULTS})
        if unknown:
            parser.error(f"unknown faults: {', '.join(unknown)} (see --list)")
        faults = [fault for fault in FAULTS if fault.name in args.only]
    if args.list:
        for fault in faults:
            print(f"{fault.name}  ({fault.path}): {fault.bug}")
            for node in fault.tests:
                print(f"    {node}")
        print(f"{len(faults)} faults")
        return 0

    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="kerasnlp-mutation-"))
    try:
        runner = Runner(folder, args.timeout, args.test_timeout)
        tests = list(dict.fromkeys(node for fault in faults for node in fault.tests))
        print(f"mutation: {len(faults)} faults, {len(tests)} tests, copy in {runner.copy}")
        status, output, seconds = runner.pytest(tests)
        modules = json.loads(runner.report.read_text()) if status is not None else {}
        print(
            f"sanity run (no fault): exit status {status} in {seconds:.1f} s; imported "
            + ", ".join(f"{name} from {Path(file).parent}" for name, file in modules.items())
        )
        print("  " + (output.strip().splitlines() or ["(no output)"])[-1])
        if status != 0:
            print(f"mutation: the tests fail without any fault:\n{output}", file=sys.stderr)
            return 2
        rows = []
        for index, fault in enumerate(faults, 1):
            outcome = runner.run_fault(fault)
            rows.append((fault, outcome))
            print(
                f"[{index}/{len(faults)}] {fault.name}: {outcome.status} ({outcome.seconds:.1f} s)"
            )
            if outcome.status == "ERROR":
                print(outcome.detail)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    survived = [fault.name for fault, outcome in rows if outcome.status == "SURVIVED"]
    errors = [fault.name for fault, outcome in rows if outcome.status == "ERROR"]
    caught = len(rows) - len(survived) - len(errors)
    print(
        f"\n{caught} of {len(rows)} faults caught in {time.monotonic() - started:.0f} s"
        + (f"; SURVIVED: {', '.join(survived)}" if survived else "")
        + (f"; ERROR: {', '.join(errors)}" if errors else "")
    )
    return 1 if survived or errors else 0


if __name__ == "__main__":
    sys.exit(main())
