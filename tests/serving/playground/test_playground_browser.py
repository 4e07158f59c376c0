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
    start, end = (0.3, 0.25), (0.7, 0.75)  # of the canvas' width and height

    def at(fraction_x, fraction_y):
        return box["x"] + fraction_x * box["width"], box["y"] + fraction_y * box["height"]

    page.mouse.move(*at(*start))
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(*at(*(a + (b - a) * step / 10 for a, b in zip(start, end, strict=True))))
    page.mouse.up()
    wait_for_autoencoder(page, 0)
    images = np.array(last_request_body(bodies, "serving_default")["inputs"]["images"][0])
    # The stroke is on the canvas and in the request: the drawn squares, and nothing elsewhere.
    np.testing.assert_allclose(canvas_image(page, "ae-draw"), shown(images), atol=1.5 / 255)
    first, last = [(int(y * SIZE), int(x * SIZE)) for x, y in (start, end)]
    assert images[first] > 0.5 and images[last] > 0.5 and images[25, 2] == 0
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


def translate(page, text, decoding, models=("attention_nmt", "transformer_translator")):
    page.fill("#translate-text", text)
    for box in page.locator("#translate-form input[name='model']").all():
        box.set_checked(box.get_attribute("value") in models)
    page.check(f"#translate-form input[name='decoding'][value='{decoding}']")
    page.click("#translate-button")
    for model in models:
        page.wait_for_selector(
            f"#translate-results .card[data-model='{model}'][data-state='done'], "
            f"#translate-results .card[data-model='{model}'][data-state='error']"
        )


def trimmed(weights):
    """The heatmap's matrix: rows of generated tokens, columns up to the last attended one."""
    rows = [row for row in weights if any(value > 0 for value in row)]
    columns = max(s + 1 for row in rows for s, value in enumerate(row) if value > 0)
    return np.array([row[:columns] for row in rows])


def test_translate_panel_greedy_shows_both_translations_and_the_attention(
    model_server, session_for
):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open()
    text = "El perro come pan."
    translate(page, text, "greedy")
    for model in ("attention_nmt", "transformer_translator"):
        card = page.locator(f".card[data-model='{model}']")
        assert card.get_attribute("data-state") == "done"
        expected = predict(port, model, "serving_default", {"text": [text]})[0]
        assert card.locator(".translation").inner_text() == expected.strip()
        request_ms = float(card.get_attribute("data-request-ms"))
        shown_ms = float(card.get_attribute("data-shown-ms"))
        print(f"{model} greedy: request {request_ms:.1f} ms, shown after {shown_ms:.1f} ms")
        assert card.locator(".time").inner_text().startswith("request ")
    # The attention NMT's heatmap: its cells are the attention signature's weights.
    card = page.locator(".card[data-model='attention_nmt']")
    answer = predict(port, "attention_nmt", "attention", {"text": [text]})
    expected = trimmed(answer["attention_weights"][0])
    cells = card.locator(".heatmap tbody tr")
    assert cells.count() == expected.shape[0]
    shown_weights = np.array(
        page.evaluate(
            "() => [...document.querySelectorAll(\".card[data-model='attention_nmt'] .heatmap "
            "tbody tr\")].map((row) => [...row.querySelectorAll('td')].map("
            "(cell) => Number(cell.dataset.weight)))"
        )
    )
    np.testing.assert_allclose(shown_weights, expected, rtol=1e-5, atol=1e-7)
    # Its axes are labelled with the signature's tokens: [START] words [END], generated tokens.
    rows, columns, _ = heatmap_of(page, "attention_nmt")
    assert rows == [token for token in answer["target_tokens"][0] if token][: len(rows)]
    assert columns == answer["source_tokens"][0][: len(columns)]
    assert columns[0] == "[START]"
    # Hovering a target row highlights the source tokens it attends to most.
    row = 0
    cells.nth(row).hover()
    highlighted = card.locator(".heatmap thead th.highlight")
    strongest = int(np.argmax(expected[row]))
    assert str(strongest) in [
        highlighted.nth(i).get_attribute("data-source") for i in range(highlighted.count())
    ]


def heatmap_of(page, model):
    """(row labels, column labels, weights) of the heatmap a model's card shows."""
    return page.evaluate(
        """(model) => {
          const table = document.querySelector(`.card[data-model='${model}'] .heatmap`);
          const rows = [...table.querySelectorAll('tbody tr')];
          return [
            rows.map((row) => row.querySelector('th').textContent),
            [...table.querySelectorAll('thead th[data-source]')].map((th) => th.textContent),
            rows.map((row) => [...row.querySelectorAll('td')].map(
              (td) => Number(td.dataset.weight))),
          ];
        }""",
        model,
    )


def test_translate_panel_shows_the_transformers_cross_attention_per_layer_and_head(
    model_server, session_for
):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open()
    text = "El gato ve al hombre."
    translate(page, text, "greedy", models=("transformer_translator",))
    answer = predict(port, "transformer_translator", "attention", {"text": [text]})
    maps = np.array(answer["cross_attention"][0])  # (layers, heads, T, S)
    card = page.locator(".card[data-model='transformer_translator']")
    assert card.locator(".translation").inner_text() == answer["translation"][0].strip()
    assert card.locator("select.layer option").count() == maps.shape[0]
    assert card.locator("select.head option").count() == maps.shape[1] + 1  # and their mean
    rows, columns, weights = heatmap_of(page, "transformer_translator")
    expected = trimmed(maps[-1].mean(axis=0))  # the last layer, the mean of its heads
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    assert rows == [token for token in answer["target_tokens"][0] if token][: len(rows)]
    assert columns == answer["source_tokens"][0][: len(columns)]
    card.locator("select.layer").select_option("0")
    card.locator("select.head").select_option("1")
    _, _, weights = heatmap_of(page, "transformer_translator")
    np.testing.assert_allclose(weights, trimmed(maps[0, 1]), rtol=1e-5, atol=1e-7)


def test_translate_panel_beam_search_shows_the_nbest_of_the_beam_signatures(
    model_server, session_for
):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open()
    text = "¿Quién es el rey?"
    translate(page, text, "beam")
    for model in ("attention_nmt", "transformer_translator"):
        card = page.locator(f".card[data-model='{model}']")
        expected = predict(port, model, "beam_search", {"text": [text]})[0]
        assert card.locator(".translation").inner_text() == expected.strip()
        nbest = predict(port, model, "beam_nbest", {"text": [text]})
        hypotheses = card.locator(".nbest .hypothesis").all_inner_texts()
        assert hypotheses == [line.strip() for line in nbest["translations"][0]]
        assert hypotheses[0] == expected.strip() and len(hypotheses) == 4
        scores = card.locator(".nbest .score").all_inner_texts()
        assert scores == [f"{score:.3f}" for score in nbest["scores"][0]]


HOSTILE = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>"]


def test_hostile_text_is_shown_as_text(model_server, session_for):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open("generate")
    for text in HOSTILE:
        page.fill("#generate-prompt", text)
        page.fill("#generate-length", "5")
        page.click("#generate-button")
        page.wait_for_selector("#generate-results[data-state='done']")
        prompt = "".join(page.locator("#generate-results .generated .prompt").all_inner_texts())
        assert prompt == text
        assert page.locator("#generate-results img, #generate-results script").count() == 0
        page.click("#tab-translate")
        translate(page, text, "greedy")
        assert page.locator("#translate-results img, #translate-results script").count() == 0
        page.click("#tab-generate")
    assert page.evaluate("() => window.__pwned") is None


def test_generate_panel_shows_the_continuation_the_api_gives(model_server, session_for):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open("generate")
    page.fill("#generate-prompt", "the sea")
    page.fill("#generate-temperature", "0.7")
    page.fill("#generate-seed", "42")
    page.fill("#generate-length", "40")
    page.click("#generate-button")
    page.wait_for_selector("#generate-results[data-state='done']")
    expected = predict(
        port,
        "char_generator",
        "serving_default",
        {"prompt": ["the sea"], "num_chars": [40], "temperature": [0.7], "seed": [42]},
    )[0]
    shown_text = page.locator("#generate-results").get_attribute("data-continuation")
    assert shown_text == expected
    spans = page.locator("#generate-results .generated span")
    assert "".join(spans.all_text_contents()) == "the sea" + expected


def test_every_panel_works_through_the_playground_proxy(model_server, proxy, session_for):
    """The proxy stands in front of a second server as it would in front of TF Serving."""
    session = session_for(proxy.port)
    page = session.page
    session.open("server")
    page.wait_for_selector("#server-models[data-loaded='true']")
    assert page.locator(".server-model .state-AVAILABLE").count() == len(MODELS)
    page.click("#tab-autoencoder")
    page.click("#ae-samples button[data-sample='0']")
    wait_for_autoencoder(page, 0)
    page.click("#tab-translate")
    translate(page, "El rey", "greedy")
    expected = predict(
        model_server.rest_port, "attention_nmt", "serving_default", {"text": ["El rey"]}
    )
    card = page.locator(".card[data-model='attention_nmt']")
    assert card.locator(".translation").inner_text() == expected[0].strip()
    page.click("#tab-generate")
    page.fill("#generate-length", "10")
    page.click("#generate-button")
    page.wait_for_selector("#generate-results[data-state='done']")


def test_generate_panel_shows_the_top_5_next_characters_at_a_clicked_position(
    model_server, session_for
):
    port = model_server.rest_port
    session = session_for(port)
    page = session.page
    session.open("generate")
    page.fill("#generate-prompt", "the sea")
    page.fill("#generate-length", "12")
    page.click("#generate-button")
    page.wait_for_selector("#generate-results[data-state='done']")
    text = "the sea" + page.locator("#generate-results").get_attribute("data-continuation")
    answer = predict(port, "char_generator", "next_chars", {"text": [text]})
    for position in (2, len(text) - 1):
        page.click(f"#generate-results .generated span[data-position='{position}']")
        page.wait_for_selector(f"#generate-results .next[data-position='{position}']")
        rows = page.locator("#generate-results .topk tr")
        assert rows.count() == 5
        for rank in range(5):
            character = answer["top_chars"][0][position][rank]
            shown_char = rows.nth(rank).locator(".char").inner_text()
            assert shown_char == {"\n": "↵", " ": "␣"}.get(character, character)
            probability = float(rows.nth(rank).locator(".probability").inner_text())
            assert abs(probability - answer["top_probs"][0][position][rank]) < 5e-4
