"""A release swap under load: 8 clients keep asking the autoencoder and a Transformer translator
while version 2 of each appears and version 1's folder is deleted, as `kerasnlp-lab models
--keep-versions 1` does it; no request fails, and every answer is one of the two versions'."""

import threading

import keras
import numpy as np
import pytest

from kerasnlp_lab import release
from kerasnlp_lab.export import autoencoder as autoencoder_export
from kerasnlp_lab.export import transformer as transformer_export
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.server import ModelServer
from tests.export.test_transformer_export import TEXTS, make_serving
from tests.serving.conftest import versions_in, wait_until
from tests.serving.saved_model_factory import install_version

CLIENTS = 8
ANSWERS_PER_PHASE = 5  # per client and model, before the swap and after it
LOAD_SECONDS = 180  # loading the new versions beside 8 busy clients, on 2 busy cores
INPUTS = {
    "autoencoder": {"images": np.random.default_rng(0).uniform(size=(2, 28, 28)).astype("f4")},
    "transformer_translator": {"text": np.array([text.encode() for text in TEXTS])},
}


def _perturb(weights, seed):
    """Moves every weight a little, so version 2 answers differently from version 1."""
    rng = np.random.default_rng(seed)
    for weight in weights:
        weight.assign(weight + rng.normal(0.0, 0.3, weight.shape).astype(weight.dtype))


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """{model: (version 1 folder, version 2 folder)}: untrained tiny exports, and the same models
    with perturbed weights."""
    root = tmp_path_factory.mktemp("releases")
    keras.utils.set_random_seed(3)
    dense = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    translator = make_serving(fit_steps=False)
    folders = {"autoencoder": [], "transformer_translator": []}
    for version in (1, 2):
        if version == 2:
            _perturb(dense.trainable_weights, 1)
            _perturb(translator.model.trainable_weights, 2)
        folders["autoencoder"].append(autoencoder_export.export_model(dense, str(root), version))
        folders["transformer_translator"].append(
            transformer_export.export_serving(translator, str(root), version)
        )
    return folders


def _same(answer, reference) -> bool:
    """Equal outputs: strings exactly, numbers to float32 rounding (the thread pool may split a
    matmul differently from one call to the next)."""
    if sorted(answer) != sorted(reference):
        return False
    return all(
        np.allclose(answer[key], value, rtol=1e-5, atol=1e-6)
        if np.issubdtype(value.dtype, np.floating)
        else np.array_equal(answer[key], value)
        for key, value in reference.items()
    )


def _version_of(answer, references):
    """The version whose reference answer `answer` is, or None."""
    matches = [version for version, reference in references.items() if _same(answer, reference)]
    return matches[0] if len(matches) == 1 else None


def test_versions_swap_under_load_without_a_failed_request(tmp_path, releases):
    root = tmp_path / "saved_models"
    for model, (first, _) in releases.items():
        install_version(first, root / model, 1)
    answers = [{model: [] for model in INPUTS} for _ in range(CLIENTS)]
    failures: list[str] = []
    stop = threading.Event()

    def count() -> int:
        return sum(len(got) for client in answers for got in client.values())

    with ModelServer(root, rest_port=0, grpc_port=0, poll_seconds=0.05) as server:
        urls = [f"http://127.0.0.1:{server.rest_port}", f"grpc://127.0.0.1:{server.grpc_port}"]

        def client(index):
            with ServingClient(urls[index % 2]) as own:
                while not stop.is_set():
                    for model, inputs in INPUTS.items():
                        try:
                            answers[index][model].append(own.predict(model, inputs))
                        except Exception as error:  # every failure fails the test, below
                            failures.append(f"client {index}, {model}: {error!r}")
                            return

        def every_client_has(minimum) -> bool:
            return bool(failures) or all(
                len(got) >= minimum for client in answers for got in client.values()
            )

        with ServingClient(urls[0]) as asker:
            references = {
                model: {1: asker.predict(model, inputs, version=1)}
                for model, inputs in INPUTS.items()
            }
            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for thread in threads:
                thread.start()
            try:
                wait_until(lambda: every_client_has(ANSWERS_PER_PHASE), "answers from version 1")
                for model, (_, second) in releases.items():
                    install_version(second, root / model, 2)
                    assert release.remove_old_versions(str(root), model, keep_versions=1) == [1]
                swapped_in = count()
                wait_until(
                    lambda: (
                        failures
                        or all(
                            versions_in(asker.status(model)) == {"2": "AVAILABLE", "1": "END"}
                            for model in INPUTS
                        )
                    ),
                    "version 2 to replace version 1 of both models",
                    timeout=LOAD_SECONDS,
                )
                during_swap = count() - swapped_in
                for model, inputs in INPUTS.items():
                    references[model][2] = asker.predict(model, inputs, version=2)
                wait_until(
                    lambda: every_client_has(2 * ANSWERS_PER_PHASE + 1), "answers after the swap"
                )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(60)

    assert failures == []
    assert during_swap > 0, "no request was answered while version 2 was loading"
    print(f"\n{during_swap} answers while version 2 of both models loaded")
    for model, reference in references.items():
        assert _version_of(reference[1], {2: reference[2]}) is None, f"{model}: versions alike"
        sent = sum(len(client[model]) for client in answers)
        assert sent >= CLIENTS * (2 * ANSWERS_PER_PHASE + 1)
        print(f"{model}: {sent} requests, none failed")
        for index, client in enumerate(answers):
            versions = [_version_of(answer, reference) for answer in client[model]]
            assert None not in versions, (
                f"client {index}: {client[model][versions.index(None)]} is the answer of neither "
                f"version: {reference}"
            )
            assert versions[0] == 1 and versions[-1] == 2
            assert versions == sorted(versions), f"client {index}: version 1 after version 2"
