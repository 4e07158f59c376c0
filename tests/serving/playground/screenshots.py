"""Screenshots of the playground's panels for docs/figures/, and its timings, from real models:

    .venv/bin/python -m tests.serving.playground.screenshots --saved-models saved_models

serves the folder (`make models` fills saved_models/ from the release presets) on a free loopback
port, opens /playground/ in Debian's headless Chromium, acts on each panel and writes
docs/figures/playground_{translate,generate,autoencoder,server}.png. Prints the first render
(navigation start to the page's scripts having run, as the page measures it) and, per translator,
each greedy translation's request time and the time from the click until it was shown.
"""

import argparse
import statistics
from pathlib import Path

from kerasnlp_lab.evaluation.plots import DPI, PAGE_WIDTH
from kerasnlp_lab.serving.server import ModelServer
from tests.serving.conftest import http_request
from tests.serving.playground.conftest import CHROMIUM, CHROMIUM_ARGS, Session
from tests.serving.playground.test_playground_browser import translate

MAX_HEIGHT = 1400


def save(page, path: Path) -> None:
    """A screenshot of the page as docs/README.md wants a figure: at most PAGE_WIDTH wide, at the
    figures' DPI, its colors quantized (the docs' figures share a size budget)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    image = image.crop((0, 0, min(image.width, PAGE_WIDTH), min(image.height, MAX_HEIGHT)))
    image.quantize(colors=64).save(path, dpi=(DPI, DPI), optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


SENTENCE = "En el principio creó Dios los cielos y la tierra."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved-models", default="saved_models")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    out = Path(args.out)
    from playwright.sync_api import sync_playwright

    server = ModelServer(args.saved_models, rest_port=0, grpc_port=0)
    server.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = Session(browser, f"http://127.0.0.1:{server.rest_port}", width=PAGE_WIDTH)
        page = session.page
        renders = []
        for _ in range(args.repeats):
            page.goto("about:blank")
            session.open()
            renders.append(float(page.locator("body").get_attribute("data-ready-ms")))
        print(f"first render: median {statistics.median(renders):.0f} ms of {renders}")
        translators = [
            model
            for model in ("attention_nmt", "transformer_translator")
            if http_request(server.rest_port, "GET", f"/v1/models/{model}")[0] == 200
        ]
        for model in translators:
            gaps = []
            for _ in range(args.repeats):
                translate(page, SENTENCE, "greedy", models=(model,))
                card = page.locator(f".card[data-model='{model}']")
                request = float(card.get_attribute("data-request-ms"))
                shown = float(card.get_attribute("data-shown-ms"))
                gaps.append(shown - request)
                print(f"{model}: request {request:.1f} ms, shown after {shown:.1f} ms")
            print(f"{model}: shown - request, median {statistics.median(gaps):.1f} ms")
        translate(page, SENTENCE, "greedy", models=translators)
        page.locator(".card .heatmap tbody tr").nth(2).hover()
        save(page, out / "playground_translate.png")
        page.click("#tab-generate")
        page.fill("#generate-prompt", "In the beginning God")
        page.click("#generate-button")
        page.wait_for_selector("#generate-results[data-state='done']")
        if page.locator("#generate-results .generated span[data-position='24']").count():
            page.click("#generate-results .generated span[data-position='24']")
            page.wait_for_selector("#generate-results .next[data-position='24']")
        save(page, out / "playground_generate.png")
        page.click("#tab-autoencoder")
        page.click("#ae-samples button[data-sample='0']")
        page.wait_for_selector("#panel-autoencoder[data-done]")
        page.select_option("#ae-to", "9")
        page.wait_for_load_state("networkidle")
        save(page, out / "playground_autoencoder.png")
        page.click("#tab-server")
        page.wait_for_selector("#server-models[data-loaded='true']")
        save(page, out / "playground_server.png")
        session.close()
        browser.close()
        assert session.outside == [], session.outside
        # A model the folder lacks answers 404 to the Server panel: the browser logs that.
        errors = [error for error in session.errors if "status of 404" not in error]
        assert errors == [], errors
    server.stop()


if __name__ == "__main__":
    main()
