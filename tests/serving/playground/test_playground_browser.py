"""The playground in headless Chromium: each panel acted on as a user would (type, click, draw,
slide), what it renders checked against the REST API's own answers, no request outside the
server's origin, and hostile text shown as text."""

import json
import time

import numpy as np

from tests.serving.conftest import http_request

MODELS = ("attention_nmt", "transformer_translator", "char_generator", "autoencoder")
SIZE = 28


def predict(port, model, signature, inputs):
    status, answer = http_request(
        port,
        "POST",
        f"/v1/models/{model}:predict",
        json.dumps({"signature_name": signature, "inputs": inputs}),
    )
    assert status == 200, answer
    return answer["outputs"]


def canvas_image(page, canvas_id):
    """The 28x28 gray values a canvas shows (the center pixel of each square), in [0, 1]."""
    values = page.evaluate(
        """(id) => {
          const canvas = document.getElementById(id);
          const scale = canvas.width / 28;
          const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          const out = [];
          for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
            const i = ((y * scale + scale / 2) * canvas.width + x * scale + scale / 2) * 4;
            out.push(data[i]);
          }
          return out;
        }""",
        canvas_id,
    )
    return np.array(values, np.float32).reshape(SIZE, SIZE) / 255


def shown(image):
    """What paint() shows of an image: each value clipped to [0, 1] and rounded to 1/255."""
    return np.round(np.clip(np.asarray(image, np.float32), 0, 1) * 255) / 255


def test_first_render_is_quick_and_carries_a_content_security_policy(model_server, session_for):
    session = session_for(model_server.rest_port)
    started = time.monotonic()
    response = session.open()
    ready_seconds = time.monotonic() - started
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    print(f"first render (navigation to ready): {ready_seconds * 1000:.0f} ms")
    timing = session.page.evaluate(
        "() => { const [n] = performance.getEntriesByType('navigation');"
        " return n.domContentLoadedEventEnd; }"
    )
    print(f"domContentLoaded: {timing:.0f} ms")
    assert session.page.locator("#panel-translate").is_visible()


def test_server_panel_shows_every_models_versions_states_and_signatures(model_server, session_for):
    port = model_server.rest_port
    session = session_for(port)
    session.open()
    session.page.click("#tab-server")
    session.page.wait_for_selector("#server-models[data-loaded='true']")
    for model in MODELS:
        card = session.page.locator(f".server-model[data-model='{model}']")
        _, status = http_request(port, "GET", f"/v1/models/{model}")
        shown_versions = card.locator(".versions tr[data-version]")
        assert shown_versions.count() == len(status["model_version_status"])
        for entry in status["model_version_status"]:
            row = card.locator(f".versions tr[data-version='{entry['version']}']")
            assert row.locator(".state").inner_text() == entry["state"]
        _, metadata = http_request(port, "GET", f"/v1/models/{model}/metadata")
        signatures = metadata["metadata"]["signature_def"]["signature_def"]
        expected = sorted(name for name in signatures if not name.startswith("__"))
        rows = card.locator(".signatures tr[data-signature]")
        assert [rows.nth(i).get_attribute("data-signature") for i in range(rows.count())] == (
            expected
        )
        for name in expected:
            text = card.locator(f".signatures tr[data-signature='{name}']").inner_text()
            for tensor in [*signatures[name]["inputs"], *signatures[name]["outputs"]]:
                assert tensor in text


def last_request_body(requests, signature):
    bodies = [json.loads(body) for body in requests]
    return [body for body in bodies if body["signature_name"] == signature][-1]


def watch_predict_bodies(page):
    bodies = []
    page.on(
        "request",
        lambda request: bodies.append(request.post_data) if request.method == "POST" else None,
    )
    return bodies


def wait_for_autoencoder(page, done_before):
    page.wait_for_function(
        f"() => Number(document.getElementById('panel-autoencoder').dataset.done || 0) > "
        f"{done_before}"
    )


def test_autoencoder_panel_reconstructs_a_picked_test_image_and_shows_its_code(
    model_server, session_for
):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    bodies = watch_predict_bodies(page)
    session.open("autoencoder")
    page.click("#ae-samples button[data-sample='3']")
    wait_for_autoencoder(page, 0)
    images = last_request_body(bodies, "serving_default")["inputs"]["images"]
    with open("kerasnlp_lab/serving/playground/static/test_images.json", encoding="utf-8") as file:
        import base64

        sample = json.load(file)["images"][3]
    pixels = np.frombuffer(base64.b64decode(sample["pixels"]), np.uint8).reshape(SIZE, SIZE)
    np.testing.assert_allclose(np.array(images[0]), pixels / 255, atol=1e-6)
    reconstruction = predict(port, "autoencoder", "serving_default", {"images": images})
    np.testing.assert_allclose(
        canvas_image(page, "ae-reconstruction"), shown(reconstruction[0]), atol=1.5 / 255
    )
    code = predict(port, "autoencoder", "encode", {"images": images})[0]
    bars = page.locator("#ae-code .bar-slot")
    assert bars.count() == len(code) == 32
    shown_code = [float(bars.nth(i).get_attribute("data-value")) for i in range(32)]
    np.testing.assert_allclose(shown_code, code, rtol=1e-5, atol=1e-6)


def test_autoencoder_panel_reconstructs_a_drawing(model_server, session_for):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    bodies = watch_predict_bodies(page)
    session.open("autoencoder")
    box = page.locator("#ae-draw").bounding_box()
    page.mouse.move(box["x"] + 80, box["y"] + 60)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + 80 + 12 * step, box["y"] + 60 + 16 * step)
    page.mouse.up()
    wait_for_autoencoder(page, 0)
    images = np.array(last_request_body(bodies, "serving_default")["inputs"]["images"][0])
    # The stroke is on the canvas and in the request: the drawn squares, and nothing elsewhere.
    np.testing.assert_allclose(canvas_image(page, "ae-draw"), shown(images), atol=1.5 / 255)
    assert images[6, 8] > 0.5 and images[20, 19] > 0.5 and images[25, 2] == 0
    reconstruction = predict(port, "autoencoder", "serving_default", {"images": [images.tolist()]})
    np.testing.assert_allclose(
        canvas_image(page, "ae-reconstruction"), shown(reconstruction[0]), atol=1.5 / 255
    )


def test_autoencoder_slider_walks_between_two_codes(model_server, session_for):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    bodies = watch_predict_bodies(page)
    session.open("autoencoder")
    page.wait_for_function("() => document.getElementById('panel-autoencoder').dataset.walkT")
    page.select_option("#ae-from", "2")
    page.select_option("#ae-to", "7")
    slider = page.locator("#ae-t")
    for key, t in (("End", 1.0), ("Home", 0.0)):
        slider.focus()
        page.keyboard.press(key)
        page.wait_for_function(
            f"() => document.getElementById('panel-autoencoder').dataset.walkT === '{t:.2f}'"
        )
        page.wait_for_load_state("networkidle")
        encoded = last_request_body(bodies, "encode")["inputs"]["images"]
        codes = predict(port, "autoencoder", "encode", {"images": encoded})
        decoded = predict(port, "autoencoder", "decode", {"codes": [codes[int(t)]]})
        np.testing.assert_allclose(
            canvas_image(page, "ae-interpolation"), shown(decoded[0]), atol=1.5 / 255
        )
